"""Prometheus metrics of one running tierlift, and the ``GET /metrics`` route that serves them.

Each service (and each app built alone, as in tests) has its own registry, never the global
default, so two instances in one process never mix their numbers. The inbox gauges are read from
the store at scrape time with one grouped query on the pending/failed index.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from connector.errors import AmbiguousWrite, Conflict
from connector.telemetry import ApiCounters, ApiTelemetry
from webhook_app.store import InboxState, Store

EVALUATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
WRITE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
LATENESS_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600)

metrics_routes = Blueprint("metrics", __name__)


class Metrics:
    """Every metric tierlift exports, on its own registry. ``store``: also export the inbox
    depth and the age of its oldest pending delivery, read at scrape time (0 for each of
    ``platforms`` with nothing in the inbox, so that alerts see a series)."""

    def __init__(self, store: Store | None = None, *, platforms: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.deliveries = Counter(
            "tierlift_deliveries_received", "Webhook deliveries by platform and outcome: "
            "accepted, duplicate, ignored, malformed, refused_signature, refused_stale (a Jira "
            "delivery older than jira.freshness_minutes), too_large, "
            "store_unavailable.",
            ["platform", "outcome"], registry=registry)
        self.evaluations = Histogram(
            "tierlift_evaluation_duration_seconds", "Time to process one claimed ticket "
            "(read, evaluate, decide, write, audit), by platform and outcome.",
            ["platform", "outcome"], buckets=EVALUATION_BUCKETS, registry=registry)
        self.writes = Histogram(
            "tierlift_writeback_duration_seconds", "Time of one write-back to the helpdesk, by "
            "result: ok, conflict (409), ambiguous, error.", ["platform", "result"],
            buckets=WRITE_BUCKETS, registry=registry)
        self.lateness = Histogram(
            "tierlift_deadline_lateness_seconds", "How long after a policy's deadline the "
            "ticket was evaluated.", ["platform"], buckets=LATENESS_BUCKETS, registry=registry)
        self.decisions = Counter(
            "tierlift_decisions", "Decisions by outcome (escalated, no_change) and mode: live, "
            "or shadow (what shadow mode or a shadow policy would have done).",
            ["outcome", "mode"], registry=registry)
        self.misdirected_answers = Counter(
            "tierlift_misdirected_answers", "Helpdesk answers refused as not about what was "
            "asked (another ticket, a next-page link elsewhere): nothing was written on them.",
            ["platform"], registry=registry)
        self.notifications = Counter(
            "tierlift_notifications", "Notifications by notifier, event kind and result (sent, "
            "failed).", ["notifier", "kind", "result"], registry=registry)
        self.api = ApiCounters(registry)
        if store is not None:
            registry.register(InboxCollector(store, platforms))

    def api_session(self, platform: str) -> ApiTelemetry:
        """What a helpdesk's API session reports to (see :mod:`connector.telemetry`)."""
        return self.api.session(platform)

    def received(self, platform: str, outcome: str) -> None:
        self.deliveries.labels(platform, outcome).inc()

    def evaluated(self, platform: str, outcome: str, seconds: float) -> None:
        self.evaluations.labels(platform, outcome).observe(seconds)

    def decided(self, outcome: str, mode: str) -> None:
        self.decisions.labels(outcome, mode).inc()

    def misdirected(self, platform: str) -> None:
        self.misdirected_answers.labels(platform).inc()

    def deadline_late(self, platform: str, seconds: float) -> None:
        self.lateness.labels(platform).observe(max(0.0, seconds))

    def notified(self, notifier: str, kind: str, result: str) -> None:
        self.notifications.labels(notifier, kind, result).inc()

    @contextmanager
    def write_back(self, platform: str) -> Iterator[None]:
        """Time the write-back inside the block; its result is read from the exception."""
        started = time.monotonic()
        result = "ok"
        try:
            yield
        except Conflict:
            result = "conflict"
            raise
        except AmbiguousWrite:
            result = "ambiguous"
            raise
        except Exception:
            result = "error"
            raise
        finally:
            self.writes.labels(platform, result).observe(time.monotonic() - started)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class InboxCollector(Collector):
    """Inbox depth, failed deliveries and the age of the oldest pending one, per platform."""

    def __init__(self, store: Store, platforms: Iterable[str] = ()) -> None:
        self.store = store
        self.platforms = tuple(platforms)

    def describe(self):
        return []  # collected from the store only when scraped

    def collect(self):
        pending = GaugeMetricFamily("tierlift_inbox_pending", "Deliveries waiting in the inbox "
                                    "(due now or waiting for a retry).", labels=["platform"])
        oldest = GaugeMetricFamily("tierlift_inbox_oldest_pending_age_seconds", "Age of the "
                                   "oldest pending delivery (0: none).", labels=["platform"])
        failed = GaugeMetricFamily("tierlift_inbox_failed", "Deliveries given up after "
                                   "max_attempts, kept for inspection.", labels=["platform"])
        now = self.store.clock()
        summary = self.store.inbox_summary()
        for platform in sorted({*self.platforms, *summary}):
            state = summary.get(platform, InboxState())
            pending.add_metric([platform], state.pending)
            age = now - state.oldest_pending if state.oldest_pending is not None else 0.0
            oldest.add_metric([platform], max(0.0, age))
            failed.add_metric([platform], state.failed)
        yield from (pending, oldest, failed)


@metrics_routes.get("/metrics")
def metrics():
    return Response(current_app.extensions["tierlift"].metrics.exposition(),
                    content_type=CONTENT_TYPE_LATEST)
