"""incident: many tickets about the same thing in a short time look like one outage."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from functools import lru_cache
from itertools import compress
from operator import attrgetter, not_

from pydantic import BaseModel, Field, field_validator

from plugins import hookimpl
from plugins.options import PriorityName
from plugins.repeat_issue import STOP_WORDS, subject_words

TAG_PREFIX = "tierlift_incident_"
_subject = attrgetter("subject")

# Words common to support tickets of every kind, and the words helpdesks put in the subjects
# they make up themselves ("Chat with Visitor 4711", "Conversation with …", "Call from …").
SUPPORT_WORDS = frozenset({
    "help", "issue", "problem", "please", "urgent", "asap", "question", "query", "request",
    "support", "ticket", "case", "hi", "hello", "hey", "dear", "thank", "thanks", "need", "needed",
    "want", "working", "work", "not", "cant", "can", "unable", "anymore", "again", "chat",
    "visitor", "conversation", "message", "messaging", "call", "voicemail", "new",
})


class Options(BaseModel):
    count: int = Field(5, ge=2, description="Fire when this many tickets (this one included) "
                       "look alike within `minutes`.")
    minutes: float = Field(30, gt=0, description="The window, counted back from now.")
    similarity: float = Field(0.5, gt=0, le=1, description="Subjects look alike when their "
                              "significant words overlap this much (Jaccard, 0 to 1).")
    distinct_requesters: bool = Field(True, description="Count each requester once, so that "
                                      "one customer writing five times is not an outage.")
    ignore_words: list[str] = Field(default_factory=list, description="More words that say "
                                    "nothing about an incident (e.g. your product's name).")
    route: str | None = Field("incident", description="The specialist team (route) that "
                              "handles incidents; empty: do not reroute, only tag (and raise "
                              "priority).")
    priority: PriorityName = Field("urgent", description="Raise priority to this (low, normal, "
                                 "high, urgent); empty: leave priority alone.")

    @field_validator("ignore_words")
    @classmethod
    def _lower(cls, words: list[str]) -> list[str]:
        return [w.strip().lower() for w in words if w.strip()]

    @field_validator("route")
    @classmethod
    def _route(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None



@hookimpl
def tierlift_register_policy(register):
    register(Options, needs=(),
             summary="Many similar tickets in a short time: route them as one incident")


@lru_cache(maxsize=32)
def _signature_of(ignore_words: tuple[str, ...]):
    return subject_words(STOP_WORDS | SUPPORT_WORDS | frozenset(ignore_words))


@hookimpl
def tierlift_evaluate(ticket, ctx):
    options = ctx.options
    since = ctx.now - timedelta(minutes=options.minutes)
    if ticket.created_at < since:
        return None  # an old ticket talked about now is not part of what is happening now
    signature = _signature_of(tuple(options.ignore_words))
    mine = signature(ticket.subject)
    if not mine:
        return None
    threshold, size = options.similarity, len(mine)
    recent = ctx.history.recent(ticket.platform, since=since)
    # A few hundred tickets per evaluation: their signatures (cached per subject) and whether
    # they share a word with this one are worked out in C; Python only looks at those that do.
    signatures = signature.many(list(map(_subject, recent)))
    members = []
    for i in compress(range(len(recent)), map(not_, map(mine.isdisjoint, signatures))):
        p, theirs = recent[i], signatures[i]
        common = len(mine & theirs)
        if (common / (size + len(theirs) - common) >= threshold
                and p.ref != ticket.ref and p.created_at >= since):
            members.append(p)
    members = list({p.ref: p for p in members}.values())  # a ref listed twice counts once
    if options.distinct_requesters:
        others = {p.requester_id or f"#{p.ref}" for p in members}
        others.discard(ticket.requester_id)
        counted = len(others) + 1
    else:
        counted = len(members) + 1
    if counted < options.count:
        return None
    everyone = sorted([ticket, *members], key=lambda t: (t.created_at, t.ref))
    tag = _incident_tag(ticket, everyone, signature)
    return ctx.propose(
        ctx.evidence(
            f"incident:{tag}",
            f"{len(everyone)} tickets in {options.minutes:g} min look like one incident: "
            f"{_refs([t.ref for t in everyone])}",
            quote=(ticket.subject or "").strip()[:240] or None,
            at=everyone[0].created_at,
        ),
        steps_up=0,
        route=options.route,
        priority=options.priority,
        add_tags=(tag,),
        also_evaluate=[t.ref for t in everyone if t is not ticket and tag not in t.tags],
        suggestion=f"Handle this as one incident (tag {tag}): confirm the outage, link the "
        "tickets to one problem, and answer all of them together once it is fixed.",
    )


def _incident_tag(ticket, everyone, signature) -> str:
    """The cluster's tag: the one this ticket or the earliest tagged member already carries,
    else one derived from the earliest member, so that every ticket joining the cluster later
    gets the same tag (and a later incident with the same words gets another one)."""
    for tags in (ticket.tags, *(t.tags for t in everyone)):
        for tag in tags:
            if tag.startswith(TAG_PREFIX):
                return tag
    first = everyone[0]
    words = " ".join(sorted(signature(first.subject)))
    digest = hashlib.sha1(f"{ticket.platform}:{first.ref}:{words}".encode(),
                          usedforsecurity=False).hexdigest()
    return TAG_PREFIX + digest[:8]


def _refs(refs: list[str], limit: int = 10) -> str:
    shown = ", ".join(f"#{ref}" for ref in refs[:limit])
    return shown + (f" and {len(refs) - limit} more" if len(refs) > limit else "")

