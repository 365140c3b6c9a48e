"""effort: much effort in the current tier (agent replies, reopens, time) without resolution."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field, field_validator, model_validator

from connector.ticket import AuthorRole
from plugins import hookimpl
from plugins.calendars import ALWAYS
from plugins.options import PriorityName

DEFAULT_RESOLVED = ["solved", "closed", "resolved", "done", "cancelled", "canceled"]


class Options(BaseModel):
    agent_replies: int | None = Field(3, ge=0, description="Fire after this many public agent "
                                      "replies since the ticket entered its current tier; "
                                      "0: do not count replies.")
    reopens: int | None = Field(2, ge=0, description="Fire once the ticket has been reopened "
                                "this many times, and again after as many more; 0: do not "
                                "count reopens.")
    hours_in_tier: float | None = Field(None, ge=0, description="Fire after this many hours in "
                                        "the current tier, counted in `calendar`; 0 or not set: "
                                        "no time limit.")
    calendar: str = Field(ALWAYS, description="The business calendar ([calendars.<name>]) that "
                          "`hours_in_tier` is counted in; \"24x7\" counts every hour.")
    resolved_statuses: list[str] = Field(
        default_factory=lambda: list(DEFAULT_RESOLVED),
        description="Ticket statuses that mean resolved: such tickets are left alone.",
    )
    steps_up: int = Field(1, ge=1, description="How many tiers above the current tier.")
    priority: PriorityName = Field(None, description="Also raise priority to this "
                                 "(low, normal, high, urgent); empty: leave priority alone.")

    @field_validator("agent_replies", "reopens", "hours_in_tier")
    @classmethod
    def _zero_is_off(cls, value: float | None) -> float | None:
        return value or None  # TOML has no null: 0 switches a trigger off

    @field_validator("calendar")
    @classmethod
    def _calendar_named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError('give a calendar name, e.g. "24x7"')
        return value.strip()

    @field_validator("resolved_statuses")
    @classmethod
    def _lower(cls, statuses: list[str]) -> list[str]:
        return [s.strip().lower() for s in statuses if s.strip()]

    @model_validator(mode="after")
    def _something_to_count(self) -> Options:
        if self.agent_replies is None and self.reopens is None and self.hours_in_tier is None:
            raise ValueError("set at least one of agent_replies, reopens, hours_in_tier")
        return self


@hookimpl
def tierlift_register_policy(register):
    register(Options, needs={"comments", "history"},
             summary="Much effort in the current tier (replies, reopens, time) without "
                     "resolution")


@hookimpl
def tierlift_evaluate(ticket, ctx):
    options = ctx.options
    if ticket.status.lower() in options.resolved_statuses:
        return None
    tier = ticket.tier
    entered = ticket.tier_entered_at
    evidence = []

    # Effort inside this stint in the tier: one key per stint, so it fires once per stint, and a
    # stint that starts with a move (up, or back down by an agent) counts from zero again.
    done, reached = [], []
    if options.agent_replies is not None:
        replies = _agent_replies_since(ticket, entered)
        if len(replies) >= options.agent_replies:
            done.append(_plural(len(replies), "agent reply", "agent replies"))
            reached.append(sorted(replies)[options.agent_replies - 1])
    if options.hours_in_tier is not None:
        calendar = ctx.calendar(options.calendar)
        hours = calendar.business_seconds(entered, ctx.now) / 3600
        limit = calendar.add(entered, options.hours_in_tier * 3600)
        if hours >= options.hours_in_tier:
            unit = "hours" if calendar.always_open else f"business hours ({calendar.name})"
            done.append(f"{round(hours, 1):g} {unit}")
            reached.append(limit)
        elif not done:
            ctx.wake_at(limit)  # no webhook may come: be looked at again when time is up
    if done:
        stamp = entered.astimezone(UTC).isoformat(timespec="seconds")  # (strftime is slow)
        evidence.append(ctx.evidence(
            f"stint:{tier}:{stamp[:19]}Z",
            f"{' and '.join(done)} in {tier} without resolution (since {_when(entered)})",
            at=min(reached),
        ))

    # Reopens are counted over the ticket's life, not per stint: each block of `reopens` is one
    # piece of evidence, so a move (up or down) does not fire again on the same reopens.
    if options.reopens is not None and ticket.reopens >= options.reopens:
        block = ticket.reopens // options.reopens * options.reopens
        evidence.append(ctx.evidence(
            f"reopens:{block}",
            f"{_plural(ticket.reopens, 'reopen', 'reopens')} without resolution "
            f"(in {tier} since {_when(entered)})",
        ))

    if not evidence:
        return None
    return ctx.propose(
        *evidence,
        steps_up=options.steps_up,
        priority=options.priority,
        suggestion=f"Read what {tier} tried so far before answering; take ownership, find what "
        "keeps this ticket from being resolved, and tell the customer who has it now.",
    )


def _agent_replies_since(ticket, since: datetime) -> list[datetime]:
    """When each reply that ``ticket.agent_replies_since(since)`` counts was written (one pass
    gives both the count and when the threshold was reached)."""
    return [c.created_at for c in ticket.comments
            if c.public and c.author_role is AuthorRole.AGENT and c.created_at >= since]


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _when(moment: datetime) -> str:
    stamp = moment.astimezone(UTC).isoformat(timespec="minutes")
    return f"{stamp[:10]} {stamp[11:16]} UTC"
