"""specialized: the request needs a specialist team (billing, security...), not a higher tier."""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import cached_property, lru_cache
from itertools import accumulate

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from plugins import hookimpl

PRIORITIES = ("low", "normal", "high", "urgent")


def _as_text(value: object) -> object:
    """TOML ids are often written as numbers: ``forms = [360001]`` means "360001"."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _clean(values: list[str], what: str) -> list[str]:
    cleaned = [" ".join(v.lower().split()) for v in values]
    if "" in cleaned:
        raise ValueError(f"blank {what}")
    return list(dict.fromkeys(cleaned))


class Route(BaseModel):
    """What sends a ticket to one specialist team; any one matcher is enough to be considered."""

    model_config = ConfigDict(extra="forbid")

    keywords: list[str] = Field(
        default_factory=list, description="Words and phrases, matched case-insensitively as "
        "whole words (a plural 's' included) in the subject and the customer's public comments.")
    tags: list[str] = Field(default_factory=list, description="Ticket tags (case-insensitive).")
    forms: list[str] = Field(
        default_factory=list, description="Ticket forms (Zendesk form id, Jira issue type).")
    fields: dict[str, list[str]] = Field(
        default_factory=dict, description="Custom field id -> values (case-insensitive; a "
        "multi-select field matches on any of its values).")
    priority: str | None = Field(
        None, description="Also raise priority to this (low, normal, high, urgent).")
    suggestion: str = Field("", description="What the team should do first (handoff note).")

    @field_validator("forms", mode="before")
    @classmethod
    def _forms_as_text(cls, forms: object) -> object:
        return [_as_text(f) for f in forms] if isinstance(forms, list) else forms

    @field_validator("fields", mode="before")
    @classmethod
    def _values_as_text(cls, fields: object) -> object:
        if not isinstance(fields, dict):
            return fields
        return {k: [_as_text(v) for v in vs] if isinstance(vs, list) else vs
                for k, vs in fields.items()}

    @field_validator("keywords", "tags", "forms")
    @classmethod
    def _no_blanks(cls, values: list[str]) -> list[str]:
        return _clean(values, "entry")

    @field_validator("fields")
    @classmethod
    def _fields_with_values(cls, fields: dict[str, list[str]]) -> dict[str, list[str]]:
        cleaned = {}
        for field_id, values in fields.items():
            if not field_id.strip():
                raise ValueError("blank field id")
            if not values:
                raise ValueError(f"field {field_id.strip()}: give at least one value")
            cleaned[field_id.strip()] = _clean(values, f"value of field {field_id.strip()}")
        return cleaned

    @field_validator("priority")
    @classmethod
    def _known_priority(cls, value: str | None) -> str | None:
        if value is not None and value.strip().lower() not in PRIORITIES:
            raise ValueError(f"expected one of {', '.join(PRIORITIES)}")
        return value.strip().lower() if value else None

    @model_validator(mode="after")
    def _something_to_match(self) -> Route:
        if not (self.keywords or self.tags or self.forms or self.fields):
            raise ValueError("a route needs at least one of keywords, tags, forms or fields")
        return self


DEFAULT_ROUTES: dict[str, dict] = {
    # Billing problems that tier 1 cannot solve; a plain refund or a copy of an invoice it can
    # (refunds beyond tier 1's authority are the policy_exception policy's business).
    "billing": {
        "keywords": ["double charged", "charged twice", "billed twice", "overcharged",
                     "wrong invoice", "incorrect invoice", "invoice is wrong", "billing error",
                     "payment failed", "failed payment", "payment declined", "chargeback",
                     "vat"],
        "tags": ["billing"],
        "suggestion": "check the invoices and payment history before replying.",
    },
    "security": {
        "keywords": ["fraud", "fraudulent", "phishing", "account takeover", "hacked",
                     "account was compromised", "compromised account", "unauthorized access",
                     "unauthorised access", "data breach", "security breach", "suspicious login",
                     "stolen credentials", "stolen password", "vulnerability", "malware",
                     "ransomware"],
        "tags": ["security"],
        "priority": "high",
        "suggestion": "secure the account (sessions, credentials, 2FA) and review its access "
        "log before replying.",
    },
    "compliance": {
        "keywords": ["gdpr", "ccpa", "hipaa", "data deletion request", "delete my data",
                     "right to be forgotten", "right to erasure", "subject access request",
                     "data processing agreement", "dpa", "soc 2", "soc2", "iso 27001",
                     "data retention policy"],
        "tags": ["compliance", "gdpr"],
        "suggestion": "log the request and answer within its legal deadline.",
    },
    "integrations": {
        "keywords": ["integration", "webhook", "api key", "api", "oauth", "zapier",
                     "salesforce", "sync error"],
        "tags": ["integration", "api"],
        "suggestion": "check the integration's configuration and logs with the customer.",
    },
}


class Options(BaseModel):
    routes: dict[str, Route] = Field(
        default_factory=lambda: {n: Route(**r) for n, r in DEFAULT_ROUTES.items()},
        description="Route (specialist team) name -> {keywords, tags, forms, fields, priority, "
        "suggestion}. Setting it replaces the defaults (billing, security, compliance, "
        "integrations). On a tie the route listed first wins.",
    )
    min_matches: int = Field(
        1, ge=1, description="How many different keywords, tags, forms or field values must "
        "match before a route is proposed.")

    @field_validator("routes")
    @classmethod
    def _named_routes(cls, routes: dict[str, Route]) -> dict[str, Route]:
        if not routes:
            raise ValueError("give at least one route")
        cleaned = {}
        for name, route in routes.items():
            if not name.strip():
                raise ValueError("blank route name")
            cleaned[name.strip()] = route
        return cleaned


@hookimpl
def tierlift_register_policy(register):
    register(Options, needs={"comments"},
             summary="The request needs a specialist team (billing, security, compliance...)")


@hookimpl
def tierlift_evaluate(ticket, ctx):
    routes = ctx.options.routes
    comments = ticket.customer_comments
    text = _Text(ticket.subject, [c.body for c in comments])
    found = _matcher(tuple(tuple(r.keywords) for r in routes.values())).first_matches(text)
    tags = {t.lower() for t in ticket.tags}
    form = str(ticket.form).strip().lower() if ticket.form is not None else None
    best = None
    for name, route in routes.items():
        keywords = sorted((k for k in route.keywords if k in found), key=lambda k: found[k].start())
        labels = [*keywords, *(f"tag {t}" for t in route.tags if t in tags)]
        if form is not None and form in route.forms:
            labels.append(f"form {form}")
        for field_id, values in route.fields.items():
            labels += [f"field {field_id} = {v}"
                       for v in _field_values(ticket.custom_fields.get(field_id)) if v in values]
        if len(labels) >= ctx.options.min_matches and (best is None or len(labels) > best[2]):
            best = (name, route, len(labels), labels, keywords)
    if best is None:
        return None
    name, route, count, labels, keywords = best
    first = found[keywords[0]] if keywords else None
    evidence = ctx.evidence(
        f"route:{name}",
        f"needs the {name} team ({count} match{'es' if count > 1 else ''}): {', '.join(labels)}",
        quote=text.quote(*first.span()) if first else None,
        # No ``at``: a sideways proposal counts from the current tier, so it never moves a tier.
    )
    return ctx.propose(
        evidence,
        steps_up=0,
        route=name,
        priority=route.priority,
        suggestion=f"Hand over to the {name} team"
        + (f": {route.suggestion}" if route.suggestion else "."),
    )


def _field_values(value: object) -> list[str]:
    """A custom field's value(s), lower-cased text: multi-select lists give each of theirs."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(dict.fromkeys(v for item in value for v in _field_values(item)))
    if isinstance(value, bool):
        return ["true" if value else "false"]
    text = str(value).strip().lower()
    return [text] if text else []


@lru_cache(maxsize=64)
def _matcher(keywords: tuple[tuple[str, ...], ...]) -> _Matcher:
    return _Matcher(tuple(k for route in keywords for k in route))


# --- whole-word term matching over a ticket's text (kept in step across the built-in policies) ---

# Lower-cased ASCII letters and digits stay; any other byte (punctuation, space, every byte of a
# non-ASCII character) separates tokens.
_TOKEN_BYTES = bytes(b if 48 <= b <= 57 or 97 <= b <= 122 else 32 for b in range(256))


def _tokens(lowered: str) -> list[bytes]:
    return lowered.encode("utf-8", "surrogatepass").translate(_TOKEN_BYTES).split()


class _Matcher:
    """Finds whole-word, case-insensitive occurrences of many terms in a ticket's text.

    A term is tried (with its own regex) only when all its ASCII tokens are among the text's
    tokens: the text is tokenised once, in C, and a ticket without any of the terms costs one
    set intersection, whatever the number of terms.
    """

    def __init__(self, terms: tuple[str, ...]) -> None:
        self.terms: list[tuple[str, re.Pattern[str], frozenset[bytes]]] = []
        self.variants: dict[bytes, bytes] = {}  # a token, or the plural of a last one -> token
        self.scan: list[str] = []  # terms without an ASCII letter or digit: plain search
        for term in dict.fromkeys(" ".join(t.lower().split()) for t in terms):
            plural = term[-1].isascii() and term[-1].isalpha()
            regex = re.compile(r"\s+".join(map(re.escape, term.split()))
                               + ("(?:e?s)?" if plural else "") + r"(?!\w)")
            tokens = _tokens(term)
            if not tokens:
                self.scan.append(term)
            for token in tokens:
                self.variants[token] = token
            if plural:
                self.variants[tokens[-1] + b"s"] = self.variants[tokens[-1] + b"es"] = tokens[-1]
            self.terms.append((term, regex, frozenset(tokens)))
        self.keys = frozenset(self.variants)

    def occurrences(self, text: _Text, *, first_only: bool = False):
        """``(term, match)`` for every whole-word occurrence in ``text.lower``, term by term
        (``first_only``: the first occurrence of each term)."""
        present = {self.variants[token] for token in self.keys.intersection(text.tokens)}
        if not present and not self.scan:
            return
        lower = text.lower
        for term, regex, tokens in self.terms:
            if tokens <= present if tokens else term in lower:
                for match in regex.finditer(lower):
                    start = match.start()
                    if start == 0 or not _is_word(lower[start - 1]):
                        yield term, match
                        if first_only:
                            break

    def first_matches(self, text: _Text) -> dict[str, re.Match[str]]:
        """Each term present -> its first occurrence."""
        return dict(self.occurrences(text, first_only=True))


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"




class _Text:
    """The subject and the customer's comments as one text, ``\\0`` between them so that no
    phrase spans two. ``lower`` is what is searched; ``starts``/``ends`` where each part lies."""

    def __init__(self, subject: str, bodies: list[str]) -> None:
        self.parts = [subject, *bodies]
        self.original = "\0".join(self.parts)
        self.lower = self.original.lower()
        if len(self.lower) != len(self.original):  # a rare character changed length when
            self.parts = [p.lower() for p in self.parts]  # lower-cased: count and quote those
            self.original = self.lower

    @cached_property
    def tokens(self) -> list[bytes]:
        return _tokens(self.lower)

    @cached_property
    def starts(self) -> list[int]:
        return list(accumulate((len(p) + 1 for p in self.parts[:-1]), initial=0))

    @cached_property
    def ends(self) -> list[int]:
        return [start + len(p) for start, p in zip(self.starts, self.parts, strict=True)]

    def source(self, position: int) -> int:
        """0 for the subject, n for the n-th comment."""
        return bisect_right(self.starts, position) - 1

    def original_of(self, span: tuple[int, int]) -> str:
        return " ".join(self.original[span[0]:span[1]].split())

    def quote(self, start: int, end: int, limit: int = 240) -> str:
        """The sentence around ``[start:end]``, trimmed to ``limit`` characters."""
        text = self.original
        floor, ceiling = max(0, start - limit), min(len(text), end + limit)
        begin = max(text.rfind(sep, floor, start) for sep in "\n\0")
        stop = min((i for i in (text.find(sep, end, ceiling) for sep in "\n\0") if i != -1),
                   default=ceiling)
        for mark in ".!?":  # a sentence ends at a mark followed by a space ("1,250.00" goes on)
            i = text.rfind(mark, max(begin, floor), start)
            while i != -1 and i + 1 < len(text) and not text[i + 1].isspace():
                i = text.rfind(mark, max(begin, floor), i)
            begin = max(begin, i)
            i = text.find(mark, end, stop)
            while i != -1 and i + 1 < len(text) and not text[i + 1].isspace():
                i = text.find(mark, i + 1, stop)
            if i != -1:
                stop = i + 1
        sentence = " ".join(text[max(begin + 1, floor):stop].split())
        return sentence if len(sentence) <= limit else sentence[: limit - 1] + "…"
