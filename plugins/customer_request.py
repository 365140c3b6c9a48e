"""customer_request: the customer asks for a manager, someone senior, a higher tier or an
escalation, in any of the customers' languages."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from plugins import hookimpl
from plugins.options import PriorityName
from plugins.packs import (
    LanguageOptions,
    Pack,
    check_scope,
    clean_terms,
    comment_scope,
    pack_matcher,
)
from plugins.text import per_options, ticket_text

_ASK_EN = ("speak", "talk", "chat", "get through", "put me through", "connect me", "transfer me",
           "pass me", "hand me over")
PACKS = {
    "en": Pack(
        terms=(
            *(f"{verb} ... {who}" for verb in _ASK_EN
              for who in ("manager", "supervisor", "team lead", "team leader", "your boss",
                          "someone senior", "somebody senior", "someone more senior",
                          "someone in charge", "person in charge", "senior engineer",
                          "senior agent", "head of support")),
            "a supervisor", "your supervisor", "the supervisor", "any supervisor",
            "some supervisor", "a manager", "your manager", "the manager", "any manager",
            "manager involved", "manager on the phone", "someone senior", "somebody senior",
            "more senior", "someone higher up", "somebody higher up", "higher up",
            # the way people type in a hurry
            "supervsior", "superviser", "supervisr", "somone senior", "more senoir",
            "somone more senior", "more seinor", "escalte", "esclate", "escalat this",
            "escalate", "escalated", "escalation", "escalating",
            "higher level support", "higher level of support", "higher tier",
            "next level support", "next tier", "second level support", "second-level support",
            "tier 2 support", "level 2 support", "senior engineer", "senior support",
        ),
        exclude=(
            "my supervisor", "our supervisor", "supervisor role", "supervisor account*",
            "supervisor permission*", "supervisor view", "supervisor dashboard",
            "supervisor seat*", "supervisor license*", "supervisors can", "supervisors cannot",
            "i am a manager", "i'm a manager", "im a manager", "as a manager", "am the manager",
            "i am the manager", "i'm the manager", "a manager account", "a manager role",
            "a manager seat", "a manager license",
            "password manager", "account manager", "office manager", "project manager",
            "product manager", "package manager", "download manager", "task manager",
            "file manager", "manager role", "manager account", "manager permission*",
            "manager view", "manager dashboard", "manager license*", "manager seat*",
            "my manager ... asked", "my manager ... wants", "my manager ... told",
            "my manager ... needs", "my manager ... said", "my supervisor ... asked",
            "my boss ... asked", "our manager", "our managers",
            "escalation rule*", "escalation polic*", "escalation setting*", "escalation path*",
            "escalation workflow*", "escalation level*", "escalation email*",
            "escalation matrix", "escalation trigger*", "escalation feature", "auto-escalation",
            "configure ... escalation*", "set up ... escalation*", "setup ... escalation*",
            "escalated internally", "escalated it internally", "escalated this internally",
            "i escalated", "we escalated", "i have escalated", "we have escalated",
            "escalate ... automatically", "escalate tickets", "escalate ticket",
            "escalates tickets", "escalate to my team", "tickets ... escalat*",
            "escalat* ... tickets", "escalated to my team", "escalated to our team",
            "it escalates", "escalates to", "that escalates", "which escalates", "auto escalat*",
            "auto-escalat*",
        )),
    "de": Pack(
        terms=(
            "vorgesetzt*", "mit ... manager", "mit ... teamleit*", "mit ... verantwortlich*",
            "mit ... chef", "mit ... chefin", "ihren chef", "ihrem chef", "ihre chefin",
            "eskalier*", "eskalation", "hoher* ebene", "nachste* ebene", "nachste* stufe",
            "zweite* ebene", "second level", "2nd level", "level 2", "geschaftsleitung",
            "geschaftsfuhrung", "jemand erfahren*", "erfahrener* mitarbeiter",
            "hoher* support*",
        ),
        exclude=(
            "passwort-manager", "passwort manager", "mein chef ... gebeten", "meine chefin ... "
            "gebeten", "mein vorgesetzter ... gebeten", "meine vorgesetzte ... gebeten",
            "mein chef ... will", "mein vorgesetzter ... will", "eskalationsregel*",
            "eskalationsstufe*", "eskalation ... einrichten", "eskalation ... konfigurier*",
            "intern eskaliert", "bereits eskaliert", "schon eskaliert",
        )),
    "fr": Pack(
        terms=(
            "parler ... responsable", "parler ... superieur", "parler ... manager",
            "parler ... chef", "parler ... directeur", "parler ... quelqu'un de plus",
            "votre superieur", "votre responsable", "un responsable", "escalader", "escaladez",
            "escalade", "remonter ... dossier", "remonter ... demande", "niveau superieur",
            "niveau 2", "second niveau", "deuxieme niveau",
        ),
        exclude=(
            "gestionnaire de mots de passe", "mon responsable ... demande",
            "mon chef ... demande", "ma responsable ... demande", "regle* d'escalade",
            "regle* de escalade", "faire de l'escalade", "salle d'escalade",
            "escalade ... configurer", "configurer ... escalade",
        )),
    "es": Pack(
        terms=(
            "hablar ... supervisor", "hablar ... gerente", "hablar ... responsable",
            "hablar ... encargado", "hablar ... jefe", "hablar ... superior",
            "su supervisor", "su superior", "un supervisor", "un gerente", "escalar", "escalen",
            "escale", "escalado", "escalamiento", "escalacion", "nivel superior",
            "segundo nivel", "nivel 2",
        ),
        exclude=(
            "gestor de contrasenas", "administrador de contrasenas", "mi jefe ... pidio",
            "mi gerente ... pidio", "mi supervisor ... pidio", "mi jefa ... pidio",
            "regla* de escalado", "regla* de escalamiento", "configurar ... escalado",
            "escalar montanas",
        )),
    "pt": Pack(
        terms=(
            "falar ... supervisor", "falar ... gerente", "falar ... responsavel",
            "falar ... chefe", "falar ... superior", "seu supervisor", "seu superior",
            "um supervisor", "um gerente", "escalar", "escalem", "escalone*", "escalonar",
            "escalonamento", "escalado", "nivel superior", "segundo nivel", "nivel 2",
        ),
        exclude=(
            "gerenciador de senhas", "gestor de senhas", "meu gerente ... pediu",
            "meu chefe ... pediu", "meu supervisor ... pediu", "minha chefe ... pediu",
            "regra* de escalonamento", "regra* de escalacao", "configurar ... escalonamento",
        )),
    "it": Pack(
        terms=(
            "parlare ... responsabile", "parlare ... supervisore", "parlare ... manager",
            "parlare ... superiore", "parlare ... capo", "il suo responsabile", "un responsabile",
            "escalation", "livello superiore", "secondo livello",
        ),
        exclude=("gestore di password", "il mio responsabile ... chiesto",
                 "il mio capo ... chiesto", "regole di escalation")),
    "nl": Pack(
        terms=(
            "spreken ... manager", "spreken ... leidinggevende", "spreken ... supervisor",
            "spreken ... verantwoordelijke", "uw leidinggevende", "escaleren", "escalatie",
            "hoger niveau", "tweede lijn",
        ),
        exclude=("wachtwoordmanager", "mijn manager ... gevraagd",
                 "mijn leidinggevende ... gevraagd", "escalatieregel*")),
}


class Options(LanguageOptions):
    builtin_packs: ClassVar = PACKS

    phrases: list[str] | None = Field(
        None, description="Replace the built-in packs with these terms (any language); "
        "empty: use the packs of `languages`. Exclusions and negation still apply.")
    add_phrases: list[str] = Field(
        default_factory=list, description="More terms, added to the built-in packs.")
    comments: str = comment_scope("customer", "customer_request")
    steps_up: int = Field(1, ge=1, description="How many tiers above the tier the ticket had "
                          "when the customer asked.")
    priority: PriorityName = Field(None, description="Also raise priority to this "
                                 "(low, normal, high, urgent); empty: leave priority alone.")

    @field_validator("phrases")
    @classmethod
    def _non_empty(cls, phrases: list[str] | None) -> list[str] | None:
        if phrases is None:
            return None
        cleaned = clean_terms(phrases)
        if not cleaned:
            raise ValueError("give at least one phrase, or leave it out to use the packs")
        return cleaned

    _add_phrases = field_validator("add_phrases")(clean_terms)

    _scope = field_validator("comments")(check_scope)


@hookimpl
def tierlift_register_policy(register):
    register(Options, needs={"comments", "history"},
             summary="The customer asks for a manager or a higher tier")


def _matcher(options: Options):
    if options.phrases is not None:
        return pack_matcher(options, (*options.phrases, *options.add_phrases), builtin=False)
    return pack_matcher(options, tuple(options.add_phrases))


@hookimpl
def tierlift_evaluate(ticket, ctx):
    options = ctx.options
    text = ticket_text(ticket, options.comments)
    asked = {}  # comment index -> the first request in it
    for _, match in per_options(options, _matcher).occurrences(text):
        source = text.source(match.start()) or 1  # the subject belongs to the first message
        if text.comments and (source not in asked or match.start() < asked[source].start()):
            asked[source] = match
    proposals = []
    for source, match in sorted(asked.items()):
        comment = text.comments[source - 1]
        evidence = ctx.evidence(
            f"comment:{comment.id}",
            f'The customer asked: "{text.original_of(match.span())}"',
            quote=text.quote(*match.span()),
            at=comment.created_at,
        )
        proposals.append(ctx.propose(
            evidence,
            steps_up=options.steps_up,
            priority=options.priority,
            suggestion="Reply personally as the next tier, acknowledge the request, and own the "
            "ticket from here.",
        ))
    return proposals
