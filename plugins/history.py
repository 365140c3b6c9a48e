"""What tierlift has seen before: earlier tickets, for policies that look across tickets."""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Mapping
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
                since: datetime, until: datetime | None = None) -> list[PastTicket]:
        """Tickets of the same requester or organization created from ``since`` to ``until``
        (both included; ``None``: no end), newest first: the requester's newest
        ``RELATED_LIMIT`` and the organization's newest ``RELATED_LIMIT``, so that a large
        organization does not hide the requester's own."""

    def recent(self, platform: str, *, since: datetime) -> list[PastTicket]:
        """All tickets created since ``since`` (newest first, at most ``RECENT_LIMIT``)."""

    def created_between(self, platform: str, start: datetime, end: datetime) -> list[PastTicket]:
        """All tickets created from ``start`` to ``end``, both included (oldest first, at most
        a thousand)."""


class NoHistory:
    """A history that has seen nothing (tests, and policies evaluated outside the worker)."""

    def related(self, platform, *, requester_id, organization_id, since, until=None):
        return []

    def recent(self, platform, *, since):
        return []

    def created_between(self, platform, start, end):
        return []


RELATED_LIMIT = 250  # ``related``: at most this many of the requester's, and of the organization's
RECENT_LIMIT = 500  # what ``recent`` answers at most
CREATED_LIMIT = 1000  # what ``created_between`` answers at most


class MemoryHistory:
    """A history held in memory (the backtest's), seen as of a moment: ``until`` hides the
    tickets created after it, as if they did not exist yet (``None``: nothing is hidden).
    :meth:`put` adds a ticket or replaces it with its newer state (same platform and ref)."""

    def __init__(self, tickets: Iterable[PastTicket] = (), *,
                 until: datetime | None = None) -> None:
        self.until = until
        self._tickets: dict[tuple[str, str], PastTicket] = {}
        # (platform,) / (platform, "requester", id) / (platform, "organization", id) ->
        # sorted (created_at, ref): the tickets each query looks through
        self._order: dict[tuple[str, ...], list[tuple[datetime, str]]] = {}
        for ticket in tickets:
            self.put(ticket)

    def put(self, ticket: PastTicket) -> None:
        key = (ticket.platform, ticket.ref)
        before = self._tickets.get(key)
        self._tickets[key] = ticket
        if before is not None and (before.created_at, before.requester_id,
                                   before.organization_id) == (
                ticket.created_at, ticket.requester_id, ticket.organization_id):
            return
        if before is not None:
            for index in self._indexes(before):
                self._order[index].remove((before.created_at, before.ref))
        for index in self._indexes(ticket):
            insort(self._order.setdefault(index, []), (ticket.created_at, ticket.ref))

    @staticmethod
    def _indexes(ticket: PastTicket) -> list[tuple[str, ...]]:
        indexes = [(ticket.platform,)]
        if ticket.requester_id is not None:
            indexes.append((ticket.platform, "requester", ticket.requester_id))
        if ticket.organization_id is not None:
            indexes.append((ticket.platform, "organization", ticket.organization_id))
        return indexes

    def _between(self, index: tuple[str, ...], start: datetime,
                 end: datetime | None) -> list[tuple[datetime, str]]:
        """The index's ``(created_at, ref)`` from ``start`` to ``end`` and ``until``, both
        included, oldest first."""
        order = self._order.get(index, [])
        if self.until is not None and (end is None or self.until < end):
            end = self.until
        low = bisect_left(order, (start,))
        high = len(order) if end is None else bisect_right(order, (end, "\U0010ffff"))
        return order[low:high]

    def related(self, platform: str, *, requester_id: str | None, organization_id: str | None,
                since: datetime, until: datetime | None = None) -> list[PastTicket]:
        found: set[tuple[datetime, str]] = set()
        for kind, ident in (("requester", requester_id), ("organization", organization_id)):
            if ident is not None:
                found.update(self._between((platform, kind, ident), since, until)[-RELATED_LIMIT:])
        return [self._tickets[platform, ref] for _, ref in sorted(found, reverse=True)]

    def recent(self, platform: str, *, since: datetime) -> list[PastTicket]:
        newest = self._between((platform,), since, None)[::-1][:RECENT_LIMIT]
        return [self._tickets[platform, ref] for _, ref in newest]

    def created_between(self, platform: str, start: datetime, end: datetime) -> list[PastTicket]:
        return [self._tickets[platform, ref]
                for _, ref in self._between((platform,), start, end)[:CREATED_LIMIT]]
