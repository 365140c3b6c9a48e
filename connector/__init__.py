"""Helpdesk adapters and the platform-neutral ticket model they produce."""

from connector.ticket import (
    AuthorRole,
    Comment,
    PlatformDeadline,
    Priority,
    SentRequest,
    Ticket,
    TicketSummary,
    TierChange,
    TierLadder,
    TierWrite,
    WriteResult,
)

__all__ = [
    "AuthorRole",
    "Comment",
    "PlatformDeadline",
    "Priority",
    "SentRequest",
    "Ticket",
    "TicketSummary",
    "TierChange",
    "TierLadder",
    "TierWrite",
    "WriteResult",
]
