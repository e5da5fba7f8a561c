"""Live status lamps (R2) for the portal: each registrar's registrations read over Kamailio's JSON-RPC
(`ul.dump` through xhttp on the registrar's private RPC port, open to portal hosts only), the newest contact of
each account kept, and the lamp decided by rtcstack.domain.status.lamp_for, the rule the CLI's
`accounts status` uses."""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Iterable

from ..domain.status import LampRules, lamp_for

log = logging.getLogger("rtcstack.web.lamps")


def contacts_in(answer) -> Iterable[tuple[str, dict]]:
    """(AoR, contact) pairs anywhere in a `ul.dump` answer (its nesting differs between Kamailio versions)."""
    if isinstance(answer, dict):
        info = answer.get("Info") if isinstance(answer.get("Info"), dict) else answer
        if "AoR" in info and "Contacts" in info:
            for item in info.get("Contacts") or []:
                yield info["AoR"], item.get("Contact", item) if isinstance(item, dict) else {}
            return
        for value in answer.values():
            yield from contacts_in(value)
    elif isinstance(answer, list):
        for value in answer:
            yield from contacts_in(value)


class LampSource:
    """Asks every registrar; a registrar that does not answer within 2 s counts as holding no registration
    (its accounts show grey) and is logged."""

    def __init__(self, urls: tuple[str, ...], token: str, good_rtt_ms: int, severe_rtt_ms: int,
                 keepalive_interval_seconds: int):
        self.urls, self.token = urls, token
        self.rules = LampRules(keepalive_interval_seconds, good_rtt_ms, severe_rtt_ms)

    def _dump(self, url: str) -> dict[str, dict]:
        body = json.dumps({"jsonrpc": "2.0", "method": "ul.dump", "id": 1}).encode()
        request = urllib.request.Request(url, body, {"Content-Type": "application/json",
                                                     "Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=2) as response:
            answer = json.load(response)
        out: dict[str, dict] = {}
        for aor, contact in contacts_in(answer.get("result")):
            previous = out.get(aor)
            if previous is None or int(contact.get("Last-Modified", 0)) > int(previous.get("Last-Modified", 0)):
                out[aor] = contact
        return out

    def contacts(self) -> dict[str, dict]:
        merged: dict[str, dict] = {}
        for url in self.urls:
            try:
                found = self._dump(url)
            except (OSError, ValueError) as exc:
                log.warning("registrar unreachable", extra={"fields": {"url": url, "error": str(exc)[:200]}})
                continue
            for aor, contact in found.items():
                previous = merged.get(aor)
                if previous is None or int(contact.get("Last-Modified", 0)) > int(previous.get("Last-Modified", 0)):
                    merged[aor] = contact
        return merged

    def for_accounts(self, rows: list[dict]) -> dict[str, tuple[str, float | None]]:
        """username -> (lamp, RTT in ms) for the given accounts."""
        contacts = self.contacts() if rows else {}
        now = time.time()
        return {row["username"]: lamp_for(contacts.get(row["username"]), self.rules, now) for row in rows}
