"""effort: much effort in the current tier (agent replies, reopens, time) without resolution.

"Resolved" also covers a customer who confirms the fix in a comment after the latest public agent
reply. The check is a small self-contained matcher (whole words, case- and accent-insensitive)
with a contradiction guard; it belongs on the shared text layer (plugins/text.py) once that is
language-aware.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

from pydantic import BaseModel, Field, field_validator, model_validator

from connector.ticket import AuthorRole
from plugins import hookimpl
from plugins.calendars import ALWAYS
from plugins.options import PriorityName
from plugins.text import per_options

DEFAULT_RESOLVED = ["solved", "closed", "resolved", "done", "cancelled", "canceled"]
# How customers confirm a fix, per language (matched as whole words, any case, with or without
# accents, not in a question, not negated).
DEFAULT_CONFIRMATIONS = {
    "en": ["that worked", "it worked", "this worked", "that did it", "that did the trick",
           "that's done it", "that fixed it", "this fixed it", "that solved it",
           "that sorted it", "works now", "working now", "working again", "works again",
           "all good now", "all good", "problem solved", "issue solved", "problem resolved",
           "issue resolved", "fixed now", "sorted now", "all sorted", "you can close",
           "feel free to close", "happy for you to close", "ok to close"],
    "de": ["funktioniert wieder", "funktioniert jetzt", "klappt wieder", "klappt jetzt",
           "hat geklappt", "hat funktioniert", "geht wieder", "läuft wieder", "passt jetzt",
           "problem gelöst", "problem ist gelöst", "ist gelöst", "hat sich erledigt",
           "alles gut jetzt", "jetzt ist alles gut", "ticket schließen",
           "ticket kann geschlossen werden"],
    "fr": ["ça marche", "ça fonctionne", "ça remarche", "fonctionne maintenant",
           "marche maintenant", "fonctionne de nouveau", "problème résolu", "c'est résolu",
           "c'est réglé", "tout est bon", "tout fonctionne", "vous pouvez fermer",
           "vous pouvez clôturer"],
    "es": ["ya funciona", "ahora funciona", "funciona ahora", "funcionó", "problema resuelto",
           "problema solucionado", "ya está resuelto", "ya está solucionado", "solucionado",
           "todo bien ahora", "pueden cerrar", "podéis cerrar"],
    "pt": ["resolvido", "funcionou", "já funciona", "agora funciona", "funciona agora",
           "está funcionando", "problema resolvido", "deu certo", "tudo certo", "podem fechar",
           "pode fechar", "pode encerrar"],
}
# What makes a comment no confirmation, or takes back an earlier one: a contrast, something
# still or again failing. Bare "again"/"wieder" are left out: "working again" is a confirmation.
DEFAULT_CONTRADICTIONS = {
    "en": ["but", "however", "although", "still", "not yet", "not working", "doesn't work",
           "does not work", "didn't work", "did not work", "isn't working", "stopped working",
           "not fixed", "not solved", "not resolved", "same error", "same problem",
           "same issue", "broken again", "failing again", "down again", "happening again",
           "it's broken", "is broken", "is back", "came back"],
    "de": ["aber", "jedoch", "trotzdem", "immer noch", "noch immer", "noch nicht", "weiterhin",
           "nicht mehr", "wieder nicht", "schon wieder", "wieder kaputt", "kaputt", "geht nicht",
           "funktioniert nicht", "klappt nicht", "nicht gelöst", "gleiche fehler",
           "gleichen fehler", "derselbe fehler"],
    "fr": ["mais", "cependant", "pourtant", "toujours", "pas encore", "marche pas",
           "fonctionne pas", "marche plus", "fonctionne plus", "pas résolu", "même erreur",
           "même problème", "en panne"],
    "es": ["pero", "sin embargo", "todavía", "aún", "sigue sin", "sigue fallando",
           "sigue igual", "sigue dando", "no funciona", "dejó de funcionar", "mismo error",
           "mismo problema", "vuelve a fallar", "volvió a fallar"],
    "pt": [", mas", "porém", "contudo", "no entanto", "ainda", "não funciona",
           "parou de funcionar", "mesmo erro", "mesmo problema", "continua com",
           "continua sem", "continua dando", "voltou a dar"],
}
# A confirmation with one of these negating or conditional words among the three before it, in
# its clause, is none ("not working now", "no se ha solucionado", "if that worked");
# "doesn't" is the words "doesn" and "t".
NEGATORS = frozenset({"not", "no", "never", "t", "if", "unless", "nicht", "kein", "keine", "nie",
                      "wenn", "falls", "ob", "pas", "ne", "jamais", "si", "nunca", "nao", "nem",
                      "se"})
NEGATION_WORDS = 3
_WORD = re.compile(r"[^\W_]+|,")  # words, and commas (", mas" is a contrast, "nada más" not)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?\n]*")


class Options(BaseModel):
    agent_replies: int | None = Field(3, ge=0, description="Fire after this many public agent "
                                      "replies since the ticket entered its current tier; "
                                      "0: do not count replies.")
    reopens: int | None = Field(2, ge=0, description="Fire once the ticket has been reopened "
                                "this many times, and again after as many more; 0: do not "
                                "count reopens.")
    hours_in_tier: float | None = Field(None, ge=0, description="Fire after this many hours in "
                                        "the current tier, counted in `calendar`; 0 or not set: "
                                        "no time limit.")
    calendar: str = Field(ALWAYS, description="The business calendar ([calendars.<name>]) that "
                          "`hours_in_tier` is counted in; \"24x7\" counts every hour.")
    resolved_statuses: list[str] = Field(
        default_factory=lambda: list(DEFAULT_RESOLVED),
        description="Ticket statuses that mean resolved: such tickets are left alone.",
    )
    steps_up: int = Field(1, ge=1, description="How many tiers above the current tier.")
    priority: PriorityName = Field(None, description="Also raise priority to this "
                                 "(low, normal, high, urgent); empty: leave priority alone.")
    confirmation_phrases: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_CONFIRMATIONS.items()},
        description="Phrases per language with which the customer confirms the fix, in a "
        "comment after the latest public agent reply: such a ticket counts as resolved. Replaces "
        "the defaults as a whole; {}: never read as resolved.")
    contradictions: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_CONTRADICTIONS.items()},
        description="Phrases per language that make a comment no confirmation, or take back an "
        "earlier one (but, still, aber, immer noch, toujours …). Replaces the defaults as a "
        "whole.")

    @field_validator("agent_replies", "reopens", "hours_in_tier")
    @classmethod
    def _zero_is_off(cls, value: float | None) -> float | None:
        return value or None  # TOML has no null: 0 switches a trigger off

    @field_validator("calendar")
    @classmethod
    def _calendar_named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError('give a calendar name, e.g. "24x7"')
        return value.strip()

    @field_validator("resolved_statuses")
    @classmethod
    def _lower(cls, statuses: list[str]) -> list[str]:
        return [s.strip().lower() for s in statuses if s.strip()]

    @field_validator("confirmation_phrases", "contradictions")
    @classmethod
    def _phrases(cls, languages: dict[str, list[str]]) -> dict[str, list[str]]:
        cleaned = {}
        for language, phrases in languages.items():
            if not language.strip():
                raise ValueError("blank language key")
            for phrase in phrases:
                if not any(w != "," for w in _words(phrase)):
                    raise ValueError(f"{language}: phrase {phrase!r} has no word")
            cleaned[language.strip().lower()] = [p.strip() for p in phrases]
        return cleaned

    @model_validator(mode="after")
    def _something_to_count(self) -> Options:
        if self.agent_replies is None and self.reopens is None and self.hours_in_tier is None:
            raise ValueError("set at least one of agent_replies, reopens, hours_in_tier")
        return self


@hookimpl
def tierlift_register_policy(register):
    register(Options, needs={"comments", "history"},
             summary="Much effort in the current tier (replies, reopens, time) without "
                     "resolution")


@hookimpl
def tierlift_evaluate(ticket, ctx):
    options = ctx.options
    if ticket.status.lower() in options.resolved_statuses or _confirmed(ticket, options):
        return None
    tier = ticket.tier
    entered = ticket.tier_entered_at
    evidence = []

    # Effort inside this stint in the tier: one key per stint, so it fires once per stint, and a
    # stint that starts with a move (up, or back down by an agent) counts from zero again.
    done, reached = [], []
    if options.agent_replies is not None:
        replies = _agent_replies_since(ticket, entered)
        if len(replies) >= options.agent_replies:
            done.append(_plural(len(replies), "agent reply", "agent replies"))
            reached.append(sorted(replies)[options.agent_replies - 1])
    if options.hours_in_tier is not None:
        calendar = ctx.calendar(options.calendar)
        hours = calendar.business_seconds(entered, ctx.now) / 3600
        limit = calendar.add(entered, options.hours_in_tier * 3600)
        if hours >= options.hours_in_tier:
            unit = "hours" if calendar.always_open else f"business hours ({calendar.name})"
            done.append(f"{round(hours, 1):g} {unit}")
            reached.append(limit)
        elif not done:
            ctx.wake_at(limit)  # no webhook may come: be looked at again when time is up
    if done:
        stamp = entered.astimezone(UTC).isoformat(timespec="seconds")  # (strftime is slow)
        evidence.append(ctx.evidence(
            f"stint:{tier}:{stamp[:19]}Z",
            f"{' and '.join(done)} in {tier} without resolution (since {_when(entered)})",
            at=min(reached),
        ))

    # Reopens count in the tier the ticket was created in only: after a move (up, or back down)
    # they are ignored. Each block of `reopens` is one piece of evidence.
    moved = entered > ticket.created_at
    if options.reopens is not None and not moved and ticket.reopens >= options.reopens:
        block = ticket.reopens // options.reopens * options.reopens
        evidence.append(ctx.evidence(
            f"reopens:{block}",
            f"{_plural(ticket.reopens, 'reopen', 'reopens')} without resolution "
            f"(in {tier} since {_when(entered)})",
        ))

    if not evidence:
        return None
    return ctx.propose(
        *evidence,
        steps_up=options.steps_up,
        priority=options.priority,
        suggestion=f"Read what {tier} tried so far before answering; take ownership, find what "
        "keeps this ticket from being resolved, and tell the customer who has it now.",
    )


def _agent_replies_since(ticket, since: datetime) -> list[datetime]:
    """When each reply that ``ticket.agent_replies_since(since)`` counts was written (one pass
    gives both the count and when the threshold was reached)."""
    return [c.created_at for c in ticket.comments
            if c.public and c.author_role is AuthorRole.AGENT and c.created_at >= since]


def _confirmed(ticket, options: Options) -> bool:
    """Whether the customer confirmed the fix after the latest public agent reply: the last of
    their comments since that either confirms or contradicts, confirms (the first message never
    counts)."""
    confirms, contradicts = per_options(options, _phrase_words)
    if not confirms:
        return False
    verdict = None
    for comment in sorted(ticket.comments, key=lambda c: c.created_at)[1:]:
        if comment.public and comment.author_role is AuthorRole.AGENT:
            verdict = None
        elif comment.from_customer:
            words = _words(comment.body)
            present = set(words)
            if any(_find(words, p) for p in contradicts if p[0] in present):
                verdict = False
            elif _confirms(comment.body, confirms):
                verdict = True
    return verdict is True


def _confirms(body: str, phrases: tuple[tuple[str, ...], ...]) -> bool:
    """A phrase in a sentence that is no question, not negated."""
    for sentence in _SENTENCE.findall(body):
        if sentence.rstrip().endswith("?"):
            continue
        words = _words(sentence)
        present = set(words)
        if any(not _negated(words, i) for phrase in phrases if phrase[0] in present
               for i in _find(words, phrase)):
            return True
    return False


def _negated(words: list[str], at: int) -> bool:
    """A negating word among the few before ``at``, after the last comma."""
    for word in reversed(words[max(0, at - NEGATION_WORDS):at]):
        if word == ",":
            return False
        if word in NEGATORS:
            return True
    return False


def _phrase_words(options: Options):
    """The confirmation and contradiction phrases as word tuples, once per options."""
    return (tuple(tuple(_words(p)) for ps in options.confirmation_phrases.values() for p in ps),
            tuple(tuple(_words(p)) for ps in options.contradictions.values() for p in ps))


def _words(text: str) -> list[str]:
    """Lower-case words without accents, and commas; an apostrophe splits ("c'est": c, est)."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    if not folded.isascii():  # ASCII has no combining marks
        folded = "".join(c for c in folded if not unicodedata.combining(c))
    return _WORD.findall(folded)


def _find(words: list[str], phrase: tuple[str, ...]) -> list[int]:
    """Where ``phrase`` starts in ``words``, as whole words."""
    n = len(phrase)
    return [i for i in range(len(words) - n + 1)
            if words[i] == phrase[0] and tuple(words[i:i + n]) == phrase]


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _when(moment: datetime) -> str:
    stamp = moment.astimezone(UTC).isoformat(timespec="minutes")
    return f"{stamp[:10]} {stamp[11:16]} UTC"
