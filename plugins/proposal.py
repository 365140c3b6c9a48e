"""What a policy hands back: evidence it saw and the move it proposes, built through its context."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel

from connector.ticket import Priority, TierLadder
from plugins.calendars import ALWAYS, BusinessCalendar, CalendarError, twenty_four_seven
from plugins.history import NoHistory, TicketHistory

NEEDS = frozenset({"comments", "history"})
KNOWN_NEEDS = frozenset({"comments", "history", "organization", "platform_sla", "related"})


@dataclass(frozen=True)
class Evidence:
    """One thing a policy saw. ``key`` identifies it for good: the same key never escalates twice.

    ``summary`` is a line for the internal note; ``quote`` the customer's words, if any; ``at``
    when it appeared (a relative proposal counts tiers from the tier the ticket had then).
    """

    key: str
    summary: str
    quote: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class Proposal:
    """A policy's proposal. Hierarchical target: ``tier`` if given, else ``steps_up`` above the
    tier the ticket had when its earliest evidence appeared. Functional target: ``route``, the
    name of a specialist team. Also: a priority, tags to add, and other tickets of the same
    story that should be looked at again (``also_evaluate``)."""

    policy: str
    evidence: tuple[Evidence, ...]
    tier: str | None = None
    steps_up: int = 0
    priority: Priority | None = None
    suggestion: str | None = None
    route: str | None = None
    add_tags: tuple[str, ...] = ()
    also_evaluate: tuple[str, ...] = ()
    add_followers: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicySpec:
    """What a policy registered: its options model, the ticket data it reads, a one-line summary."""

    options: type[BaseModel]
    needs: frozenset[str] = NEEDS
    summary: str = ""
    extra_needs: Callable[[BaseModel], set[str]] | None = None  # more, depending on options


@dataclass(slots=True)
class PolicyContext:
    """Handed to ``tierlift_evaluate`` with each ticket: this policy's name and validated options,
    the evaluation time, the admin's tier ladder, and helpers to build evidence and proposals."""

    policy: str
    options: BaseModel
    now: datetime
    tiers: TierLadder
    history: TicketHistory = field(default_factory=NoHistory)
    calendars: Mapping[str, BusinessCalendar] = field(default_factory=dict)
    wakes: list[datetime] = field(default_factory=list)

    def wake_at(self, moment: datetime) -> None:
        """Ask to look at this ticket again at ``moment`` (a deadline), even if no webhook
        comes: the scheduler enqueues it then. Every evaluation asks afresh."""
        if moment > self.now:
            self.wakes.append(moment)

    def calendar(self, name: str = ALWAYS) -> BusinessCalendar:
        """A business calendar from ``[calendars.<name>]``, or ``"24x7"``."""
        if name == ALWAYS:
            return twenty_four_seven()
        try:
            return self.calendars[name]
        except KeyError:
            raise CalendarError(f"no [calendars.{name}] table") from None

    def evidence(
        self, key: str, summary: str, *, quote: str | None = None, at: datetime | None = None
    ) -> Evidence:
        return Evidence(key=key, summary=summary, quote=quote, at=at)

    def propose(
        self,
        *evidence: Evidence,
        tier: str | None = None,
        steps_up: int = 1,
        priority: Priority | str | None = None,
        suggestion: str | None = None,
        route: str | None = None,
        add_tags: tuple[str, ...] | list[str] = (),
        also_evaluate: tuple[str, ...] | list[str] = (),
        add_followers: tuple[str, ...] | list[str] = (),
    ) -> Proposal:
        """Propose a move backed by ``evidence``: to ``tier``, ``steps_up`` tiers higher (0: no
        tier move), and/or to the specialist team ``route``."""
        if not evidence:
            raise ValueError(f"{self.policy}: a proposal needs at least one piece of evidence")
        if tier is not None and tier not in self.tiers.names:
            raise ValueError(f"{self.policy}: unknown tier {tier!r}; tiers are {self.tiers.names}")
        if isinstance(priority, str):
            priority = Priority[priority.upper()]
        return Proposal(
            policy=self.policy,
            evidence=tuple(evidence),
            tier=tier,
            steps_up=0 if tier is not None else steps_up,
            priority=priority,
            suggestion=suggestion,
            route=route,
            add_tags=tuple(add_tags),
            also_evaluate=tuple(also_evaluate),
            add_followers=tuple(add_followers),
        )
