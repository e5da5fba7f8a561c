"""Background work a web service does while it serves (the outbox's sending, the room sweeper): one thread per
task, a round every `period` seconds, and a failed round logged and retried, never fatal."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("rtcstack.web")


class PeriodicTask:
    """Calls `work()` every `period` seconds (first after `period`, or at once with `immediately`) until
    `stop()`; an exception is logged as `failure` with its type and first line, and the next round retries."""

    def __init__(self, name: str, period: float, work: Callable[[], object], failure: str,
                 immediately: bool = False, stop_seconds: float = 15.0):
        self.name, self.period, self.work, self.failure = name, period, work, failure
        self.immediately, self.stop_seconds = immediately, stop_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.stop_seconds)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _run(self) -> None:
        if not self.immediately and self._stop.wait(self.period):
            return
        while True:
            try:
                self.work()
            except Exception as exc:  # noqa: BLE001  (a database or SFU away for a while: keep trying, never die)
                log.warning(self.failure, extra={"fields": {"error": type(exc).__name__,
                                                            "reason": (str(exc).splitlines() or [""])[0][:200]}})
            if self._stop.wait(self.period):
                return
