"""The deadline scheduler: wakes at the earliest stored deadline and enqueues what is due.

Policies with deadlines (SLA targets, hours in a tier) ask to look at a ticket again at a given
moment; each evaluation stores the earliest such moment on the ticket. The scheduler reads only
the earliest one (an indexed MIN), sleeps until then, and turns due tickets into inbox
deliveries keyed by their deadline, so a deadline fires at most once, also across restarts and
when several schedulers run.
"""

from __future__ import annotations

import logging
import threading

from connector.errors import one_line
from webhook_app.store import Store
from webhook_app.supervisor import Backoff

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, store: Store, *, on_due: threading.Event, poll_seconds: float = 1.0):
        self.store = store
        self.on_due = on_due  # set when tickets were enqueued (the workers wait on it)
        self.poll_seconds = poll_seconds
        self.changed = threading.Event()  # set when a worker stored an earlier deadline

    def run_once(self) -> int:
        fired = self.store.fire_due()
        if fired:
            log.info("scheduler: %d ticket(s) due", fired)
            self.on_due.set()
        return fired

    def run(self, stop: threading.Event) -> None:
        backoff = Backoff(cap=max(60.0, self.poll_seconds))
        while not stop.is_set():
            try:
                self.run_once()
                deadline = self.store.next_deadline()
                wait = self.poll_seconds
                if deadline is not None:
                    wait = min(wait, max(0.0, deadline - self.store.clock()))
                backoff.succeeded()
            except Exception as exc:  # the store failed: keep the loop alive, back off
                wait = backoff.failed()
                log.warning("scheduler: store error (%s); trying again in %.0f s",
                            one_line(exc), wait)
            self.changed.wait(wait)
            self.changed.clear()
