"""Keeps the background loops (workers, scheduler, sweep) running, and says when they are not.

Each loop catches its own errors and backs off (:class:`Backoff`); a loop thread that ends
anyway while the service runs is logged in one line and started again after a growing pause.
:meth:`Supervisor.stopped` names the loops not running, for ``/readyz``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from connector.errors import one_line

log = logging.getLogger(__name__)


class Backoff:
    """Pauses after consecutive failures: ``first``, twice that, ... up to ``cap`` seconds;
    a success starts again from ``first``."""

    def __init__(self, first: float = 1.0, cap: float = 60.0) -> None:
        self.first, self.cap = first, cap
        self.failures = 0

    def failed(self) -> float:
        """Count a failure; the pause before the next try."""
        self.failures += 1
        return min(self.cap, self.first * 2 ** min(self.failures - 1, 32))

    def succeeded(self) -> None:
        self.failures = 0


@dataclass
class _Loop:
    name: str
    target: Callable[[threading.Event], None]
    thread: threading.Thread
    backoff: Backoff
    started_at: float
    restart_at: float | None = None  # monotonic; set while a dead loop waits to restart
    restarts: int = 0


class Supervisor:
    """Starts loops as daemon threads and restarts any that ends before ``stop`` is set."""

    def __init__(self, stop: threading.Event, *, check_seconds: float = 1.0,
                 first_pause: float = 1.0, max_pause: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stop = stop
        self.check_seconds = check_seconds
        self._first_pause, self._cap = first_pause, max_pause
        self._clock = clock
        self._loops: dict[str, _Loop] = {}
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None

    def start(self, name: str, target: Callable[[threading.Event], None]) -> None:
        """Run ``target(stop)`` in a thread called ``name``, watched from now on."""
        with self._lock:
            self._loops[name] = _Loop(name, target, self._spawn(name, target),
                                      Backoff(self._first_pause, self._cap), self._clock())
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._watch, daemon=True,
                                                 name="supervisor")
                self._watcher.start()

    def stopped(self) -> list[str]:
        """Loops that are not running now (ended, waiting to be restarted)."""
        with self._lock:
            return sorted(loop.name for loop in self._loops.values()
                          if not loop.thread.is_alive())

    def restarts(self) -> dict[str, int]:
        with self._lock:
            return {loop.name: loop.restarts for loop in self._loops.values()}

    def join(self, timeout: float) -> None:
        with self._lock:
            threads = [loop.thread for loop in self._loops.values()]
            watcher = self._watcher
        for thread in [*threads, *([watcher] if watcher else [])]:
            thread.join(timeout=timeout)

    def check(self) -> None:
        """One look at every loop: schedule the restart of one that ended, or restart it."""
        with self._lock:
            for loop in self._loops.values():
                if loop.thread.is_alive() or self.stop.is_set():
                    continue
                now = self._clock()
                if loop.restart_at is None:
                    if now - loop.started_at > self._cap:  # it had run well for a while
                        loop.backoff.succeeded()
                    pause = loop.backoff.failed()
                    loop.restart_at = now + pause
                    log.error("loop %s stopped unexpectedly; restarting it in %.0f s",
                              loop.name, pause)
                elif now >= loop.restart_at:
                    loop.restart_at = None
                    loop.restarts += 1
                    log.warning("loop %s restarted (restart %d)", loop.name, loop.restarts)
                    loop.thread = self._spawn(loop.name, loop.target)
                    loop.started_at = now

    def _watch(self) -> None:
        while not self.stop.wait(self.check_seconds):
            try:
                self.check()
            except Exception as exc:  # never let the watcher itself die
                log.error("supervisor: %s", one_line(exc))

    def _spawn(self, name: str, target: Callable[[threading.Event], None]) -> threading.Thread:
        def run() -> None:
            try:
                target(self.stop)
            except BaseException as exc:  # the thread ends here; check() restarts it
                log.error("loop %s ended: %s", name, one_line(exc))

        thread = threading.Thread(target=run, daemon=True, name=name)
        thread.start()
        return thread
