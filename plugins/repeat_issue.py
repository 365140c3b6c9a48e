"""repeat_issue: the same requester or organization raised a similar issue again and again."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from plugins import hookimpl
from plugins.history import first_message
from plugins.options import PriorityName
from plugins.similarity import (
    STOP_WORDS,
    SubjectWords,
    jaccard,
    signature,
    subject_words,
    text_alike,
    words_of,
)
from plugins.text import fold


class Options(BaseModel):
    count: int = Field(3, ge=2, description="Fire on the N-th similar ticket (this one "
                       "included) of the same requester or organization.")
    days: float = Field(30, gt=0, description="Within this many days.")
    match_by: list[Literal["requester", "organization"]] = Field(
        default_factory=lambda: ["requester", "organization"],
        description="Whose earlier tickets count: the same \"requester\", the same "
        "\"organization\", or both.",
    )
    subject_similarity: float = Field(0.6, gt=0, le=1, description="Subjects are similar when "
                                      "their significant words overlap this much (Jaccard, "
                                      "0 to 1; 1: the same words).")
    same_form: bool = Field(False, description="Also count tickets with the same ticket form "
                            "(Zendesk) or issue type (Jira) as similar. Off by default: most "
                            "tickets share the default form.")
    tags: list[str] = Field(default_factory=list, description="Tickets sharing one of these "
                            "tags are similar (e.g. a product or component tag).")
    first_messages: bool = Field(True, description="Also count a ticket as similar when the "
                                 "beginning of its first message names every significant word "
                                 "(at least two) of the other's subject, either way round.")
    text_similarity: float = Field(0.2, gt=0, le=1, description="Also similar when subject and "
                                   "first message together tell of one problem, in any of the "
                                   "customers' languages: two symptoms in common, one of them a "
                                   "failure (\"logged out\", \"abgemeldet\"), or at least three "
                                   "significant words making up this share (0 to 1) of the "
                                   "words of the shorter one; 1: off.")
    steps_up: int = Field(1, ge=1, description="How many tiers above the tier the ticket had "
                          "when it was created.")
    priority: PriorityName = Field(None, description="Also raise priority to this "
                                 "(low, normal, high, urgent); empty: leave priority alone.")

    @field_validator("match_by")
    @classmethod
    def _someone(cls, match_by: list[str]) -> list[str]:
        if not match_by:
            raise ValueError('give "requester", "organization" or both')
        return list(dict.fromkeys(match_by))

    @field_validator("tags")
    @classmethod
    def _clean_tags(cls, tags: list[str]) -> list[str]:
        return [t.strip() for t in tags if t.strip()]



MESSAGE_START = 600  # characters of a first message that say what it is about
_message_words = SubjectWords(STOP_WORDS)  # its own cache: message starts are many and long


def _gist(subject: str | None, message: str | None) -> frozenset[str]:
    """Significant words and symptoms of a subject and the start of a first message."""
    text = fold(subject or "") + "\n" + fold(message[:MESSAGE_START] if message else "")
    return words_of(signature(()), text)


def _about(subject: frozenset[str], message: str | None) -> bool:
    """Whether the start of ``message`` names every word of a subject (at least two)."""
    return len(subject) >= 2 and subject <= _message_words(
        message[:MESSAGE_START] if message else None)


@hookimpl
def tierlift_register_policy(register):
    register(Options, needs={"history", "comments", "related"},
             summary="The same requester or organization raised a similar issue repeatedly")


@hookimpl
def tierlift_evaluate(ticket, ctx):
    options = ctx.options
    by_requester = "requester" in options.match_by and ticket.requester_id is not None
    by_organization = "organization" in options.match_by and ticket.organization_id is not None
    if not (by_requester or by_organization):
        return None
    # Counted back from this ticket's creation, not from now: evaluated later (a backlog, a
    # restart), in any order, a ticket gets the same answer.
    since = ticket.created_at - timedelta(days=options.days)
    past = ctx.history.related(
        ticket.platform,
        requester_id=ticket.requester_id if by_requester else None,
        organization_id=ticket.organization_id if by_organization else None,
        since=since,
        until=ticket.created_at,
    )
    words = subject_words()
    mine = words(ticket.subject)
    first = first_message(ticket)
    gist = None  # this ticket's, read when a past ticket needs it
    form = ticket.form if options.same_form else None
    tags = set(options.tags).intersection(ticket.tags)
    earlier, requester_only = [], True
    for p in past:
        if p.ref == ticket.ref or not since <= p.created_at <= ticket.created_at:
            continue
        same_requester = by_requester and p.requester_id == ticket.requester_id
        if not (same_requester
                or (by_organization and p.organization_id == ticket.organization_id)):
            continue
        theirs = words(p.subject)
        if ((form is not None and p.form == form)
                or (tags and not tags.isdisjoint(p.tags))
                or jaccard(mine, theirs) >= options.subject_similarity
                or (options.first_messages
                    and (_about(mine, p.first_message) or _about(theirs, first)))
                or (options.text_similarity < 1
                    and text_alike(gist := _gist(ticket.subject, first) if gist is None else gist,
                                   _gist(p.subject, p.first_message), options.text_similarity))):
            earlier.append(p)
            requester_only = requester_only and same_requester
    earlier = sorted({p.ref: p for p in earlier}.values(),  # a ref listed twice counts once
                     key=lambda p: (p.created_at, p.ref))
    if len(earlier) + 1 < options.count:
        return None
    who = "requester" if requester_only else "organization"
    return ctx.propose(
        ctx.evidence(
            "repeat",
            f"{len(earlier) + 1} similar tickets from the same {who} in {options.days:g} days "
            f"(this one included); earlier: {_listing(earlier)}",
            quote=(ticket.subject or "").strip()[:240] or None,
            at=ticket.created_at,
        ),
        steps_up=options.steps_up,
        priority=options.priority,
        suggestion=f"Look for the root cause behind {_refs(earlier)} and this ticket: link them "
        "to a problem ticket (or open one) and answer the customer with the lasting fix.",
    )


def _listing(tickets: Iterable, limit: int = 10) -> str:
    tickets = list(tickets)
    shown = ", ".join(f"#{p.ref} ({_day(p.created_at)})" for p in tickets[:limit])
    return shown + (f" and {len(tickets) - limit} more" if len(tickets) > limit else "")


def _refs(tickets: Iterable, limit: int = 10) -> str:
    tickets = list(tickets)
    shown = ", ".join(f"#{p.ref}" for p in tickets[:limit])
    return shown + (f" and {len(tickets) - limit} more" if len(tickets) > limit else "")


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()[:10]  # (strftime is slow)
