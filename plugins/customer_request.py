"""customer_request: the customer asks for a manager or a higher tier of support."""

from __future__ import annotations

import functools
import re

from pydantic import BaseModel, Field, field_validator

from plugins import hookimpl
from plugins.options import PriorityName

DEFAULT_PHRASES = [
    "speak to a manager",
    "talk to a manager",
    "speak to your manager",
    "speak with a manager",
    "speak to a supervisor",
    "talk to a supervisor",
    "escalate this",
    "escalate my ticket",
    "escalate the ticket",
    "higher level support",
    "senior engineer",
]


class Options(BaseModel):
    phrases: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PHRASES),
        description="Phrases that count as a request, matched case-insensitively as whole words "
        "in public comments written by the customer.",
    )
    steps_up: int = Field(1, ge=1, description="How many tiers above the tier the ticket had "
                          "when the customer asked.")
    priority: PriorityName = Field(None, description="Also raise priority to this "
                                 "(low, normal, high, urgent); empty: leave priority alone.")

    @field_validator("phrases")
    @classmethod
    def _non_empty(cls, phrases: list[str]) -> list[str]:
        cleaned = [p.strip() for p in phrases if p.strip()]
        if not cleaned:
            raise ValueError("give at least one phrase")
        return cleaned



@hookimpl
def tierlift_register_policy(register):
    register(Options, needs={"comments", "history"},
             summary="The customer asks for a manager or a higher tier")


@functools.lru_cache(maxsize=32)
def _matcher(phrases: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Built once per phrase list: a cheap pre-check for the longest word of any phrase (on
    the lower-cased text), then the exact whole-word, whitespace-tolerant pattern."""
    anchors = sorted({max(p.lower().split(), key=len) for p in phrases})
    alternatives = "|".join(r"\s+".join(map(re.escape, p.split())) for p in phrases)
    return (re.compile("|".join(map(re.escape, anchors))),
            re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE))


@hookimpl
def tierlift_evaluate(ticket, ctx):
    anchors, pattern = _matcher(tuple(ctx.options.phrases))
    proposals = []
    for comment in ticket.customer_comments:
        if anchors.search(comment.lowered) is None:
            continue
        match = pattern.search(comment.body)
        if match is None:
            continue
        evidence = ctx.evidence(
            f"comment:{comment.id}",
            f'The customer asked: "{match.group(0)}"',
            quote=_sentence_around(comment.body, match),
            at=comment.created_at,
        )
        proposals.append(ctx.propose(
            evidence,
            steps_up=ctx.options.steps_up,
            priority=ctx.options.priority,
            suggestion="Reply personally as the next tier, acknowledge the request, and own the "
            "ticket from here.",
        ))
    return proposals


def _sentence_around(text: str, match: re.Match[str], limit: int = 240) -> str:
    """The sentence containing the match, trimmed to ``limit`` characters."""
    start = max(text.rfind(sep, 0, match.start()) for sep in ".!?\n") + 1
    ends = [i for i in (text.find(sep, match.end()) for sep in ".!?\n") if i != -1]
    end = min(ends) + 1 if ends else len(text)
    sentence = " ".join(text[start:end].split())
    return sentence if len(sentence) <= limit else sentence[: limit - 1] + "…"
