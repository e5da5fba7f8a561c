"""The portal's view of the registrars over Kamailio's JSON-RPC (xhttp on each registrar's private RPC port, open
to portal hosts only, with a bearer token): live status lamps (R2: `ul.lookup` of each account shown, the newest
contact kept, the lamp decided by rtcstack.domain.status.lamp_for, the rule the CLI's `accounts status` uses) and the
flood bans (R13: `htable.dump ipban`, `htable.delete`, as `rtcstack ip-bans` does over SSH)."""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from ..domain.status import Ban, LampRules, ban_of, keep_newest, lamp_for

log = logging.getLogger("rtcstack.web.lamps")


def contacts_in(answer) -> Iterable[tuple[str, dict]]:
    """(AoR, contact) pairs anywhere in a `ul.lookup` or `ul.dump` answer (its nesting differs between Kamailio
    versions)."""
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


class Registrars:
    """Asks every registrar; a registrar that does not answer within 2 s counts as holding no registration
    (its accounts show grey) and is logged."""

    def __init__(self, urls: tuple[str, ...], token: str, good_rtt_ms: int, severe_rtt_ms: int,
                 keepalive_interval_seconds: int, ban_seconds: int = 300):
        self.urls, self.token, self.ban_seconds = urls, token, ban_seconds
        self.rules = LampRules(keepalive_interval_seconds, good_rtt_ms, severe_rtt_ms)

    def _call(self, url: str, method: str, *params: str, connection: http.client.HTTPConnection | None = None) -> object:
        """One JSON-RPC call; over `connection` when given (kept open between calls), else over one of its own."""
        if connection is None:
            with _connection(url) as connection:
                return self._call(url, method, *params, connection=connection)
        # The registrars accept exactly this layout, string parameters only (kamailio.cfg, event_route[xhttp:request]).
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}
        path = urllib.parse.urlsplit(url).path or "/"
        for attempt in (1, 2):
            try:
                connection.request("POST", path, body, headers)
                response = connection.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                # The registrar closed the kept connection (its TCP idle timeout) before this request: once more
                # on a new one (these calls read, or delete what is then gone: safe to repeat).
                connection.close()
                if attempt == 2:
                    raise OSError(f"{url}: {exc}") from exc
            except http.client.HTTPException as exc:
                raise OSError(f"{url}: {exc!r}") from exc
        if response.status != 200:
            raise OSError(f"{url}: HTTP {response.status} {response.reason}")
        return json.loads(data)

    def contacts(self, usernames: list[str]) -> dict[str, dict]:
        """The newest contact of each of `usernames` registered anywhere: one `ul.lookup` per account and
        registrar, not one `ul.dump` of every phone (its reply, about 110 KB with 400 phones registered, came back
        cut short: the lamps of every customer failed once a platform had a few hundred phones), over one kept
        connection per registrar. An account that is not registered answers an error (AOR not found): no contact.
        A registrar that fails one lookup is skipped for the rest, so a registrar down costs one timeout, not one
        per account."""
        merged: dict[str, dict] = {}
        for url in self.urls:
            try:
                with _connection(url) as connection:
                    for username in usernames:
                        answer = self._call(url, "ul.lookup", "location", username, connection=connection)
                        for aor, contact in contacts_in(answer.get("result")):
                            keep_newest(merged, aor, contact)
            except (OSError, ValueError) as exc:
                log.warning("registrar unreachable", extra={"fields": {"url": url, "error": str(exc)[:200]}})
        return merged

    def for_accounts(self, rows: list[dict]) -> dict[str, tuple[str, float | None]]:
        """username -> (lamp, RTT in ms) for the given accounts."""
        contacts = self.contacts([row["username"] for row in rows]) if rows else {}
        now = time.time()
        return {row["username"]: lamp_for(contacts.get(row["username"]), self.rules, now) for row in rows}

    # --- R13: flood bans ------------------------------------------------------------------------------------

    def bans(self) -> list[Ban]:
        """Every registrar's banned source addresses, with the seconds left; unreachable registrars are logged."""
        now, out = time.time(), []
        for url in self.urls:
            try:
                answer = self._call(url, "htable.dump", "ipban")
            except (OSError, ValueError) as exc:
                log.warning("registrar unreachable", extra={"fields": {"url": url, "error": str(exc)[:200]}})
                continue
            for entry in _entries(answer.get("result")):
                out.append(ban_of(str(entry["name"]), _host_of(url), entry.get("value"), self.ban_seconds, now))
        return sorted(out, key=lambda b: (b.address, b.registrar))

    def unban(self, address: str) -> list[str]:
        """Lift the ban on every registrar that holds one; the registrars it was lifted on."""
        ipaddress.ip_address(address)  # ValueError for anything else
        lifted = []
        for ban in self.bans():
            if ban.address == address:
                url = next(u for u in self.urls if _host_of(u) == ban.registrar)
                self._call(url, "htable.delete", "ipban", address)
                lifted.append(ban.registrar)
        return lifted


@contextmanager
def _connection(url: str) -> Iterator[http.client.HTTPConnection]:
    """An HTTP/1.1 connection to a registrar's RPC port, opened on its first request, 2 s for each step."""
    parts = urllib.parse.urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname, parts.port, timeout=2)
    try:
        yield connection
    finally:
        connection.close()


def _entries(answer) -> Iterable[dict]:
    """The items of an `htable.dump` answer (each has a name and a value), however they are nested."""
    if isinstance(answer, dict):
        if "name" in answer and "value" in answer:
            yield answer
            return
        for value in answer.values():
            yield from _entries(value)
    elif isinstance(answer, list):
        for value in answer:
            yield from _entries(value)


def _host_of(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
