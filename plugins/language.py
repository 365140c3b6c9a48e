"""The language a customer writes in: the helpdesk's own signal first (the requester's locale,
a language tag), else a guess from the customer's words.

The guess counts very common words of each language (articles, pronouns, prepositions): small,
offline, deterministic and fast, which is what a handoff note needs. Detection libraries were
weighed and left out: langdetect is unmaintained since 2021 and random unless seeded, langid.py
since 2016 and needs numpy, and fastText-based detectors download a model at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from connector.ticket import Ticket
from plugins.text import fold, tokens

NAMES = {"en": "English", "de": "German", "fr": "French", "es": "Spanish", "pt": "Portuguese",
         "it": "Italian", "nl": "Dutch"}
# Words frequent in one language and rare in the others (accent-free, as folded).
COMMON_WORDS = {
    "en": "the and you your is are was this that with have not for please thanks can what "
          "there it my our we from would when why does",
    "de": "der die das und ist nicht ich sie wir ein eine mit bitte danke auf fur von den dem "
          "ihr unser noch auch wie kann haben seit",
    "fr": "le la les et est pas je vous nous une des du pour avec merci sur dans ce qui que "
          "mais il elle votre notre bonjour depuis",
    "es": "el los las y es no yo usted nosotros una del para con gracias por que pero esta "
          "mi su hola desde como muy hace",
    "pt": "o os as e nao eu voce nos uma do da para com obrigado obrigada por que mas esta "
          "meu minha seu ola desde como muito",
    "it": "il lo gli e non io lei noi una del della per con grazie che ma questo mio suo "
          "buongiorno sono ancora come",
    "nl": "de het een en is niet ik u wij we van voor met bedankt dank op dat maar mijn uw "
          "hallo nog ook hoe kan",
}
_SCORES: dict[bytes, list[str]] = {}  # word -> the languages it is common in
for _code, _words in COMMON_WORDS.items():
    for _word in _words.split():
        _SCORES.setdefault(_word.encode(), []).append(_code)
TAG_PREFIXES = ("lang_", "language_", "locale_")
MIN_HITS = 3


@dataclass(frozen=True)
class Language:
    """A language code (``de``) and where it came from."""

    code: str
    source: str  # "requester locale", "tag lang_de", "detected"

    @cached_property
    def name(self) -> str:
        return NAMES.get(self.code, self.code)

    def describe(self) -> str:
        return f"{self.name} ({self.source})"


_last: tuple[Ticket, Language | None] | None = None


def ticket_language(ticket: Ticket) -> Language | None:
    """The helpdesk's language signal for ``ticket``, else a guess from what the customer wrote;
    ``None`` when neither says. Worked out once per ticket snapshot (the audit and the note of
    one evaluation both ask; the last ticket's answer is kept, by identity)."""
    global _last
    last = _last
    if last is None or last[0] is not ticket:
        last = _last = (ticket, _language(ticket))
    return last[1]


def _language(ticket: Ticket) -> Language | None:
    if ticket.locale:
        return Language(ticket.locale.split("-")[0].split("_")[0].lower(), "requester locale")
    for tag in ticket.tags:
        for prefix in TAG_PREFIXES:
            if tag.lower().startswith(prefix) and len(tag) > len(prefix):
                return Language(tag[len(prefix):].split("-")[0].lower(), f"tag {tag}")
    code = detect(" ".join([ticket.subject, *(c.body for c in ticket.customer_comments)]))
    return Language(code, "detected") if code else None


def detect(text: str) -> str | None:
    """The language whose common words ``text`` uses most, if clearly so."""
    counts: dict[str, int] = {}
    for word in tokens(fold(text[:4000])):
        for code in _SCORES.get(word, ()):
            counts[code] = counts.get(code, 0) + 1
    if not counts:
        return None
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    best, hits = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0
    return best if hits >= MIN_HITS and hits > runner_up * 1.5 else None
