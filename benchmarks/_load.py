"""Shared by the load benchmarks: the lab's targets and accounts, `rtcstack load` runs and sipp runs."""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import PROJECT_ROOT  # noqa: E402
from benchmarks._ladder import ladder  # noqa: E402
from rtcstack.site import Site  # noqa: E402
from rtcstack.load.context import account  # noqa: E402
from rtcstack.load.gate import read_stats  # noqa: E402
from rtcstack.load.scenarios import SCENARIOS  # noqa: E402
from rtcstack.protocols.sip.transport import local_address_towards  # noqa: E402

RTCSTACK = [sys.executable, "-m", "rtcstack.cli"]
SIPP_SCENARIOS = PROJECT_ROOT / "loadtests" / "sipp"
SIPP_SAMPLE_PCAP = "/usr/share/sip-tester/g711a.pcap"
#: sip_calls without its fallback and voicemail shares: every call answered, as sipp's are.
ANSWERED_ONLY = ("call_fallback_percent=0", "call_voicemail_percent=0")


@dataclass
class Lab:
    inventory: str

    def __post_init__(self):
        self.site = Site.load(PROJECT_ROOT / self.inventory)
        self.deployment = self.site.deployment
        self.registrar = self.deployment.hosts_with("registrar")[0]
        self.sip = (str(self.registrar.private_address), self.deployment.registrar.sip_port)
        self.domain = self.deployment.sip_domain
        self.me = local_address_towards(*self.sip)
        self.tmp = Path(tempfile.mkdtemp(prefix="rtcstack-bench-"))
        #: sipp processes running beside each sipp run (an answering sipp): their CPU counts as sipp's
        self.companions: list[int] = []

    def accounts(self, component: str, count: int) -> list[tuple[str, str]]:
        """The load test accounts of a component, created (or re-imported unchanged) as `rtcstack load` does."""
        from rtcstack.load.runner import LoadRun

        per_user = SCENARIOS[component].accounts_per_user
        LoadRun(component, self.site, self.deployment, users=-(-count // per_user)).create_accounts()
        return [account(self.deployment.secret("load_account_key"), component, i) for i in range(count)]

    def on_registrar(self, command: str) -> str:
        return self.on_host(self.registrar.name, command)

    def dialog_states(self) -> dict[str, int]:
        """Kamailio's dialogs on the (first) registrar by state (`dlg.stats_active`: starting, connecting, answering,
        ongoing, and all of them); empty if it did not say."""
        return {name: int(count) for name, count in
                re.findall(r"(\w+):\s*(\d+)", self.on_registrar("kamcmd dlg.stats_active"))}

    def active_dialogs(self) -> int | None:
        """Dialogs Kamailio holds on the (first) registrar, or None if it did not say."""
        return self.dialog_states().get("all")

    def on_host(self, name: str, command: str) -> str:
        from rtcstack.runtime.remote import connect

        return connect(self.site, [name])[name].run(command)  # one connection per host: the Site keeps it

    def cpu_seconds(self, names: list[str]) -> dict[str, float]:
        """CPU time used so far by each host: its container's cgroup in the Docker lab, the whole machine elsewhere."""
        command = ("v1=$(sed -n 's/^[0-9]*:[^:]*cpuacct[^:]*:\\(.*\\)/\\1/p' /proc/1/cgroup | head -1); "
                   "v2=$(sed -n 's/^0::\\(.*\\)/\\1/p' /proc/1/cgroup); "
                   "if [ -n \"$v1\" ]; then cat /sys/fs/cgroup/cpuacct${v1%/}/cpuacct.usage; "
                   "else awk '/^usage_usec/ {printf \"%d\\n\", $2 * 1000}' /sys/fs/cgroup${v2%/}/cpu.stat; fi")
        return {name: int(self.on_host(name, command).split()[0]) / 1e9 for name in names}


def database_sql(lab, sql: str) -> str:
    """`sql` (one statement or a script) run by PostgreSQL's superuser in the platform's database on the first
    database host (the one that takes writes in the labs), stopping at the first error: psql's unaligned output, a
    row a line, its fields split by '|'. `lab`: anything with the deployment and `on_host` (a benchmark's Lab, the
    integration tests' labs)."""
    return lab.on_host(lab.deployment.hosts_with("database")[0].name,
                       f"runuser -u postgres -- psql -X -At -v ON_ERROR_STOP=1 -d {lab.deployment.database.name} "
                       f"<<'EOF_SQL'\n{sql}\nEOF_SQL")


#: What each container's cores were before `cores_apart` pinned them, while they are pinned (a run killed inside).
PINNED = Path(tempfile.gettempdir()) / "rtcstack-cores-apart.json"


@contextmanager
def cores_apart(lab: Lab) -> Iterator[str]:
    """The lab's hosts on the first half of this machine's cores, the load generator (this process and everything
    it starts: sipp, the answering sipp) on the rest, for a benchmark that measures the hosts: what they carry is
    then theirs, not what a generator sharing their cores left them (an overload burst at 4x costs sipp as much CPU
    as the calls it offers). Each host is a container of this machine's Docker engine named after it (the Docker
    lab, or an SSH inventory of it); a host that is not, or a machine of one core, changes nothing. Yields the
    placement, for the report; on exit each container gets back the cores it had (every core of the machine when it
    had no set), and this process its own. What each container had is written to PINNED first and removed once given
    back: after a run killed outright, the containers stay on their half until the next run, which gives them back
    what that file says they had, not the half it finds them on."""
    from rtcstack.lab import LabError, engine

    cores = sorted(os.sched_getaffinity(0))
    names = {host.name for host in lab.deployment.hosts.values()}
    try:
        containers = [c for c in engine().containers.list() if c.name in names] if len(cores) > 1 else []
    except LabError as exc:  # no engine here: the hosts are elsewhere
        print(f"  {exc}", file=sys.stderr)
        containers = []
    if not containers:
        yield "the hosts are not containers of this machine: none pinned"
        return
    hosts, generator = cores[:len(cores) // 2], cores[len(cores) // 2:]
    listed = ",".join(map(str, hosts))
    # (an empty set means no restriction; Docker's update reads an empty value as "unchanged", so it is spelt out)
    had = {c.name: c.attrs["HostConfig"].get("CpusetCpus") or f"0-{os.cpu_count() - 1}" for c in containers}
    if PINNED.exists():  # a run killed inside this context: its containers are still on their half
        left = json.loads(PINNED.read_text())
        print(f"  a benchmark run ended without giving the containers their cores back: they get {left} after this "
              "one", file=sys.stderr)
        had.update({name: cpus for name, cpus in left.items() if name in had})
    PINNED.write_text(json.dumps(had))
    for container in containers:
        container.update(cpuset_cpus=listed)
    os.sched_setaffinity(0, generator)
    try:
        yield (f"cores apart: the hosts' containers ({', '.join(sorted(c.name for c in containers))}) on CPU "
               f"{listed}, the generator (sipp and its answering sipp) on CPU {','.join(map(str, generator))}")
    finally:
        os.sched_setaffinity(0, cores)
        for container in containers:
            container.update(cpuset_cpus=had[container.name])
        PINNED.unlink(missing_ok=True)


def command_line(doc: str, **options: int | tuple[int | bool, str]) -> tuple[argparse.Namespace, Lab]:
    """A load benchmark's command line: an optional INVENTORY (the lab by default) and --options, each given as
    default or (default, help): an integer option, or a switch where the default is False. Returns the arguments
    and the lab they name."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inventory", nargs="?", default="inventories/lab.py")
    for name, option in options.items():
        default, text = option if isinstance(option, tuple) else (option, None)
        flag = f"--{name.replace('_', '-')}"
        if isinstance(default, bool):
            parser.add_argument(flag, dest=name, action="store_true", help=text)
        else:
            parser.add_argument(flag, dest=name, type=int, default=default, help=text)
    args = parser.parse_args()
    return args, Lab(args.inventory)


@dataclass
class LoadResult:
    code: int
    summary: dict
    stats: dict
    seconds: float
    output: str

    def count(self, protocol: str, step: str) -> tuple[int, int]:
        row = self.stats.get((protocol, step))
        return (int(row["Request Count"]), int(row["Failure Count"])) if row else (0, 0)

    def p95(self, protocol: str, step: str) -> float | None:
        row = self.stats.get((protocol, step))
        return float(row["95%"]) if row and int(row["Request Count"]) else None


def rtcstack_load(lab: Lab, scenario: str, users: int, seconds: int, *sets: str, workers: int = 0) -> LoadResult:
    report = lab.tmp / f"{scenario}-{users}-{time.monotonic_ns()}"
    args = [*RTCSTACK, "load", scenario, lab.inventory, "--users", str(users), "--spawn-rate", str(max(1, users)),
            "--duration", f"{seconds}s", "--report", str(report), "--workers", str(workers)]
    for setting in sets:
        args += ["--set", setting]
    print(f"  rtcstack load {scenario} --users {users} --duration {seconds}s {' '.join(sets)}", file=sys.stderr)
    started = time.perf_counter()
    result = subprocess.run(args, cwd=PROJECT_ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    summary_path = report / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return LoadResult(result.returncode, summary, read_stats(report), elapsed, result.stdout + result.stderr)


@dataclass
class SippResult:
    code: int
    successful: int
    failed: int
    seconds: float
    screen: str
    #: CPU-seconds (user + system) sipp used, start-up included
    cpu_seconds: float = 0.0
    #: with timeline=True: (seconds since the start, successful calls so far, failed calls so far), once a second
    timeline: list[tuple[int, int, int]] | None = None
    #: IP packets this machine's stack carried during the run, where the caller counted them
    ip_packets: int | None = None

    @property
    def rate(self) -> float:
        return self.successful / self.seconds if self.seconds else 0.0

    def successful_within(self, seconds: int) -> int:
        """Calls completed in the run's first `seconds` (from the timeline)."""
        return max((done for at, done, _ in self.timeline or [] if at <= seconds), default=0)


def read_timeline(path: Path) -> list[tuple[int, int, int]]:
    """sipp's -trace_stat file: the cumulative successful and failed calls at each second of the run."""
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    names = lines[0].split(";") if lines else []
    rows = []
    for line in lines[1:]:
        row = dict(zip(names, line.split(";")))
        h, m, sec = (row.get("ElapsedTime(C)") or "0:0:0").split(":")[:3]
        rows.append((int(h) * 3600 + int(m) * 60 + int(float(sec)), int(row.get("SuccessfulCall(C)") or 0),
                     int(row.get("FailedCall(C)") or 0)))
    return rows


def sipp(lab: Lab, scenario: str | Path, rows: list[str], *args: str, timeout: int = 300,
         target_port: int | None = None, timeline: bool = False) -> SippResult:
    """One sipp run of `scenario`: a name in loadtests/sipp/, or a scenario file's path."""
    scenario_file = scenario if isinstance(scenario, Path) else SIPP_SCENARIOS / f"{scenario}.xml"
    scenario = scenario_file.stem
    inf = lab.tmp / f"{scenario}-{time.monotonic_ns()}.csv"
    inf.write_text("SEQUENTIAL\n" + "".join(f"{row}\n" for row in rows))
    screen = lab.tmp / f"{scenario}-{time.monotonic_ns()}.screen"
    command = ["sipp", f"{lab.sip[0]}:{target_port or lab.sip[1]}", "-sf", str(scenario_file), "-inf", str(inf),
               "-i", lab.me, "-timeout", f"{timeout}s", "-trace_screen", "-screen_file", str(screen), "-nostdin",
               "-default_behaviors", "pingreply,abortunexp", *args]
    stats = lab.tmp / f"{scenario}-{time.monotonic_ns()}.stats.csv"
    if timeline:
        command += ["-trace_stat", "-stf", str(stats), "-fd", "1"]
    print(f"  sipp -sf {scenario}.xml {' '.join(args)}", file=sys.stderr)
    started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    companions = sum(process_cpu_seconds(pid) for pid in lab.companions)
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout + 30)
    elapsed, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    companions = sum(process_cpu_seconds(pid) for pid in lab.companions) - companions
    text = screen.read_text() if screen.exists() else result.stdout
    ok = re.findall(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", text)
    bad = re.findall(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", text)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime) + companions
    return SippResult(result.returncode, int(ok[-1]) if ok else 0, int(bad[-1]) if bad else 0, elapsed, text, cpu,
                      read_timeline(stats) if timeline else None)


def sipp_ladder(lab: Lab, scenario: str | Path, rows: list[str], rates: list[int], seconds: int, *args: str,
                target_port: int | None = None, run_sipp=None) -> tuple[float, list[tuple[int, SippResult]]]:
    """sipp up the ladder of `rates` (rate x seconds calls each, plus `args`) and between, as benchmarks/_ladder.py
    says (`run_sipp`: a function called as sipp() is, around each run). Returns the best clean rate (0.0 if none)
    and every run."""
    return ladder(rates, seconds, lambda rate: (run_sipp or sipp)(
        lab, scenario, rows, "-r", str(rate), "-m", str(rate * seconds), *args, target_port=target_port))


def g711_pcap(path: Path, seconds: float) -> Path:
    """A pcap of `seconds` of G.711 A-law RTP at 20 ms (50 packets a second, 160 bytes of payload each), the
    stream rtcstack's load clients send, for sipp's play_pcap_audio (which rewrites its addresses and ports)."""
    packets = round(seconds / 0.02)
    ssrc, out = 0x52544353, [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]  # pcap header, Ethernet
    for i in range(packets):
        rtp = struct.pack("!BBHII", 0x80, 8, i, i * 160, ssrc) + b"\xd5" * 160  # PCMA silence
        udp = struct.pack("!HHHH", 16000, 16000, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0, bytes(4), bytes(4)) + udp
        frame = bytes(12) + b"\x08\x00" + ip
        at = i * 20_000  # µs
        out.append(struct.pack("<IIII", at // 1_000_000, at % 1_000_000, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))
    return path


def call_scenario_with_media(lab: Lab, seconds: float) -> Path:
    """loadtests/sipp/call.xml playing `seconds` of 20 ms G.711 (g711_pcap) instead of sipp's sample pcap, whose
    7 s of sparser packets put about 16 RTP packets a second on the wire in a 1 s call."""
    pcap = g711_pcap(lab.tmp / f"g711-{seconds:g}s.pcap", seconds)
    text = (SIPP_SCENARIOS / "call.xml").read_text()
    assert SIPP_SAMPLE_PCAP in text, "call.xml no longer plays sipp's sample pcap"
    scenario = lab.tmp / "call.xml"
    scenario.write_text(text.replace(SIPP_SAMPLE_PCAP, str(pcap)))
    return scenario


def ip_packets() -> int:
    """IP packets this machine's network namespace has received and sent so far (the lab's containers have their
    own): what a load generator took off the wire and put on it, raw sockets (sipp's pcap player) included."""
    lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines() if line.startswith("Ip:")]
    counters = dict(zip(lines[0][1:], map(int, lines[1][1:])))
    return counters["InReceives"] + counters["OutRequests"]


def process_cpu_seconds(pid: int) -> float:
    """CPU-seconds (user + system) a running process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def sipp_callee(lab: Lab, account: tuple[str, str], port: int | None = None, *args: str) -> Iterator[int]:
    """sipp answering calls (loadtests/sipp/answer.xml, plus `args`) on a free local port, registered at the
    registrar (on `port`, the deployed one by default) as `account` with sipp's address as the contact. Yields
    the port; unregisters and stops sipp on exit."""
    from rtcstack.protocols.sip.agent import UserAgent

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((lab.me, 0))
        callee_port = probe.getsockname()[1]
    answering = subprocess.Popen(
        ["sipp", "-sf", str(SIPP_SCENARIOS / "answer.xml"), "-i", lab.me, "-p", str(callee_port), "-nostdin",
         "-trace_screen", "-screen_file", str(lab.tmp / f"answer-{callee_port}.screen"), *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    username, password = account
    lab.companions.append(answering.pid)
    try:
        with UserAgent(lab.sip[0], port or lab.sip[1], lab.domain, username, password) as registering:
            registering.contact = f"<sip:{username}@{lab.me}:{callee_port}>"
            reply = registering.register(expires=3600)
            if reply is None or reply.status != 200:
                raise RuntimeError(f"sipp's callee could not register as {username}: {reply and reply.status}")
            try:
                yield callee_port
            finally:
                registering.register(expires=0)
    finally:
        lab.companions.remove(answering.pid)
        answering.terminate()
        try:
            answering.wait(10)
        except subprocess.TimeoutExpired:
            answering.kill()


def shm_used(lab: Lab, host: str) -> int:
    """Bytes of shared memory Kamailio uses on a registrar host."""
    return int(re.search(r"used:\s*(\d+)", lab.on_host(host, "kamcmd core.shmmem")).group(1))


def fmt(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
