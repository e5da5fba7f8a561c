"""What the Locust scenarios share: reporting exchanges, account slots, the media log and the echo peer.

Imported only inside Locust processes (it imports locust, which patches the standard library for gevent).
"""

from __future__ import annotations

import csv
import gc
import json
import os
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from locust import events
from locust.exception import RescheduleTask
from locust.runners import MasterRunner, WorkerRunner

from ..protocols.rtp import StreamQuality
from .context import LoadContext


class ProtocolFailure(Exception):
    """The far end answered wrongly (a SIP error status, a STUN error, a Janus error...)."""


@contextmanager
def exchange(environment, protocol: str, step: str, reschedule: bool = True):
    """Report one exchange as a Locust request (protocol as type, step as name); any exception is a failure.

    The block may set `outcome["ms"]` to report its own figure (a setup delay measured inside). After a
    failure the task is rescheduled (a clean restart of the user's loop), unless `reschedule` is False.
    """
    started = time.perf_counter()
    outcome: dict = {"ms": None, "length": 0}
    exception = None
    try:
        yield outcome
    except RescheduleTask:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure of the far end or the client is reported
        exception = exc
    elapsed = outcome["ms"] if outcome["ms"] is not None else (time.perf_counter() - started) * 1000
    environment.events.request.fire(request_type=protocol, name=step, response_time=elapsed,
                                    response_length=outcome["length"], exception=exception, context={})
    if exception is not None and reschedule:
        raise RescheduleTask() from exception


def report(environment, protocol: str, step: str, ms: float, error: str | None = None) -> None:
    """Report one exchange measured elsewhere (a batch's registration): `error` makes it a failure."""
    environment.events.request.fire(request_type=protocol, name=step, response_time=ms, response_length=0,
                                    exception=ProtocolFailure(error) if error else None, context={})


class Slots:
    """Account slots of one component in this process: worker w uses block w (context.users slots)."""

    def __init__(self) -> None:
        self._free: dict[str, list[int]] = {}
        self._lock = threading.Lock()

    def take(self, environment, component: str) -> int:
        context = LoadContext.current()
        runner = environment.runner
        worker = runner.worker_index if isinstance(runner, WorkerRunner) else 0
        with self._lock:
            free = self._free.setdefault(component, list(range(context.users - 1, -1, -1)))
            if not free:
                raise RuntimeError(f"{component}: more users in this process than --users {context.users}")
            return worker * context.users + free.pop()

    def give_back(self, component: str, slot: int) -> None:
        context = LoadContext.current()
        with self._lock:
            self._free.setdefault(component, []).append(slot % context.users)


SLOTS = Slots()


# --- the media log: per-stream quality, shipped from workers to the master, written as media.csv ---------

MEDIA_FIELDS = ["time", "kind", "expected", "received", "lost", "loss_percent", "jitter_ms", "delay_ms", "mos"]
_pending: list[dict] = []
_collected: list[dict] = []


def record_media(kind: str, quality: StreamQuality) -> None:
    _pending.append({"time": round(time.time(), 3), "kind": kind, "expected": quality.expected,
                     "received": quality.received, "lost": quality.lost,
                     "loss_percent": round(quality.loss_percent, 4), "jitter_ms": round(quality.jitter_ms, 3),
                     "delay_ms": None if quality.delay_ms is None else round(quality.delay_ms, 3),
                     "mos": round(quality.mos, 3)})


@events.report_to_master.add_listener
def _ship(client_id, data):
    data["rtcstack_media"] = list(_pending)
    _pending.clear()


@events.worker_report.add_listener
def _receive(client_id, data):
    _collected.extend(data.get("rtcstack_media", []))


@events.quitting.add_listener
def _write_media(environment, **kwargs):
    if isinstance(environment.runner, WorkerRunner):
        return
    if not isinstance(environment.runner, MasterRunner):
        _collected.extend(_pending)
    try:
        report_dir = Path(LoadContext.current().report_dir)
    except RuntimeError:
        return
    report_dir.mkdir(parents=True, exist_ok=True)
    with (report_dir / "media.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, MEDIA_FIELDS)
        writer.writeheader()
        writer.writerows(sorted(_collected, key=lambda row: row["time"]))


# --- the garbage collector: the generator's objects are short-lived, and mostly freed by reference counts -----

#: Allocations between two collections of the youngest generation (Python's default: 700). A call or a registration
#: allocates hundreds of objects that reference counting frees at once; at the default, the cyclic collector ran
#: about once per call and took 6 % of sip_calls' CPU (py-spy, 200 users).
YOUNG_COLLECTION_EVERY = 50_000


@events.test_start.add_listener
def _collect_less(environment, **kwargs):
    """Before the load: everything set up so far (modules, Locust, the scenario's context) is collected once and
    frozen out of later collections, and the young generation is collected less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])


# --- the generator's own CPU: what each Locust process spent while the load ran ---------------------------

_cpu_at_start: list[float] = []


@events.test_start.add_listener
def _cpu_start(environment, **kwargs):
    _cpu_at_start[:] = [time.process_time()]


@events.test_stop.add_listener
def _cpu_stop(environment, **kwargs):
    """cpu-HOST-PID.json in the report directory (when it is on this machine): the CPU-seconds this process used
    between the start and the end of the test, imports and setup left out; `rtcstack load` adds them up."""
    if not _cpu_at_start:
        return
    try:
        report_dir = Path(LoadContext.current().report_dir)
    except RuntimeError:
        return
    if not report_dir.is_dir():
        return  # a worker on a loadgen host: its report directory is on the master's machine
    role = "worker" if isinstance(environment.runner, WorkerRunner) else \
        "master" if isinstance(environment.runner, MasterRunner) else "local"
    (report_dir / f"cpu-{socket.gethostname()}-{os.getpid()}.json").write_text(
        json.dumps({"role": role, "cpu_seconds": round(time.process_time() - _cpu_at_start[0], 3)}) + "\n")


# --- the echo peer of turn_relay: sends every datagram back where it came from -------------------------

_echo: dict[str, tuple[str, int]] = {}
_echo_lock = threading.Lock()


def echo_peer(towards: tuple[str, int]) -> tuple[str, int]:
    """A UDP echo on this machine's address towards `towards`, one per process, started on first use."""
    from ..protocols.sip.transport import local_address_towards

    address = local_address_towards(*towards)
    with _echo_lock:
        if address not in _echo:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            sock.bind((address, 0))

            def serve():
                while True:
                    try:
                        data, source = sock.recvfrom(65535)
                        sock.sendto(data, source)
                    except OSError:
                        continue

            threading.Thread(target=serve, daemon=True, name="turn-echo").start()
            _echo[address] = sock.getsockname()
        return _echo[address]
