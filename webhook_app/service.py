"""Wire settings into running parts: store, connectors, policies, escalator, workers, server."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from waitress.server import create_server

from connector.http import ApiSession, BearerAuth
from connector.jira import JiraConnector
from connector.telemetry import NO_TELEMETRY, ApiTelemetry
from connector.zendesk import ZendeskConnector
from plugins.calendars import ALWAYS
from plugins.manager import ConfigError, EnabledPolicies, PolicyHost
from webhook_app import create_app
from webhook_app.escalation import Connector, Escalator
from webhook_app.metrics import Metrics
from webhook_app.notify import build_notifier
from webhook_app.rate_budget import shared_budget
from webhook_app.scheduler import Scheduler
from webhook_app.settings import JiraSettings, Settings, ZendeskSettings
from webhook_app.store import Store
from webhook_app.supervisor import Supervisor
from webhook_app.sweep import Sweeper
from webhook_app.worker import Pruner, Worker

log = logging.getLogger(__name__)
# Waitress threads of the receiver. Each holds its request until the group commit that stores
# its delivery is done (~2 ms on SQLite), so in a burst the threads, not the CPU, bound intake:
# 16 accept about a fifth more than 8 (bench/intake.py) for a few more idle threads.
RECEIVER_THREADS = 16


def api_auth(section: ZendeskSettings | JiraSettings) -> BearerAuth | tuple[str, str]:
    """The credentials a ``[zendesk]`` or ``[jira]`` section gives for the helpdesk's API."""
    if isinstance(section, ZendeskSettings):
        if section.oauth_token is not None:
            return BearerAuth(section.oauth_token.get_secret_value())
        return (f"{section.email}/token", section.api_token.get_secret_value())
    if section.cloud:
        return (section.email, section.api_token.get_secret_value())
    return BearerAuth(section.pat.get_secret_value())


def build_connectors(settings: Settings, metrics: Metrics | None = None,
                     store: Store | None = None) -> dict[str, Connector]:
    """A connector per configured helpdesk; their API calls counted in ``metrics``, their rate
    budget shared through ``store`` with every worker of the same helpdesk account."""
    def telemetry(platform: str) -> ApiTelemetry:
        return metrics.api_session(platform) if metrics is not None else NO_TELEMETRY

    def session(platform: str, section: ZendeskSettings | JiraSettings) -> ApiSession:
        budget = None if store is None else shared_budget(store, platform, section.url,
                                                          telemetry(platform))
        return ApiSession(section.url, api_auth(section), budget=budget,
                          telemetry=telemetry(platform))

    connectors: dict[str, Connector] = {}
    zd = settings.zendesk
    if zd is not None:
        connectors["zendesk"] = ZendeskConnector(
            session("zendesk", zd), zd.tier_groups, settings.ladder, zd.route_groups)
    jira = settings.jira
    if jira is not None:
        connectors["jira"] = JiraConnector(
            session("jira", jira), cloud=jira.cloud,
            tier_field=jira.tier_field, tier_values=jira.tier_values, ladder=settings.ladder,
            priorities=jira.priorities, transition=jira.transition, route_field=jira.route_field,
            route_values=jira.route_values, organizations_field=jira.organizations_field)
    return connectors


def enabled_policies(settings: Settings, host: PolicyHost | None = None) -> EnabledPolicies:
    """Raises :class:`ConfigError` naming each bad ``policies.*`` key, each tier that is not on
    the ladder, and each specialist route an enabled policy uses that a configured helpdesk
    cannot write."""
    policies = (host or PolicyHost()).configure(settings.policies)
    problems = []
    for name, options in policies.options.items():
        tier = getattr(options, "tier", None)  # an absolute tier to move tickets to
        if isinstance(tier, str) and tier not in settings.tiers:
            problems.append(f"policies.{name}.tier: {tier!r} is not one of tiers "
                            f"{settings.tiers}")
        for key, calendar in _calendars(options):
            if calendar != ALWAYS and calendar not in settings.calendars:
                problems.append(f"policies.{name}.{key}: no [calendars.{calendar}] table (or "
                                f'use "{ALWAYS}")')
        for route in sorted(_routes(options)):
            if settings.zendesk is not None and route not in settings.zendesk.route_groups:
                problems.append(f"zendesk.route_groups.{route}: missing; policy {name} routes "
                                "tickets to this team: give the id of its Zendesk group")
            if settings.jira is not None and route not in settings.jira.route_values:
                problems.append(f"jira.route_values.{route}: missing; policy {name} routes "
                                "tickets to this team: give the option of jira.route_field")
    if problems:
        raise ConfigError(problems)
    return policies


def _calendars(options: object) -> list[tuple[str, str]]:
    """``(key, calendar name)`` an options model names: a ``calendar`` field, and the values of
    ``*_calendars`` maps."""
    named = []
    if isinstance(getattr(options, "calendar", None), str):
        named.append(("calendar", options.calendar))
    for field_name in type(options).model_fields:
        value = getattr(options, field_name)
        if field_name.endswith("_calendars") and isinstance(value, dict):
            named += [(f"{field_name}.{k}", v) for k, v in value.items()]
    return named


def _routes(options: object) -> set[str]:
    """Routes an options model names: a ``route`` field, or the keys of a ``routes`` map."""
    routes = set()
    if isinstance(getattr(options, "route", None), str):
        routes.add(options.route)
    if isinstance(getattr(options, "routes", None), dict):
        routes.update(options.routes)
    return routes


@dataclass
class Service:
    """Receiver + worker threads in one process (``tierlift serve``), or workers alone."""

    settings: Settings
    store: Store
    escalator: Escalator
    workers: int = 1
    wake: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    _scheduler: Scheduler | None = None

    def __post_init__(self) -> None:
        self.supervisor = Supervisor(self.stop)

    @classmethod
    def build(cls, settings: Settings, *, host: PolicyHost | None = None,
              workers: int = 1) -> Service:
        host = host or PolicyHost()
        policies = enabled_policies(settings, host)
        store = Store(settings.database_url)
        try:
            store.create_schema()
        except BaseException:  # a store a newer version migrated: closed, for a clean exit
            store.close()
            raise
        metrics = Metrics(store, platforms=settings.platforms)
        reply = settings.escalation.public_reply
        escalator = Escalator(store, build_connectors(settings, metrics, store), policies,
                              settings.ladder, metrics=metrics,
                              notifier=build_notifier(settings, host.pm, store, metrics=metrics),
                              rules=settings.rules, calendars=settings.business_calendars(),
                              public_reply=reply.template if reply.enabled else None,
                              max_attempts=settings.worker.max_attempts,
                              max_retry_after=settings.worker.max_retry_after_seconds,
                              shadow=settings.mode == "shadow")
        return cls(settings, store, escalator, workers)

    def start_workers(self) -> None:
        """Worker threads, and the deadline scheduler (safe to run in every process), each
        restarted by the supervisor should it end."""
        self.escalator.on_deadline = self.scheduler.changed.set
        self.supervisor.start("scheduler", self.scheduler.run)
        if self.settings.worker.sweep_minutes:
            sweeper = Sweeper(self.store, self.escalator.connectors,
                              every_seconds=self.settings.worker.sweep_minutes * 60,
                              lookback_seconds=self.settings.worker.sweep_lookback_hours * 3600,
                              on_found=self.wake)
            self.supervisor.start("sweeper", sweeper.run)
        pruner = Pruner(self.store, self.settings.retention)
        for n in range(self.workers):
            worker = Worker(self.store, self.escalator, self.settings.worker, wake=self.wake,
                            pruner=pruner)
            self.supervisor.start(f"worker-{n}", worker.run)

    def serve(self, host: str, port: int, *, ready: threading.Event | None = None) -> None:
        """Run the receiver on waitress until :meth:`shutdown`; workers run alongside."""
        app = create_app(self.settings, host=host, store=self.store, wake=self.wake,
                         metrics=self.escalator.metrics, loops=self.supervisor.stopped)
        self.server = create_server(app, host=host, port=port, threads=RECEIVER_THREADS)
        self.start_workers()
        log.info("tierlift listening on http://%s:%s", host, self.server.effective_port)
        if ready is not None:
            ready.set()
        try:
            self.server.run()
        except OSError:
            if not self.stop.is_set():  # closing the sockets from another thread ends run()
                raise
        finally:
            self.shutdown()

    @property
    def scheduler(self) -> Scheduler:
        if self._scheduler is None:
            self._scheduler = Scheduler(self.store, on_due=self.wake,
                                        poll_seconds=self.settings.worker.poll_seconds)
        return self._scheduler

    def shutdown(self) -> None:
        self.stop.set()
        self.wake.set()
        if self._scheduler is not None:
            self._scheduler.changed.set()
        server = getattr(self, "server", None)
        if server is not None:
            server.close()
        self.supervisor.join(timeout=10)
