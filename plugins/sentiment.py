"""sentiment: the customer is extremely upset (a transparent lexicon score of recent comments)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, NamedTuple

from pydantic import BaseModel, Field, field_validator

from plugins import hookimpl

DEFAULT_LEXICON: dict[str, float] = {
    # threats: legal action, leaving, going public
    "lawyer": 4, "lawyers": 4, "attorney": 4, "legal action": 4, "sue you": 4, "suing": 4,
    "cancel my subscription": 3, "cancel our subscription": 3, "cancel my account": 3,
    "cancel our account": 3, "cancel our contract": 3, "cancelling my subscription": 3,
    "canceling my subscription": 3, "switch to a competitor": 3,
    "switching to a competitor": 3, "chargeback": 3, "bad review": 2.5, "report you": 2.5,
    # anger
    "unacceptable": 3, "furious": 3, "outraged": 3, "outrageous": 3, "livid": 3,
    "disgusting": 3, "disgraceful": 3, "disgrace": 3, "appalling": 3, "atrocious": 3,
    "pathetic": 3, "incompetent": 3, "incompetence": 3, "worst": 3, "scam": 3, "bullshit": 3,
    "wtf": 3, "never again": 3, "fed up": 3, "sick and tired": 3, "enough is enough": 3,
    "final warning": 3, "fifth time": 3,
    "ridiculous": 2.5, "waste of time": 2.5, "useless": 2.5, "unprofessional": 2.5,
    "angry": 2.5, "garbage": 2.5, "shambles": 2.5, "is a joke": 2.5, "what the hell": 2.5,
    "had enough": 2.5, "no one cares": 2.5, "nobody cares": 2.5, "ignoring me": 2.5,
    "lied to": 2.5, "liars": 2.5, "last chance": 2.5, "fourth time": 2.5,
    # frustration
    "third time": 2, "how many times": 2, "again and again": 2, "over and over": 2,
    "terrible": 2, "horrible": 2, "awful": 2, "frustrated": 2, "frustrating": 2, "upset": 2,
    "nightmare": 2, "rubbish": 2, "hopeless": 2, "unbelievable": 2, "crap": 2, "ignored": 2,
    "sick of": 2, "still not fixed": 2,
    "disappointed": 1.5, "disappointing": 1.5, "unhappy": 1.5, "annoyed": 1.5,
    "annoying": 1.5, "damn": 1.5, "still waiting": 1.5, "can't believe": 1.5,
    "cant believe": 1.5, "no response": 1.5,
    # everyday uses that would otherwise match a term above
    "worst case": 0, "worst-case": 0, "at worst": 0, "upset stomach": 0,
}
INTENSIFIERS = frozenset({"very", "extremely", "absolutely", "so", "really", "totally",
                          "completely", "utterly", "incredibly", "truly", "beyond", "super"})
INTENSIFIER_FACTOR = 1.5
TIMES = "\u00d7"  # the multiplication sign: "unacceptable TIMES 1.5" in the note
NEGATIONS = frozenset({"not", "no", "never", "cannot", "dont", "doesnt", "didnt", "isnt",
                       "wasnt", "arent", "werent", "cant", "wont", "havent", "hasnt"})
CAPS_POINTS, CAPS_MAX = 0.5, 2.0
BANG_POINTS, BANG_MAX = 1.0, 2.0
CAPS_IGNORED = frozenset({
    "HTTP", "HTTPS", "HTML", "JSON", "YAML", "SAML", "OAUTH", "LDAP", "SMTP", "IMAP", "SFTP",
    "POST", "PATCH", "DELETE", "NULL", "TRUE", "FALSE", "ERROR", "WARN", "WARNING", "INFO",
    "DEBUG", "FATAL", "TRACE", "CRITICAL", "ASAP", "GDPR", "HIPAA", "EMEA", "APAC", "AMER",
    "CSAT", "TODO", "UUID", "ISBN", "IBAN", "SWIFT", "VLAN", "DHCP",
})
SCANNED_CHARS = 5000  # a comment's first 5,000 characters: anger is not buried in a pasted log
QUOTE_LIMIT = 240
SHOWN_TERMS = 5

# Bytes of a comment as "A" (capital letter), "!" ("!" or "?") or "a" (anything else).
_SHAPE = bytes(65 if 65 <= b <= 90 else 33 if b in (33, 63) else 97 for b in range(256))
_CAPS = re.compile(r"\b[A-Z]{4,}\b")
_BANGS = re.compile(r"[!?]{2,}")
_REPLY_HEADER = re.compile(r"^[ \t]*(?:On\b[^\n]{0,300}\bwrote:[ \t]*$|-{2,}[ \t]*Original "
                           r"Message)", re.MULTILINE | re.IGNORECASE)
_TERM_EDGES = re.compile(r"\w(?:.*\w)?\Z", re.DOTALL)


def _normalise_term(term: str) -> str:
    return " ".join(term.lower().replace("\u2019", "'").split())


class Options(BaseModel):
    threshold: float = Field(6.0, gt=0, description="Score a single comment must reach. One "
                             "strong word scores 2-4, so it alone never fires at the default.")
    recent: int = Field(3, ge=1, description="How many of the customer's most recent public "
                        "comments are scored (each on its own).")
    extra_words: dict[str, Annotated[float, Field(ge=0, le=10)]] = Field(
        default_factory=dict,
        description="Words or phrases added to the built-in lexicon with their weight (0-10); "
        "weight 0 switches a built-in term off.",
    )
    steps_up: int = Field(1, ge=1, description="How many tiers above the tier the ticket had "
                          "when the customer wrote the comment.")

    @field_validator("extra_words")
    @classmethod
    def _terms(cls, words: dict[str, float]) -> dict[str, float]:
        cleaned = {}
        for term, weight in words.items():
            normal = _normalise_term(term)
            if not normal:
                raise ValueError("blank word")
            if not _TERM_EDGES.match(normal):
                raise ValueError(f"{term!r}: a word or phrase must start and end with a letter "
                                 "or digit")
            cleaned[normal] = weight
        return cleaned


@hookimpl
def tierlift_register_policy(register):
    register(Options, needs={"comments"},
             summary="The customer is extremely upset (lexicon score of recent comments)")


@dataclass(frozen=True, eq=False)  # hashed by identity: lexicon() makes one per word list
class Lexicon:
    """Term weights, the compiled matcher, and for each term with a weight one of its words
    (as ASCII bytes, see :func:`_words`): a comment with none of them cannot match anything."""

    weights: dict[str, float]
    pattern: re.Pattern[str]
    keywords: frozenset[bytes] | None  # None: no quick test possible (a term without ASCII)


class Part(NamedTuple):
    """One contribution to a score: a label as the note shows it, its points, where it is."""

    label: str
    points: float
    start: int


class Score(NamedTuple):
    """A comment's score: the total and what it is made of."""

    total: float
    parts: tuple[Part, ...]  # strongest first

    def terms(self, limit: int = SHOWN_TERMS) -> str:
        shown = ", ".join(p.label for p in self.parts[:limit])
        return shown + (", …" if len(self.parts) > limit else "")


def _trie_regex(terms: Iterable[str]) -> str:
    """One alternation shaped as a trie: fast on long text, and the longest term wins."""
    root: dict = {}
    for term in terms:
        node = root
        for ch in term:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        branches = [(r"\s+" if ch == " " else re.escape(ch)) + build(node[ch])
                    for ch in sorted(k for k in node if k)]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
        return f"(?:{body})?" if "" in node else body

    return build(root)


@lru_cache(maxsize=32)
def lexicon(extra: tuple[tuple[str, float], ...] = ()) -> Lexicon:
    """The built-in lexicon merged with ``extra`` ``(term, weight)`` pairs, compiled once."""
    weights = {_normalise_term(t): float(w) for t, w in DEFAULT_LEXICON.items()}
    weights.update((_normalise_term(t), float(w)) for t, w in extra)
    keywords = [max(_words(t), key=_rarity, default=None) for t, w in weights.items() if w]
    return Lexicon(weights, re.compile(rf"\b(?:{_trie_regex(weights)})\b"),
                   None if None in keywords else frozenset(keywords))


# Every byte that is not an ASCII letter, digit or "_" becomes a space, so that a term matched
# as whole words in a text always leaves its words among the text's words so split (the bytes
# of other letters split a word, the same way in the term and in the text).
_WORD_BYTES = bytes(b if chr(b).isascii() and (chr(b).isalnum() or b == 95) else 32
                    for b in range(256))


def _words(low: str) -> list[bytes]:
    return low.encode().translate(_WORD_BYTES).split()


# Words of the lexicon's phrases that are common in any support conversation: a phrase is
# looked for only in comments that have one of its rarer words.
_COMMON = frozenset(b"a and at can how i is many my no of one our so t the to what you account "
                    b"again never over still time times report response review action contract "
                    b"warning".split())


def _rarity(word: bytes) -> tuple[bool, int]:
    return word not in _COMMON, len(word)


def own_words(body: str) -> str:
    """What the customer wrote in this comment: without a quoted e-mail thread or "> " lines."""
    if ">" not in body and "wrote:" not in body and "Original Message" not in body:
        return body
    header = _REPLY_HEADER.search(body)
    if header is not None:
        body = body[:header.start()]
    if ">" in body:
        body = "\n".join(line for line in body.split("\n") if not line.lstrip().startswith(">"))
    return body


def score(text: str, lex: Lexicon | None = None) -> Score:
    """Score one comment's text (its first 5,000 characters), each comment on its own:

    - every lexicon term (word or phrase, whole words, case-insensitive) adds its weight;
    - an intensifier right before a term ("very", "extremely", "absolutely", "so"…) multiplies it
      by 1.5;
    - a negation among the two words before a term, in the same clause ("not", "no", "never",
      "…n't"), cancels it: "not unacceptable", "I'm not angry";
    - each ALL-CAPS word of four letters or more adds 0.5 (at most 2 per comment; common acronyms
      and log levels such as HTTPS or ERROR do not count);
    - each run of "!!" or "?!" adds 1 (at most 2 per comment).

    A lexicon term with weight 0 counts for nothing and shadows shorter terms inside it ("worst
    case" is not "worst"). The policy scores only what the customer wrote: public customer
    comments, without the quoted e-mail thread below "On … wrote:" or lines starting with ">"
    (see :func:`own_words`).
    """
    return _score(text[:SCANNED_CHARS], lex or lexicon())


# A ticket is evaluated again on every change, its earlier comments are not: remember the last
# scores (at most 1,024 texts of at most 5,000 characters).
@lru_cache(maxsize=1024)
def _score(text: str, lex: Lexicon) -> Score:
    text = text.replace("\u2019", "'")
    low = text.lower()
    found: dict[str, list] = {}  # label -> [points, count, first start]
    weights = lex.weights
    quiet = lex.keywords is not None and lex.keywords.isdisjoint(_words(low))
    for match in () if quiet else lex.pattern.finditer(low):
        term = match.group()
        weight = weights.get(term)
        if weight is None:  # a phrase written with other whitespace
            term = " ".join(term.split())
            weight = weights.get(term, 0.0)
        if not weight:
            continue
        start = match.start()
        context = _before(low, start)
        if context is _NEGATED:
            continue
        if context:
            weight *= INTENSIFIER_FACTOR
            term = f"{term} {TIMES}{INTENSIFIER_FACTOR:g}"
        entry = found.setdefault(term, [0.0, 0, start])
        entry[0] += weight
        entry[1] += 1
    parts = [Part(_counted(label, count), round(points, 2), start)
             for label, (points, count, start) in found.items()]
    # One cheap pass tells whether there can be a CAPS word or a "!!"/"?!" run at all.
    shape = text.encode().translate(_SHAPE)
    if b"AAAA" in shape:
        caps = [m for m in _CAPS.finditer(text) if m.group() not in CAPS_IGNORED]
        if caps:
            parts.append(Part("CAPS", min(CAPS_MAX, CAPS_POINTS * len(caps)), caps[0].start()))
    if b"!!" in shape:
        bangs = [m for m in _BANGS.finditer(text) if "!" in m.group()]
        if bangs:
            loudest = max((m.group() for m in bangs), key=len)
            parts.append(Part(loudest, min(BANG_MAX, BANG_POINTS * len(bangs)),
                              bangs[0].start()))
    if not parts:
        return Score(0.0, ())
    parts.sort(key=lambda p: (-p.points, p.start))
    return Score(round(sum(p.points for p in parts), 2), tuple(parts))


_NEGATED = "negated"
_CLAUSE_ENDS = frozenset(".,;:!?")
_STRIP = "\"'()[]{}*_<>"


def _before(low: str, start: int) -> str | bool:
    """``_NEGATED`` if a negation is among the two words before ``start`` in the same clause,
    else whether the word right before is an intensifier."""
    lo = max(0, start - 60)
    tokens = low[lo:start].split()
    if lo > 0 and tokens and not low[lo - 1].isspace():
        tokens = tokens[1:]  # the window began inside a word
    previous = []
    for token in reversed(tokens[-2:]):
        if token[-1] in _CLAUSE_ENDS:
            break
        previous.append(token.strip(_STRIP))
    if any(w in NEGATIONS or w.endswith("n't") for w in previous):
        return _NEGATED
    return bool(previous) and previous[0] in INTENSIFIERS


def _counted(label: str, count: int) -> str:
    return label if count == 1 else f"{label} {'twice' if count == 2 else f'{count} times'}"


@hookimpl
def tierlift_evaluate(ticket, ctx):
    options = ctx.options
    lex = lexicon(tuple(options.extra_words.items()))
    window = []
    for comment in reversed(ticket.comments):
        if comment.from_customer:
            window.append(comment)
            if len(window) == options.recent:
                break
    upset = []
    for comment in window:
        text = own_words(comment.body[:SCANNED_CHARS])
        result = score(text, lex)
        if result.total >= options.threshold:
            upset.append((result, comment, text))
    # Newest first within a score, so that the strongest comment leads the handoff note.
    upset.sort(key=lambda found: -found[0].total)
    return [
        ctx.propose(
            ctx.evidence(
                f"comment:{comment.id}",
                f"customer is very upset (score {result.total:g} ≥ {options.threshold:g}): "
                f"{result.terms()}",
                quote=_quote(text, result),
                at=comment.created_at,
            ),
            steps_up=options.steps_up,
            suggestion="Reply personally and soon: acknowledge the frustration, own the problem "
            "and give a concrete next step with a time.",
        )
        for result, comment, text in upset
    ]


def _quote(text: str, result: Score, limit: int = QUOTE_LIMIT) -> str:
    """The comment, whitespace collapsed; a long one from the sentence of its strongest term."""
    quote = " ".join(text.split())
    if len(quote) <= limit:
        return quote
    at = result.parts[0].start if result.parts else 0
    start = max(text.rfind(sep, 0, at) for sep in ".!?\n") + 1
    quote = " ".join(text[start:].split())
    if start > 0:
        quote = "… " + quote
    return quote if len(quote) <= limit else quote[: limit - 1] + "…"
