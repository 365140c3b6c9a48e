"""Notifications: events built from decisions, sent through every ``tierlift_notify`` plugin at
most once each, and the two built-in notifiers (Slack incoming webhook, SMTP e-mail).

At most once comes from the store: a notifier's event is claimed with a unique key (platform,
ticket, kind, event key, notifier) before it is sent, so retries, re-deliveries and other
workers find it taken. A notifier that fails is logged and recorded; it is not tried again for
that event, and the evaluation goes on.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Literal

import pluggy
import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from connector.ticket import Ticket, TierWrite
from plugins import hookimpl
from plugins.decision import Decision
from plugins.notification import Notification
from webhook_app.metrics import Metrics
from webhook_app.store import AuditRecord, Store

if TYPE_CHECKING:
    from webhook_app.settings import Settings

log = logging.getLogger(__name__)

Kind = Literal["escalated", "breached", "write_failed"]
BREACH_SUFFIX = ":breached"
DEFAULT_EVENTS: list[Kind] = ["escalated", "breached"]
# Where a person opens a ticket, by platform, from the helpdesk's base URL.
TICKET_LINKS = {"zendesk": "{base}/agent/tickets/{ref}", "jira": "{base}/browse/{ref}"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SlackSettings(_Section):
    webhook_url: SecretStr = Field(description="The incoming webhook's URL (it is a secret: "
                                   "anyone with it can post to the channel).")
    events: list[Kind] = Field(default_factory=lambda: list(DEFAULT_EVENTS))
    timeout_seconds: float = Field(10, gt=0)

    @model_validator(mode="after")
    def _https(self) -> SlackSettings:
        if not self.webhook_url.get_secret_value().startswith(("https://", "http://")):
            raise ValueError("webhook_url must be the https:// URL Slack gave the webhook")
        return self


class EmailSettings(_Section):
    host: str
    port: int = Field(587, gt=0, lt=65536)
    security: Literal["starttls", "ssl", "none"] = Field(
        "starttls", description="starttls (port 587), ssl (implicit TLS, port 465) or none.")
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    events: list[Kind] = Field(default_factory=lambda: list(DEFAULT_EVENTS))
    timeout_seconds: float = Field(10, gt=0)

    @model_validator(mode="after")
    def _login(self) -> EmailSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("set username and password together (or neither: no login)")
        return self


class NotifySettings(_Section):
    """``[notify.slack]`` and ``[notify.email]``; a notifier is on when its table is given."""

    slack: SlackSettings | None = None
    email: EmailSettings | None = None


# -- events ---------------------------------------------------------------------------------


def decision_events(ticket: Ticket, decision: Decision, write: TierWrite | None, *,
                    at: datetime) -> list[Notification]:
    """The events of a live decision: ``escalated`` when ``write`` (applied) moved the ticket up
    or to a team, and ``breached`` for each fresh piece of evidence marking a missed deadline
    (also when the ticket needs no write, e.g. it is at the top tier already)."""
    events = []
    common = dict(platform=ticket.platform, ticket_ref=ticket.ref, at=at,
                  from_tier=decision.from_tier, subject=ticket.subject)
    if write is not None and (decision.to_tier or decision.route):
        keys = sorted({f"{r.proposal.policy}/{e.key}" for r in decision.fired
                       for e in r.proposal.evidence})
        events.append(Notification(
            kind="escalated", key=" ".join(keys), to_tier=decision.to_tier,
            route=decision.route,
            priority=decision.priority.name.lower() if decision.priority else None,
            policies=tuple(sorted({r.proposal.policy for r in decision.fired})),
            headline=write.internal_note.split("\n", 1)[0], **common))
    for resolved in (*decision.fired, *decision.satisfied):
        for evidence in resolved.proposal.evidence:
            if evidence.key.endswith(BREACH_SUFFIX):
                events.append(Notification(
                    kind="breached", key=f"{resolved.proposal.policy}/{evidence.key}",
                    policies=(resolved.proposal.policy,), headline=evidence.summary,
                    to_tier=resolved.target if resolved.moves else None, **common))
    return events


def write_failed_event(platform: str, ref: str, record: AuditRecord, *,
                       at: datetime) -> Notification | None:
    """A ``write_failed`` event when the evaluation ended for good (``rejected``, ``failed``)
    and its last round's write-back is what failed; ``None`` otherwise."""
    rounds = record.detail.get("rounds") or []
    if record.outcome not in ("rejected", "failed") or not rounds:
        return None
    last = rounds[-1]
    if "error" not in last.get("write", {}):
        return None
    decision = last.get("decision", {})
    fired = sorted({p["policy"] for p in last.get("proposals", []) if p.get("state") == "fired"})
    keys = sorted({f"{p['policy']}/{e['key']}" for p in last.get("proposals", [])
                   if p.get("state") == "fired" for e in p.get("evidence", [])})
    return Notification(
        kind="write_failed", platform=platform, ticket_ref=ref, key=" ".join(keys), at=at,
        from_tier=record.from_tier, to_tier=decision.get("to_tier"),
        route=decision.get("route"), priority=decision.get("priority"), policies=tuple(fired),
        headline=record.detail.get("error") or last["write"]["error"])


# -- sending --------------------------------------------------------------------------------


class Notifier:
    """Sends events through every ``tierlift_notify`` implementation, each at most once."""

    def __init__(self, store: Store, pm: pluggy.PluginManager, *,
                 links: Mapping[str, str] | None = None, metrics: Metrics | None = None) -> None:
        self.store = store
        self.pm = pm
        self.links = dict(links or {})  # platform -> URL template with {ref}
        self.metrics = metrics or Metrics()

    @property
    def active(self) -> bool:
        return bool(self.pm.hook.tierlift_notify.get_hookimpls())

    def send(self, events: Iterable[Notification]) -> None:
        for event in events:
            if event.url is None and event.platform in self.links:
                event = replace(event, url=self.links[event.platform].format(
                    ref=event.ticket_ref))
            for impl in self.pm.hook.tierlift_notify.get_hookimpls():
                self._send_one(impl, event)

    def _send_one(self, impl: pluggy.HookImpl, event: Notification) -> None:
        wanted = getattr(impl.plugin, "notify_events", None)
        if wanted is not None and event.kind not in wanted:
            return
        name = impl.plugin_name
        ident = (event.platform, event.ticket_ref, event.kind,
                 hashlib.sha256(event.key.encode()).hexdigest(), name)
        try:
            if not self.store.claim_notification(*ident, description=event.key):
                return  # sent (or tried) before: at most once
            try:
                impl.function(*[event for _ in impl.argnames])
            except Exception as exc:  # a notifier never fails the evaluation
                error = f"{type(exc).__name__}: {exc}"
                log.warning("notifier %s could not send %s for %s ticket %s: %s", name,
                            event.kind, event.platform, event.ticket_ref, error)
                self.store.notification_done(*ident, error=error)
                self.metrics.notified(name, event.kind, "failed")
                return
            self.store.notification_done(*ident)
            self.metrics.notified(name, event.kind, "sent")
        except Exception:  # the store failed: the evaluation is recorded already, go on
            log.exception("notifier %s: could not record %s for %s ticket %s", name,
                          event.kind, event.platform, event.ticket_ref)


class NotifyError(Exception):
    """A notifier's destination refused the message."""


def slack_escape(text: str) -> str:
    """Slack reads &, < and > as control characters: escape them, and only them."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(event: Notification) -> str:
    """The message: the title in bold, the details, and a link to the ticket."""
    lines = event.lines()
    if event.url:
        lines = lines[:-1]
    text = [f"*{slack_escape(lines[0])}*", *map(slack_escape, lines[1:])]
    if event.url:
        text.append(f"<{event.url}|Open {slack_escape(event.platform)} ticket "
                    f"{slack_escape(event.ticket_ref)}>")
    return "\n".join(text)


class SlackNotifier:
    """Posts ``{"text": …}`` to a Slack incoming webhook; any answer but 200 is a failure."""

    def __init__(self, settings: SlackSettings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self.notify_events = frozenset(settings.events)
        self.session = session or requests.Session()

    @hookimpl
    def tierlift_notify(self, event: Notification) -> None:
        response = self.session.post(self.settings.webhook_url.get_secret_value(),
                                     json={"text": slack_text(event)},
                                     timeout=self.settings.timeout_seconds)
        if response.status_code != 200:
            raise NotifyError(f"Slack answered HTTP {response.status_code}: "
                              f"{response.text[:200]}")


def email_message(event: Notification, sender: str, to: Iterable[str]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"[tierlift] {event.title}"
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(event.at)
    digest = hashlib.sha256(f"{event.platform}/{event.ticket_ref}/{event.kind}/{event.key}"
                            .encode()).hexdigest()[:32]
    message["Message-ID"] = f"<{digest}@tierlift>"  # the same event is the same message
    message.set_content("\n".join(event.lines()) + "\n")
    return message


class EmailNotifier:
    """Sends one plain-text e-mail per event over SMTP (STARTTLS, implicit TLS, or plain)."""

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        self.notify_events = frozenset(settings.events)

    @hookimpl
    def tierlift_notify(self, event: Notification) -> None:
        s = self.settings
        message = email_message(event, s.sender, s.to)
        if s.security == "ssl":
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds,
                                    context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
        with smtp:
            if s.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if s.username is not None:
                smtp.login(s.username, s.password.get_secret_value())
            smtp.send_message(message)


def ticket_links(settings: Settings) -> dict[str, str]:
    """URL templates of each configured helpdesk's ticket page."""
    links = {}
    for platform in TICKET_LINKS:
        helpdesk = getattr(settings, platform, None)
        if helpdesk is not None:
            links[platform] = TICKET_LINKS[platform].replace("{base}", helpdesk.url)
    return links


def build_notifier(settings: Settings, pm: pluggy.PluginManager, store: Store, *,
                   metrics: Metrics | None = None) -> Notifier | None:
    """Register the configured built-in notifiers on ``pm`` (beside any installed
    ``tierlift_notify`` plugin); ``None`` when there is nobody to notify."""
    builtins = {"notify.slack": SlackNotifier if settings.notify.slack else None,
                "notify.email": EmailNotifier if settings.notify.email else None}
    for name, factory in builtins.items():
        if pm.has_plugin(name):
            pm.unregister(name=name)
        if factory is not None:
            pm.register(factory(getattr(settings.notify, name.removeprefix("notify."))),
                        name=name)
    notifier = Notifier(store, pm, links=ticket_links(settings), metrics=metrics)
    return notifier if notifier.active else None

