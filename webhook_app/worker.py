"""The worker loop: claim a ticket with pending deliveries, process it, repeat.

Runs as a thread inside ``tierlift serve`` or as ``tierlift worker`` processes on other machines.
Work is claimed through a lease in the store, so a worker that dies mid-ticket only delays that
ticket until its lease runs out; nothing acknowledged is lost.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid

from sqlalchemy.exc import SQLAlchemyError

from connector.errors import one_line
from webhook_app.escalation import Escalator
from webhook_app.logs import log_context
from webhook_app.settings import WorkerSettings
from webhook_app.store import Claim, Retention, Store
from webhook_app.supervisor import Backoff

log = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    def __init__(
        self,
        store: Store,
        escalator: Escalator,
        settings: WorkerSettings,
        *,
        wake: threading.Event | None = None,
        pruner: Pruner | None = None,
    ) -> None:
        self.store = store
        self.escalator = escalator
        self.settings = settings
        self.wake = wake or threading.Event()
        self.pruner = pruner
        self.id = worker_id()

    def run_once(self) -> bool:
        """Apply the retention when due, then process one claimed ticket; ``False`` when
        nothing is due."""
        if self.pruner is not None:
            self.pruner.maybe_prune()
        claim = self.store.claim(self.id, self.settings.lease_seconds)
        if claim is None:
            return False
        with log_context(platform=claim.platform, ticket=claim.ticket_ref,
                         delivery=",".join(e.dedupe_key for e in claim.entries)), \
                _Heartbeat(self.store, claim, self.settings.lease_seconds):
            self.escalator.process(claim)
        return True

    def run(self, stop: threading.Event) -> None:
        log.info("worker %s started", self.id)
        self.escalator.warm_up()
        backoff = Backoff(cap=max(60.0, self.settings.poll_seconds))
        while not stop.is_set():
            try:
                if self.run_once():
                    backoff.succeeded()
                    continue
                timeout = self._idle_timeout()
                backoff.succeeded()
            except SQLAlchemyError as exc:  # the store failed: keep the loop alive, back off
                timeout = backoff.failed()
                log.warning("worker %s: store error (%s); trying again in %.0f s", self.id,
                            one_line(exc), timeout)
            except Exception:  # a bug: its traceback, then the same back-off
                timeout = backoff.failed()
                log.exception("worker %s: unexpected error; trying again in %.0f s", self.id,
                              timeout)
            self.wake.wait(timeout)
            self.wake.clear()
        log.info("worker %s stopped", self.id)

    def _idle_timeout(self) -> float:
        due = self.store.next_due()
        if due is None:
            return self.settings.poll_seconds
        return min(self.settings.poll_seconds, max(0.01, due - self.store.clock()))


class _Heartbeat:
    """Renews a claim's lease while a slow ticket (retries, rate-limit waits) is processed."""

    def __init__(self, store: Store, claim: Claim, lease_seconds: float) -> None:
        self._store, self._claim, self._lease = store, claim, lease_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="lease-heartbeat")

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._lease / 3):
            try:
                self._store.renew(self._claim, self._lease)
            except Exception as exc:
                log.warning("could not renew the lease on %s: %s", self._claim.ticket_ref,
                            one_line(exc))


class Pruner:
    """Applies the retention (:meth:`Store.prune`) at most once every ``every`` seconds, for all
    of a process's workers; a failure is logged in one line and tried again next time."""

    def __init__(self, store: Store, retention: Retention, *, every: float = 3600.0) -> None:
        self.store, self.retention, self.every = store, retention, every
        self._lock = threading.Lock()
        self._next = float("-inf")

    def maybe_prune(self) -> None:
        with self._lock:
            now = self.store.clock()
            if now < self._next:
                return
            self._next = now + self.every
        try:
            counts = self.store.prune(self.retention)
        except Exception as exc:
            log.warning("retention: pruning the store failed (%s); next try in %.0f s",
                        one_line(exc), self.every)
            return
        if any(counts.values()):
            log.info("retention: %s", ", ".join(f"{table} {n}" for table, n in counts.items()
                                                  if n))
