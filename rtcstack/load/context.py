"""What a Locust process needs to know about the deployment: targets, test accounts and secrets.

`rtcstack load` writes it as JSON (mode 600, in a private temporary directory, never the report
directory) and points RTCSTACK_LOAD_CONTEXT at it; a worker on another machine builds the same context
from the same inventory (`rtcstack load ... --worker`), so accounts are derived, not stored: the password
of test account N is an HMAC of its name under the `load_account_key` secret.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..site import Deployment, Site
from .scenarios import SCENARIOS

ENV = "RTCSTACK_LOAD_CONTEXT"
CUSTOMER = "rtcstack-load"


def account(deployment_key: str, scenario: str, index: int) -> tuple[str, str]:
    username = f"load-{scenario.replace('_', '')}-{index:05d}"
    # A letter first: a hex digest may be all digits, which the password policy refuses.
    return username, "L" + hmac.new(deployment_key.encode(), username.encode(), hashlib.sha256).hexdigest()[:23]


def accounts_per_user(part, load=None) -> int:
    """A component's accounts per user: its own count, times its setting (phones per user) when it has one."""
    multiple = getattr(load, part.accounts_setting, 1) if load is not None and part.accounts_setting else 1
    return part.accounts_per_user * int(multiple)


def accounts_needed(scenario: str, users: int, workers: int, load=None) -> dict[str, int]:
    """Accounts per component: every worker gets a block of `users` slots (it never runs more users); `load`: the
    run's LoadSettings."""
    return {part.name: users * accounts_per_user(part, load) * max(1, workers) for part in SCENARIOS[scenario].parts()
            if part.accounts_per_user}


@dataclass
class LoadContext:
    scenario: str
    users: int
    workers: int
    duration_seconds: float
    report_dir: str
    sip_servers: list[tuple[str, int]]
    sip_domain: str
    accounts: dict[str, list[tuple[str, str]]]
    turn_servers: list[tuple[str, int]]
    turn_secret: str
    turn_lifetime: int
    janus_url: str
    janus_api_secret: str
    janus_room_key: str
    edge_url: str
    cafile: str
    load: dict = field(default_factory=dict)
    #: the http scenario's invite links: {"page": TOKEN, "redeem": [[TOKEN, ...] per user slot]}
    invites: dict = field(default_factory=dict)
    #: the http scenario's portal user: {"email": ..., "password": ...} (every Locust user logs in as it)
    portal: dict = field(default_factory=dict)

    @classmethod
    def build(cls, deployment: Deployment, site: Site, scenario: str, users: int, workers: int,
              duration_seconds: float, report_dir: Path) -> LoadContext:
        """The context of one run: `deployment` is the site's with the run's overrides."""
        def secret(name: str) -> str:
            return deployment.secret(name) if name in deployment.secrets else ""

        key = secret("load_account_key")
        accounts = {name: [account(key, name, i) for i in range(count)]
                    for name, count in accounts_needed(scenario, users, workers, deployment.load).items()}
        edges = deployment.hosts_with("edge")
        edge_url = f"https://{edges[0].advertised_address}" if edges else ""
        return cls(
            scenario=scenario, users=users, workers=workers, duration_seconds=duration_seconds, report_dir=str(report_dir),
            sip_servers=[(str(h.private_address), deployment.registrar.sip_port)
                         for h in deployment.hosts_with("registrar")],
            sip_domain=deployment.sip_domain, accounts=accounts,
            turn_servers=[(str(h.private_address), deployment.turn.listening_port) for h in deployment.hosts_with("turn")],
            turn_secret=secret("turn_shared_secret"), turn_lifetime=deployment.turn.credential_lifetime_seconds,
            janus_url=edge_url + deployment.edge.janus_path if edge_url else "",
            janus_api_secret=secret("janus_api_secret"), janus_room_key=secret("janus_room_key"),
            edge_url=edge_url, cafile=str(site.pki.directory / "ca.crt"),
            load=deployment.load.model_dump(mode="json") | ({} if deployment.hosts_with("voicemail") else {
                "call_fallback_percent": 0, "call_voicemail_percent": 0}))

    def write(self, path: Path) -> Path:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(asdict(self), handle)
        return path

    @classmethod
    def current(cls) -> LoadContext:
        """The context of this Locust process (from RTCSTACK_LOAD_CONTEXT), read once."""
        path = os.environ.get(ENV)
        if not path:
            raise RuntimeError(f"{ENV} is not set: run the scenarios through `rtcstack load SCENARIO INVENTORY`")
        return _read(path)


@functools.cache
def _read(path: str) -> LoadContext:
    data = json.loads(Path(path).read_text())
    data["sip_servers"] = [tuple(s) for s in data["sip_servers"]]
    data["turn_servers"] = [tuple(s) for s in data["turn_servers"]]
    data["accounts"] = {k: [tuple(a) for a in v] for k, v in data["accounts"].items()}
    return LoadContext(**data)
