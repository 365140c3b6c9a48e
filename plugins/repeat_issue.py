"""repeat_issue: the same requester or organization raised a similar issue again and again."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from plugins import hookimpl
from plugins.history import first_message
from plugins.options import PriorityName

# Words that say nothing about what a subject is about (English, plus reply/forward prefixes
# and the halves of contractions the tokenizer leaves).
STOP_WORDS = frozenset({
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any",
    "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both",
    "but", "by", "can", "cannot", "could", "did", "do", "does", "doing", "don", "doesn", "didn",
    "during", "each", "few", "for", "from", "further", "had", "has", "hasn", "have", "haven",
    "having", "he", "her", "here", "hers", "him", "his", "how", "i", "if", "im", "in", "into",
    "is", "isn", "it", "its", "itself", "just", "ll", "me", "more", "most", "my", "no", "nor",
    "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "over", "own",
    "same", "she", "should", "so", "some", "still", "such", "than", "that", "the", "their",
    "theirs", "them", "then", "there", "these", "they", "this", "those", "through", "to", "too",
    "under", "until", "us", "very", "ve", "was", "wasn", "we", "were", "weren", "what", "when",
    "where", "which", "while", "who", "whom", "why", "will", "with", "won", "would", "wouldn",
    "you", "your", "yours", "re", "fw", "fwd", "aw", "wg",
})

_WORD = re.compile(r"[^\W\d_]{2,}")  # runs of two or more letters: digits and punctuation go


def _stem(word: str) -> str:
    """A crude singular: "errors" → "error", but "access" and "bus" stay."""
    return word[:-1] if len(word) > 3 and word[-1] == "s" and word[-2] != "s" else word


class SubjectWords:
    """Turns a subject into its set of significant words: lowercased, digits and punctuation
    removed, words in ``ignored`` (or their plurals) dropped, plurals made singular. Results are
    cached per subject, since the same history is read again and again."""

    MAX_CACHED = 20000

    def __init__(self, ignored: frozenset[str]) -> None:
        self.ignored = ignored | {_stem(word) for word in ignored}
        self._cache: dict[str, frozenset[str]] = {}

    def __call__(self, subject: str | None) -> frozenset[str]:
        words = self._cache.get(subject)
        if words is None:
            words = self._words(subject)
        return words

    def many(self, subjects: Sequence[str | None]) -> list[frozenset[str]]:
        """The words of each subject, in order (a few hundred per call, mostly cached)."""
        found = list(map(self._cache.get, subjects))
        if None in found:
            found = [words if words is not None else self._words(subject)
                     for subject, words in zip(subjects, found, strict=True)]
        return found

    def _words(self, subject: str | None) -> frozenset[str]:
        found = set()
        for word in _WORD.findall(subject.lower() if subject else ""):
            if word not in self.ignored:
                stem = _stem(word)
                if stem not in self.ignored:
                    found.add(stem)
        if len(self._cache) >= self.MAX_CACHED:
            self._cache.clear()
        words = self._cache[subject] = frozenset(found)
        return words


@lru_cache(maxsize=32)
def subject_words(ignored: frozenset[str] = STOP_WORDS) -> SubjectWords:
    """The (shared) :class:`SubjectWords` ignoring ``ignored``."""
    return SubjectWords(ignored)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity: shared words over all words; 0 when either set is empty."""
    if not a or not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


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
    )
    words = subject_words()
    mine = words(ticket.subject)
    first = first_message(ticket)
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
                    and (_about(mine, p.first_message) or _about(theirs, first)))):
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
