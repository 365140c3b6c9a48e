"""Counters of the helpdesk API calls (requests, 429s, retries, rate-budget waits and
bookings) for /metrics.

The service owns the Prometheus registry and hands each helpdesk's session a
:class:`ApiTelemetry` bound to its platform; a session given none counts nothing. Kept in the
connector package so that connectors never import the service.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class ApiCounters:
    """The API counters, registered on one registry (one per running service)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "tierlift_api_requests", "Requests sent to a helpdesk API, each attempt counted, "
            "by answer status (error: no answer).", ["platform", "method", "status"],
            registry=registry)
        self.rate_limited = Counter(
            "tierlift_api_rate_limited", "HTTP 429 answers from a helpdesk API.", ["platform"],
            registry=registry)
        self.retries = Counter(
            "tierlift_api_retries", "Requests repeated after a 429, 503, 5xx on a read, or a "
            "connection failure (reason: the status, or connection).", ["platform", "reason"],
            registry=registry)
        self.budget_wait = Counter(
            "tierlift_api_budget_wait_seconds", "Time spent waiting because the helpdesk's "
            "rate-limit window ran low, before it said no.", ["platform"], registry=registry)
        self.shared_budget = Counter(
            "tierlift_api_shared_budget", "Requests whose rate-limit window was not known to be "
            "plentiful, paced by the budget the account's workers share: booked in the store "
            "(via=store), or by this process alone while the store failed (via=local).",
            ["platform", "via"], registry=registry)

    def session(self, platform: str) -> ApiTelemetry:
        return ApiTelemetry(platform, self)


class ApiTelemetry:
    """What one helpdesk's :class:`connector.http.ApiSession` reports."""

    def __init__(self, platform: str, counters: ApiCounters | None = None) -> None:
        self.platform = platform
        self._counters = counters

    def sent(self, method: str, status: int | None) -> None:
        if self._counters is None:
            return
        self._counters.requests.labels(self.platform, method.upper(),
                                       "error" if status is None else str(status)).inc()
        if status == 429:
            self._counters.rate_limited.labels(self.platform).inc()

    def retried(self, status: int | None) -> None:
        if self._counters is not None:
            self._counters.retries.labels(
                self.platform, "connection" if status is None else str(status)).inc()

    def waited(self, seconds: float) -> None:
        if self._counters is not None:
            self._counters.budget_wait.labels(self.platform).inc(seconds)

    def paced(self, via: str) -> None:
        """A request paced by the shared rate budget: ``store`` or ``local``."""
        if self._counters is not None:
            self._counters.shared_budget.labels(self.platform, via).inc()


NO_TELEMETRY = ApiTelemetry("")
