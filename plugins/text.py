"""Text matching shared by the keyword policies: whole-word, case- and accent-insensitive terms
over the subject and the comments a policy reads, tokenised once per ticket.

A term is a phrase (``speak to a manager``; a trailing ``*`` on a word matches any ending:
``eskalier*``), a proximity match (``charged ... twice``: the parts in this order, at most
:data:`PROXIMITY_WORDS` words apart, in one sentence), or a regular expression (``re:`` then the
pattern, matched on the lower-cased, accent-free text). A match is dropped when an ``exclude``
term overlaps it (``password manager``), or, with ``negation``, when a negating word stands just
before it in the same clause (``no need to escalate``, ``pas besoin d'escalader``).
"""

from __future__ import annotations

import re
import threading
import unicodedata
import weakref
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from functools import cached_property, lru_cache
from itertools import accumulate
from re import _constants as _c
from re import _parser
from typing import NamedTuple, TypeVar

from ahocorasick_rs import AhoCorasick, Implementation

from connector.ticket import AuthorRole, Comment, Ticket

T = TypeVar("T")

# Lower-cased ASCII letters and digits stay; any other byte (punctuation, space, every byte of a
# non-ASCII character) separates tokens.
TOKEN_BYTES = bytes(b if 48 <= b <= 57 or 97 <= b <= 122 else 32 for b in range(256))


PROXIMITY_WORDS = 6
MIN_NEED = 3  # the shortest string a pattern's further needed strings are looked up by
NEGATION_WORDS = 3  # a negator among this many words (of 3+ letters) before a match, in its clause
# Negating words of the customers' languages, accent-free ("nao" is "não"; "don t" splits).
NEGATORS = frozenset(b"""
    not no never dont don doesnt didnt isnt wasnt arent cannot without nobody neither nor
    nicht kein keine keinen keiner keinem nie niemals ohne
    pas jamais sans aucun aucune ni
    nunca sin ningun ninguna tampoco
    nao nem sem nenhum nenhuma
    non senza mai nessun niet geen nooit zonder
""".split())
WHY = frozenset(b"why warum wieso weshalb pourquoi porque perche waarom".split())
_CLAUSE_BREAK = re.compile(r"[.,;:!?\n\0()]|\b(?:but|aber|mais|pero|mas|ma|maar|and|und|et|y|e)\b")


def _accent_free(char: str) -> str:
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return base if len(base) == 1 else char


# Lower-case Latin letters with diacritics -> the letter without them (one character each, so
# positions in the folded text are positions in the original).
_ACCENTS = {cp: _accent_free(chr(cp)) for cp in range(0xC0, 0x250)
            if chr(cp).islower() and _accent_free(chr(cp)) != chr(cp)}


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_LINE_END = re.compile(r"[\n\0]")


def _unaccented(run: re.Match[str]) -> str:
    return run.group().translate(_ACCENTS)


def fold(text: str) -> str:
    """``text`` lower-cased and without accents, character for character where it can be
    (only its non-ASCII runs are translated: ``str.translate`` looks each character up)."""
    lowered = text.lower()
    return lowered if lowered.isascii() else _NON_ASCII.sub(_unaccented, lowered)


def tokens(lowered: str) -> list[bytes]:
    return lowered.encode("utf-8", "surrogatepass").translate(TOKEN_BYTES).split()


def _phrase_regex(phrase: str) -> tuple[str, bool]:
    """The regex of a phrase (words apart by any whitespace, ``word*`` any ending) and whether
    its last word may take a plural ending."""
    words = phrase.split()
    parts = [re.escape(w[:-1]) + r"\w*" if w.endswith("*") and len(w) > 1 else re.escape(w)
             for w in words]
    last = words[-1]
    plural = last[-1].isascii() and last[-1].isalpha()
    return r"\s+".join(parts) + ("(?:e?s)?" if plural else ""), plural


def _compile(term: str) -> tuple[re.Pattern[str], str]:
    """A term's regex and the plain words that gate it ("" for a pattern: always tried)."""
    if term.startswith("re:"):
        return re.compile(term[3:].strip(), re.IGNORECASE | re.MULTILINE), ""
    if " ... " in f" {term} ":
        pieces = [p.strip() for p in term.split("...") if p.strip()]
        gap = rf"(?:[^\w.,;!?\0]+\w+){{0,{PROXIMITY_WORDS}}}?[^\w.,;!?\0]+"
        body = gap.join(_phrase_regex(p)[0] for p in pieces)
        return re.compile(body + r"(?!\w)"), " ".join(pieces)
    body, _ = _phrase_regex(term)
    return re.compile(body + r"(?!\w)"), term


def normalise_term(term: str) -> str:
    """How a term is stored: folded and single-spaced (a pattern is kept as written)."""
    term = term.strip()
    return term if term.startswith("re:") else " ".join(fold(term).split())


class _Term(NamedTuple):
    term: str  # as given
    regex: re.Pattern[str]
    required: frozenset[bytes]  # the tokens that gate it
    starts: tuple[str, ...]  # the strings every match of a pattern starts with, see _starts
    # strings the text must hold, one of each set, before the regex runs: the stems of a gated
    # term's starred words, a pattern's needed strings beyond those it is looked up by
    needs: tuple[frozenset[str], ...]


class Matcher:
    """Finds whole-word, case-insensitive occurrences of many terms in a ticket's text.

    A term is tried (with its own regex) only when its ASCII tokens (the longer ones, if any)
    are among the text's tokens: the text is tokenised once, in C, and a ticket without any of
    the terms costs one set intersection, whatever the number of terms.
    """

    def __init__(self, terms: tuple[str, ...], exclude: tuple[str, ...] = (),
                 negation: bool = False) -> None:
        self.terms: list[_Term] = []  # first spelling of a term wins
        self.variants: dict[bytes, set[bytes]] = {}  # a token, or a last one's plural -> token
        self.scan: list[str] = []  # terms without a plain word to gate them: always tried
        # a string -> the scanned terms that cannot match without it or another of theirs (the
        # longest literal of "login*", "webhook* ... fail*"; of a pattern, see _needed): a
        # scanned term is tried only when one of its strings is in the text
        self.scanned: dict[str, list[int]] = {}
        self.unscanned: list[int] = []  # scanned terms without such strings: always tried
        self.gated: dict[bytes, list[int]] = {}  # token -> the terms it gates
        self.negation = negation
        self.exclude = Matcher(exclude) if exclude else None
        spellings: dict[str, str] = {}
        for term in terms:
            spellings.setdefault(normalise_term(term), term)
        for normal, term in spellings.items():
            regex, plain = _compile(normal)
            words = [w for w in tokens(" ".join(x for x in plain.split() if not x.endswith("*")))]
            plural = bool(plain) and plain[-1].isascii() and plain[-1].isalpha()
            # Short words ("the", "our", "fee") are everywhere: a term needs its longer ones.
            required = [t for t in words if len(t) > 3] or sorted(words, key=len)[-1:]
            if not required:
                self.scan.append(normal)
                pieces = [w.rstrip("*") for w in plain.split() if w.rstrip("*")]
                needed = [(max(pieces, key=len),)] if pieces else \
                    [] if plain else _needed(regex.pattern, regex.flags)
                for string in needed[0] if needed else ():
                    self.scanned.setdefault(string, []).append(len(self.terms))
                if not needed:
                    self.unscanned.append(len(self.terms))
                # the others, unless short strings that are everywhere ("is", "40", ":")
                needs = tuple(frozenset(n) for n in needed[1:] if min(map(len, n)) >= MIN_NEED)
            else:  # "api ... fehler*": the stems of its starred words must be there too
                needs = tuple(frozenset({w[:-1]}) for w in plain.split()
                              if w.endswith("*") and len(w) > 2)
            for token in required:
                self.variants.setdefault(token, set()).add(token)
            if plural and words and words[-1] in required:
                for ending in (b"s", b"es"):
                    self.variants.setdefault(words[-1] + ending, set()).add(words[-1])
            if required:  # looked at when its longest token is present
                self.gated.setdefault(max(required, key=len), []).append(len(self.terms))
            self.terms.append(_Term(term, regex, frozenset(required),
                                    () if plain else _starts(regex.pattern, regex.flags),
                                    needs))
        self.keys = frozenset(self.variants)
        VOCABULARY.add(self)

    def occurrences(self, text: CustomerText, *, first_only: bool = False):
        """``(term, match)`` for every whole-word occurrence in ``text.lower``, term by term
        (``first_only``: the first occurrence of each term), excluded and negated ones left
        out."""
        tokens, positions = VOCABULARY.found(text)
        hit = self.keys.intersection(tokens)
        # None: the text has a character a pattern's strings may miss
        strings = self.scanned.keys() if positions is None else \
            positions.keys() & self.scanned.keys()
        if not (hit or strings or self.unscanned):
            return  # most texts hold none of a matcher's words
        present = set().union(*map(self.variants.__getitem__, hit))
        candidates = {i for token in present for i in self.gated.get(token, ())}
        candidates.update(i for string in strings for i in self.scanned[string])
        candidates.update(self.unscanned)
        lower = text.lower
        excluded = None
        for term, regex, required, starts, needs in map(self.terms.__getitem__,
                                                        sorted(candidates)):
            if required <= present and (positions is None or not needs or not any(
                    map(positions.keys().isdisjoint, needs))):
                if starts[:1] == (LINE_START,):
                    matches = _anchored(regex, lower, text.line_starts
                                        if positions is None or len(starts) == 1 else
                                        _line_starts_before(lower, (p for s in starts[1:]
                                                                    for p in positions.get(s, ()))))
                elif not starts or positions is None:
                    matches = regex.finditer(lower)
                else:
                    matches = _anchored(regex, lower,
                                        {p for s in starts for p in positions.get(s, ())})
                for match in matches:
                    start, end = match.span()
                    if start == end or (start and is_word(lower[start - 1])) or \
                            _in_a_name(lower, start, end):
                        continue
                    if self.exclude is not None:
                        if excluded is None:
                            excluded = [m.span() for _, m in self.exclude.occurrences(text)]
                        if any(a < end and start < b for a, b in excluded):
                            continue
                    if self.negation and negated(lower, start):
                        continue
                    yield term, match
                    if first_only:
                        break

    def first_matches(self, text: CustomerText) -> dict[str, re.Match[str]]:
        """Each term present -> its first occurrence."""
        return dict(self.occurrences(text, first_only=True))


# Characters an ASCII letter matches case-insensitively: long s, Kelvin sign, dotted and dotless i
_CASE_ODD = frozenset("\u017f\u212a\u0130\u0131")
# A DFA searches a text in half the time of the default NFA; built in a few ms, once per
# vocabulary (its matchers are built at start-up).
DFA = Implementation.DFA


class _Vocabulary:
    """The gate tokens and needed strings of every live matcher, looked up in a text once for all
    of them: the policies of an evaluation share the ticket's texts, and one Aho-Corasick pass
    finds every needed string where one substring search per string per matcher cost most of
    an evaluation."""

    def __init__(self) -> None:
        self._matchers: weakref.WeakSet[Matcher] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._version = 0  # bumped when a matcher comes or goes
        self._built: _Built = _Built(-1, frozenset(), (), None)

    def add(self, matcher: Matcher) -> None:
        with self._lock:
            self._matchers.add(matcher)
            self._version += 1
        weakref.finalize(matcher, self._forget)

    def _forget(self) -> None:
        self._version += 1

    def _current(self) -> _Built:
        built = self._built
        if built.version == self._version:
            return built
        with self._lock:
            version, matchers = self._version, list(self._matchers)
            strings = tuple(sorted({s for m in matchers for s in m.scanned}.union(
                *(t.starts for m in matchers for t in m.terms),
                *(n for m in matchers for t in m.terms for n in t.needs)) - {LINE_START}))
            self._built = _Built(version, frozenset().union(*(m.keys for m in matchers)),
                                 strings, AhoCorasick(strings, implementation=DFA)
                                 if strings else None)
            return self._built

    def found(self, text: CustomerText) -> tuple[frozenset[bytes], dict[str, list[int]] | None]:
        """The matchers' tokens in ``text``, and where each of their strings starts in
        ``text.lower`` (``None``: the text has a character an ASCII pattern matches
        case-insensitively, so the strings tell nothing)."""
        built = self._current()
        cached = text.found
        if cached is not None and cached[0] is built:
            return cached[1], cached[2]
        tokens = built.tokens.intersection(text.tokens)
        positions: dict[str, list[int]] | None = None
        if text.lower.isascii() or _CASE_ODD.isdisjoint(text.lower):
            positions = {}
            if built.automaton is not None:
                strings = built.strings
                for i, start, _ in built.automaton.find_matches_as_indexes(text.lower,
                                                                           overlapping=True):
                    positions.setdefault(strings[i], []).append(start)
        text.found = (built, tokens, positions)
        return tokens, positions


class _Built(NamedTuple):
    version: int
    tokens: frozenset[bytes]
    strings: tuple[str, ...]
    automaton: AhoCorasick | None


VOCABULARY = _Vocabulary()


def _needed(pattern: str, flags: int) -> list[tuple[str, ...]]:
    """Sets of strings a pattern cannot match without one of each (in lower-case text), from its
    parse, the most telling first: a literal run, or each alternative's, of an element every
    match has; [] when none is found. Lets ``occurrences`` skip a pattern a ticket's text cannot
    match ("stored things ... lost": both a stored thing and a way of losing it must be there)."""
    try:
        return sorted(_all_of(_parser.parse(pattern, flags)), key=_telling, reverse=True)
    except (re.error, RecursionError):
        return []


def _starts(pattern: str, flags: int) -> tuple[str, ...]:
    """Strings every match of a pattern starts with (in lower-case text), from its parse: the
    literal run, or each alternative's, that comes first after zero-width assertions ("\\b",
    lookarounds); () when there is none, or when the pattern can match nothing (``re`` then
    looks for a longer match where it found an empty one). Lets ``occurrences`` try the
    pattern only where one of them starts, instead of at every position of the text (a leading
    alternation of words is tried at each position by ``re``)."""
    try:
        parsed = _parser.parse(pattern, flags)
    except (re.error, RecursionError):
        return ()
    if not parsed.getwidth()[0]:
        return ()
    if len(parsed) and _after_a_line_end(*parsed[0]):
        rest = list(parsed)[1:]
        if rest and _blanks(*rest[0]):
            rest = rest[1:]
        return (LINE_START, *(_first(rest) or ()))
    return _first(parsed) or ()


# A pattern that begins with "(?<![^\n\0])" matches only at the start of a line (or of a part of
# the text): it is tried only there (a stack trace's "   at com.acme.Foo(Foo.java:42)"), and when
# blanks and then one of a few strings follow, only at the lines that begin so.
LINE_START = ""  # the first start string of such a pattern (no string searched for is empty)


def _after_a_line_end(op, av) -> bool:
    """The parsed element is ``(?<![^\\n\\0])`` (its two characters in either order)."""
    if op is not _c.ASSERT_NOT or av[0] != -1 or len(av[1]) != 1 or av[1][0][0] is not _c.IN:
        return False
    items = av[1][0][1]
    return items[:1] == [(_c.NEGATE, None)] and \
        sorted(items[1:]) == [(_c.LITERAL, 0), (_c.LITERAL, 10)]


def _blanks(op, av) -> bool:
    """The parsed element is ``[ \\t]*``."""
    return op is _c.MAX_REPEAT and av[0] == 0 and len(av[2]) == 1 and av[2][0][0] is _c.IN \
        and sorted(av[2][0][1]) == [(_c.LITERAL, 9), (_c.LITERAL, 32)]


def _line_starts_before(lower: str, positions: Iterable[int]) -> set[int]:
    """The starts of the lines where only blanks come before one of ``positions``."""
    found = set()
    for position in positions:
        start = position
        while start and lower[start - 1] in " \t":
            start -= 1
        if not start or lower[start - 1] in "\n\0":
            found.add(start)
    return found


def _first(sequence) -> tuple[str, ...] | None:
    run, inner = "", None
    for op, av in sequence:
        if op is _c.LITERAL:
            run += chr(av)
            continue
        if op in (_c.AT, _c.ASSERT, _c.ASSERT_NOT) and not run:
            continue
        if op is _c.SUBPATTERN and not av[1] and not av[2]:
            inner = _first(av[3])
        elif op is _c.BRANCH:  # re's parser moves a prefix the branches share before them
            branches = [_first(b) for b in av[1]]
            inner = tuple(x for b in branches for x in b) if all(branches) else None
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT) and av[0] >= 1:
            inner = _first(av[2])
        break
    found = tuple(run + x for x in inner) if inner else (run,)
    # a string of one character starts everywhere: no use
    return tuple(x.lower() for x in found) \
        if all(len(x) > 1 and x.isascii() for x in found) else None


def _anchored(regex: re.Pattern[str], text: str, starts: set[int]) -> Iterator[re.Match[str]]:
    """``regex.finditer(text)`` for a pattern whose matches begin at one of ``starts``."""
    end = 0
    for start in sorted(starts):
        if start >= end and (match := regex.match(text, start)):
            yield match
            end = match.end()


def _telling(strings: tuple[str, ...]) -> tuple[int, int]:
    """How telling a needed-string set is: its shortest string long, few strings."""
    return min(map(len, strings)), -len(strings)


def _one_of(sequence) -> tuple[str, ...] | None:
    """The most telling of the sequence's needed-string sets."""
    return max(_all_of(sequence), key=_telling, default=None)


def _all_of(sequence) -> list[tuple[str, ...]]:
    """The needed-string sets of the elements of a sequence (each element is needed)."""
    found: list[tuple[str, ...] | None] = []
    run = ""
    for op, av in [*sequence, (None, None)]:
        if op is _c.LITERAL:
            run += chr(av)
            continue
        if run:
            found.append((run,))
            run = ""
        if op is _c.SUBPATTERN and not av[1] and not av[2]:
            found.append(_one_of(av[3]))
        elif op is _c.BRANCH:
            branches = [_one_of(b) for b in av[1]]
            if all(branches):
                found.append(tuple(x for b in branches for x in b))
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT) and av[0] >= 1:
            found.append(_one_of(av[2]))
    return [tuple(x.lower() for x in f) for f in found
            if f and all(x and x.isascii() for x in f)]


def is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _in_a_name(lower: str, start: int, end: int) -> bool:
    """Glued to a name: "#support-escalations", "@manager", "escalation-rules.md"."""
    before = lower[start - 1] if start else ""
    after = lower[end:end + 2]
    glued_before = before == "-" and start > 1 and is_word(lower[start - 2])
    glued_after = after[:1] in ("-", "/") and len(after) == 2 and is_word(after[1])
    return before in ("#", "@", "/") or glued_before or glued_after


def negated(lower: str, start: int) -> bool:
    """A negating word among the few words before ``start``, in the same clause — unless the
    clause asks why not ("why has this not been escalated?" asks for it)."""
    before = lower[max(0, start - 80):start]
    breaks = list(_CLAUSE_BREAK.finditer(before))
    if breaks:
        before = before[breaks[-1].end():]
    # Little words do not count towards the distance ("don't want to speak to a manager").
    words = [w for w in tokens(before) if len(w) > 2 or w in NEGATORS]
    if WHY.intersection(words) or b"por que" in b" ".join(words):
        return False
    return not NEGATORS.isdisjoint(words[-NEGATION_WORDS:])


def _fold_part(part: str, folded: dict[str, tuple[str, list[bytes]]] | None,
               ) -> tuple[str, list[bytes]]:
    found = folded.get(part) if folded is not None else None
    if found is None:
        lower = fold(part)
        found = (lower, tokens(lower))
        if folded is not None:
            folded[part] = found
    return found


class CustomerText:
    """A subject and some comments as one text, ``\\0`` between them so that no phrase spans
    two. ``lower`` (lower case, accent-free) is what is searched; ``starts``/``ends`` where each
    part lies; ``comments`` the comments behind parts 1…n."""

    def __init__(self, subject: str, bodies: list[str], comments: tuple[Comment, ...] = (),
                 folded: dict[str, tuple[str, list[bytes]]] | None = None) -> None:
        """``folded``: a part -> its folded text and tokens, shared by the texts of one ticket
        (its scopes have most parts in common)."""
        self.parts = [subject, *bodies]
        self.comments = comments
        self.original = "\0".join(self.parts)
        self.found: tuple | None = None  # the vocabulary's tokens and strings in it, see found()
        looked = [_fold_part(part, folded) for part in self.parts]
        self.lower = "\0".join(lower for lower, _ in looked)
        self.tokens = [token for _, part_tokens in looked for token in part_tokens]
        if len(self.lower) != len(self.original):  # a rare character changed length when
            self.parts = [fold(p) for p in self.parts]  # lower-cased: count and quote those
            self.original = self.lower

    @cached_property
    def line_starts(self) -> list[int]:
        """Where each line of ``lower`` starts (after a line break or a part's ``\\0``)."""
        return [0, *(m.end() for m in _LINE_END.finditer(self.lower))]

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
def matcher(terms: tuple[str, ...], exclude: tuple[str, ...] = (),
            negation: bool = False) -> Matcher:
    """One matcher per term list (and exclusions), built once."""
    return Matcher(terms, exclude, negation)


_built: dict[int, tuple[object, object]] = {}


def per_options(options: object, build: Callable[[object], T]) -> T:
    """``build(options)``, computed once per options object (a policy's options are fixed for
    the life of the service; the object is kept alive, so its id is never reused here)."""
    entry = _built.get(id(options))
    if entry is None or entry[0] is not options:
        entry = _built[id(options)] = (options, build(options))
    return entry[1]


COMMENT_SCOPES = ("customer", "public", "all")
_last: tuple[Ticket, dict[str | tuple[int, ...], CustomerText],
             dict[str, tuple[str, list[bytes]]]] | None = None


def ticket_text(ticket: Ticket, scope: str = "customer") -> CustomerText:
    """The subject and the comments of ``ticket`` a policy reads, as one text tokenised once:
    ``customer`` — what the customer wrote publicly; ``public`` — every public comment, agents'
    replies included; ``all`` — internal notes too (where tier 1 records what it found); never
    tierlift's own notes. The
    policies of one evaluation share it (the last ticket's texts are kept, by identity)."""
    global _last
    last = _last
    if last is None or last[0] is not ticket:
        last = _last = (ticket, {}, {})
    text = last[1].get(scope)
    if text is None:
        if scope == "customer":
            comments = ticket.customer_comments
        else:  # never tierlift's own notes: they quote the evidence they acted on
            comments = tuple(c for c in ticket.comments if c.author_role is not AuthorRole.SELF
                             and (c.public or scope == "all"))
        same = tuple(map(id, comments))  # scopes with the same comments share their text
        text = last[1].get(same)
        if text is None:
            text = last[1][same] = CustomerText(ticket.subject, [c.body for c in comments],
                                                comments, last[2])
        last[1][scope] = text
    return text


def customer_text(ticket: Ticket) -> CustomerText:
    """The subject and the customer's public comments (see :func:`ticket_text`)."""
    return ticket_text(ticket, "customer")


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
