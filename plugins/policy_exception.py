"""policy_exception: the request is outside tier-1 authority (large refund, policy exception)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from plugins import hookimpl
from plugins.options import OptionalName
from plugins.text import (
    CustomerText,
    Matcher,
    as_text,
    customer_text,
    is_word,
)

DEFAULT_LIMITS = {"USD": Decimal(100), "EUR": Decimal(100), "GBP": Decimal(100)}

DEFAULT_CURRENCIES = {
    "$": "USD", "us$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD",
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR",
    "£": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP",
    "c$": "CAD", "ca$": "CAD", "cad": "CAD", "a$": "AUD", "au$": "AUD", "aud": "AUD",
    "nz$": "NZD", "nzd": "NZD", "hk$": "HKD", "hkd": "HKD", "s$": "SGD", "sgd": "SGD",
    "r$": "BRL", "brl": "BRL", "¥": "JPY", "jpy": "JPY", "yen": "JPY", "cny": "CNY",
    "₹": "INR", "inr": "INR", "chf": "CHF", "sek": "SEK", "nok": "NOK", "dkk": "DKK",
    "pln": "PLN", "zł": "PLN", "czk": "CZK", "huf": "HUF", "mxn": "MXN", "zar": "ZAR",
    "₺": "TRY", "₪": "ILS", "ils": "ILS", "₩": "KRW", "krw": "KRW",
}

DEFAULT_MONEY_WORDS = {
    "refund": ["refund", "refunded", "money back", "repayment"],
    "credit": ["credit", "credited"],
    "discount": ["discount", "discounted", "price reduction"],
    "chargeback": ["chargeback", "charge back", "charged back"],
    "reimbursement": ["reimbursement", "reimburse", "reimbursed"],
    "compensation": ["compensation", "compensate", "compensated"],
}

DEFAULT_IGNORE = ["credit card", "debit card", "credit score"]

DEFAULT_PHRASES = [
    "exception to your policy",
    "exception to the policy",
    "exception to your refund policy",
    "make an exception",
    "one-time exception",
    "one time exception",
    "waive the fee",
    "waive the late fee",
    "waive the cancellation fee",
    "waive the penalty",
    "extend our contract",
    "extend the contract",
    "contract extension",
    "break the contract",
    "break our contract",
    "terminate the contract early",
    "terminate our contract early",
    "cancel our contract early",
    "early termination",
    "outside the refund window",
    "past the refund window",
    "after the refund period",
    "beyond the refund period",
    "refund window has passed",
]

# A number as written: 1,250.00 / 1.250,00 / 1 250,00 / 1'250.00 / 1250 / 99.99 / 12,5; not part
# of a longer run of digits and separators ("1.2345", "10.0.0.1").
_NUMBER = re.compile(r"(?P<whole>\d{1,3}(?P<sep>[,.' \u00a0\u202f])\d{3}(?:(?P=sep)\d{3})*|\d+)"
                     r"(?:[.,](?P<fraction>\d{1,2}))?(?!\d|[.,]\d)")
# A number without a currency is an amount only right next to a money word ("refund of 300",
# "a 150 credit") with nothing but these words between, not followed by a unit ("3 users",
# "20%"), not preceded by a word that makes it an identifier ("error 500", "order 1234"), and
# not part of a time or date ("10:30", "2026-11-20", "#1234", "v2.5").
_FILLER = re.compile(r"(?:[\s:=]+|of|the|a|an|about|around|approx|approximately|roughly|over|"
                     r"worth|total|totalling|totaling|amounting to|in the amount of|is|was|"
                     r"at least|some|by)*")
_AFTER_FILLER = re.compile(r"\s*-?\s*")
_NEXT_WORD = re.compile(r"\s*(%|[^\W\d_]+)")
_UNITS = frozenset({
    "%", "percent", "day", "week", "month", "year", "hour", "minute", "second", "user", "seat",
    "license", "licence", "agent", "employee", "account", "ticket", "order", "item", "unit",
    "time", "gb", "mb", "tb", "kb", "ms", "x", "error", "status", "page", "step",
})
_PREVIOUS_WORD = re.compile(r"([^\W\d_]+)[\s:.#-]*$")
_IDENTIFIERS = frozenset({
    "error", "order", "version", "v", "ticket", "case", "invoice", "id", "no", "nr", "number",
    "code", "status", "http", "port", "build", "release", "item", "sku", "ref", "reference",
    "account", "line", "step", "page", "room", "model", "serial", "po",
})
_DATE_OR_TIME = re.compile(r"[:/-]\d")



def _code(code: str) -> str:
    code = code.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise ValueError(f"{code!r} is not a three-letter currency code (USD, EUR...)")
    return code


def _phrases(values: list[str], what: str) -> list[str]:
    cleaned = [" ".join(v.lower().split()) for v in values]
    if "" in cleaned:
        raise ValueError(f"blank {what}")
    return list(dict.fromkeys(cleaned))


class Options(BaseModel):
    limits: dict[str, Decimal] = Field(
        default_factory=lambda: dict(DEFAULT_LIMITS),
        description="Currency code -> the largest refund, credit or discount tier 1 may grant. "
        "Amounts in other currencies are ignored.",
    )
    default_currency: str | None = Field(
        "USD", validate_default=True, description="Currency of amounts written without one "
        "(only counted right next to a money word: \"refund of 300\") and of amount_fields; "
        "empty: ignore such amounts.")
    currencies: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_CURRENCIES),
        description="How currencies are written (symbol or word, case-insensitive) -> code. "
        "The codes of limits are always understood.")
    money_words: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_MONEY_WORDS.items()},
        description="Kind of request -> words that ask for money back, matched as whole words "
        "in the subject and the customer's public comments.")
    ignore: list[str] = Field(
        default_factory=lambda: list(DEFAULT_IGNORE),
        description="Phrases in which a money word does not count (\"credit card\").")
    window: int = Field(
        80, ge=1, description="How close (in characters) a money word must be to an amount "
        "written with a currency, in the same comment.")
    amount_fields: list[str] = Field(
        default_factory=list, description="Numeric custom fields (ids) holding a requested "
        "amount in default_currency.")
    phrases: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PHRASES),
        description="Contract or policy exceptions asked for, matched case-insensitively as "
        "whole words (a plural 's' included); empty: amounts only.")
    tier: OptionalName = Field(
        None, description="The supervisor tier of your ladder to propose (absolute); empty: "
        "steps_up.")
    steps_up: int = Field(
        1, ge=1, description="Without tier: how many tiers above the tier the ticket had when "
        "the customer asked.")

    @field_validator("limits")
    @classmethod
    def _clean_limits(cls, limits: dict[str, Decimal]) -> dict[str, Decimal]:
        if not limits:
            raise ValueError("give at least one currency limit")
        cleaned = {}
        for code, limit in limits.items():
            if limit < 0:
                raise ValueError(f"the limit of {code} must not be negative")
            cleaned[_code(code)] = limit
        return cleaned

    @field_validator("default_currency")
    @classmethod
    def _limited_currency(cls, code: str | None, info: ValidationInfo) -> str | None:
        if code is None or not code.strip():
            return None
        code = _code(code)
        if "limits" in info.data and code not in info.data["limits"]:
            raise ValueError(f"{code} has no limit in limits")
        return code

    @field_validator("currencies")
    @classmethod
    def _clean_currencies(cls, currencies: dict[str, str]) -> dict[str, str]:
        cleaned = {}
        for alias, code in currencies.items():
            if not alias.strip():
                raise ValueError("blank currency symbol or word")
            cleaned[alias.strip().lower()] = _code(code)
        return cleaned

    @field_validator("money_words")
    @classmethod
    def _clean_money_words(cls, kinds: dict[str, list[str]]) -> dict[str, list[str]]:
        if not kinds:
            raise ValueError("give at least one kind of request with its words")
        cleaned: dict[str, list[str]] = {}
        seen: dict[str, str] = {}
        for kind, words in kinds.items():
            if not kind.strip():
                raise ValueError("blank kind of request")
            if not words:
                raise ValueError(f"{kind.strip()}: give at least one word")
            for word in _phrases(words, f"word of {kind.strip()}"):
                if word in seen:
                    raise ValueError(f"{word!r} is listed under {seen[word]} and {kind.strip()}")
                seen[word] = kind.strip()
            cleaned[kind.strip()] = _phrases(words, "word")
        return cleaned

    @field_validator("ignore", "phrases")
    @classmethod
    def _clean_phrases(cls, phrases: list[str]) -> list[str]:
        return _phrases(phrases, "phrase")

    @field_validator("amount_fields", mode="before")
    @classmethod
    def _ids_as_text(cls, ids: object) -> object:
        return [as_text(i) for i in ids] if isinstance(ids, list) else ids

    @field_validator("amount_fields")
    @classmethod
    def _fields_have_a_currency(cls, ids: list[str], info: ValidationInfo) -> list[str]:
        cleaned = [i.strip() for i in ids]
        if "" in cleaned:
            raise ValueError("blank field id")
        if cleaned and "default_currency" in info.data and info.data["default_currency"] is None:
            raise ValueError("amount fields need a default_currency")
        return list(dict.fromkeys(cleaned))



@hookimpl
def tierlift_register_policy(register):
    register(Options, needs={"comments"},
             summary="A refund, credit or exception beyond tier-1 authority")


@dataclass(frozen=True)
class _Amount:
    kind: str
    currency: str
    value: Decimal
    limit: Decimal
    span: tuple[int, int]

    @property
    def ratio(self) -> Decimal:
        return self.value / self.limit if self.limit else Decimal("Infinity")

    def describe(self) -> str:
        return (f"{self.kind} of {self.currency} {self.value:,.2f} above the {self.currency} "
                f"{self.limit:,.2f} limit")


@hookimpl
def tierlift_evaluate(ticket, ctx):
    options = ctx.options
    if options.tier is not None and options.tier not in ctx.tiers.names:
        raise ValueError(f"{ctx.policy}: option tier = {options.tier!r} is not one of your "
                         f"tiers ({', '.join(ctx.tiers.names)})")
    comments = ticket.customer_comments
    text = customer_text(ticket)
    words, kinds, ignored = _words(
        tuple((k, tuple(ws)) for k, ws in options.money_words.items()),
        tuple(options.phrases), tuple(options.ignore))
    money: dict[int, list[tuple[str, int, int]]] = {}  # source -> (kind, start, end)
    asked: dict[int, re.Match[str]] = {}  # source -> first exception phrase
    ignore: list[tuple[int, int]] = []  # spans of "credit card" and the like
    for term, match in words.occurrences(text):
        if term in ignored:
            ignore.append(match.span())
            continue
        source = text.source(match.start())
        if term in kinds:
            money.setdefault(source, []).append((kinds[term], *match.span()))
        elif source not in asked or match.start() < asked[source].start():
            asked[source] = match
    if money and ignore:
        money = _without_ignored(money, ignore)
    amounts = {}
    if money:
        currencies = _currencies(tuple(options.currencies.items()), tuple(options.limits))
        # A money word in the subject ("Refund request") covers the amounts of the description.
        subject_kind = min(money[0], key=lambda m: m[1])[0] if 0 in money else None
        sources = {*money, *([1] if subject_kind and len(text.parts) > 1 else [])}
        for source in sources:
            found = _amounts(text, source, money.get(source, []), options, currencies,
                             subject_kind if source == 1 else None)
            if found:
                amounts[source] = max(found, key=lambda a: a.ratio)
    proposals = []
    for source in sorted({*amounts, *asked}):
        amount, phrase = amounts.get(source), asked.get(source)
        parts = [amount.describe()] if amount else []
        if phrase:
            parts.append(f'asks for a policy exception: "{text.original_of(phrase.span())}"')
        key = "subject" if source == 0 else f"comment:{comments[source - 1].id}"
        at = ticket.created_at if source == 0 else comments[source - 1].created_at
        evidence = ctx.evidence(key, "; ".join(parts),
                                quote=text.quote(*(amount.span if amount else phrase.span())),
                                at=at)
        proposals.append(_propose(ctx, evidence, amount))
    for field_id in options.amount_fields:
        value = _field_amount(ticket.custom_fields.get(field_id))
        currency = options.default_currency
        limit = options.limits[currency]
        if value is not None and value > limit:
            amount = _Amount(f"requested amount (field {field_id})", currency, value, limit, (0, 0))
            evidence = ctx.evidence(f"field:{field_id}:{value:.2f}", amount.describe(),
                                    at=ticket.created_at)  # a field counts from the creation
            proposals.append(_propose(ctx, evidence, amount))
    return proposals


def _propose(ctx, evidence, amount: _Amount | None):
    if amount is not None:
        suggestion = (f"Tier 1 may grant up to {amount.currency} {amount.limit:,.2f}: approve "
                      f"or decline the {amount.currency} {amount.value:,.2f} as a supervisor, "
                      "and tell the customer why.")
    else:
        suggestion = ("Decide on the exception as a supervisor and reply with the decision and "
                      "its reason.")
    return ctx.propose(evidence, tier=ctx.options.tier, steps_up=ctx.options.steps_up,
                       suggestion=suggestion)


def _without_ignored(money, spans: list[tuple[int, int]]):
    kept: dict[int, list[tuple[str, int, int]]] = {}
    for source, found in money.items():
        found = [w for w in found if not any(s <= w[1] and w[2] <= e for s, e in spans)]
        if found:
            kept[source] = found
    return kept


@dataclass(frozen=True)
class _Currencies:
    aliases: dict[str, str]  # lower-cased symbol or word -> currency code
    longest: int


def _amounts(text: CustomerText, source: int, words: list[tuple[str, int, int]], options: Options,
             currencies: _Currencies, context_kind: str | None) -> list[_Amount]:
    """Amounts above their currency's limit in one part of the text, each with its kind."""
    low = text.lower
    first, end = text.starts[source], text.ends[source]
    found = []
    position = first
    while (match := _NUMBER.search(low, position, end)) is not None:
        start, stop = match.span()
        position = stop
        if start > first and (low[start - 1].isdigit() or (
                low[start - 1] in ".,'" and start - 2 >= first and low[start - 2].isdigit())):
            continue  # the tail of a longer run of digits
        thousands = low.startswith("k", stop) and (stop + 1 == end
                                                   or not is_word(low[stop + 1]))
        after = stop + 1 if thousands else stop
        alias = (_currency_before(low, start, first, currencies)
                 or _currency_after(low, after, end, currencies))
        if alias is None and match["sep"] == " ":
            continue  # "refund 2 300": two numbers, or one? Only a currency tells.
        if alias is not None:
            currency = currencies.aliases[alias]
            near = sorted((max(s - after, start - e, 0), kind) for kind, s, e in words)
            kind = near[0][1] if near and near[0][0] <= options.window else context_kind
        else:
            currency = options.default_currency
            kind = _next_to(low, first, (start, after), words) if currency else None
        if kind is None or currency not in options.limits:
            continue
        value = _decimal(match, thousands)
        limit = options.limits[currency]
        if value > limit:
            found.append(_Amount(kind, currency, value, limit, (start, after)))
    return found


def _currency_before(low: str, start: int, first: int, currencies: _Currencies) -> str | None:
    i = start - 1 if start > first and low[start - 1] in " \u00a0" else start
    for n in range(min(currencies.longest, i - first), 0, -1):
        alias = low[i - n:i]
        if alias in currencies.aliases and (
                not is_word(alias[0]) or i - n == first or not is_word(low[i - n - 1])):
            return alias
    return None


def _currency_after(low: str, stop: int, end: int, currencies: _Currencies) -> str | None:
    i = stop + 1 if stop < end and low[stop] in " \u00a0" else stop
    for n in range(min(currencies.longest, end - i), 0, -1):
        alias = low[i:i + n]
        if alias in currencies.aliases and (
                not is_word(alias[-1]) or i + n == end or not is_word(low[i + n])):
            return alias
    return None


def _next_to(low: str, first: int, span: tuple[int, int],
             words: list[tuple[str, int, int]]) -> str | None:
    """The kind of the money word right next to a number written without a currency."""
    start, stop = span
    if start > first and low[start - 1] not in " \u00a0\t\n([\"'":
        return None  # "#1234", "v2", "x300"
    if stop < len(low) and is_word(low[stop]):
        return None  # "300x", "2fa"
    if _DATE_OR_TIME.match(low, stop):
        return None
    unit = _NEXT_WORD.match(low, stop)
    if unit and (unit.group(1) in _UNITS or unit.group(1).rstrip("s") in _UNITS):
        return None
    previous = _PREVIOUS_WORD.search(low, max(first, start - 24), start)
    if previous and previous.group(1) in _IDENTIFIERS:
        return None
    for kind, word_start, word_end in words:
        if word_end <= start and start - word_end <= 40 \
                and _FILLER.fullmatch(low, word_end, start):
            return kind
        if stop <= word_start and word_start - stop <= 3 \
                and _AFTER_FILLER.fullmatch(low, stop, word_start):
            return kind
    return None


def _decimal(number: re.Match[str], thousands: bool) -> Decimal:
    whole = re.sub(r"\D", "", number["whole"])
    value = Decimal(f"{whole}.{number['fraction'] or '0'}")
    return value * 1000 if thousands else value


def _field_amount(value: object) -> Decimal | None:
    """A numeric custom field's value; text is read like an amount in a comment ("1,250.00")."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | Decimal):
        amount = Decimal(str(value))
        return amount if amount.is_finite() else None
    if isinstance(value, str) and (number := _NUMBER.fullmatch(value.strip())):
        return _decimal(number, False)
    return None


@lru_cache(maxsize=64)
def _words(money_words: tuple[tuple[str, tuple[str, ...]], ...], phrases: tuple[str, ...],
           ignore: tuple[str, ...]) -> tuple[Matcher, dict[str, str], frozenset[str]]:
    """One matcher for money words, exception phrases and ignored phrases; money word -> kind;
    the ignored phrases (those that are not also a money word)."""
    kinds = {word: kind for kind, words in money_words for word in words}
    ignored = tuple(phrase for phrase in ignore if phrase not in kinds)
    return Matcher((*kinds, *ignored, *phrases)), kinds, frozenset(ignored)


@lru_cache(maxsize=64)
def _currencies(currencies: tuple[tuple[str, str], ...], codes: tuple[str, ...]) -> _Currencies:
    aliases = {**{code.lower(): code for code in codes}, **dict(currencies)}
    return _Currencies(aliases, max(map(len, aliases)))
