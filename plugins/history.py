"""What tierlift has seen before: earlier tickets, for policies that look across tickets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class PastTicket:
    """A ticket as tierlift last saw it."""

    platform: str
    ref: str
    subject: str
    tags: tuple[str, ...]
    form: str | None
    requester_id: str | None
    organization_id: str | None
    created_at: datetime
    status: str


class TicketHistory(Protocol):
    """Read-only view of the tickets tierlift has evaluated (``ctx.history`` in a policy)."""

    def related(self, platform: str, *, requester_id: str | None, organization_id: str | None,
                since: datetime) -> list[PastTicket]:
        """Tickets of the same requester or organization created since ``since``."""

    def recent(self, platform: str, *, since: datetime) -> list[PastTicket]:
        """All tickets created since ``since`` (newest first, at most a few hundred)."""


class NoHistory:
    """A history that has seen nothing (tests, and policies evaluated outside the worker)."""

    def related(self, platform, *, requester_id, organization_id, since):
        return []

    def recent(self, platform, *, since):
        return []
