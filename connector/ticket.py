"""The platform-neutral ticket that policies read, whichever helpdesk it came from."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property


class Priority(enum.IntEnum):
    """Ticket priority, ordered so that ``max()`` picks the most urgent."""

    LOW = 1
    NORMAL = 2
    HIGH = 3
    URGENT = 4

    @classmethod
    def parse(cls, value: str | None) -> Priority | None:
        if not value:
            return None
        try:
            return cls[value.strip().upper()]
        except KeyError:
            return None


class AuthorRole(enum.StrEnum):
    CUSTOMER = "customer"  # the requester or another end user on the ticket
    AGENT = "agent"
    SELF = "self"  # tierlift's own API user


@dataclass(frozen=True)
class Comment:
    id: str
    author_id: str
    author_role: AuthorRole
    public: bool
    body: str
    created_at: datetime

    @property
    def from_customer(self) -> bool:
        """A public comment written by an end user: what the customer actually said."""
        return self.public and self.author_role is AuthorRole.CUSTOMER

    @cached_property
    def lowered(self) -> str:
        """The body in lower case, computed once and shared by every policy."""
        return self.body.lower()


@dataclass(frozen=True)
class TierChange:
    """From ``at`` on, the ticket sat in ``tier``."""

    at: datetime
    tier: str


@dataclass(frozen=True)
class PlatformDeadline:
    """An SLA deadline as the helpdesk itself computes it (Zendesk SLA policies, JSM SLAs)."""

    metric: str  # e.g. "first_reply_time", "Time to first response"
    due_at: datetime | None  # None while the helpdesk's clock is paused
    breached: bool = False
    goal_seconds: float | None = None  # the target's length, when the helpdesk says


@dataclass(frozen=True)
class Organization:
    """The requester's organization (Zendesk organization, JSM organization)."""

    id: str
    name: str = ""
    tags: tuple[str, ...] = ()
    fields: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class TierLadder:
    """The admin's ordered tiers, lowest first, and the tier of unmapped tickets."""

    names: tuple[str, ...]
    default: str

    def __post_init__(self) -> None:
        if self.default not in self.names:
            raise ValueError(f"default tier {self.default!r} is not one of {list(self.names)}")

    def rank(self, tier: str) -> int:
        return self.names.index(tier)

    def above(self, tier: str, steps: int = 1) -> str:
        """The tier ``steps`` above ``tier``, capped at the top tier."""
        return self.names[min(self.rank(tier) + steps, len(self.names) - 1)]

    def highest(self, tiers: Sequence[str]) -> str:
        return max(tiers, key=self.rank)

    @property
    def top(self) -> str:
        return self.names[-1]


@dataclass(frozen=True)
class Ticket:
    """A snapshot of one ticket, fetched fresh from its helpdesk just before evaluation.

    ``version`` is the platform's concurrency stamp for that snapshot (Zendesk ``updated_at``);
    a write-back is refused by the platform if the ticket changed since.
    """

    platform: str
    ref: str
    subject: str
    status: str
    priority: Priority | None
    tier: str
    tags: tuple[str, ...]
    requester_id: str | None
    assignee_id: str | None
    organization_id: str | None
    channel: str | None
    created_at: datetime
    updated_at: datetime
    version: str
    comments: tuple[Comment, ...] = ()
    tier_history: tuple[TierChange, ...] = ()
    custom_fields: dict[str, object] = field(default_factory=dict)
    form: str | None = None  # Zendesk ticket form id; Jira issue type name
    channel_detail: str | None = None  # e.g. Zendesk via.source.rel: "mention", "direct_message"
    reopens: int = 0  # solved/resolved, then opened again (read with the history)
    organization: Organization | None = None  # filled when a policy needs "organization"
    route: str | None = None  # the specialist team (route) the ticket is with, if any
    status_history: tuple[tuple[datetime, str], ...] = ()  # (from, status), with the history
    followers: tuple[str, ...] = ()  # Zendesk followers (Jira watchers are not read)
    platform_deadlines: tuple[PlatformDeadline, ...] = ()  # with the "platform_sla" need
    locale: str | None = None  # the requester's language as the helpdesk knows it ("de", "pt-BR")
    # (from, team) and (from, priority), starting at creation, with the history
    route_history: tuple[tuple[datetime, str | None], ...] = ()
    priority_history: tuple[tuple[datetime, Priority | None], ...] = ()

    @cached_property
    def customer_comments(self) -> tuple[Comment, ...]:
        """What the customer said publicly, oldest first (the description included)."""
        return tuple(c for c in self.comments if c.from_customer)

    @cached_property
    def tier_entered_at(self) -> datetime:
        """When the ticket entered its current tier (its creation, if history does not say)."""
        entered = self.created_at
        for change in self.tier_history:
            if change.tier != self.tier:
                entered = None
            elif entered is None:
                entered = change.at
        return entered or self.created_at

    def has_own_note(self, marker: str) -> bool:
        """One of tierlift's own comments holds ``marker`` (see :attr:`TierWrite.marker`)."""
        return any(c.author_role is AuthorRole.SELF and marker in c.body for c in self.comments)

    def agent_replies_since(self, when: datetime) -> int:
        """Public replies by agents (not tierlift) since ``when``."""
        return sum(1 for c in self.comments
                   if c.public and c.author_role is AuthorRole.AGENT and c.created_at >= when)

    def tier_at(self, when: datetime) -> str:
        """The tier the ticket had at ``when``.

        Connectors start the history at creation, so a moment before the first change falls back
        to the earliest known tier, and a ticket without history to its current tier.
        """
        if not self.tier_history:
            return self.tier
        tier = self.tier_history[0].tier
        for change in self.tier_history:
            if change.at > when:
                break
            tier = change.tier
        return tier


@dataclass(frozen=True)
class TicketSummary:
    """An earlier ticket as the helpdesk's search lists it: enough to tell whether a new ticket
    is about the same thing (``description``: the customer's first message, as plain text)."""

    platform: str
    ref: str
    subject: str
    description: str
    tags: tuple[str, ...]
    form: str | None
    requester_id: str | None
    organization_id: str | None
    created_at: datetime
    status: str


@dataclass(frozen=True)
class TierWrite:
    """One write-back: move to ``tier`` or hand to the specialist team ``route`` (``None``:
    stay), add tags, maybe raise priority, leave an internal note, and optionally a public
    reply to the customer."""

    tier: str | None
    add_tags: tuple[str, ...]
    internal_note: str
    priority: Priority | None = None
    route: str | None = None
    public_reply: str | None = None
    add_followers: tuple[str, ...] = ()

    @property
    def marker(self) -> str:
        """The note's last line (its evidence line): what tells this note on the ticket."""
        return self.internal_note.rstrip().rsplit("\n", 1)[-1]


@dataclass(frozen=True)
class SentRequest:
    """One request of a write-back and the helpdesk's answer, for the audit log."""

    method: str
    path: str
    body: dict | None
    status: int


@dataclass(frozen=True)
class WriteResult:
    """Every request a write-back sent, in order, with the answers."""

    requests: tuple[SentRequest, ...]
    assignee_cleared: bool = False
