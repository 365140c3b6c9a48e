"""What a policy hands back: evidence it saw and the move it proposes, built through its context."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel

from connector.ticket import Priority, TierLadder

NEEDS = frozenset({"comments", "history"})


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
    """A policy's proposal. Target: ``tier`` if given, else ``steps_up`` above the tier the ticket
    had when its earliest evidence appeared."""

    policy: str
    evidence: tuple[Evidence, ...]
    tier: str | None = None
    steps_up: int = 0
    priority: Priority | None = None
    suggestion: str | None = None


@dataclass(frozen=True)
class PolicySpec:
    """What a policy registered: its options model, the ticket data it reads, a one-line summary."""

    options: type[BaseModel]
    needs: frozenset[str] = NEEDS
    summary: str = ""


@dataclass(frozen=True)
class PolicyContext:
    """Handed to ``tierlift_evaluate`` with each ticket: this policy's name and validated options,
    the evaluation time, the admin's tier ladder, and helpers to build evidence and proposals."""

    policy: str
    options: BaseModel
    now: datetime
    tiers: TierLadder

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
    ) -> Proposal:
        """Propose a move backed by ``evidence``: to ``tier``, or ``steps_up`` tiers higher."""
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
        )
