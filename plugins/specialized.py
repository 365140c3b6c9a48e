"""specialized: the request needs a specialist team (billing, security...), not a higher tier."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from connector.ticket import AuthorRole
from plugins import hookimpl
from plugins.keywords import BILLING_ERRORS, SPAN, THIRD_PARTY_FAILURES
from plugins.options import PriorityName
from plugins.packs import LanguageOptions, Pack, PackOptions, check_scope, comment_scope
from plugins.text import (
    CustomerText,
    Matcher,
    as_text,
    field_values,
    matcher,
    per_options,
    ticket_text,
)


def _clean(values: list[str], what: str) -> list[str]:
    """Lower-cased and single-spaced; a pattern (``re:``) is kept as written."""
    cleaned = [v.strip() if v.strip().startswith("re:") else " ".join(v.lower().split())
               for v in values]
    if "" in cleaned:
        raise ValueError(f"blank {what}")
    return list(dict.fromkeys(cleaned))


class Route(BaseModel):
    """What sends a ticket to one specialist team; any one matcher is enough to be considered."""

    model_config = ConfigDict(extra="forbid")

    keywords: list[str] = Field(
        default_factory=list, description="Terms in any language (a phrase, word* for any "
        "ending, 'a ... b', re:<pattern>), matched ignoring case and accents in the subject and "
        "the comments read; given, they replace the built-in packs of a route of that name.")
    exclude: list[str] = Field(default_factory=list, description="Near misses of this route: "
                               "a match overlapping one does not count.")
    tags: list[str] = Field(default_factory=list, description="Ticket tags (case-insensitive).")
    forms: list[str] = Field(
        default_factory=list, description="Ticket forms (Zendesk form id, Jira issue type).")
    fields: dict[str, list[str]] = Field(
        default_factory=dict, description="Custom field id -> values (case-insensitive; a "
        "multi-select field matches on any of its values).")
    priority: PriorityName = Field(
        None, description="Also raise priority to this (low, normal, high, urgent).")
    suggestion: str = Field("", description="What the team should do first (handoff note).")
    skip_answered: bool = Field(
        False, description="Not when an agent has replied publicly and the customer's latest "
        "comment, written after that, confirms it is answered (\"thanks, that solved it\").")

    @field_validator("forms", mode="before")
    @classmethod
    def _forms_as_text(cls, forms: object) -> object:
        return [as_text(f) for f in forms] if isinstance(forms, list) else forms

    @field_validator("fields", mode="before")
    @classmethod
    def _values_as_text(cls, fields: object) -> object:
        if not isinstance(fields, dict):
            return fields
        return {k: [as_text(v) for v in vs] if isinstance(vs, list) else vs
                for k, vs in fields.items()}

    @field_validator("keywords", "tags", "forms")
    @classmethod
    def _no_blanks(cls, values: list[str]) -> list[str]:
        return _clean(values, "entry")

    @field_validator("exclude")
    @classmethod
    def _exclusions(cls, values: list[str]) -> list[str]:
        return [v.strip() for v in values if v.strip()]

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

    def matches_on_its_own(self) -> bool:
        return bool(self.keywords or self.tags or self.forms or self.fields)


# Topic tags ("billing", "api", "integration") are left out: a portal or a trigger puts them on
# how-tos and questions about our own API too, which the written policy keeps from these teams.
DEFAULT_ROUTES: dict[str, dict] = {
    # Billing problems that tier 1 cannot solve; a plain refund or a copy of an invoice it can
    # (refunds beyond tier 1's authority are the policy_exception policy's business).
    "billing": {
        "skip_answered": True,
        "suggestion": "check the invoices and payment history before replying.",
    },
    "security": {
        "tags": ["security"],
        "priority": "high",
        "suggestion": "secure the account (sessions, credentials, 2FA) and review its access "
        "log before replying.",
    },
    "compliance": {
        "tags": ["compliance", "gdpr"],
        "suggestion": "log the request and answer within its legal deadline.",
    },
    "integrations": {
        "suggestion": "check the integration's configuration and logs with the customer.",
    },
}
PRECEDENCE = ["security", "compliance", "billing", "integrations"]

# A secret (API key, token, password) pushed, pasted or posted where anyone can read it: "pushed
# our production API key to a public GitHub repo", "pasted our API token into a public thread".
_EXPOSED = r"(?:pushed|committed|posted|pasted|published|uploaded|shared|leaked|exposed)"
# (between the verb and the secret: not a question posted about keys)
_NEAR = r"(?:(?!\b(?:about|question|regarding|how)\b)(?:[^.!?\n\0]|\.(?=\S))){0,60}?"
_SECRET = {
    "en": r"(?:api[ -]?(?:keys?|tokens?)|access[ -]tokens?|tokens?|signing secrets?|secret keys?|"
          r"secrets?|private keys?|passwords?|credentials)",
    "de": r"(?:api[ -]?(?:schlussel|keys?|tokens?)|schlussel|tokens?|passw[oö]rt\w*|zugangsdaten|"
          r"secrets?)",
    "fr": r"(?:cles?(?: d.| de l.| )?api|cles?|jetons?|tokens?|mots? de passe|identifiants|"
          r"secrets?)",
    "es": r"(?:claves?(?: de)?(?: la)? api|claves?|tokens?|contrasenas?|credenciales|secretos?)",
    "pt": r"(?:chaves?(?: de)?(?: da)? api|chaves?|tokens?|senhas?|credenciais|segredos?)",
}
_PUBLIC = {
    "en": r"public(?: \w+)? (?:repo\w*|github|gitlab|gist|thread|forum|channel|post|page|bucket|"
          r"issue|discord|slack)\b",
    "de": r"offentlich\w*(?: \w+)? (?:repo\w*|github|gitlab|gist|forum|thread|kanal|channel|"
          r"beitrag)(?:-\w+)?",
    "fr": r"(?:depot|repo\w*|forum|fil|canal|github|gitlab|gist)(?: \w+)? publi(?:c|que)s?\b",
    "es": r"(?:repositorio|repo|foro|hilo|canal|github|gitlab|gist)(?: (?:de )?\w+)? "
          r"public[oa]s?\b",
    "pt": r"(?:repositorio|repo|forum|topico|canal|github|gitlab|gist)(?: (?:do |no )?\w+)? "
          r"public[oa]s?\b",
}
_LEAKED = {  # (the match stops before the public place: a shorter label)
    "en": (rf"re:\b(?:{_EXPOSED}\b{_NEAR}\b{_SECRET['en']}|{_SECRET['en']}\b{_NEAR}\b{_EXPOSED})"
           rf"\b(?={SPAN}\b{_PUBLIC['en']})",),
    **{code: (rf"re:\b(?:{_SECRET[code]}\b{SPAN}\b{_PUBLIC[code]}|"
              rf"{_PUBLIC[code]}{SPAN}\b{_SECRET[code]}\b)",) for code in ("de", "fr", "es", "pt")},
}

# The built-in routes' terms per language: billing (billing errors, invoice corrections, failed
# payments, chargebacks), security (account takeover, fraud, phished credentials, leaked keys),
# compliance (data-subject requests, DPA/BAA, regulators, law enforcement), integrations (a
# failing third-party connector); with each route's near misses.
_TERMS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "billing": ("invoice correction", "corrected invoice", "correct* ... invoice",
                    "reissue ... invoice", "payment failed", "failed payment", "payment declined",
                    "payment ... declined", "payment ... failed", "payment ... fails",
                    "card ... declined", "chargeback", "charge back", "dispute* ... charge",
                    "refund ... not received", "unauthorized charge*",
                    # invoice corrections: the tax id, the company's name, VAT charged
                    r"re:\b(?:wrong|incorrect|old|outdated|invalid)\s+(?:vat|tax|company|legal)"
                    r"\s+(?:id|number|no|registration|name)\b",
                    "vat ... charged ... reverse charge", "charged vat ... reverse charge",
                    "reissued invoice", "re-issue ... invoice"),
        "security": ("account takeover", "hacked", "compromised", "unauthorized access",
                     "unauthorised access", "suspicious login*", "suspicious sign-in*",
                     "someone ... logged into ... account*", "fraud", "fraudulent", "phishing",
                     "phished", "stolen credentials", "stolen password", "password ... stolen",
                     "leaked ... key*", "key* ... leaked", "leaked ... token*",
                     "token* ... leaked", "exposed ... api key*", "api key* ... exposed",
                     *_LEAKED["en"],
                     "data breach", "security breach", "vulnerability", "malware",
                     "ransomware",
                     # someone else in the account: taken over, unknown logins, stolen sessions,
                     # its login e-mail changed to an address the owner does not know
                     "took over ... account*", "taken over ... account*", "account* ... taken over",
                     "someone ... took over", "someone got into ... account*",
                     "broke into ... account*", "unknown login*", "unrecognized login*",
                     "unrecognised login*", "unfamiliar login*", "strange login*",
                     "unusual login*", "unknown sign-in*", "unusual sign-in*",
                     rf"re:\b(?:log-?ins?|sign-?ins?)\b{SPAN}\bfrom\b{SPAN}\b(?:another|a "
                     r"different|a foreign|an unknown|a strange) (?:country|location|city)\b",
                     r"re:\be-?mail\b(?:(?!\be-?mail\b)[^.!?\n\0]){0,40}?\b(?:was|were|has "
                     rf"been|got) changed\b(?=\s+to\b{SPAN}\b(?:i|we) (?:don.?t|do not|didn.?t) "
                     r"(?:know|recogni[sz]e)\b)", "session* ... stolen",
                     "stolen ... session*", "session hijack*", "hijacked", "cookie* ... stolen",
                     "infostealer*"),
        "compliance": ("gdpr", "ccpa", "hipaa", "data subject request",
                       "data subject access request", "subject access request", "dsar",
                       "right to be forgotten", "right to erasure", "delete my data",
                       "delete all my data", "delete my personal data", "data deletion request",
                       "copy of my personal data", "data processing agreement", "dpa", "baa",
                       "business associate agreement", "soc 2", "soc2", "iso 27001",
                       "data retention policy", "complaint ... regulator", "regulator",
                       "supervisory authority", "data protection authority", "ico complaint",
                       "subpoena", "court order", "law enforcement", "police", "warrant",
                       "legal hold", "information commissioner*", "data protection commission",
                       "subscriber information", "production order", "emergency disclosure",
                       "criminal investigation", "what personal data",
                       "access to my personal data"),
    },
    "de": {
        "billing": ("rechnungskorrektur", "korrigierte rechnung", "rechnung ... korrigieren",
                    "zahlung fehlgeschlagen", "zahlung ... fehlgeschlagen",
                    "zahlung ... abgelehnt", "karte ... abgelehnt",
                    "lastschrift ... zuruckgegeben", "ruckbuchung", "ruckbelastung",
                    "chargeback", "erstattung ... nicht erhalten", "neuausstellung",
                    "rechnung* ... neu ausstellen", "korrektur ... rechnung",
                    "rechnung ... korrektur",
                    r"re:\bfalsch\w*\s+(?:ust|umsatzsteuer|steuer|mwst|mehrwertsteuer)[\w.-]*",
                    "alte firmierung", "falsche firmierung", "mwst ... reverse charge",
                    "mehrwertsteuer ... reverse charge"),
        "security": ("gehackt", "kontoubernahme", "unbefugter zugriff", "unberechtigter zugriff",
                     "verdachtige anmeldung*", "verdachtiger login", "betrug", "betrugerisch*",
                     "phishing", "zugangsdaten ... gestohlen", "passwort ... gestohlen",
                     "schlussel ... geleakt", "api-schlussel ... veroffentlicht", "datenleck",
                     "sicherheitslucke", "kompromittiert", *_LEAKED["de"],
                     "konto ... ubernommen", "zugang ... ubernommen", "unbekannte anmeldung*",
                     "unbekannter login*", "unbekannte logins", "fremde anmeldung*",
                     "anmeldung* aus ... anderen land", "sitzung* ... gestohlen",
                     "session* ... gestohlen"),
        "compliance": ("dsgvo", "datenschutz-grundverordnung", "auskunftsersuchen",
                       "auskunft ... dsgvo", "recht auf vergessenwerden", "loschung meiner daten",
                       "meine daten ... loschen", "auftragsverarbeitungsvertrag", "avv",
                       "datenschutzbehorde", "aufsichtsbehorde", "datenschutzbeauftragte*",
                       "polizei", "staatsanwaltschaft", "durchsuchungsbeschluss",
                       "gerichtlicher beschluss", "welche personenbezogenen daten",
                       "auskunft ... gespeicherten ... daten",
                       "auskunft ... personenbezogen* daten",
                       "landesbeauftragt* fur datenschutz", "bfdi", "ermittlungsverfahren",
                       "bestandsdatenauskunft", "kriminalpolizei"),
    },
    "fr": {
        "billing": ("corriger ... facture", "facture corrigee", "paiement refuse",
                    "paiement ... echoue", "echec ... paiement", "carte ... refusee",
                    "retrofacturation", "remboursement ... pas recu", "facture rectificative",
                    "reemettre ... facture", "refaire ... facture", "numero de tva ... errone",
                    "numero de tva ... incorrect", "mauvais numero de tva",
                    "ancienne raison sociale", "mauvaise raison sociale",
                    "raison sociale ... incorrecte", "raison sociale ... erronee"),
        "security": ("piratage", "compte ... pirate", "acces non autorise", "connexion suspecte",
                     "fraude", "frauduleux", "frauduleuse", "hameconnage", "phishing",
                     "identifiants ... voles", "mot de passe ... vole", "cle* ... divulguee*",
                     "cle api ... fuite", "fuite de donnees", "faille de securite",
                     "compte compromis", *_LEAKED["fr"], "pris le controle ... compte",
                     "prise de controle ... compte", "connexion* inconnue*",
                     "connexion* inhabituelle*", "session ... volee",
                     rf"re:\bquelqu.un\b{SPAN}\b(?:connecte|acced\w*|entre|pris le controle)\b"),
        "compliance": ("rgpd", "droit a l'oubli", "droit d'acces", "droit a l'effacement",
                       "suppression de mes donnees", "supprimer mes donnees",
                       "copie de mes donnees", "cnil", "accord de traitement des donnees",
                       "sous-traitance des donnees", "requisition", "police", "gendarmerie",
                       "ordonnance du tribunal", r"re:\bcommission nationale de l.informatique",
                       r"re:\bsaisie? d.une (?:plainte|reclamation)",
                       r"re:\bdemande d.effacement\b", "effacement ... donnees",
                       "acces a mes donnees personnelles", "quelles donnees personnelles"),
    },
    "es": {
        "billing": ("corregir ... factura", "factura corregida", "pago rechazado",
                    "pago ... fallido", "pago ... rechazado", "tarjeta ... rechazada",
                    "contracargo", "reembolso ... no ... recibido", "factura rectificativa",
                    "reemitir ... factura", "rehacer ... factura", "nif ... incorrecto",
                    "cif ... incorrecto", "numero de iva ... incorrecto",
                    "razon social ... incorrecta"),
        "security": ("hackeado", "hackeada", "hackearon", "cuenta ... comprometida",
                     "acceso no autorizado", "inicio de sesion sospechoso", "fraude",
                     "fraudulento", "fraudulenta", "suplantacion", "phishing",
                     "credenciales ... robadas", "contrasena ... robada", "clave* ... filtrada*",
                     "clave* ... expuesta*", "filtracion de datos", "brecha de seguridad",
                     "vulnerabilidad", *_LEAKED["es"], "alguien ... entro en ... cuenta",
                     "alguien ... accedio a ... cuenta", "tomaron el control ... cuenta",
                     "robaron ... cuenta", "inicio* de sesion desconocido*",
                     "acceso* desconocido*", "sesion ... robada"),
        "compliance": ("rgpd", "lopd", "derecho al olvido", "derecho de acceso",
                       "derecho de supresion", "borrar mis datos", "eliminar mis datos",
                       "supresion de mis datos", "copia de mis datos", "aepd",
                       "proteccion de datos", "acuerdo de tratamiento de datos",
                       "encargado del tratamiento", "orden judicial", "policia",
                       "requerimiento judicial", "acceso a mis datos personales",
                       "que datos personales",
                       "guardia civil", "fiscalia"),
    },
    "pt": {
        "billing": ("corrigir ... fatura", "fatura corrigida", "pagamento recusado",
                    "pagamento ... falhou", "pagamento ... recusado", "cartao ... recusado",
                    "chargeback", "contestacao ... cobranca", "estorno ... nao ... recebi",
                    "reemitir ... fatura", "reemitir ... nota fiscal", "corrigir ... nota fiscal",
                    "carta de correcao", "cnpj ... errado", "cnpj ... incorreto",
                    "razao social ... errada"),
        "security": ("hackeado", "hackeada", "hackearam", "conta ... invadida",
                     "invadiram ... conta", "conta ... comprometida", "acesso nao autorizado",
                     "login suspeito", "fraude", "fraudulento", "fraudulenta", "golpe",
                     "phishing", "credenciais ... roubadas", "senha ... roubada",
                     "chave* ... vazada*", "chave* ... vazou", "vazamento de dados",
                     "violacao de dados", "vulnerabilidade", *_LEAKED["pt"],
                     "alguem ... entrou na ... conta", "alguem ... acessou ... conta",
                     "tomaram o controle ... conta", "roubaram ... conta", "login* desconhecido*",
                     "acesso* desconhecido*", "sessao ... roubada"),
        "compliance": ("lgpd", "anpd", "direito ao esquecimento", "excluir meus dados",
                       "apagar meus dados", "exclusao dos meus dados", "copia dos meus dados",
                       "titular dos dados", "acordo de processamento de dados", "ordem judicial",
                       "policia", "mandado", "acesso aos meus dados pessoais",
                       "quais dados pessoais",
                       "autoridade nacional de protecao de dados", "requisicao judicial",
                       "delegacia", "ministerio publico"),
    },
    "it": {
        "billing": ("pagamento rifiutato", "pagamento ... fallito", "carta ... rifiutata"),
        "security": ("hackerato", "accesso non autorizzato", "frode", "phishing"),
        "compliance": ("gdpr", "diritto all'oblio", "cancellare i miei dati", "garante privacy",
                       "polizia", "accesso ai miei dati personali",
                       "quali dati personali"),
    },
    "nl": {
        "billing": ("betaling mislukt", "betaling ... geweigerd", "kaart ... geweigerd"),
        "security": ("gehackt", "onbevoegde toegang", "fraude", "phishing"),
        "compliance": ("avg", "gdpr", "recht op vergetelheid", "mijn gegevens ... verwijderen",
                       "autoriteit persoonsgegevens", "politie", "inzageverzoek",
                       "inzage in mijn gegevens", "welke persoonsgegevens"),
    },
}
_EXCLUDE: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "billing": ("how do i ... invoice*", "how can i ... invoice*", "where ... invoice*",
                    "download ... invoice*", "how do i ... payment method",
                    "update ... payment method", "billing contact", "billing address"),
        "security": ("growth hack*", "life hack*", "quick hack*", "hacky", "how do i enable",
                     "fraud prevention setting*", "compromised on",
                     # others asking whether we were hacked (a certificate warning, an outage)
                     rf"re:\bask\w*(?: us| me)? (?:if|whether)\b{SPAN}\bhack\w*",
                     # the police or a bank investigating someone else's fraud
                     "allegation* of fraud", "alleged fraud", "fraud investigation*",
                     "investigation* into ... fraud", "fraud squad", "fraud unit",
                     # a colleague in the account is no takeover
                     "someone from ... team", "someone on ... team", "someone in ... team",
                     # an angry customer calling our charge fraud (a billing error)
                     "this is fraud", "that is fraud", "that's fraud", "this is a scam"),
        "compliance": ("police officer* ... customers", "dpa ... not needed"),
        "integrations": ("how do i ... integration*", "how can i ... integration*",
                         "is there an integration", "do you have an integration",
                         "does ... integrate with"),
    },
    "de": {
        "security": (rf"re:\bfrag\w*,? ob\b{SPAN}\bgehackt", "verdachts des betrug*",
                     "mutmasslich* betrug*", "das ist betrug", "das ist ... betrug",
                     "ist doch betrug"),
        "billing": ("wo finde ich ... rechnung*", "wie ... rechnung* ... herunterladen",
                    "rechnung* herunterladen", "wie ... zahlungsmethode ... andern",
                    "rechnungsadresse ... andern"),
        "integrations": ("wie ... integration ... einrichten", "gibt es eine integration"),
    },
    "fr": {
        "security": (rf"re:\bdemand\w* si\b{SPAN}\bpirat\w*", "presumee fraude",
                     "fraude presumee", "soupcons de fraude", "c'est de la fraude",
                     "c'est une fraude"),
        "billing": ("comment ... telecharger ... facture*", "ou ... trouver ... facture*",
                    "telecharger ... facture*", "modifier ... moyen de paiement"),
        "integrations": ("comment ... configurer ... integration", "existe-t-il une integration"),
    },
    "es": {
        "security": (rf"re:\bpregunt\w* si\b{SPAN}\bhacke\w*", "presunto fraude",
                     "supuesto fraude", "delito de fraude", "esto es un fraude",
                     "esto es una estafa"),
        "billing": ("como ... descargar ... factura*", "donde ... factura*",
                    "descargar ... factura*", "cambiar ... metodo de pago"),
        "integrations": ("como ... configurar ... integracion", "hay una integracion"),
    },
    "pt": {
        "security": (rf"re:\bpergunt\w* se\b{SPAN}\b(?:hacke|invadid)\w*", "suposta fraude",
                     "suposto golpe", "crime de fraude", "isso e fraude", "isso e um golpe",
                     "isso e golpe"),
        "billing": ("como ... baixar ... fatura*", "onde ... fatura*", "baixar ... fatura*",
                    "alterar ... forma de pagamento"),
        "integrations": ("como ... configurar ... integracao", "existe uma integracao"),
    },
}
PACKS: dict[str, dict[str, Pack]] = {
    code: {route: Pack(terms=(*BILLING_ERRORS[code], *terms[route]) if route == "billing" else
                       THIRD_PARTY_FAILURES[code] if route == "integrations" else terms[route],
                       exclude=_EXCLUDE.get(code, {}).get(route, ()))
           for route in PRECEDENCE}
    for code, terms in _TERMS.items()
}

# The customer confirms an answer ("thanks, that solved it"); not when the same words carry a
# "but", a "still" or a negation.
_CONFIRMED: dict[str, tuple[str, ...]] = {
    "en": ("thanks ... solved", "thanks ... fixed", "thanks ... sorted", "thanks ... resolved",
           "thank you ... solved", "thank you ... fixed", "thank you ... resolved",
           "that solved it", "that fixed it", "that answers my question", "that answers it",
           "makes sense", "all good now", "all sorted", "problem solved", "issue resolved",
           "got it, thanks", "understood, thanks", "that explains it", "that clears it up"),
    "de": ("danke ... gelost", "danke ... erledigt", "danke ... geklappt", "hat sich erledigt",
           "alles klar, danke", "das erklart es", "verstanden, danke", "problem gelost"),
    "fr": ("merci ... resolu", "merci ... regle", "c'est regle", "c'est resolu",
           "c'est clair, merci", "compris, merci", "probleme resolu"),
    "es": ("gracias ... resuelto", "gracias ... solucionado", "ya esta resuelto",
           "entendido, gracias", "problema resuelto", "todo claro, gracias"),
    "pt": ("obrigad* ... resolvido", "obrigad* ... deu certo", "ja resolveu",
           "entendi, obrigad*", "problema resolvido", "tudo certo, obrigad*"),
    "it": ("grazie ... risolto", "problema risolto"),
    "nl": ("bedankt ... opgelost", "probleem opgelost"),
}
_NOT_CONFIRMED = (r"re:\b(?:but|however|still|not|n't|never|aber|noch|nicht|mais|toujours|pas|"
                  r"pero|todavia|sigue|no|mas|ainda|continua|nao|ma|ancora|non|maar|nog|niet)\b",)


class Options(LanguageOptions):
    builtin_packs: ClassVar = PACKS

    packs: dict[str, dict[str, PackOptions]] = Field(
        default_factory=dict,
        description="Your own terms and exclusions per language code and route, added to the "
        "built-in pack of that route and language (or making a new language): "
        "{de = {billing = {terms = […], exclude = […]}}}. A term is a phrase (word* for any "
        "ending), 'a ... b' (near each other, in order), or re:<regular expression>.")
    routes: dict[str, Route] = Field(
        default_factory=lambda: {n: Route(**r) for n, r in DEFAULT_ROUTES.items()},
        description="Route (specialist team) name -> {keywords, exclude, tags, forms, fields, "
        "priority, suggestion, skip_answered}. Setting it replaces the built-in routes (billing, "
        "security, compliance, integrations); a route named like one of them without keywords "
        "keeps its built-in packs.")
    add_routes: dict[str, Route] = Field(
        default_factory=dict, description="More routes, added to `routes` once validated (a "
        "route of the same name is replaced).")
    precedence: list[str] = Field(
        default_factory=lambda: list(PRECEDENCE),
        description="When several routes match, the first of these wins; routes not listed come "
        "after, the one with most matches first, then the one listed first.")
    min_matches: int = Field(
        1, ge=1, description="How many different matches (terms, tags, forms or field values) "
        "a route needs before it is proposed.")
    comments: str = comment_scope("customer", "specialized")

    _scope = field_validator("comments")(check_scope)

    @field_validator("routes", "add_routes")
    @classmethod
    def _named_routes(cls, routes: dict[str, Route]) -> dict[str, Route]:
        cleaned = {}
        for name, route in routes.items():
            if not name.strip():
                raise ValueError("blank route name")
            cleaned[name.strip()] = route
        return cleaned

    @field_validator("routes")
    @classmethod
    def _some_route(cls, routes: dict[str, Route]) -> dict[str, Route]:
        if not routes:
            raise ValueError("give at least one route")
        return routes

    @field_validator("precedence")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        return list(dict.fromkeys(n.strip() for n in names if n.strip()))

    @model_validator(mode="after")
    def _added_routes_and_their_packs(self) -> Options:
        self.routes = {**self.routes, **self.add_routes}
        for code, packs in self.packs.items():
            unknown = [name for name in packs if name not in self.routes]
            if unknown:
                raise ValueError(f"packs.{code}: no route {', '.join(unknown)} (routes: "
                                 f"{', '.join(self.routes)})")
        for name, route in self.routes.items():
            packed = any(name in PACKS.get(code, {}) for code in self.languages) or any(
                name in packs for packs in self.packs.values())
            if not (route.matches_on_its_own() or packed):  # named by its key, as in a Route
                where = "add_routes" if name in self.add_routes else "routes"
                raise ValidationError.from_exception_data("Options", [InitErrorDetails(
                    type=PydanticCustomError(
                        "value_error", "a route needs at least one of keywords, tags, forms or "
                        "fields (only billing, security, compliance and integrations have "
                        "built-in packs)"),
                    loc=(where, name), input=route.model_dump())])
        return self


@hookimpl
def tierlift_register_policy(register):
    register(Options, needs={"comments"},
             summary="The request needs a specialist team (billing, security, compliance...)")


class _Matchers:
    """Each route's matcher (None: the route has no terms), and what confirms an answer."""

    def __init__(self, options: Options) -> None:
        self.routes: dict[str, Matcher | None] = {}
        for name, route in options.routes.items():
            terms, exclude = list(route.keywords), [*options.exclude, *route.exclude]
            for code in options.languages:
                pack = PACKS.get(code, {}).get(name)
                if pack is not None:
                    exclude += pack.exclude
                    if not route.keywords:
                        terms += pack.terms
            for packs in options.packs.values():
                if name in packs:
                    terms += packs[name].terms
                    exclude += packs[name].exclude
            self.routes[name] = (matcher(tuple(terms), tuple(exclude), options.negation)
                                 if terms else None)
        self.confirmed = matcher(
            tuple(t for code in options.languages for t in _CONFIRMED.get(code, ())),
            _NOT_CONFIRMED, True)


@hookimpl
def tierlift_evaluate(ticket, ctx):
    options = ctx.options
    text = ticket_text(ticket, options.comments)
    matchers = per_options(options, _Matchers)
    answered = None  # whether the customer confirmed an answer: computed when needed
    tags = {t.lower() for t in ticket.tags}
    form = str(ticket.form).strip().lower() if ticket.form is not None else None
    rank = {name: n for n, name in enumerate(options.precedence)}
    candidates = []
    for order, (name, route) in enumerate(options.routes.items()):
        if route.skip_answered:  # an answered question is no one's, whatever its tags say
            if answered is None:
                answered = _answered(ticket, matchers.confirmed)
            if answered:
                continue
        spans = []
        if matchers.routes[name] is not None:
            spans = _matches(text, matchers.routes[name])
        labels = list(dict.fromkeys(" ".join(text.original_of(s).lower().split())
                                    for s in spans))
        labels += [f"tag {t}" for t in route.tags if t in tags]
        if form is not None and form in route.forms:
            labels.append(f"form {form}")
        for field_id, values in route.fields.items():
            labels += [f"field {field_id} = {v}"
                       for v in field_values(ticket.custom_fields.get(field_id)) if v in values]
        if len(labels) >= options.min_matches:
            key = (rank.get(name, len(rank)), -len(labels), order)
            candidates.append((key, name, route, labels, spans))
    if not candidates:
        return None
    _, name, route, labels, spans = min(candidates, key=lambda c: c[0])
    count = len(labels)
    evidence = ctx.evidence(
        f"route:{name}",
        f"needs the {name} team ({count} match{'es' if count > 1 else ''}): {', '.join(labels)}",
        quote=text.quote(*spans[0]) if spans else None,
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


def _matches(text: CustomerText, route: Matcher) -> list[tuple[int, int]]:
    """Where the route's terms first occur, in the order of the text, overlaps dropped."""
    spans: list[tuple[int, int]] = []
    for start, end in sorted(m.span() for m in route.first_matches(text).values()):
        if not spans or start >= spans[-1][1]:
            spans.append((start, end))
    return spans


def _answered(ticket, confirmed: Matcher) -> bool:
    """An agent replied publicly, and the customer's latest comment, written after that,
    confirms the answer."""
    replied: datetime | None = None
    for comment in ticket.comments:
        if comment.public and comment.author_role is AuthorRole.AGENT:
            replied = comment.created_at
    latest = ticket.customer_comments[-1] if ticket.customer_comments else None
    if replied is None or latest is None or latest.created_at <= replied:
        return False
    return bool(confirmed.first_matches(CustomerText("", [latest.body])))
