"""What a ``tierlift_notify`` plugin receives: one event about one ticket (see hookspecs)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

KINDS = ("escalated", "breached", "write_failed")


@dataclass(frozen=True)
class Notification:
    """Something people should hear about.

    ``kind``: ``escalated`` (tierlift moved the ticket up a tier or to a specialist team),
    ``breached`` (a policy saw a deadline missed: evidence whose key ends in ``:breached``, as
    the sla policy marks one), or ``write_failed`` (the helpdesk refused tierlift's write-back,
    or it failed until tierlift gave up). ``key`` names the event for at-most-once delivery: the
    host sends one event of a kind with a given key for a ticket once per notifier.
    ``headline`` is the handoff note's first line (for a breach: what was missed; for a failed
    write: the error). ``url`` links to the ticket when the helpdesk's URL is known.
    """

    kind: str
    platform: str
    ticket_ref: str
    key: str
    at: datetime
    from_tier: str | None = None
    to_tier: str | None = None
    route: str | None = None
    priority: str | None = None
    policies: tuple[str, ...] = ()
    headline: str = ""
    subject: str | None = None
    url: str | None = None

    @property
    def title(self) -> str:
        """One line: which ticket, what happened."""
        ticket = f"{self.platform} ticket {self.ticket_ref}"
        if self.kind == "breached":
            return f"{ticket}: deadline missed"
        if self.kind == "write_failed":
            return f"{ticket}: tierlift could not write its decision"
        moves = []
        if self.route:
            moves.append(f"routed to the {self.route} team")
        elif self.to_tier:
            moves.append(f"escalated from {self.from_tier} to {self.to_tier}")
        if self.priority:
            moves.append(f"priority {self.priority}")
        return f"{ticket} {', '.join(moves) or 'escalated'}"

    def lines(self) -> list[str]:
        """The event in a few plain-text lines: title, subject, policies, headline, link."""
        lines = [self.title]
        if self.subject:
            lines.append(f"Subject: {self.subject}")
        if self.policies:
            lines.append(f"Policies: {', '.join(self.policies)}")
        if self.headline:
            lines.append(self.headline)
        if self.url:
            lines.append(self.url)
        return lines
