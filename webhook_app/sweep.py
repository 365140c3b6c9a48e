"""The reconciliation sweep: finds tickets that changed while their webhooks were lost.

Webhooks get lost (downtime, Zendesk's circuit breaker, Jira's retries running out). On start
and every ``sweep_minutes``, each helpdesk is asked which open tickets changed since the last
sweep (Zendesk incremental export, or its Search API when the bot is an agent; Jira JQL
search); every one whose version tierlift has not evaluated is enqueued, once per version,
through the same inbox as a webhook.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Protocol

from connector.errors import one_line
from webhook_app.store import Store
from webhook_app.supervisor import Backoff

log = logging.getLogger(__name__)

OVERLAP_SECONDS = 120  # reach back a little: helpdesk clocks and indexing lag


class Sweepable(Protocol):
    def recently_updated(self, since: datetime) -> Iterator[tuple[str, str]]: ...


class Sweeper:
    def __init__(self, store: Store, connectors: Mapping[str, Sweepable], *,
                 every_seconds: float, lookback_seconds: float,
                 on_found: threading.Event) -> None:
        self.store = store
        self.connectors = dict(connectors)
        self.every_seconds = every_seconds
        self.lookback_seconds = lookback_seconds
        self.on_found = on_found

    def run_once(self) -> int:
        """Sweep every helpdesk once; returns how many tickets were enqueued."""
        found = 0
        for platform, connector in self.connectors.items():
            started = self.store.clock()
            last = self.store.last_sweep(platform)
            since = (last if last is not None else started - self.lookback_seconds) \
                - OVERLAP_SECONDS
            try:
                enqueued = self.store.unseen(platform, connector.recently_updated(
                    datetime.fromtimestamp(since, UTC)))
            except Exception as exc:  # the helpdesk is down or refuses: next time
                log.warning("sweep of %s failed: %s", platform, exc)
                continue
            self.store.record_sweep(platform, started)
            if enqueued:
                log.info("sweep of %s: %d ticket(s) changed without a webhook", platform,
                         enqueued)
            found += enqueued
        if found:
            self.on_found.set()
        return found

    def run(self, stop: threading.Event) -> None:
        backoff = Backoff(cap=self.every_seconds)
        while not stop.is_set():
            try:
                self.run_once()
                wait = self.every_seconds
                backoff.succeeded()
            except Exception as exc:  # the store failed: keep the loop alive, back off
                wait = backoff.failed()
                log.warning("sweep: store error (%s); trying again in %.0f s", one_line(exc),
                            wait)
            stop.wait(wait)
