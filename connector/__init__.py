"""Helpdesk adapters and the platform-neutral ticket model they produce."""

from connector.ticket import (
    AuthorRole,
    Comment,
    Priority,
    Ticket,
    TierChange,
    TierLadder,
    TierWrite,
    WriteResult,
)

__all__ = [
    "AuthorRole",
    "Comment",
    "Priority",
    "Ticket",
    "TierChange",
    "TierLadder",
    "TierWrite",
    "WriteResult",
]
