"""incident: several tickets about one problem, created within minutes of each other, are one
outage: move them together under one incident tag."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from pydantic import BaseModel, Field, field_validator

from connector.ticket import Ticket
from plugins import hookimpl
from plugins.history import PastTicket, first_message, short_fields
from plugins.options import OptionalName, PriorityName
from plugins.similarity import (
    WordCache,
    jaccard,
    reports_failure,
    signature,
    text_alike,
    words_of,
)
from plugins.text import fold, per_options

TAG_PREFIX = "tierlift_incident_"
MAX_WALK = 50  # earlier incidents followed back to find where an untagged one began


class Options(BaseModel):
    # Old names still accepted, with a deprecation warning (see PolicyHost.configure).
    renamed_options: ClassVar[dict[str, str]] = {"similarity": "subject_similarity"}

    count: int = Field(5, ge=2, description="Tickets (this one included) created within "
                       "`minutes` of each other that make an incident.")
    minutes: float = Field(30, gt=0, description="The most time between the creation of the "
                           "first and the last of them (measured between creation times, not "
                           "back from now).")
    subject_similarity: float = Field(0.5, gt=0, le=1, description="Tickets are alike when "
                                      "their subjects' significant words overlap this much "
                                      "(Jaccard, 0 to 1).")
    text_similarity: float = Field(0.2, gt=0, le=1, description="Tickets are also alike when "
                                   "they share at least three significant words of subject "
                                   "and first message together, and this share (0 to 1) of "
                                   "the words of the one with fewer.")
    match_tags: list[str] = Field(default_factory=list, description="Tickets sharing one of "
                                  "these tags are alike (e.g. a tag per service).")
    match_fields: list[str] = Field(default_factory=list, description="Tickets with the same "
                                    "value in one of these custom fields (ids) are alike (e.g. "
                                    "a \"Service affected\" field).")
    distinct_requesters: bool = Field(True, description="Count each requester once, so that "
                                      "one customer writing five times is not an outage.")
    ignore_words: list[str] = Field(default_factory=list, description="More words that say "
                                    "nothing about an incident (e.g. your product's name).")
    tier: OptionalName = Field(None, description="Move the tickets to this tier of your ladder "
                               "(absolute, e.g. your top tier); empty: no tier move.")
    route: str | None = Field("incident", description="The specialist team (route) that "
                              "handles incidents; empty: do not reroute.")
    priority: PriorityName = Field("urgent", description="Raise priority to this (low, normal, "
                                 "high, urgent); empty: leave priority alone.")

    @field_validator("ignore_words", "match_tags")
    @classmethod
    def _lower(cls, words: list[str]) -> list[str]:
        return [fold(w.strip()) for w in words if w.strip()]

    @field_validator("match_fields", mode="before")
    @classmethod
    def _ids_as_text(cls, ids: object) -> object:
        """TOML field ids are often written as numbers: ``[360001]`` means "360001"."""
        return [str(i).strip() for i in ids if str(i).strip()] if isinstance(ids, list) else ids

    @field_validator("route")
    @classmethod
    def _route(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


@hookimpl
def tierlift_register_policy(register):
    register(Options, needs={"comments"},  # the first message
             summary="Similar tickets created within minutes of each other: one incident")


@dataclass(frozen=True, slots=True)
class _Look:
    """What a ticket that reports something failing (a symptom, an error status) or carries a
    mark is about, as the incident policy compares tickets."""

    ref: str
    created_at: datetime
    person: str  # who counts once
    tags: tuple[str, ...]
    subject: frozenset[str]  # significant words of the subject
    words: frozenset[str]  # significant words of subject and first message
    marks: frozenset[str]  # configured tags and field values it carries

    @property
    def order(self) -> tuple[datetime, str]:
        return self.created_at, self.ref


def _look(ticket: Ticket | PastTicket, message: str | None, fields,
          options: Options) -> _Look | None:
    """The ticket's look; ``None`` when it reports nothing failing and carries no mark (only
    such tickets make an incident: its words are not worth reading)."""
    subject = fold(ticket.subject or "")
    text = f"{subject}\n{fold(message)}" if message else subject
    marks = {f"tag:{t}" for t in map(fold, ticket.tags) if t in options.match_tags}
    marks.update(f"field:{key}={value}" for key in options.match_fields
                 for value in fields.get(key, ()))
    if not (marks or reports_failure(text)):
        return None
    sig = signature(tuple(options.ignore_words))
    person = ticket.requester_id if options.distinct_requesters else None
    return _Look(ref=ticket.ref, created_at=ticket.created_at, person=person or f"#{ticket.ref}",
                 tags=ticket.tags, words=words_of(sig, text), marks=frozenset(marks),
                 subject=words_of(sig, subject, named=False))


MAX_LOOKS = 4096  # tickets' looks kept per options (emptied when full): hours of tickets
_NONE = _Look("", datetime.min, "", (), frozenset(), frozenset(), frozenset())  # not yet looked


def _kept_look(ticket: Ticket | PastTicket, message: str | None, fields,
               options: Options) -> _Look | None:
    """:func:`_look`, kept while the ticket stays as it was: every evaluation compares the
    ticket with the same recent tickets again, and a ticket evaluated now is one of the recent
    tickets of the next ones (the ticket index keeps the same first message and fields)."""
    looks = per_options(options, _new_cache).kept
    key = (ticket.platform, ticket.ref, ticket.created_at, ticket.subject, message,
           ticket.tags, ticket.requester_id,
           tuple(sorted(fields.items())) if options.match_fields else ())
    look = looks.get(key, _NONE)
    if look is _NONE:
        if len(looks) >= MAX_LOOKS:
            looks.clear()
        look = looks[key] = _look(ticket, message, fields, options)
    return look


def _past_looks(past: list[PastTicket], options: Options) -> Iterator[_Look]:
    """The looks of past tickets (those that have one)."""
    for p in past:
        look = _kept_look(p, p.first_message, p.fields, options)
        if look is not None:
            yield look


def _new_cache(options: Options) -> WordCache:
    return WordCache()


def _alike(a: _Look, b: _Look, options: Options) -> bool:
    if not a.marks.isdisjoint(b.marks):
        return True
    return jaccard(a.subject, b.subject) >= options.subject_similarity or \
        text_alike(a.words, b.words, options.text_similarity)


def _incident(me: _Look, around: list[_Look],
              options: Options) -> tuple[list[_Look], datetime] | None:
    """The tickets that make an incident with ``me`` (oldest first) and when it had formed for
    ``me``, or ``None``. An incident: in some stretch of ``minutes`` (between creation times),
    ``me`` and tickets alike, one to the next, from at least ``count`` people."""
    width = timedelta(minutes=options.minutes)
    looks = sorted({x.ref: x for x in around}.values(), key=lambda x: x.order)
    neighbours: dict[str, list[_Look]] = {}

    def alike(x: _Look) -> list[_Look]:
        if x.ref not in neighbours:
            neighbours[x.ref] = [y for y in looks if y.ref != x.ref
                                 and abs(y.created_at - x.created_at) <= width
                                 and _alike(x, y, options)]
        return neighbours[x.ref]

    members: dict[str, _Look] = {}
    formed: datetime | None = None
    starts = sorted({x.created_at for x in looks
                     if me.created_at - width <= x.created_at <= me.created_at})
    for start in starts:
        end = start + width
        component, todo = {me.ref: me}, [me]
        while todo:
            for y in alike(todo.pop()):
                if y.ref not in component and start <= y.created_at <= end:
                    component[y.ref] = y
                    todo.append(y)
        people: set[str] = set()
        for x in sorted(component.values(), key=lambda x: x.order):
            people.add(x.person)
            if len(people) == options.count:
                members.update(component)
                moment = max(x.created_at, me.created_at)
                formed = moment if formed is None else min(formed, moment)
                break
    if formed is None:
        return None
    return sorted(members.values(), key=lambda x: x.order), formed


@hookimpl
def tierlift_evaluate(ticket, ctx):
    options = ctx.options
    width = timedelta(minutes=options.minutes)
    me = _kept_look(ticket, first_message(ticket),
                    short_fields(ticket) if options.match_fields else {}, options)
    if me is None:
        return None

    def around(center: _Look) -> list[_Look]:
        """The tickets created within ``minutes`` of ``center``, this one as it is now."""
        past = ctx.history.created_between(ticket.platform, center.created_at - width,
                                           center.created_at + width)
        return [me, *_past_looks([p for p in past if p.ref != me.ref], options)]

    found = _incident(me, around(me), options)
    if found is None:
        return None
    members, formed = found
    tag = _incident_tag(ticket, members, lambda first: _incident(first, around(first), options))
    span = math.ceil((members[-1].created_at - members[0].created_at).total_seconds() / 60)
    return ctx.propose(
        ctx.evidence(
            f"incident:{tag}",
            f"{len(members)} similar tickets created within {max(span, 1)} min look like one "
            f"incident: {_refs([m.ref for m in members])}",
            quote=(ticket.subject or "").strip()[:240] or None,
            at=formed,
        ),
        tier=options.tier,
        steps_up=0,
        route=options.route,
        priority=options.priority,
        add_tags=(tag,),
        also_evaluate=[m.ref for m in members if m.ref != ticket.ref and tag not in m.tags],
        suggestion=f"Handle this as one incident (tag {tag}): confirm the outage, link the "
        "tickets to one problem, and answer all of them together once it is fixed.",
    )


def _incident_tag(ticket: Ticket, members: list[_Look],
                  incident_of: Callable[[_Look], tuple[list[_Look], datetime] | None]) -> str:
    """The incident's tag: the one this ticket carries, else the one the earliest tagged member
    carries, else, walking back from incident to earlier incident, the first tag found or one
    derived from the ticket where it all began. Evaluated in any order, or hours later, the
    members of one incident get the same tag; a later incident with the same words another."""
    cluster = members
    for _ in range(MAX_WALK):
        for tags in (ticket.tags, *(m.tags for m in cluster)):
            for tag in tags:
                if tag.startswith(TAG_PREFIX):
                    return tag
        first = cluster[0]
        earlier = incident_of(first)
        if earlier is None or earlier[0][0].ref == first.ref:
            break
        cluster = earlier[0]
    digest = hashlib.sha1(f"{ticket.platform}:{cluster[0].ref}".encode(),
                          usedforsecurity=False).hexdigest()
    return TAG_PREFIX + digest[:8]


def _refs(refs: list[str], limit: int = 10) -> str:
    shown = ", ".join(f"#{ref}" for ref in refs[:limit])
    return shown + (f" and {len(refs) - limit} more" if len(refs) > limit else "")
