"""What the keyword policies share beyond :mod:`plugins.packs`: an admin's pack of weighted
terms (complexity, sentiment), and the comments a policy reads without tierlift's own notes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connector.ticket import AuthorRole, Ticket
from plugins.text import CustomerText, ticket_text


class WeightedPackOptions(BaseModel):
    """An admin's pack for one language: more terms with their weight, and more exclusions."""

    model_config = ConfigDict(extra="forbid")

    terms: dict[str, float] = Field(default_factory=dict)
    exclude: list[str] = Field(default_factory=list)

    @field_validator("exclude")
    @classmethod
    def _no_blanks(cls, values: list[str]) -> list[str]:
        return [v.strip() for v in values if v.strip()]


def text_read(ticket: Ticket, scope: str) -> CustomerText:
    """:func:`plugins.text.ticket_text` of ``scope``, less tierlift's own notes (they quote the
    evidence they acted on: reading them again would count it twice)."""
    text = ticket_text(ticket, scope)
    if all(c.author_role is not AuthorRole.SELF for c in text.comments):
        return text
    comments = tuple(c for c in text.comments if c.author_role is not AuthorRole.SELF)
    return CustomerText(ticket.subject, [c.body for c in comments], comments)
