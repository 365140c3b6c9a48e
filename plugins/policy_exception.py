"""policy_exception: the request is outside tier-1 authority (large refund, policy exception)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import ClassVar

from pydantic import Field, ValidationInfo, field_validator

from plugins import hookimpl
from plugins.keywords import BILLING_ERRORS
from plugins.options import OptionalName
from plugins.packs import LanguageOptions, Pack, check_scope, comment_scope, pack_matcher
from plugins.text import (
    CustomerText,
    Matcher,
    as_text,
    fold,
    is_word,
    normalise_term,
    per_options,
    ticket_text,
)

DEFAULT_LIMITS = {"USD": Decimal(100), "EUR": Decimal(100), "GBP": Decimal(100)}

DEFAULT_CURRENCIES = {
    "$": "USD", "us$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD",
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR",
    "£": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP",
    # as customers say them: slang, and the names in their languages
    "buck": "USD", "bucks": "USD", "quid": "GBP", "sterling": "GBP", "dólar": "USD",
    "dólares": "USD", "libra": "GBP", "libras": "GBP", "pfund": "GBP", "livres sterling": "GBP",
    "c$": "CAD", "ca$": "CAD", "cad": "CAD", "a$": "AUD", "au$": "AUD", "aud": "AUD",
    "nz$": "NZD", "nzd": "NZD", "hk$": "HKD", "hkd": "HKD", "s$": "SGD", "sgd": "SGD",
    "r$": "BRL", "brl": "BRL", "¥": "JPY", "jpy": "JPY", "yen": "JPY", "cny": "CNY",
    "₹": "INR", "inr": "INR", "chf": "CHF", "sek": "SEK", "nok": "NOK", "dkk": "DKK",
    "pln": "PLN", "zł": "PLN", "czk": "CZK", "huf": "HUF", "mxn": "MXN", "zar": "ZAR",
    "₺": "TRY", "₪": "ILS", "ils": "ILS", "₩": "KRW", "krw": "KRW",
}

# An amount taken off ("150 quid off this month's bill", "$200 off the renewal"): a discount.
_OFF = (r"re:(?<![\w.,])(?:[$\u20ac\u00a3]\s?)?\d[\d,.]*k?\s?(?:quid|bucks|dollars?|euros?|"
        r"pounds?|usd|eur|gbp|[$\u20ac\u00a3])?\s+off\b")

# Per language: the words that ask for money, by kind of concession.
MONEY_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {"refund": ("refund", "refunded", "money back", "repayment"),
           "credit": ("credit", "credited"),
           "discount": ("discount", "discounted", "price reduction", _OFF),
           "chargeback": ("chargeback", "charge back", "charged back"),
           "reimbursement": ("reimbursement", "reimburse", "reimbursed"),
           "compensation": ("compensation", "compensate", "compensated"),
           "fee waiver": ("waive", "waived", "waiver")},
    "de": {"refund": ("erstattung", "ruckerstattung", "erstatten", "zuruckerstatten",
                      "geld zuruck"),
           "credit": ("gutschrift", "gutschreiben"),
           "discount": ("rabatt", "preisnachlass", "nachlass"),
           "chargeback": ("ruckbuchung", "ruckbelastung"),
           "reimbursement": ("kostenerstattung",),
           "compensation": ("entschadigung", "entschadigen", "kompensation", "schadenersatz"),
           "fee waiver": ("erlassen",)},
    "fr": {"refund": ("remboursement", "rembourser", "remboursez", "rembourse"),
           "credit": ("un avoir", "note d'avoir"),
           "discount": ("remise", "reduction", "rabais", "ristourne"),
           "chargeback": ("retrofacturation",),
           "compensation": ("compensation", "dedommagement", "dedommager", "indemnisation",
                            "indemniser", "geste commercial"),
           "fee waiver": ("exoneration", "annuler les frais")},
    "es": {"refund": ("reembolso", "reembolsar", "reembolsen", "devolucion",
                      "devolver el dinero"),
           "credit": ("abono", "abonar", "nota de credito", "credito"),
           "discount": ("descuento", "rebaja"),
           "chargeback": ("contracargo",),
           "reimbursement": ("reintegro",),
           "compensation": ("compensacion", "compensar", "indemnizacion", "indemnizar"),
           "fee waiver": ("condonar", "condonacion", "exonerar")},
    "pt": {"refund": ("reembolso", "reembolsar", "estorno", "estornar", "devolucao",
                      "dinheiro de volta"),
           "credit": ("credito", "creditar"),
           "discount": ("desconto", "abatimento"),
           "reimbursement": ("ressarcimento", "ressarcir"),
           "compensation": ("compensacao", "compensar", "indenizacao", "indenizar"),
           "fee waiver": ("isentar", "isencao")},
    "it": {"refund": ("rimborso", "rimborsare"), "discount": ("sconto",),
           "compensation": ("risarcimento", "indennizzo")},
    "nl": {"refund": ("terugbetaling", "restitutie", "geld terug"), "discount": ("korting",),
           "compensation": ("compensatie", "schadevergoeding")},
}

# Contract or policy exceptions asked for, and what only looks like money asked back.
PACKS: dict[str, Pack] = {
    "en": Pack(
        terms=("exception to your policy", "exception to the policy",
               "exception to your refund policy", "make an exception", "one-time exception",
               "one time exception", "waive the fee", "waive the late fee",
               "waive the cancellation fee", "waive the penalty", "extend our contract",
               "extend the contract", "contract extension", "break the contract",
               "break our contract", "terminate the contract early",
               "terminate our contract early", "cancel our contract early", "early termination",
               "outside the refund window", "past the refund window", "after the refund period",
               "beyond the refund period", "refund window has passed",
               # keeping a retired price: a pricing exception
               r"re:\b(?:keep|kept|keeping|stay|staying|remain|remaining|honou?r|lock(?:ed)? in|"
               r"retain|maintain|extend|hold)\b[^.!?\n\0]{0,40}?\b(?:(?:legacy|old|previous|"
               r"grandfathered|retired|original|founder'?s?|early[- ]bird) (?:price|pricing|"
               r"prices|rates?|plan|tariff)|(?:current|existing) (?:price|pricing|prices|"
               r"rates?))\b",
               "grandfather us", "grandfather our", "be grandfathered", "price lock",
               # leaving a contract early, or without its fee
               r"re:\bwithout (?:paying )?(?:the (?:(?:early[- ])?(?:termination|cancell?ation|"
               r"exit|break|contract) )?(?:fees?|penalty|penalties|charges?)|(?:any |an? )?"
               r"(?:early[- ])?(?:termination|cancell?ation|exit|break|contract) (?:fees?|penalty|"
               r"penalties|charges?)|(?:any )?penalt(?:y|ies))\b",
               r"re:\b(?:end|exit|leave|terminate|cancel|break|get out of|release us from|"
               r"let us out of)\b[^.!?\n\0]{0,30}?\b(?:contract|agreement|commitment)s?\b"
               r"[^.!?\n\0]{0,30}?\b(?:early|before (?:the )?(?:end|term|renewal|it ends)|"
               r"after (?:the first |year |one |the )?(?:year|month)s?(?: one| 1)?|mid[- ]term)\b"),
        exclude=("credit card", "debit card", "credit score", "what is your refund policy",
                 "what's your refund policy", "how do refunds work", "how ... refunds work",
                 "issue a refund", "refund my customer*", "refund our customer*",
                 "refund ... to my customer*", "refund ... to our customer*", "how do i refund",
                 "discount code*", "whether you ... discount*", "whether you ... refund*",
                 "do you ever ... discount*", "do you ever ... refund*",
                 "do you offer ... discount*", "do you offer ... refund*",
                 "nonprofit discount*", "education* discount*",
                 # what leaving early would cost, asked
                 r"re:\b(?:what(?:'s| is| are| would be)|how much (?:is|are|would be)|is there) "
                 r"(?:the|your|a|an|any) (?:(?:early[- ])?(?:termination|cancell?ation|exit|"
                 r"break) )?(?:fees?|penalty|penalties|charges?)\b",
                 r"re:\bwhat (?:happens|would happen) if\b[^.!?\n\0]{0,60}?\b(?:early|fee|fees|"
                 r"penalty)\b")),
    "de": Pack(
        terms=("ausnahme ... machen", "ausnahmsweise", "kulanz", "kulanzweise",
               "gebuhr erlassen", "gebuhren erlassen", "mahngebuhr erlassen",
               "vertrag vorzeitig kundigen", "vorzeitig aus dem vertrag", "sonderkundigung",
               "vertragsverlangerung", "ausserhalb der ... frist", "nach ablauf der ... frist",
               r"re:\b(?:alten|bisherigen|fruheren|aktuellen|jetzigen|bestehenden) (?:preis|tarif|"
               r"konditionen)\w*\b[^.!?\n\0]{0,40}?\b(?:behalten|beibehalten|weiterhin|halten|"
               r"bleiben|verlangern)\b", "zum alten preis", "bestandspreis*", "bestandskonditionen",
               r"re:\bohne (?:die |eine |jede )?(?:vertragsstrafe|kundigungsgebuhr\w*|"
               r"storno\w*|ablose\w*|strafgebuhr\w*)",
               r"re:\bvorzeitig\w*\b[^.!?\n\0]{0,30}?\b(?:beenden|kundigen|aussteigen|auflosen|"
               r"kundigung)\b"),
        exclude=("erstattungsrichtlinie", "wie erstatte ich", "wie ... erstattung* ... funktion*",
                 "wie richte ich ... rabatt", "rabattcode*",
                 r"re:\b(?:wie hoch ist|was kostet) (?:die|eine|der)\b[^.!?\n\0]{0,40}")),
    "fr": Pack(
        terms=("faire une exception", "exception a votre politique", "a titre exceptionnel",
               "annuler les penalites", "renoncer aux frais", "resilier ... sans frais",
               "resiliation anticipee", "rompre le contrat", "prolonger le contrat",
               "hors delai de remboursement", "apres le delai de remboursement",
               r"re:\b(?:garder|conserver|maintenir|rester)\b[^.!?\n\0]{0,40}?\b(?:ancien|"
               r"anciens|ancienne|actuel|actuelle) (?:tarif|prix|forfait|offre)",
               r"re:\bsans (?:les |la |aucune? |payer (?:les |la )?)?(?:frais|penalites?|"
               r"indemnites?) (?:de resiliation|de rupture|de sortie|anticipee?s?)",
               r"re:\b(?:resilier|quitter|sortir|mettre fin)\b[^.!?\n\0]{0,30}?\bcontrat\b"
               r"[^.!?\n\0]{0,30}?\b(?:avant (?:la fin|le terme|l'echeance)|par anticipation|"
               r"de maniere anticipee)"),
        exclude=("carte de credit", "carte bancaire", "politique de remboursement",
                 "comment ... rembourser ... client*", "code de reduction")),
    "es": Pack(
        terms=("hacer una excepcion", "excepcion a la politica", "de forma excepcional",
               "condonar la comision", "anular la penalizacion", "cancelacion anticipada",
               "romper el contrato", "ampliar el contrato", "fuera del plazo de reembolso",
               r"re:\b(?:mant[ei]n\w*|conserv\w*|respet\w*|segui\w* con|quedar\w* con)\b"
               r"[^.!?\n\0]{0,40}?\b(?:precio|tarifa|plan)(?:es|s)? (?:antigu[oa]s?|"
               r"anterior(?:es)?|actual(?:es)?|original(?:es)?|de siempre)\b",
               r"re:\bsin (?:la |el |ninguna |pagar (?:la |el )?)?(?:penalizacion|penalidad|"
               r"comision de cancelacion|cargo por cancelacion|multa)\b",
               r"re:\b(?:rescindir|terminar|cancelar|salir)\w*\b[^.!?\n\0]{0,30}?\bcontrato\b"
               r"[^.!?\n\0]{0,30}?\b(?:antes de tiempo|anticipadamente|antes del plazo|"
               r"antes de que termine)"),
        exclude=("tarjeta de credito", "politica de reembolso",
                 "como ... reembolsar ... cliente*", "codigo de descuento")),
    "pt": Pack(
        terms=("abrir uma excecao", "fazer uma excecao", "excecao a politica",
               "em carater excepcional", "isentar a multa", "isencao da multa",
               "cancelamento antecipado", "rescisao antecipada", "quebrar o contrato",
               "prorrogar o contrato", "fora do prazo de reembolso",
               "apos o prazo de reembolso",
               r"re:\b(?:mant\w*|conserv\w*|continu\w* com|fic\w* com|respeit\w*)\b"
               r"[^.!?\n\0]{0,40}?\b(?:preco|valor|plano|tarifa)s? (?:antig[oa]s?|"
               r"anterior(?:es)?|atua(?:l|is)|original|promocional)\b",
               r"re:\bsem (?:a |o |nenhuma |pagar (?:a |o )?)?(?:multa|penalidade)\b",
               r"re:\b(?:rescindir|encerrar|cancelar|sair)\w*\b[^.!?\n\0]{0,30}?\bcontrato\b"
               r"[^.!?\n\0]{0,30}?\b(?:antes do prazo|antecipadamente|antes do fim|antes de "
               r"terminar)"),
        exclude=("cartao de credito", "politica de reembolso",
                 "como ... reembolsar ... cliente*", "cupom de desconto")),
    "it": Pack(terms=("fare un'eccezione", "in via eccezionale", "senza penale",
                      "senza la penale", "recesso anticipato", "disdetta anticipata",
                      r"re:\b(?:mantenere|mantenerci|conservare|tenere)\b[^.!?\n\0]{0,40}?"
                      r"\b(?:prezzo|tariffa|piano) (?:vecchi[oa]|precedente|attuale|originale)"),
               exclude=("carta di credito", "politica di rimborso")),
    "nl": Pack(terms=("een uitzondering maken", "uitzondering maken", "zonder boete",
                      "zonder de boete", "zonder opzegkosten", "voortijdig opzeggen",
                      "vroegtijdig opzeggen", "contract ... voortijdig beeindigen",
                      r"re:\b(?:oude|huidige|vorige|oorspronkelijke) (?:prijs|tarief|"
                      r"abonnement)\w*\b[^.!?\n\0]{0,40}?\b(?:behouden|houden|aanhouden|"
                      r"blijven)\b"),
               exclude=("creditcard", "restitutiebeleid")),
}

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
                     r"at least|some|by|von|uber|in hohe von|ca|etwa|rund|mindestens|"
                     r"insgesamt|ein|eine|einen|de|du|d'un|d'une|environ|au moins|del|unos|unas|"
                     r"aproximadamente|al menos|cerca de|da|do|um|uma|pelo menos)*")
_AFTER_FILLER = re.compile(r"\s*-?\s*")
_NEXT_WORD = re.compile(r"\s*(%|[^\W\d_]+)")
_UNITS = frozenset({
    "%", "percent", "day", "week", "month", "year", "hour", "minute", "second", "user", "seat",
    "license", "licence", "agent", "employee", "account", "ticket", "order", "item", "unit",
    "time", "gb", "mb", "tb", "kb", "ms", "x", "error", "status", "page", "step",
    "tag", "tage", "monat", "monate", "nutzer", "benutzer", "lizenz", "lizenzen", "jour",
    "jours", "mois", "utilisateur", "dia", "dias", "mes", "meses", "usuario", "licencia",
})
_PREVIOUS_WORD = re.compile(r"([^\W\d_]+)[\s:.#-]*$")
_IDENTIFIERS = frozenset({
    "error", "order", "version", "v", "ticket", "case", "invoice", "id", "no", "nr", "number",
    "code", "status", "http", "port", "build", "release", "item", "sku", "ref", "reference",
    "account", "line", "step", "page", "room", "model", "serial", "po",
    "rechnung", "bestellung", "auftrag", "nummer", "facture", "commande", "numero",
    "factura", "pedido", "fatura", "nota", "fehler", "erreur", "erro",
})
_DATE_OR_TIME = re.compile(r"[:/-]\d")



def _code(code: str) -> str:
    code = code.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise ValueError(f"{code!r} is not a three-letter currency code (USD, EUR...)")
    return code


def _phrases(values: list[str], what: str) -> list[str]:
    """Lower-cased and single-spaced; a pattern (``re:``) is kept as written."""
    cleaned = [v.strip() if v.strip().startswith("re:") else " ".join(v.lower().split())
               for v in values]
    if "" in cleaned:
        raise ValueError(f"blank {what}")
    return list(dict.fromkeys(cleaned))


class Options(LanguageOptions):
    builtin_packs: ClassVar = PACKS
    # Old names still accepted, with a deprecation warning (see PolicyHost.configure).
    renamed_options: ClassVar[dict[str, str]] = {"ignore": "exclude"}

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
    money_words: dict[str, list[str]] | None = Field(
        None, description="Replace the built-in money words of `languages` with these: kind of "
        "request -> words that ask for money back (any language); empty: the built-in ones.")
    window: int = Field(
        80, ge=1, description="How close (in characters) a money word must be to an amount "
        "written with a currency, in the same comment.")
    amount_fields: list[str] = Field(
        default_factory=list, description="Numeric custom fields (ids) holding a requested "
        "amount in default_currency.")
    phrases: list[str] | None = Field(
        None, description="Replace the built-in packs' contract or policy exceptions with these "
        "terms (any language); [] : amounts only. Exclusions and negation still apply.")
    billing_errors: bool = Field(
        True, description="Money asked back in a comment that reports a billing error (charged "
        "twice, a wrong invoice) is the billing team's correction, not an exception, whatever "
        "the amount.")
    comments: str = comment_scope("customer", "policy_exception")
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

    _scope = field_validator("comments")(check_scope)

    @field_validator("money_words")
    @classmethod
    def _clean_money_words(cls, kinds: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        if kinds is None:
            return None
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

    @field_validator("phrases")
    @classmethod
    def _clean_phrases(cls, phrases: list[str] | None) -> list[str] | None:
        return None if phrases is None else _phrases(phrases, "phrase")

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
    text = ticket_text(ticket, options.comments)
    comments = text.comments
    terms = per_options(options, _Terms)
    money: dict[int, list[tuple[str, int, int]]] = {}  # source -> (kind, start, end)
    asked: dict[int, re.Match[str]] = {}  # source -> first exception phrase
    errors: set[int] = set()  # sources that report a billing error
    for term, match in terms.matcher.occurrences(text):
        source = text.source(match.start())
        normal = normalise_term(term)
        if normal in terms.kinds:
            money.setdefault(source, []).append((terms.kinds[normal], *match.span()))
        elif normal in terms.errors:
            errors.update((source, 1) if source == 0 else (source,))
        elif source not in asked or match.start() < asked[source].start():
            asked[source] = match
    # Money asked back for a billing error is the billing team's correction.
    money = {source: found for source, found in money.items() if source not in errors}
    amounts = {}
    if money:
        currencies = _currencies(tuple(options.currencies.items()), tuple(options.limits))
        # A money word in the subject ("Refund request") covers the amounts of the description.
        subject_kind = min(money[0], key=lambda m: m[1])[0] if 0 in money else None
        sources = {*money, *([1] if subject_kind and len(text.parts) > 1 else [])} - errors
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


class _Terms:
    """One matcher for money words, exception phrases and billing errors; money word -> kind;
    the billing errors (terms as :func:`normalise_term` stores them)."""

    def __init__(self, options: Options) -> None:
        if options.money_words is not None:
            kinds = {word: kind for kind, words in options.money_words.items() for word in words}
        else:
            kinds = {word: kind for code in options.languages
                     for kind, words in MONEY_WORDS.get(code, {}).items() for word in words}
        errors = [t for code in options.languages if options.billing_errors
                  for t in BILLING_ERRORS.get(code, ())]
        self.kinds = {normalise_term(word): kind for word, kind in kinds.items()}
        self.errors = frozenset(normalise_term(t) for t in errors)
        self.matcher: Matcher = pack_matcher(
            options, (*kinds, *errors, *(options.phrases or ())), builtin=options.phrases is None)


@lru_cache(maxsize=64)
def _currencies(currencies: tuple[tuple[str, str], ...], codes: tuple[str, ...]) -> _Currencies:
    aliases = {**{code.lower(): code for code in codes},
               **{fold(alias): code for alias, code in currencies}}  # matched on folded text
    return _Currencies(aliases, max(map(len, aliases)))
