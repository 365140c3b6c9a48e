"""What tierlift has seen before: earlier tickets, for policies that look across tickets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from connector.ticket import Ticket
from plugins.text import field_values

FIRST_MESSAGE_CHARS = 1000  # what the ticket index keeps of a ticket's first customer message
FIELD_VALUE_CHARS = 200  # longer custom field values (free text) are not indexed


@dataclass(frozen=True)
class PastTicket:
    """A ticket as tierlift last saw it. ``first_message``: the start of the customer's first
    message (``None`` when never read); ``fields``: its short custom field values, lower-cased,
    by field id."""

    platform: str
    ref: str
    subject: str
    tags: tuple[str, ...]
    form: str | None
    requester_id: str | None
    organization_id: str | None
    created_at: datetime
    status: str
    first_message: str | None = None
    fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def first_message(ticket: Ticket) -> str | None:
    """The start of the customer's first public message, as the ticket index keeps it (``None``
    if the ticket was read without its comments, or the customer has not written)."""
    comments = ticket.customer_comments
    return comments[0].body[:FIRST_MESSAGE_CHARS] if comments else None


def short_fields(ticket: Ticket) -> dict[str, tuple[str, ...]]:
    """The ticket's custom field values as the ticket index keeps them: lower-cased texts (each
    option of a multi-select), empty and long free-text values left out."""
    kept = {}
    for key, value in ticket.custom_fields.items():
        values = tuple(v for v in field_values(value) if len(v) <= FIELD_VALUE_CHARS)
        if values:
            kept[key] = values
    return kept


class TicketHistory(Protocol):
    """Read-only view of the tickets tierlift has evaluated (``ctx.history`` in a policy)."""

    def related(self, platform: str, *, requester_id: str | None, organization_id: str | None,
                since: datetime) -> list[PastTicket]:
        """Tickets of the same requester or organization created since ``since``."""

    def recent(self, platform: str, *, since: datetime) -> list[PastTicket]:
        """All tickets created since ``since`` (newest first, at most a few hundred)."""

    def created_between(self, platform: str, start: datetime, end: datetime) -> list[PastTicket]:
        """All tickets created from ``start`` to ``end``, both included (oldest first, at most
        a thousand)."""


class NoHistory:
    """A history that has seen nothing (tests, and policies evaluated outside the worker)."""

    def related(self, platform, *, requester_id, organization_id, since):
        return []

    def recent(self, platform, *, since):
        return []

    def created_between(self, platform, start, end):
        return []
