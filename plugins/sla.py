"""sla: first reply, next reply and resolution deadlines: at risk raises priority, a breach
escalates one tier; the policy asks to be woken at its next deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connector.ticket import AuthorRole, Priority
from plugins import hookimpl
from plugins.decision import ESCALATED_TAG
from plugins.options import PRIORITIES, PriorityName

METRICS = {"first_reply": "first reply", "next_reply": "next reply", "resolution": "resolution"}


class Targets(BaseModel):
    """Minutes per priority (fractions allowed: 0.05 is 3 seconds); unset: no target."""

    model_config = ConfigDict(extra="forbid")

    urgent: float | None = Field(None, gt=0)
    high: float | None = Field(None, gt=0)
    normal: float | None = Field(None, gt=0)
    low: float | None = Field(None, gt=0)

    def any(self) -> bool:
        return any(v is not None for v in (self.urgent, self.high, self.normal, self.low))

    def minutes(self, priority: Priority | None) -> float | None:
        """The target for a ticket of ``priority`` (a ticket without one counts as normal)."""
        return getattr(self, (priority or Priority.NORMAL).name.lower())


class Options(BaseModel):
    source: Literal["tierlift", "helpdesk"] = Field(
        "tierlift", description="\"tierlift\": compute deadlines from the targets below; "
        "\"helpdesk\": use the deadlines of the helpdesk's own SLA policies (Zendesk SLA "
        "policies, JSM SLAs): at risk and breach on those.")
    calendar: str = Field("24x7", description="\"24x7\" or the name of a [calendars.<name>] "
                          "table: targets count only its open hours.")
    tier_calendars: dict[str, str] = Field(default_factory=dict, description="Tier -> "
                                           "calendar, for tiers with other hours (e.g. L3 "
                                           "24x7); first choice.")
    priority_calendars: dict[str, str] = Field(default_factory=dict, description="Priority "
                                               "-> calendar (e.g. urgent = \"24x7\"); "
                                               "second choice.")
    first_reply_minutes: Targets = Field(default_factory=Targets, description="From creation "
                                         "to the first public agent reply.")
    next_reply_minutes: Targets = Field(default_factory=Targets, description="From a customer "
                                        "update to the next public agent reply.")
    resolution_minutes: Targets = Field(default_factory=Targets, description="From creation to "
                                        "solved.")
    at_risk_percent: float = Field(75, ge=0, lt=100, description="Once this share of a target "
                                   "is used, raise priority and tag the ticket; 0: off.")
    at_risk_priority: PriorityName = Field("high", description="Priority for an at-risk ticket "
                                         "(low, normal, high, urgent); empty: leave it.")
    at_risk_tag: str = Field("tierlift_sla_at_risk", description="Tag for an at-risk ticket.")
    pausing_statuses: list[str] = Field(
        default_factory=lambda: ["pending", "hold", "on-hold", "waiting for customer"],
        description="Statuses that stop the clock.")
    solved_statuses: list[str] = Field(
        default_factory=lambda: ["solved", "closed", "resolved", "done"],
        description="Statuses that end every clock.")
    steps_up: int = Field(1, ge=1, description="Tiers above the tier the ticket had at the "
                          "missed deadline.")
    followers_after_minutes: float | None = Field(None, gt=0, description="A ticket tierlift "
                                                  "escalated and still unresolved this long "
                                                  "after: add `followers`, once.")
    followers: list[str] = Field(default_factory=list, description="Department heads to add "
                                 "as followers (Zendesk user ids) or watchers (Jira account ids "
                                 "or user names).")

    @field_validator("priority_calendars")
    @classmethod
    def _priorities(cls, value: dict[str, str]) -> dict[str, str]:
        value = {k.strip().lower(): v for k, v in value.items()}
        unknown = sorted(set(value) - set(PRIORITIES))
        if unknown:
            raise ValueError(f"unknown priorities {unknown}; use low, normal, high, urgent")
        return value

    def calendar_for(self, ticket) -> str:
        """The calendar for this ticket: by tier, else by priority, else ``calendar``."""
        if ticket.tier in self.tier_calendars:
            return self.tier_calendars[ticket.tier]
        priority = (ticket.priority or Priority.NORMAL).name.lower()
        return self.priority_calendars.get(priority, self.calendar)

    @field_validator("pausing_statuses", "solved_statuses")
    @classmethod
    def _lower(cls, values: list[str]) -> list[str]:
        return [v.strip().lower() for v in values if v.strip()]


@hookimpl
def tierlift_register_policy(register):
    register(Options, needs={"comments", "history"},
             summary="SLA deadlines: at risk raises priority, a breach escalates one tier",
             extra_needs=lambda o: {"platform_sla"} if o.source == "helpdesk" else set())


@hookimpl
def tierlift_evaluate(ticket, ctx):
    options = ctx.options
    if options.source == "helpdesk":
        return _helpdesk_deadlines(ticket, ctx) + _followers(
            ticket, ctx, ctx.calendar(options.calendar_for(ticket)))
    if not (options.first_reply_minutes.any() or options.next_reply_minutes.any()
            or options.resolution_minutes.any() or options.followers):
        return []  # nothing configured to watch
    if ticket.status.lower() in options.solved_statuses:
        return None
    if ticket.status.lower() in options.pausing_statuses:
        return None  # the clock is stopped; a status change brings the ticket back
    calendar = ctx.calendar(options.calendar_for(ticket))
    proposals = _followers(ticket, ctx, calendar)
    for metric, start, minutes in _clocks(ticket, options):
        paused = sum(calendar.business_seconds(max(a, start), min(b, ctx.now))
                     for a, b in _paused(ticket, options.pausing_statuses, ctx.now)
                     if b > start)
        target = minutes * 60
        deadline = calendar.add(start, target + paused)
        key = f"{metric}:{start.astimezone(UTC).isoformat(timespec='seconds')}"
        label = METRICS[metric]
        if ctx.now >= deadline:
            late = _minutes((ctx.now - deadline).total_seconds() / 60)
            proposals.append(ctx.propose(
                ctx.evidence(f"{key}:breached",
                             f"{label} target of {_minutes(minutes)} missed: due "
                             f"{_when(deadline)}, {late} ago", at=deadline),
                steps_up=options.steps_up,
                suggestion=f"The {label} deadline has passed: answer the customer now, then "
                "work the ticket.",
            ))
            continue
        if options.at_risk_percent:
            at_risk = calendar.add(start, target * options.at_risk_percent / 100 + paused)
            if ctx.now < at_risk:
                ctx.wake_at(at_risk)
                continue
            proposals.append(ctx.propose(
                ctx.evidence(f"{key}:at_risk",
                             f"{label} due {_when(deadline)}: {options.at_risk_percent:g} % of "
                             f"its {_minutes(minutes)} target used", at=at_risk),
                steps_up=0,
                priority=options.at_risk_priority,
                add_tags=(options.at_risk_tag,),
                suggestion=f"Reply before {_when(deadline)} to meet the {label} target.",
            ))
        ctx.wake_at(deadline)
    return proposals


def _helpdesk_deadlines(ticket, ctx) -> list:
    """At risk and breach on the deadlines the helpdesk's own SLA policies computed."""
    options = ctx.options
    if ticket.status.lower() in options.solved_statuses:
        return []
    proposals = []
    for sla in ticket.platform_deadlines:
        if sla.due_at is None and not sla.breached:
            continue  # paused on the helpdesk
        due = sla.due_at or ctx.now
        key = f"helpdesk:{sla.metric}:{due.astimezone(UTC).isoformat(timespec='seconds')}"
        if sla.breached or ctx.now >= due:
            proposals.append(ctx.propose(
                ctx.evidence(f"{key}:breached", f"the helpdesk's {sla.metric} SLA was due "
                             f"{_when(due)} and is breached", at=due),
                steps_up=options.steps_up,
                suggestion=f"The {sla.metric} SLA is breached: answer the customer now."))
            continue
        if options.at_risk_percent and sla.goal_seconds:
            at_risk = due - timedelta(seconds=sla.goal_seconds
                                      * (1 - options.at_risk_percent / 100))
            if ctx.now >= at_risk:
                proposals.append(ctx.propose(
                    ctx.evidence(f"{key}:at_risk", f"the helpdesk's {sla.metric} SLA is due "
                                 f"{_when(due)}", at=at_risk),
                    steps_up=0, priority=options.at_risk_priority,
                    add_tags=(options.at_risk_tag,),
                    suggestion=f"Reply before {_when(due)} to meet the {sla.metric} SLA."))
            else:
                ctx.wake_at(at_risk)
                continue
        ctx.wake_at(due)
    return proposals


def _followers(ticket, ctx, calendar) -> list:
    """Escalated by tierlift, still unresolved ``followers_after_minutes`` later (in the
    calendar): the department heads follow the ticket from then on, once per stint."""
    options = ctx.options
    if not (options.followers_after_minutes and options.followers):
        return []
    if ESCALATED_TAG not in ticket.tags or ticket.tier == ctx.tiers.default:
        return []
    since = ticket.tier_entered_at
    due = calendar.add(since, options.followers_after_minutes * 60)
    if ctx.now < due:
        ctx.wake_at(due)
        return []
    return [ctx.propose(
        ctx.evidence(f"followers:{ticket.tier}:{since.astimezone(UTC).isoformat()}",
                     f"escalated to {ticket.tier} {_minutes(options.followers_after_minutes)} "
                     f"ago and still unresolved", at=due),
        steps_up=0,
        add_followers=options.followers,
        suggestion="Department heads now follow this ticket: post progress where they see it.",
    )]


def _clocks(ticket, options: Options):
    """``(metric, start, target minutes)`` for every clock that is running."""
    agent_replies = [c.created_at for c in ticket.comments
                     if c.public and c.author_role is AuthorRole.AGENT]
    first = options.first_reply_minutes.minutes(ticket.priority)
    if first is not None and not agent_replies:
        yield "first_reply", ticket.created_at, first
    following = options.next_reply_minutes.minutes(ticket.priority)
    if following is not None and agent_replies:
        last_reply = max(agent_replies)
        waiting = [c.created_at for c in ticket.customer_comments if c.created_at > last_reply]
        if waiting:
            yield "next_reply", min(waiting), following
    resolution = options.resolution_minutes.minutes(ticket.priority)
    if resolution is not None:
        yield "resolution", ticket.created_at, resolution


def _paused(ticket, pausing: list[str], now: datetime):
    """``(from, to)`` intervals the ticket spent in a pausing status, from its history."""
    changes = sorted(ticket.status_history)
    for (at, status), (until, _) in zip(changes, [*changes[1:], (now, "")][:len(changes)],
                                        strict=True):
        if status.lower() in pausing:
            yield at, until


def _minutes(value: float) -> str:
    seconds = round(value * 60)
    if seconds < 120:
        return f"{seconds} s"
    return str(timedelta(seconds=seconds)).removesuffix(":00") if seconds < 86400 else \
        f"{seconds / 86400:.1f} days"


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
