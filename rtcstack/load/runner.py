"""Run a scenario with Locust: test accounts, the context file, local or master/worker processes, then the
report (plots, summary) and the gate."""

from __future__ import annotations

import json
import math
import os
import secrets
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from ..site import Deployment, Site
from ..config.settings import LoadSettings
from .context import CUSTOMER, ENV, LoadContext, account, accounts_needed
from .gate import Check, as_json, evaluate, media_summary
from .scenarios import SCENARIOS

#: Seconds the master waits for the loadgen hosts' workers before it gives up (a firewall, a wrong
#: loadgen.master_address).
WORKERS_MAX_WAIT = 60
#: Fresh invites each user slot of the http scenario may redeem; then it redeems unknown links (404).
REDEEMS_PER_USER = 10


class LoadError(Exception):
    """A load run cannot start (missing role, bad override...) or did not produce results."""


@dataclass
class LoadRun:
    scenario: str
    site: Site
    #: The site's deployment with this run's `--set` overrides applied.
    deployment: Deployment
    users: int = 10
    spawn_rate: float | None = None
    duration_seconds: float = 60
    workers: int = 0
    remote_workers: int = 0
    #: workers on the inventory's loadgen hosts (started and stopped by this run)
    loadgen_workers: int = 0
    report_dir: Path = Path("out/load")
    web: bool = False
    master_port: int = 5557
    log: callable = print
    checks: list[Check] = field(default_factory=list)

    @property
    def all_workers(self) -> int:
        return self.workers + self.remote_workers + self.loadgen_workers

    @property
    def parts(self):
        return SCENARIOS[self.scenario].parts()

    # --- before -------------------------------------------------------------------------------

    def preflight(self) -> None:
        for part in self.parts:
            missing = [role for role in part.roles if not self.deployment.hosts_with(role)]
            if missing:
                raise LoadError(f"scenario {part.name} needs a host with the role(s) {', '.join(missing)}; "
                                f"{self.site.path.name} has none")
        users_here = self.workers or self.remote_workers or not self.all_workers
        if any(p.name == "turn_relay" for p in self.parts) and users_here:
            self._check_echo_peer_allowed()  # (loadgen hosts are allowed peers of the TURN hosts)
        if self.loadgen_workers and not self.deployment.hosts_with("loadgen"):
            raise LoadError(f"{self.site.path.name} has no loadgen host for {self.loadgen_workers} worker(s)")
        if self.users < 1:
            raise LoadError(f"--users {self.users}: run at least one user")

    def _check_echo_peer_allowed(self) -> None:
        from ipaddress import ip_address

        from ..protocols.sip.transport import local_address_towards

        turn = self.deployment.hosts_with("turn")[0]
        me = ip_address(local_address_towards(str(turn.private_address), self.deployment.turn.listening_port))
        denied = any(me in net for net in self.deployment.turn.denied_peer_networks)
        allowed = any(me in net for net in self.deployment.turn.allowed_peer_addresses)
        if denied and not allowed:
            raise LoadError(f"turn_relay's echo peer runs on this machine ({me}), which coturn may not relay to "
                            f"(it is inside turn.denied_peer_networks). Fix: add \"{me}/32\" to "
                            f"turn.allowed_peer_addresses in group_data and deploy")

    def load_customer(self, db) -> None:
        """The load test's customer with 300 channels; the first run tops its balance up by the price and buys
        them (P13: channels are paid from the balance); later runs find them and change nothing."""
        from ..domain import billing
        from ..domain.provisioning import add_customer

        add_customer(db, CUSTOMER, None, False, Decimal("0"))
        customer = billing.customer_id(db, CUSTOMER)
        current = billing.profile(db, customer, None).current
        if current is not None and current.channels == 300:
            return
        price = billing.prices(self.deployment).term(300, 0)[0]
        missing = price - billing.balance(db, customer).available
        add_customer(db, CUSTOMER, 300, False, Decimal("0"), top_up=missing if missing > 0 else None,
                     by="rtcstack load")

    def create_accounts(self) -> int:
        """The test accounts (customer rtcstack-load, 300 channels); re-imported unchanged on every run."""
        from ..domain.provisioning import import_accounts
        from ..runtime.database import Database

        needed = accounts_needed(self.scenario, self.users, self.all_workers, self.deployment.load)
        total = sum(needed.values())
        if not total:
            return 0
        key = self.deployment.secret("load_account_key") if "load_account_key" in self.deployment.secrets else ""
        if not key:
            raise LoadError(f"the secret load_account_key is missing: run `rtcstack secrets init {self.site.path}`")
        db = Database.connect(self.site)
        self.load_customer(db)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "accounts.csv"
            rows = ["customer,username,password"] + [
                f"{CUSTOMER},{','.join(account(key, name, i))}" for name, count in needed.items() for i in range(count)]
            path.write_text("\n".join(rows) + "\n")
            import_accounts(db, path)
        self.voicemail_for_calls(db)
        return total

    def voicemail_for_calls(self, db) -> None:
        """sip_calls' fallback and voicemail shares (R10, R14): the load accounts have voicemail, ringing 5 s
        first; without those shares (or a voicemail host) they have none, and every call is answered."""
        from ..domain.features import set_customer

        load = self.deployment.load
        on = bool(self.deployment.hosts_with("voicemail")) and load.call_fallback_percent + load.call_voicemail_percent > 0
        set_customer(db, CUSTOMER, voicemail_service=on)
        db.run(f"UPDATE sip_accounts SET voicemail = {'true' if on else 'false'}, ring_seconds = 5 WHERE customer_id = "
               f"(SELECT id FROM customers WHERE name = '{CUSTOMER}') AND (voicemail, ring_seconds) IS DISTINCT FROM "
               f"({'true' if on else 'false'}, 5);")

    def create_invites(self) -> dict:
        """For the http scenario, with a links role: one invite whose page every user views (a page view spends
        nothing) and REDEEMS_PER_USER fresh invites per user slot to redeem (a redeem spends one)."""
        if not any(p.name == "http" for p in self.parts) or not self.deployment.hosts_with("links"):
            return {}
        from ..cli.links import link_settings
        from ..domain.links import add_video_phone, issue_bulk
        from ..runtime.database import Database

        db = Database.connect(self.site)
        self.load_customer(db)
        phone = f"load-vp-{secrets.token_hex(3)}"
        add_video_phone(db, self.deployment.sip_domain, phone, CUSTOMER, "Load Test")
        slots = self.users * max(1, self.all_workers)
        tokens = issue_bulk(db, link_settings(self.deployment), phone, "load-", 1 + slots * REDEEMS_PER_USER)
        self.log(f"invites ready: {len(tokens)} (video phone {phone})")
        return {"page": tokens[0], "redeem": [tokens[1 + i * REDEEMS_PER_USER:1 + (i + 1) * REDEEMS_PER_USER]
                                              for i in range(slots)]}

    def create_portal_user(self) -> dict:
        """For the http scenario, with a portal role: the load customer's portal user, whose password derives from
        the load_account_key secret; every Locust user logs in as it."""
        if not any(p.name == "http" for p in self.parts) or not self.deployment.hosts_with("portal"):
            return {}
        from ..domain.portal import load_user
        from ..runtime.database import Database
        from .context import account

        db = Database.connect(self.site)
        self.load_customer(db)
        password = account(self.deployment.secret("load_account_key"), "portal", 0)[1] + "!p"
        email = load_user(db, CUSTOMER, password)
        self.log(f"portal user ready: {email}")
        return {"email": email, "password": password}

    # --- the run ------------------------------------------------------------------------------------

    def stop_timeout(self) -> int:
        load = self.deployment.load
        waits = {"sip_calls": load.call_hold_seconds + 20, "sfu_join": load.sfu_hold_seconds + 20,
                 "turn_relay": load.turn_burst_messages * load.turn_interval_ms / 1000 + 5}
        return math.ceil(max([waits.get(p.name, 10) for p in self.parts]))

    def locust_command(self, locustfile: Path, *extra: str) -> list[str]:
        return [sys.executable, "-m", "locust", "-f", str(locustfile), "--exit-code-on-error", "0", *extra]

    def run(self) -> int:
        self.preflight()
        self.report_dir.mkdir(parents=True, exist_ok=True)
        for stale in ("locust_stats.csv", "locust_stats_history.csv", "media.csv", "summary.json"):
            (self.report_dir / stale).unlink(missing_ok=True)
        for stale in self.report_dir.glob("cpu-*.json"):
            stale.unlink()
        created = self.create_accounts()
        if created:
            self.log(f"test accounts ready: {created} (customer {CUSTOMER})")
        scenario = SCENARIOS[self.scenario]
        with tempfile.TemporaryDirectory(prefix="rtcstack-load-") as private:
            context = LoadContext.build(self.deployment, self.site, self.scenario, self.users,
                                        self.all_workers, self.duration_seconds,
                                        self.report_dir.resolve())
            context.invites = self.create_invites()
            context.portal = self.create_portal_user()
            env = {**os.environ, ENV: str(context.write(Path(private) / "context.json"))}
            spawn = self.spawn_rate or max(1.0, self.users / 10)
            common = ["-u", str(self.users), "-r", f"{spawn:g}", "--stop-timeout", str(self.stop_timeout())]
            if self.web:
                common += ["--web-host", "127.0.0.1"]
            else:
                prefix = str(self.report_dir / "locust")
                common += ["--headless", "-t", f"{int(self.duration_seconds)}s", "--csv", prefix,
                           "--csv-full-history", "--html", str(self.report_dir / "report.html")]
            workers: list[subprocess.Popen] = []
            remote = None
            if self.all_workers:
                port = self.master_port or _free_port()
                common += ["--master", "--master-bind-port", str(port), "--expect-workers", str(self.all_workers)]
                if self.loadgen_workers:
                    remote = self.remote_workers_for(context, port)
                    common += ["--expect-workers-max-wait", str(WORKERS_MAX_WAIT)]
                for n in range(self.workers):
                    log = (self.report_dir / f"worker-{n}.log").open("w")
                    workers.append(subprocess.Popen(
                        self.locust_command(scenario.locustfile, "--worker", "--master-host", "127.0.0.1",
                                            "--master-port", str(port)), env=env, stdout=log, stderr=subprocess.STDOUT))
                if self.remote_workers:
                    self.log(f"waiting for {self.remote_workers} worker(s) from other machines on port {port}")
            self.log(f"{self.scenario}: {self.users} users, {spawn:g}/s spawn, "
                     f"{'web UI on http://127.0.0.1:8089' if self.web else f'{self.duration_seconds:g} s'}"
                     f"{f', {self.workers} local worker(s)' if self.workers else ''}"
                     f"{f', {self.loadgen_workers} on loadgen hosts' if self.loadgen_workers else ''}"
                     f"; report in {self.report_dir}")
            master = subprocess.Popen(self.locust_command(scenario.locustfile, *common), env=env)
            failed = []
            try:
                if remote:
                    from .remote import RemoteWorkersError

                    try:
                        remote.start(context)
                    except RemoteWorkersError as exc:
                        raise LoadError(str(exc)) from None  # a one-line message, as every refusal of a run
                code = master.wait()
            finally:
                if master.poll() is None:
                    master.terminate()
                    master.wait()
                for worker in workers:
                    try:
                        worker.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        worker.kill()
                if remote:
                    failed = remote.stop(self.report_dir)
            if failed:
                self.log(f"worker(s) that did not end well: {', '.join(failed)}; see worker-*.log in "
                         f"{self.report_dir}")
        if self.web:
            return code
        if code != 0 or not (self.report_dir / "locust_stats.csv").exists():
            raise LoadError(f"Locust exited {code} without results; see its output above")
        return self.report()

    def remote_workers_for(self, context: LoadContext, port: int):
        from .remote import RemoteWorkers, master_address

        return RemoteWorkers(self.site, self.deployment, self.loadgen_workers,
                             SCENARIOS[self.scenario].locustfile.name, master_address(self.deployment, port), port,
                             run_id=run_id(self.report_dir.name), log=self.log)

    # --- after -----------------------------------------------------------------------------------

    def report(self) -> int:
        from .plots import write_plots

        plots = write_plots(self.report_dir, self.scenario)
        self.checks = evaluate(self.scenario, self.deployment.load, self.report_dir)
        media = media_summary(self.report_dir)
        cpu = [json.loads(path.read_text())["cpu_seconds"] for path in sorted(self.report_dir.glob("cpu-*.json"))]
        summary = {"scenario": self.scenario, "users": self.users, "duration_seconds": self.duration_seconds,
                   "workers": self.all_workers, "checks": as_json(self.checks), "media": media,
                   # CPU-seconds of this machine's Locust processes while the load ran (loadgen hosts' not included)
                   "generator_cpu_seconds": round(sum(cpu), 3) if cpu else None,
                   "plots": [p.name for p in plots], "passed": all(c.passed for c in self.checks)}
        (self.report_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        self.log("")
        for kind, figures in media.items():
            shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items()
                              if v is not None)
            self.log(f"media ({kind}): {shown}")
        width = max(len(c.what) for c in self.checks) if self.checks else 10
        self.log(f"{'scenario':<13} {'check':<{width}} {'measured':>12}  limit        met")
        for c in self.checks:
            scenario, what, measured, limit, met = c.row()
            self.log(f"{scenario:<13} {what:<{width}} {measured:>12}  {limit:<12} {met}")
        self.log(f"report: {self.report_dir}/report.html, locust_*.csv, media.csv, "
                 f"{', '.join(p.name for p in plots) or 'no plots'}, summary.json")
        return 0 if summary["passed"] else 1


def apply_overrides(load: LoadSettings, pairs: tuple[str, ...]) -> LoadSettings:
    """`KEY=VALUE` over the load settings, e.g. `sip_register.max_p95_setup_ms=1` or `call_hold_seconds=10`."""
    from pydantic import ValidationError

    data = load.model_dump()
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise LoadError(f"--set {pair!r}: write KEY=VALUE, e.g. sip_register.max_p95_setup_ms=200")
        target, *path = key.split(".")
        node = data
        for part in [target, *path][:-1]:
            if not isinstance(node.get(part), dict):
                raise LoadError(f"--set {key}: {part!r} is not a load setting group (see the load.* settings)")
            node = node[part]
        leaf = [target, *path][-1]
        if leaf not in node:
            raise LoadError(f"--set {key}: no such load setting (see the load.* settings in README.md)")
        node[leaf] = None if value.lower() in ("none", "") else _number(value)
    try:
        return LoadSettings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise LoadError(f"--set: {problems}") from None


def run_id(report_name: str) -> str:
    """A run's name in its workers' unit instances: the report directory's name in letters, digits and dashes
    (a systemd instance name needs no escaping then), and a random suffix (two runs never share files)."""
    import re

    cleaned = re.sub(r"[^A-Za-z0-9]+", "-", report_name).strip("-")[-30:] or "run"
    return f"{cleaned}-{secrets.token_hex(2)}"


def _number(text: str) -> int | float | str:
    """`--set` values are text: numbers become numbers (the settings take no string for a number)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
