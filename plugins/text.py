"""Text matching shared by the keyword policies: whole-word, case-insensitive terms over the
subject and the customer's public comments, tokenised once per ticket."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from functools import cached_property, lru_cache
from itertools import accumulate
from typing import TypeVar

from connector.ticket import Ticket

T = TypeVar("T")

# Lower-cased ASCII letters and digits stay; any other byte (punctuation, space, every byte of a
# non-ASCII character) separates tokens.
TOKEN_BYTES = bytes(b if 48 <= b <= 57 or 97 <= b <= 122 else 32 for b in range(256))


def tokens(lowered: str) -> list[bytes]:
    return lowered.encode("utf-8", "surrogatepass").translate(TOKEN_BYTES).split()


class Matcher:
    """Finds whole-word, case-insensitive occurrences of many terms in a ticket's text.

    A term is tried (with its own regex) only when its ASCII tokens (the longer ones, if any)
    are among the text's tokens: the text is tokenised once, in C, and a ticket without any of
    the terms costs one set intersection, whatever the number of terms.
    """

    def __init__(self, terms: tuple[str, ...]) -> None:
        self.terms: list[tuple[str, re.Pattern[str], frozenset[bytes]]] = []
        self.variants: dict[bytes, set[bytes]] = {}  # a token, or a last one's plural -> token
        self.scan: list[str] = []  # terms without an ASCII letter or digit: plain search
        self.gated: dict[bytes, list[int]] = {}  # token -> the terms it gates
        for term in dict.fromkeys(" ".join(t.lower().split()) for t in terms):
            plural = term[-1].isascii() and term[-1].isalpha()
            regex = re.compile(r"\s+".join(map(re.escape, term.split()))
                               + ("(?:e?s)?" if plural else "") + r"(?!\w)")
            words = tokens(term)
            if not words:
                self.scan.append(term)
            # Short words ("the", "our", "fee") are everywhere: a term needs its longer ones.
            required = [t for t in words if len(t) > 3] or sorted(words, key=len)[-1:]
            for token in required:
                self.variants.setdefault(token, set()).add(token)
            if plural and words[-1] in required:
                for ending in (b"s", b"es"):
                    self.variants.setdefault(words[-1] + ending, set()).add(words[-1])
            if required:  # looked at when its longest token is present
                self.gated.setdefault(max(required, key=len), []).append(len(self.terms))
            self.terms.append((term, regex, frozenset(required)))
        self.keys = frozenset(self.variants)

    def occurrences(self, text: CustomerText, *, first_only: bool = False):
        """``(term, match)`` for every whole-word occurrence in ``text.lower``, term by term
        (``first_only``: the first occurrence of each term)."""
        present = {t for token in self.keys.intersection(text.tokens) for t in self.variants[token]}
        candidates = sorted(i for token in present for i in self.gated.get(token, ()))
        if self.scan:
            candidates = sorted({*candidates, *(i for i, (term, _, tokens) in enumerate(self.terms)
                                                if not tokens and term in text.lower)})
        lower = text.lower
        for term, regex, tokens in map(self.terms.__getitem__, candidates):
            if tokens <= present:
                for match in regex.finditer(lower):
                    start = match.start()
                    if start == 0 or not is_word(lower[start - 1]):
                        yield term, match
                        if first_only:
                            break

    def first_matches(self, text: CustomerText) -> dict[str, re.Match[str]]:
        """Each term present -> its first occurrence."""
        return dict(self.occurrences(text, first_only=True))


def is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


class CustomerText:
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
        return tokens(self.lower)

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


@lru_cache(maxsize=64)
def matcher(terms: tuple[str, ...]) -> Matcher:
    """One matcher per term list, built once."""
    return Matcher(terms)


_built: dict[int, tuple[object, object]] = {}


def per_options(options: object, build: Callable[[object], T]) -> T:
    """``build(options)``, computed once per options object (a policy's options are fixed for
    the life of the service; the object is kept alive, so its id is never reused here)."""
    entry = _built.get(id(options))
    if entry is None or entry[0] is not options:
        entry = _built[id(options)] = (options, build(options))
    return entry[1]


_last: tuple[Ticket, CustomerText] | None = None


def customer_text(ticket: Ticket) -> CustomerText:
    """The subject and customer comments of ``ticket`` as one text, tokenised once: the policies
    of one evaluation share it (the last ticket's text is kept, by identity)."""
    global _last
    last = _last
    if last is not None and last[0] is ticket:
        return last[1]
    text = CustomerText(ticket.subject, [c.body for c in ticket.customer_comments])
    _last = (ticket, text)
    return text


def as_text(value: object) -> object:
    """TOML ids are often written as numbers: ``forms = {360001 = 2}`` means "360001"."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def field_values(value: object) -> list[str]:
    """A custom field's value(s), lower-cased text: multi-select lists give each of theirs."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(dict.fromkeys(v for item in value for v in field_values(item)))
    if isinstance(value, bool):
        return ["true" if value else "false"]
    text = str(value).strip().lower()
    return [text] if text else []
