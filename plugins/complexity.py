"""complexity: the ticket needs deep product expertise (a weighted score of technical signals)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, NamedTuple

from pydantic import Field, ValidationInfo, field_validator

from plugins import hookimpl
from plugins.keywords import SPAN, SYNC_FAILURES, THIRD_PARTY_FAILURES, WeightedPackOptions
from plugins.options import OptionalName
from plugins.packs import LanguageOptions, Pack, check_scope, comment_scope, pack_matcher
from plugins.text import Matcher, as_text, field_values, normalise_term, per_options, ticket_text

EVIDENCE_KEY = "score"  # one per ticket and tier stint: "score", then "score:<moved in at>"

# The built-in signals and their weights: each failure the written policy names is enough on its
# own at the default threshold 5; an error line, a 500 or a sync failing without saying whose
# ("our nightly sync started failing": a connector's, or the customer's own script hitting a
# rate limit) needs a second signal.
SSO, API, DATA, CONNECTOR, CONFIG, TRACE, ERROR_LINE, SERVER_ERROR, SYNC = (
    "SSO/SAML failure", "API/SDK/webhook error", "data loss/corruption", "broken connector",
    "routing/SLA setup tier 1 could not fix", "stack trace", "error line", "server error",
    "sync failing")
SIGNALS: dict[str, float] = {SSO: 5, API: 5, DATA: 5, CONNECTOR: 5, CONFIG: 5, TRACE: 5,
                             ERROR_LINE: 3, SERVER_ERROR: 3, SYNC: 3}
# A sync failing is the named connector's failure when there is one: it does not add to it.
COVERED = {SYNC: CONNECTOR}

_STATUS = r"(?:40[0-59]|41[05]|422|500)"  # client errors and the 500; not 429, not 502-504
_CONFIGURED = r"(?:routing|routes?|slas?|triggers?|automations?|workflows?|assignment rules?)"
_COULD_NOT = (r"(?:could ?n[o'\u2019]?t|can ?not|can['\u2019]t|unable to|"
              r"did ?n[o'\u2019]?t manage to)")
_LINE = r"(?<![^\n\0])[ \t]*"  # the start of a line
_FIX = (r"(?:fix|resolve|solve|figure (?:it |this )?out|explain|make sense of|"
        r"get (?:it|this|them) (?:to )?(?:work|apply|fire|trigger|attach))")
# Tier 1 saying it is out of its depth ("beyond me, needs someone who knows SLA internals").
_GAVE_UP = (rf"(?:{_COULD_NOT} {_FIX}|beyond me|out of my depth|no idea why|stumped|"
            r"needs? (?:someone|somebody) (?:who knows|from (?:l2|tier 2|engineering)))")
# An API call written as its method and path ("POST /v2/records:bulk", ".../api/v2/…").
_ENDPOINT = (r"(?:\b(?:get|post|put|patch|delete) /[\w/.:{}\-]+|(?<![\w/])/api/[\w/.:{}\-]*|"
             r"\b(?:api|webhooks?|sdk|endpoints?|graphql)\b)")

# Signals written the same way in every language: status codes, stack traces, error lines.
_ANY: dict[str, tuple[str, ...]] = {
    API: (rf"re:{_ENDPOINT}{SPAN}\b{_STATUS}s?\b",  # "500s from /api/v2/contacts/bulk"
          rf"re:\b{_STATUS}s?\b{SPAN}{_ENDPOINT}"),
    TRACE: (r"re:traceback \(most recent call last\)",
            rf"re:{_LINE}file \"[^\"\n]+\", line \d+",  # Python
            rf"re:{_LINE}at [\w$.<>]+\((?:[\w$]+\.(?:java|kt|scala):\d+|native method|unknown "
            r"source)\)",  # Java
            rf"re:{_LINE}at [\w.<>`\[\], ]+\(.*\) in \S+:line \d+",  # .NET
            rf"re:{_LINE}at (?:[\w$.<>]+ )?\(?(?:https?://|file:|/|[a-z]:\\)[^\s)]+:\d+:\d+\)?"),
    ERROR_LINE: (r"re:(?<![^\s\0])[\w$.]*\w(?:exception|error):",),
    SERVER_ERROR: ("500 error", "error 500", "http 500", "internal server error"),
}
# How a cause written next to an error explains it ("… 401 because the token expired").
_EXPLAINED = (
    r"re:\b(?:[\w$.]*(?:exception|error)|errors?|erreurs?|fehler|erros?|errore|fout|fail\w*|"
    r"4\d\d|500)\b[^\n\0]{0,80}?\b(?:because|due to|caused by(?!:)|which means|that means|"
    r"known (?:issue|bug|cause)|as expected|weil|wegen|bekannte[rs]? (?:fehler|problem)|"
    r"parce que|a cause d|probleme connu|porque|debido a|problema conocido|devido a|"
    r"por causa d|problema conhecido|perche|omdat)\b")
# A bare outage symptom (a 503, "the site is down"): incident's business, not expertise.
_OUTAGE = (r"re:\b(?:http )?50[234]\b(?: (?:error|service unavailable|bad gateway|gateway "
           r"time-?out))?", "service unavailable", "bad gateway",
           r"re:\b(?:site|website|app|api|service|server|platform|dashboard|portal)s? "
           r"(?:is|are|seems|seem|went|was) (?:completely |totally )?down\b")

# A span of one sentence without a negation in it: "3,000 contacts are just gone", not "the
# contacts were not lost".
_AFFIRMED = (r"(?:(?!\b(?:not|never|nicht|nie|keine?|pas|jamais|nao|nunca|niet|geen|non)\b|"
             r"n['\u2019]t\b)(?:[^.!?\n\0]|\.(?=\S))){0,60}?")


def _records(stored: str, lost: str, listed: str, doubled: str, chars: str, garbled: str,
             losing: str = "", few: str = "", more: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Records a customer keeps in the product lost, corrupted or duplicated, in one language:
    ``stored`` things (contacts, rows, notes…) then how they were ``lost`` or corrupted
    ("3,000 contacts are just gone", "les fiches … corrompues"); ``listed`` things (customers
    too) then ``doubled`` ("jeder Kunde doppelt angelegt"); text ``chars`` then ``garbled``
    ("accents mangled", "caractères cassés"); where the language puts the verb first,
    ``losing`` then a few determiners (``few``) then the stored things ("the import duplicated
    every contact", "each run drops a different set of rows", "se perdieron 300 registros");
    and ``more`` terms of the language."""
    terms = [rf"re:\b{stored}\b{_AFFIRMED}\b{lost}(?!\w)",
             rf"re:\b{listed}\b{_AFFIRMED}\b{doubled}(?!\w)",
             rf"re:\b{chars}\b{_AFFIRMED}\b{garbled}(?!\w)"]
    if losing:
        terms.append(rf"re:\b{losing}\s+(?:(?:{few}|\d[\d,.']*)\s+){{0,4}}{stored}\b")
    return (*terms, *more)


_RECORDS: dict[str, tuple[str, ...]] = {
    "en": _records(
        r"(?:data|records?|contacts?|rows?|entries|entry|notes?|tickets?|attachments?|"
        r"messages?|conversations?|orders?|bookings?|appointments?|history|documents?|"
        r"exports?|database)",
        r"(?:(?:(?:is|are|was|were|has|have|had|got|just|simply|all|completely|now|been|"
        r"suddenly) )*(?:gone(?! (?:up|down|through|over|back|into|out|live))|vanished|"
        r"disappeared|wiped(?: out)?|corrupt(?:ed)?|garbled|mangled|scrambled)|"
        r"(?:were|was|been|got|gets|getting|being) lost)",
        r"(?:customers?|clients?|contacts?|companies|accounts?|users?|leads?|deals?|records?|"
        r"entries|rows?|tickets?|orders?|bookings?|appointments?|invoices?)",
        r"(?:duplicated|doubled|tripled|(?:(?:is|are|was|were|now|all|appears?|appearing|"
        r"shows?|showing|show up|shows up|listed|exists?|imported|created|there) )+(?:twice|"
        r"three times|two times|in duplicate))",
        r"(?:accents|accented (?:characters|letters|names)|special characters|umlauts|"
        r"diacritics|characters)",
        r"(?:broken|garbled|mangled|corrupted|scrambled|replaced by|turned into|show up as)",
        r"(?:lost|wiped(?: out)?|corrupted|duplicated|(?<!\bwe )(?<!\bi )(?:drops|dropped|"
        r"dropping))",
        r"(?:all|every|each|of|our|the|my|their|your|some|many|most|half|these|those|about|"
        r"around|over|nearly|almost|a|an|different|random|set|whole|entire)"),
    "de": _records(
        r"(?:daten|datensatze|datensatz|kontakte|kontakt|eintrage|eintrag|zeilen|notizen|"
        r"buchungen|termine|tickets|nachrichten|anhange|dokumente|historie|verlauf|exporte?)",
        r"(?:(?:sind|ist|waren|war)(?: (?:einfach|alle|komplett|plotzlich|jetzt|ganz))* weg|"
        r"verschwunden|verloren|beschadigt|korrupt\w*|zerschossen)",
        r"(?:kunden|kunde|kontakte|kontakt|datensatze|datensatz|eintrage|eintrag|firmen|"
        r"buchungen|termine|tickets|rechnungen)",
        r"(?:doppelt|dreifach|dupliziert|(?:zweimal|dreimal) (?:da|drin|vorhanden|angelegt|"
        r"importiert|aufgefuhrt|gelistet))",
        r"(?:umlaute|sonderzeichen)",
        r"(?:kaputt|zerschossen|kryptisch|verstummelt|korrupt\w*|falsch dargestellt)",
        more=(r"re:\b(?:daten|datensatze|kontakte|eintrage|notizen|buchungen|termine|tickets|"
              r"nachrichten|dokumente)\s+(?:(?:sind|waren|einfach|alle|komplett|plotzlich|jetzt|"
              r"ganz|auf einmal)\s+)*weg\b",)),
    "fr": _records(
        r"(?:donnees|fiches|contacts|enregistrements|lignes|notes|tickets|messages|"
        r"pieces jointes|commandes|reservations|rendez-vous|historique|exports?)",
        r"(?:disparu\w*|perdu\w*|corrompu\w*|abime\w*|endommage\w*)",
        r"(?:clients|contacts|fiches|enregistrements|lignes|societes|comptes|commandes|"
        r"reservations|tickets|factures)",
        r"(?:en double|en doublon|dupliqu\w*|(?:apparaissent|apparait|sont|est|existent|"
        r"importes?|crees?) (?:deux|trois) fois)",
        r"(?:accents|caracteres(?: speciaux| accentues)?|lettres accentuees)",
        r"(?:abim\w*|cass\w*|corrompu\w*|illisibles|bizarres|remplace\w*|mal affiche\w*)"),
    "es": _records(
        r"(?:datos|registros|contactos|filas|entradas|notas|tickets|mensajes|adjuntos|pedidos|"
        r"reservas|citas|historial|exportacion\w*)",
        r"(?:desaparec\w*|perdid\w*|corrupt\w*|danad\w*)",
        r"(?:clientes|contactos|registros|filas|cuentas|empresas|pedidos|reservas|citas|"
        r"tickets|facturas)",
        r"(?:duplicad\w*|por duplicado|triplicad\w*|repetid\w*|(?:aparece\w*|estan|salen|"
        r"existen|importad\w*|cread\w*) (?:dos|tres) veces)",
        r"(?:acentos|tildes|caracteres(?: especiales)?)",
        r"(?:rot\w*|corrupt\w*|raros|extranos|ilegibles|mal)",
        r"(?:perdimos|perdido|perdieron|desaparecieron|desaparecido|corrompio|duplico|"
        r"duplicado)",
        r"(?:los|las|todos|todas|nuestros|nuestras|mis|sus|unos|unas|casi|mas de|cerca de)"),
    "pt": _records(
        r"(?:dados|registros|contatos|linhas|notas|tickets|mensagens|anexos|pedidos|reservas|"
        r"agendamentos|historico|exportac\w*)",
        r"(?:sumi\w*|desaparec\w*|perdid\w*|corrompid\w*|danificad\w*)",
        r"(?:clientes|contatos|registros|linhas|contas|empresas|pedidos|reservas|tickets|"
        r"faturas)",
        r"(?:duplicad\w*|em dobro|triplicad\w*|repetid\w*|(?:aparece\w*|estao|importad\w*|"
        r"criad\w*) (?:duas|tres) vezes)",
        r"(?:acentos|caracteres(?: especiais)?)",
        r"(?:quebrad\w*|corrompid\w*|estranhos|ilegiveis|errados)",
        r"(?:perdemos|perdeu|sumiram|desapareceram|corrompeu|duplicou)",
        r"(?:os|as|todos|todas|nossos|nossas|meus|minhas|seus|uns|umas|quase|mais de|cerca de)"),
    "it": _records(
        r"(?:dati|record|contatti|righe|note|ticket|messaggi|allegati|ordini|prenotazioni|"
        r"appuntamenti|cronologia)",
        r"(?:spari\w*|scompars\w*|pers[io]|perdut\w*|corrott\w*|danneggiat\w*)",
        r"(?:clienti|contatti|record|righe|ordini|prenotazioni|ticket|fatture)",
        r"(?:duplicat\w*|doppi[oae]?|(?:due|tre) volte)",
        r"(?:accenti|caratteri(?: speciali| accentati)?)",
        r"(?:rott\w*|corrott\w*|strani|illeggibili)"),
    "nl": _records(
        r"(?:gegevens|data|records|contacten|rijen|notities|tickets|berichten|bijlagen|"
        r"boekingen|afspraken|bestellingen|geschiedenis|export)",
        r"(?:(?:zijn|is|waren|was)(?: (?:allemaal|gewoon|ineens|opeens|helemaal))* weg|"
        r"verdwenen|kwijt|verloren|beschadigd|corrupt)",
        r"(?:klanten|contacten|records|rijen|boekingen|afspraken|bestellingen|tickets|"
        r"facturen)",
        r"(?:dubbel|gedupliceerd|verdubbeld|(?:twee|drie) keer)",
        r"(?:accenten|tekens|speciale tekens)",
        r"(?:kapot|beschadigd|vreemd\w*|onleesbaar|verminkt)"),
}
# A SAML assertion or SSO login the product turns away ("SAML assertion rejected").
_REJECTED: dict[str, tuple[str, ...]] = {
    "en": ("saml ... reject*", "sso ... reject*", "assertion* ... reject*",
           "assertion* ... invalid", "saml ... denied", "sso ... denied", "saml ... mismatch*"),
    "de": ("saml ... abgelehnt", "sso ... abgelehnt", "assertion ... abgelehnt",
           "saml ... zuruckgewiesen"),
    "fr": ("saml ... rejet*", "sso ... rejet*", "assertion ... rejet*", "saml ... refus*"),
    "es": ("saml ... rechaz*", "sso ... rechaz*", "asercion ... rechaz*"),
    "pt": ("saml ... rejeit*", "sso ... rejeit*", "asserc* ... rejeit*", "saml ... recusad*"),
    "it": ("saml ... rifiutat*", "sso ... rifiutat*"),
    "nl": ("saml ... geweigerd", "saml ... afgewezen", "sso ... geweigerd"),
}

_TERMS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        SSO: ("sso ... fail*", "saml ... fail*", "sso ... error*", "saml ... error*",
              "sso ... broke*", "saml ... broke*", "sso ... not working", "saml ... not working",
              "sso ... stopped working", "fail* ... sso", "fail* ... saml", "error* ... sso",
              "error* ... saml", "invalid saml", "saml response ... invalid", "sso ... loop*",
              "scim ... fail*", "scim ... error*", "ldap ... fail*", "ldap ... error*",
              "oauth ... fail*", "oauth ... error*", "invalid_grant", "idp ... error*",
              "identity provider ... error*"),
        API: ("api ... error*", "api ... fail*", "api ... exception*", "error* ... api",
              "fail* ... api", "webhook* ... fail*", "webhook* ... error*", "fail* ... webhook*",
              "webhook* ... not firing", "webhook* ... not delivered", "webhook* ... stopped",
              "sdk ... throw*", "sdk ... crash*", "sdk ... exception*", "sdk ... error*",
              "sdk ... fail*"),
        DATA: ("data loss", "lost data", "lost all ... data", "lost our data", "lost my data",
               "lost the data", "lost customer data", "data ... was lost", "data ... were lost",
               "data ... been lost", "data ... got lost", "data is gone", "data are gone",
               "data has gone", "data gone", "data ... disappeared", "data ... vanished",
               "data ... wiped", "records ... disappeared", "records ... vanished",
               "data corruption", "corrupted data", "corrupt data", "data ... corrupted",
               "data ... is corrupt", "duplicate* records", "duplicate* entries",
               "records ... duplicated", "entries ... duplicated", "data ... duplicated",
               "contacts ... duplicated"),
        CONFIG: (rf"re:\b{_CONFIGURED}\b[^\n\0]{{0,120}}?\b{_GAVE_UP}",
                 rf"re:\b{_GAVE_UP}\b[^\n\0]{{0,60}}?\b{_CONFIGURED}\b"),
    },
    "de": {
        SSO: ("sso ... fehler*", "saml ... fehler*", "fehler* ... sso", "fehler* ... saml",
              "sso ... fehlgeschlagen", "saml ... fehlgeschlagen", "sso ... schlagt fehl",
              "saml ... schlagt fehl", "schlagt ... sso ... fehl", "schlagt ... saml ... fehl",
              "sso ... funktioniert nicht", "saml ... funktioniert nicht",
              "sso ... geht nicht", "saml ... ungultig", "scim ... fehler*", "ldap ... fehler*"),
        API: ("api ... fehler*", "fehler* ... api", "api ... fehlgeschlagen",
              "schnittstelle ... fehler*", "webhook* ... fehler*", "webhook* ... fehlgeschlagen",
              "webhook* ... kommen nicht an", "sdk ... fehler*", "sdk ... wirft",
              "sdk ... absturz*", "sdk ... sturzt ab"),
        DATA: ("daten verloren", "datenverlust", "daten ... verloren", "daten sind weg",
               "daten ... verschwunden", "daten ... geloscht worden", "daten ... beschadigt",
               "beschadigte daten", "daten ... korrupt*", "korrupte daten",
               "datensatze ... doppelt", "doppelte datensatze", "doppelte eintrage",
               "eintrage ... doppelt", "datensatze ... verschwunden"),
        CONFIG: (r"re:\b(?:routing|weiterleitung\w*|sla|trigger|automatisierung\w*|workflow\w*|"
                 r"zuweisungsregel\w*)\b[^\n\0]{0,120}?\b(?:konnten|konnte|kann|konnen) "
                 r"(?:\w+ ){0,3}?nicht (?:beheben|losen|reparieren|klaren|erklaren)",),
    },
    "fr": {
        SSO: ("sso ... echou*", "saml ... echou*", "sso ... erreur*", "saml ... erreur*",
              "erreur* ... sso", "erreur* ... saml", "echec ... sso", "echec ... saml",
              "sso ... ne fonctionne plus", "sso ... ne fonctionne pas", "sso ... ne marche plus",
              "sso ... ne marche pas", "saml ... invalide", "scim ... erreur*",
              "ldap ... erreur*"),
        API: ("api ... erreur*", "erreur* ... api", "api ... echou*", "echec ... api",
              "webhook* ... erreur*", "webhook* ... echou*", "echec ... webhook*",
              "sdk ... erreur*", "sdk ... plante", "sdk ... leve ... exception*",
              "sdk ... exception*"),
        DATA: ("donnees perdues", "perte de donnees", "donnees ... perdu*",
               "perdu ... donnees", "donnees ... disparu*", "donnees corrompues",
               "donnees ... corrompu*", "corruption ... donnees", "donnees ... dupliquee*",
               "donnees ... en double", "enregistrements ... en double", "doublons ... apparu*",
               "donnees ... effacee*"),
        CONFIG: (r"re:\b(?:routage|sla|regles?|declencheurs?|automatisations?|workflows?)\b"
                 r"[^\n\0]{0,120}?\b(?:n'avons pas pu|n'ai pas pu|n'arrivons pas a|n'arrive pas a|"
                 r"impossible de) (?:\w+ )?(?:resoudre|corriger|regler|reparer|expliquer)",),
    },
    "es": {
        SSO: ("sso ... falla*", "saml ... falla*", "fallo ... sso", "fallo ... saml",
              "sso ... no funciona", "saml ... no funciona", "saml ... invalid*",
              "scim ... falla*", "ldap ... falla*"),
        API: ("api ... falla*", "fallo ... api", "webhook* ... falla*", "webhook* ... fallan",
              "sdk ... lanza ... excepcion*", "sdk ... falla*", "sdk ... excepcion*"),
        DATA: ("datos perdidos", "perdida de datos", "datos ... perdido*", "perdimos ... datos",
               "datos ... desaparec*", "datos ... borrado*", "datos corruptos",
               "datos ... corrupto*", "datos ... danado*", "datos duplicados",
               "datos ... duplicado*", "registros duplicados", "registros ... duplicado*"),
        CONFIG: (r"re:\b(?:enrutamiento|sla|reglas?|disparadores?|automatizacion\w*|flujos?)\b"
                 r"[^\n\0]{0,120}?\bno (?:pudimos|pude|logramos|conseguimos) (?:\w+ )?"
                 r"(?:resolver|arreglar|corregir|solucionar|explicar)",),
    },
    "pt": {
        SSO: ("sso ... falha*", "saml ... falha*", "sso ... erro*", "saml ... erro*",
              "erro* ... sso", "erro* ... saml", "falha* ... sso", "falha* ... saml",
              "sso ... nao funciona", "saml ... nao funciona", "saml ... invalid*",
              "scim ... erro*", "ldap ... erro*"),
        API: ("api ... erro*", "erro* ... api", "api ... falha*", "falha* ... api",
              "webhook* ... erro*", "webhook* ... falha*", "sdk ... lanca ... excecao",
              "sdk ... lanca ... excecoes", "sdk ... erro*", "sdk ... falha*"),
        DATA: ("dados perdidos", "perda de dados", "dados ... perdido*", "perdemos ... dados",
               "dados ... sumi*", "dados ... desaparec*", "dados corrompidos",
               "dados ... corrompido*", "dados duplicados", "dados ... duplicado*",
               "registros duplicados", "registros ... duplicado*"),
        CONFIG: (r"re:\b(?:roteamento|sla|regras?|gatilhos?|automac\w+|fluxos?)\b"
                 r"[^\n\0]{0,120}?\bnao (?:conseguimos|consegui) (?:\w+ )?"
                 r"(?:resolver|corrigir|consertar|solucionar|explicar)",),
    },
    "it": {
        SSO: ("sso ... errore", "saml ... errore", "sso ... non funziona",
              "saml ... non funziona"),
        API: ("api ... errore", "webhook* ... errore", "sdk ... errore", "sdk ... eccezion*"),
        DATA: ("dati persi", "perdita di dati", "dati ... persi", "dati ... corrott*",
               "dati duplicati", "dati ... duplicati"),
    },
    "nl": {
        SSO: ("sso ... fout*", "saml ... fout*", "sso ... werkt niet", "saml ... werkt niet"),
        API: ("api ... fout*", "webhook* ... fout*", "sdk ... fout*"),
        DATA: ("gegevens kwijt", "gegevens ... verloren", "dataverlies", "gegevens ... weg",
               "gegevens ... beschadigd", "dubbele records"),
    },
}
# Near misses: how-to questions that merely mention SSO or an API, explained errors, outages.
_EXCLUDE: dict[str, tuple[str, ...]] = {
    "en": (*(f"how ... {verb} {what}" for verb in ("set up", "setup", "configure", "enable")
             for what in ("sso", "saml")),
           "sso documentation", "sso docs", "saml documentation", "where is ... api",
           "where can i ... api", "where do i ... api", "api documentation", "api docs",
           "api reference", "is there an api", "how do i use the api", "how do i call the api",
           "how to use the api", "how do i access the api",
           "how do i handle ... fail*", "how should we handle ... error*",
           "how to handle ... error*", "prevent data loss", "avoid data loss",
           "risk of data loss", "data loss prevention", "in case of data loss",
           "protect against data loss", "how do i duplicate", "how can i duplicate",
           "how to duplicate", "merge duplicate*", "remove duplicate*", "find duplicate*",
           "how do i set up ... integration*", "how do i connect ... integration*",
           "what happens if ... fail*", "what happens when ... fail*", "what if ... fail*",
           "in case ... fail*",
           r"re:\b(?:prevent\w*|avoid\w*)\b[^.!?\n\0]{0,60}?\b(?:duplicat\w*|twice|lost|gone|"
           r"corrupt\w*)",
           r"re:\bhow (?:do|can|could|should|to) (?:i |we |you )?(?:find|merge|remove|delete|"
           r"clean up|dedupe|de-?duplicate|spot|identify)\b[^.!?\n\0]{0,60}",
           # an erasure request: the customer wants the data gone
           r"re:\b(?:want|need|ask|asking|request|requesting|demand|like)\b[^.!?\n\0]{0,40}?"
           r"\b(?:gone|wiped|deleted|erased|removed)\b"),
    "de": ("wie richte ich ... sso", "wie richte ich ... saml", "wie ... sso ... einrichten",
           "wie ... saml ... einrichten", "wo finde ich ... api", "api-dokumentation",
           "api dokumentation", "datenverlust vermeiden", "datenverlust verhindern",
           "vor datenverlust", "duplikate entfernen", "duplikate zusammenfuhren",
           r"re:\b(?:verhinder\w*|vermeid\w*)\b[^.!?\n\0]{0,60}?\b(?:doppelt|verloren|weg|"
           r"verschwunden)",
           r"re:\bwie (?:finde|entferne|losche|bereinige|erkenne) ich\b[^.!?\n\0]{0,60}"),
    "fr": ("comment ... configurer le sso", "comment ... configurer ... saml",
           "comment ... mettre en place le sso", "ou trouver ... api", "documentation de l'api",
           "documentation api", "eviter ... perte de donnees", "risque de perte de donnees",
           "comment dupliquer", "supprimer les doublons", "fusionner les doublons",
           r"re:\bevit\w*\b[^.!?\n\0]{0,60}?\b(?:en double|en doublon|dupliqu\w*|perdu\w*)",
           r"re:\b(?:veux|voudrais|demande|exige)\b[^.!?\n\0]{0,60}?\b(?:effac\w*|supprim\w*)"),
    "es": ("como configuro el sso", "como ... configurar el sso",
           "donde esta ... api", "documentacion de la api", "evitar ... perdida de datos",
           "como duplicar", "eliminar duplicados", "fusionar duplicados",
           r"re:\bevit\w*\b[^.!?\n\0]{0,60}?\b(?:duplicad\w*|perdid\w*|repetid\w*)",
           r"re:\b(?:quiero|solicito|exijo|pido)\b[^.!?\n\0]{0,60}?\b(?:borr\w*|elimin\w*)"),
    "pt": ("como configuro o sso", "como ... configurar o sso",
           "onde esta ... api", "documentacao da api", "evitar ... perda de dados",
           "como duplicar", "remover duplicados", "mesclar duplicados",
           r"re:\bevit\w*\b[^.!?\n\0]{0,60}?\b(?:duplicad\w*|perdid\w*|repetid\w*)",
           r"re:\b(?:quero|solicito|exijo|peco)\b[^.!?\n\0]{0,60}?\b(?:apag\w*|exclu\w*|"
           r"elimin\w*)"),
    "it": ("come configuro ... sso", "come ... configurare ... sso", "documentazione ... api"),
    "nl": ("hoe stel ik ... sso", "hoe ... sso instellen", "api documentatie", "api-documentatie"),
}
_COMMON_EXCLUDE = (_EXPLAINED, *_OUTAGE)

# Per language: each signal's terms, those written alike in every language included.
_SIGNAL_TERMS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    code: [*terms.items(), (SSO, _REJECTED[code]), (DATA, _RECORDS[code]),
           (CONNECTOR, THIRD_PARTY_FAILURES[code]), (SYNC, SYNC_FAILURES[code]), *_ANY.items()]
    for code, terms in _TERMS.items()
}
PACKS: dict[str, Pack] = {
    code: Pack(terms=tuple(t for _, ts in signals for t in ts),
               exclude=(*_EXCLUDE[code], *_COMMON_EXCLUDE))
    for code, signals in _SIGNAL_TERMS.items()
}
# A built-in term -> the signal it is evidence of.
SIGNAL_OF: dict[str, str] = {normalise_term(term): signal
                             for signals in _SIGNAL_TERMS.values()
                             for signal, ts in signals for term in ts}


def _key(term: str) -> str:
    term = term.strip()
    return term if term.startswith("re:") else " ".join(term.lower().split())


def _weights(weights: dict[str, float], what: str) -> dict[str, float]:
    cleaned: dict[str, float] = {}
    for name, weight in weights.items():
        name = _key(name)
        if not name:
            raise ValueError(f"blank {what}")
        if name in cleaned:
            raise ValueError(f"{what} {name!r} is listed twice")
        if weight <= 0:
            raise ValueError(f"the weight of {what} {name!r} must be positive, got {weight:g}")
        cleaned[name] = weight
    return cleaned


class Options(LanguageOptions):
    builtin_packs: ClassVar = PACKS

    packs: dict[str, WeightedPackOptions] = Field(
        default_factory=dict,
        description="Your own weighted terms and exclusions per language code, added to the "
        "built-in pack of that language (or making a new language): {terms = {term = weight}, "
        "exclude = […]}. A term is a phrase (word* for any ending), 'a ... b' (near each other, "
        "in order), or re:<regular expression>.")
    keywords: dict[str, float] | None = Field(
        None, description="Replace the built-in packs with these terms -> weight (any "
        "language); empty: use the packs of `languages`. Exclusions and negation still apply.")
    add_keywords: dict[str, float] = Field(
        default_factory=dict, description="More terms -> weight, added to the built-in packs.")
    comments: str = comment_scope("all", "complexity")
    tags: dict[str, float] = Field(
        default_factory=dict, description="Ticket tags -> weight (case-insensitive).")
    forms: dict[str, float] = Field(
        default_factory=dict, description="Ticket form (Zendesk form id, Jira issue type) -> "
        "weight (case-insensitive).")
    fields: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Custom field id -> {value: weight}; a multi-select "
        "field scores each of its values (case-insensitive).")
    threshold: float = Field(
        5, gt=0, validate_default=True, description="Escalate once the score (sum of the "
        "weights of the signals present, each once) reaches this.")
    steps_up: int = Field(
        1, ge=1, description="How many tiers above the tier the ticket had when the score "
        "reached the threshold.")
    tier: OptionalName = Field(
        None, description="Propose this tier of your ladder instead (absolute); empty: use "
        "steps_up.")

    _scope = field_validator("comments")(check_scope)

    @field_validator("packs")
    @classmethod
    def _pack_weights(cls, packs: dict[str, WeightedPackOptions]) -> dict[str, WeightedPackOptions]:
        for code, pack in packs.items():
            pack.terms = _weights(pack.terms, f"term of pack {code}")
        return packs

    @field_validator("keywords", "add_keywords", "tags", "forms")
    @classmethod
    def _clean_weights(cls, weights: dict[str, float] | None,
                       info: ValidationInfo) -> dict[str, float] | None:
        if weights is None:
            return None
        what = {"tags": "tag", "forms": "form"}.get(info.field_name, "keyword")
        return _weights(weights, what)

    @field_validator("fields", mode="before")
    @classmethod
    def _values_as_text(cls, fields: object) -> object:
        if not isinstance(fields, dict):
            return fields
        return {k: {as_text(v): w for v, w in vs.items()} if isinstance(vs, dict) else vs
                for k, vs in fields.items()}

    @field_validator("fields")
    @classmethod
    def _clean_fields(cls, fields: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        cleaned = {}
        for field_id, values in fields.items():
            if not field_id.strip():
                raise ValueError("blank field id")
            if not values:
                raise ValueError(f"field {field_id.strip()}: give at least one value")
            cleaned[field_id.strip()] = _weights(values, f"value of field {field_id.strip()}")
        return cleaned

    @field_validator("threshold")
    @classmethod
    def _reachable(cls, threshold: float, info: ValidationInfo) -> float:
        signals = ("languages", "packs", "keywords", "add_keywords", "tags", "forms", "fields")
        data = info.data
        if not all(name in data for name in signals) or any(
                c not in PACKS and c not in data["packs"] for c in data["languages"]):
            return threshold  # an invalid signal option is reported on its own
        builtin = data["keywords"] is None and any(c in PACKS for c in data["languages"])
        weights = [*(SIGNALS.values() if builtin else ()), *(data["keywords"] or {}).values(),
                   *data["add_keywords"].values(), *data["tags"].values(),
                   *data["forms"].values(),
                   *(w for pack in data["packs"].values() for w in pack.terms.values()),
                   *(w for values in data["fields"].values() for w in values.values())]
        if round(sum(weights), 6) < threshold:
            raise ValueError(f"all weights together add up to {sum(weights):g}, less than the "
                             f"threshold {threshold:g}: the policy could never fire")
        return threshold


@hookimpl
def tierlift_register_policy(register):
    register(Options, needs={"comments"},
             summary="Technical signals add up: the ticket needs deep product expertise")


class _Signal(NamedTuple):
    label: str
    weight: float
    at: datetime
    span: tuple[int, int] | None = None  # where a keyword first appears in the ticket's text


class _Terms(NamedTuple):
    matcher: Matcher
    admin: dict[str, float]  # the admin's terms (as matched) -> weight; the rest are built in


def _terms(options: Options) -> _Terms:
    admin = {**(options.keywords or {}), **options.add_keywords}
    for pack in options.packs.values():
        for term, weight in pack.terms.items():
            admin.setdefault(term, weight)
    matcher = pack_matcher(options, tuple(admin), builtin=options.keywords is None)
    return _Terms(matcher, admin)


@hookimpl
def tierlift_evaluate(ticket, ctx):
    options = ctx.options
    if options.tier is not None and options.tier not in ctx.tiers.names:
        raise ValueError(f"{ctx.policy}: option tier = {options.tier!r} is not one of your "
                         f"tiers ({', '.join(ctx.tiers.names)})")
    text = ticket_text(ticket, options.comments)
    terms = per_options(options, _terms)
    entered = ticket.tier_entered_at
    moved = entered > ticket.created_at and _moved_down(ticket, ctx.tiers)
    found: dict[str, _Signal] = {}  # label -> its first occurrence
    since_move: dict[str, _Signal] = {}  # label -> its first occurrence in the current tier
    for term, match in terms.matcher.occurrences(text):
        if term in terms.admin:
            label, weight = term, terms.admin[term]
        else:
            label = SIGNAL_OF[normalise_term(term)]
            weight = SIGNALS[label]
        source = text.source(match.start())  # 0: the subject, from the ticket's creation
        at = text.comments[source - 1].created_at if source else ticket.created_at
        signal = _Signal(label, weight, at, match.span())
        for seen in (found, *([since_move] if moved and at >= entered else [])):
            if label not in seen or (seen[label].at, seen[label].span) > (at, match.span()):
                seen[label] = signal
    tagged = _ticket_signals(ticket, options)
    # Evidence rule: after an agent moved the ticket back down, failures reported since then that
    # reach the threshold by themselves are new evidence ("a new stack trace after the move
    # down"). After a move up, the same failure told again ("still the same error") is not.
    key = EVIDENCE_KEY
    signals = _scored(found, tagged)
    fresh = _scored(since_move, [])
    if round(sum(s.weight for s in fresh), 6) >= options.threshold:
        key, signals = f"{EVIDENCE_KEY}:{entered:%Y-%m-%dT%H:%M:%SZ}", fresh
    score = round(sum(s.weight for s in signals), 6)
    if score < options.threshold:
        return None
    ranked = sorted(signals, key=lambda s: -s.weight)
    listed = ", ".join(f"{s.label} ({s.weight:g})" for s in ranked)
    quoted = next((s for s in ranked if s.span is not None), None)
    evidence = ctx.evidence(
        key,
        f"complexity score {score:g} ≥ {options.threshold:g}: {listed}",
        quote=text.quote(*quoted.span) if quoted else None,
        at=_reached_at(signals, options.threshold),
    )
    top = ", ".join(s.label for s in ranked[:3])
    return ctx.propose(
        evidence,
        tier=options.tier,
        steps_up=options.steps_up,
        suggestion=f"Needs deep product knowledge ({top}): reproduce with the customer's "
        "setup, take ownership, and involve engineering early if it looks like a defect.",
    )


def _moved_down(ticket, tiers) -> bool:
    """The ticket came into its current tier from a higher one."""
    before = None
    for change in ticket.tier_history:
        if change.tier != ticket.tier:
            before = change.tier
    return before is not None and tiers.rank(before) > tiers.rank(ticket.tier)


def _scored(found: dict[str, _Signal], tagged: list[_Signal]) -> list[_Signal]:
    """The signals that count: one per failure (the same failure told twice counts once)."""
    found = dict(found)
    for signal, covered_by in COVERED.items():
        if covered_by in found:
            found.pop(signal, None)
    return [*found.values(), *tagged]


def _ticket_signals(ticket, options: Options) -> list[_Signal]:
    """Tags, form and field values: the ticket carries them now; they count from its creation."""
    at = ticket.created_at
    signals = []
    if options.tags:
        tags = {t.lower() for t in ticket.tags}
        signals += [_Signal(f"tag {tag}", w, at) for tag, w in options.tags.items() if tag in tags]
    if options.forms and ticket.form is not None:
        form = str(ticket.form).strip().lower()
        if form in options.forms:
            signals.append(_Signal(f"form {form}", options.forms[form], at))
    for field_id, weights in options.fields.items():
        for value in field_values(ticket.custom_fields.get(field_id)):
            if value in weights:
                signals.append(_Signal(f"field {field_id} = {value}", weights[value], at))
    return signals


def _reached_at(signals: list[_Signal], threshold: float) -> datetime:
    """When the score first reached the threshold: signals in the order they appeared."""
    score = 0.0
    for signal in sorted(signals, key=lambda s: s.at):
        score = round(score + signal.weight, 6)
        if score >= threshold:
            return signal.at
    raise AssertionError("the score never reached the threshold")
