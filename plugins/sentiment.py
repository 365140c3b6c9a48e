"""sentiment: the customer is extremely upset (a transparent lexicon score of recent comments)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, ClassVar, NamedTuple

from pydantic import Field, field_validator

from plugins import hookimpl
from plugins.keywords import WeightedPackOptions
from plugins.packs import LanguageOptions, check_scope, comment_scope
from plugins.text import NEGATORS, fold, per_options, ticket_text

# Per language: threats to take legal action, to go to a regulator, to leave or to go public,
# with weights. A threat in its own words ("you will hear from our lawyers", "see you in court",
# "our solicitors have been instructed", "reporting you to the ICO") weighs 6, enough on its own
# at the default threshold; a word that only names a lawyer or leaving ("lawyer", "we will
# cancel") weighs 3-4 and counts double in an ultimatum (see :func:`ultimatum`). A term may be a
# phrase or "a ... b" (the parts in order, a few words apart, in one clause).
THREATS: dict[str, dict[str, float]] = {
    "en": {
        "lawyer": 4, "lawyers": 4, "attorney": 4, "attorneys": 4, "solicitor": 4,
        "solicitors": 4, "legal counsel": 4, "legal action": 4, "lawsuit": 4, "suing": 4,
        "regulator": 4, "ombudsman": 4, "trading standards": 4, "small claims": 4,
        "attorney general": 4, "better business bureau": 4, "breach of contract": 4,
        "formal notice": 4, "consumer protection": 3, "formal complaint": 3,
        "sue you": 6, "suing you": 6, "we will sue": 6, "we'll sue": 6, "i will sue": 6,
        "i'll sue": 6, "see you in court": 6, "take you to court": 6, "taking you to court": 6,
        "legal action against you": 6, "take legal action": 6, "taking legal action": 6,
        "pursue legal action": 6, "pursuing legal action": 6,
        "hear from ... lawyer": 6, "hear from ... lawyers": 6, "hear from ... solicitor": 6,
        "hear from ... solicitors": 6, "hear from ... attorney": 6, "hear from ... attorneys": 6,
        "lawyer ... will be in touch": 6, "lawyers ... will be in touch": 6,
        "solicitor ... will be in touch": 6, "solicitors ... will be in touch": 6,
        "attorney ... will be in touch": 6, "solicitors have been instructed": 6,
        "lawyers have been instructed": 6, "instructed our solicitors": 6,
        "instructed our lawyers": 6, "instructed my solicitor": 6, "instructed my lawyer": 6,
        "report you to": 6, "reporting you to": 6, "reported you to": 6,
        # leaving
        "cancel my subscription": 3, "cancel our subscription": 3, "cancel my account": 3,
        "cancel our account": 3, "cancel our contract": 3, "cancelling my subscription": 3,
        "canceling my subscription": 3, "terminate our contract": 3,
        "terminating our contract": 3, "we will cancel": 3, "we'll cancel": 3,
        "we are cancelling": 3, "we are canceling": 3, "we're cancelling": 3,
        "we're canceling": 3, "i will cancel": 3, "i'll cancel": 3, "i'm cancelling": 3,
        "i'm canceling": 3, "i am cancelling": 3, "i am canceling": 3, "we are gone": 3,
        "we're gone": 3, "we are leaving": 3, "we're leaving": 3, "we will leave": 3,
        "we'll leave": 3, "will not renew": 3, "won't renew": 3, "won't be renewing": 3,
        "not be renewing": 3, "switch to a competitor": 3, "switching to a competitor": 3,
        "to a competitor": 3, "to your competitor": 3, "to one of your competitors": 3,
        "take our business elsewhere": 3, "taking our business elsewhere": 3,
        "go elsewhere": 3, "going elsewhere": 3, "look elsewhere": 3, "looking elsewhere": 3,
        "moving ... to another": 3, "move ... to another": 3, "switch ... to another": 3,
        "switching ... to another": 3, "migrate ... to another": 3,
        "migrating ... to another": 3, "looking at ... other vendor": 3,
        "looking at ... other vendors": 3, "looking at ... alternatives": 3,
        "looking for ... alternative": 3, "we are done": 2.5, "we're done": 2.5,
        # going public
        "chargeback": 3, "bad review": 2.5, "1-star review": 2.5, "one-star review": 2.5,
        "report you": 2.5, "go public": 2.5, "on social media": 2,
    },
    "de": {
        "anwalt": 4, "anwaltin": 4, "anwalte": 4, "rechtsanwalt": 4, "rechtsanwaltin": 4,
        "rechtliche schritte": 4, "verklagen": 4, "klage einreichen": 4, "vor gericht": 4,
        "verbraucherzentrale": 4, "bundesnetzagentur": 4, "bafin": 4, "schlichtungsstelle": 4,
        "abmahnung": 4, "datenschutzbehorde": 4,
        "wir verklagen sie": 6, "werden sie verklagen": 6, "werde sie verklagen": 6,
        "rechtliche schritte einleiten": 6, "rechtliche schritte gegen sie": 6,
        "sehen uns vor gericht": 6, "anwalt ... wird sich ... melden": 6,
        "horen von ... anwalt": 6, "anwalt ist eingeschaltet": 6, "anwalt eingeschaltet": 6,
        "wir kundigen": 3, "ich kundige": 3, "kundigen wir": 3, "kundige ich": 3,
        "werden kundigen": 3, "werde kundigen": 3, "fristlos kundigen": 3,
        "vertrag kundigen": 3, "zur konkurrenz": 3, "anbieter wechseln": 3, "sind wir weg": 3,
    },
    "fr": {
        "avocat": 4, "avocats": 4, "mon avocat": 4, "action en justice": 4, "poursuites": 4,
        "poursuivre en justice": 4, "porter plainte": 4, "tribunal": 4, "dgccrf": 4,
        "mediateur": 4, "mise en demeure": 4, "que choisir": 4, "plainte": 2.5,
        "nous allons porter plainte": 6, "je vais porter plainte": 6,
        "on va porter plainte": 6, "on se verra au tribunal": 6,
        "entendre parler de ... avocat": 6, "des nouvelles de ... avocat": 6,
        "on va resilier": 3, "nous allons resilier": 3, "je vais resilier": 3, "je resilie": 3,
        "nous resilions": 3, "resilier mon abonnement": 3, "resilier notre abonnement": 3,
        "resilier notre contrat": 3, "resilier le contrat": 3, "aller voir ailleurs": 3,
        "passer a la concurrence": 3, "changer de prestataire": 3, "chez votre concurrent": 3,
        "chez un concurrent": 3, "chez la concurrence": 3,
    },
    "es": {
        "abogado": 4, "abogados": 4, "mi abogado": 4, "acciones legales": 4,
        "accion legal": 4, "demandarlos": 4, "demandaremos": 4, "demandamos": 4,
        "voy a demandar": 4, "vamos a demandar": 4, "una demanda": 4, "denuncia": 4,
        "denunciar": 4, "denunciamos": 4, "denunciaremos": 4, "os denuncio": 4,
        "los denuncio": 4, "tribunales": 4, "omic": 4, "facua": 4, "profeco": 4,
        "hoja de reclamaciones": 4, "oficina del consumidor": 4,
        "nos vemos en los tribunales": 6, "nos vemos en el juzgado": 6,
        "os vamos a denunciar": 6, "los vamos a denunciar": 6, "os vamos a demandar": 6,
        "los vamos a demandar": 6,
        "vamos a cancelar": 3, "voy a cancelar": 3, "cancelar mi suscripcion": 3,
        "cancelar nuestra suscripcion": 3, "cancelar el contrato": 3,
        "cancelar nuestro contrato": 3, "cancelamos el contrato": 3,
        "cancelamos la suscripcion": 3, "cancelaremos": 3, "me doy de baja": 3,
        "nos damos de baja": 3, "irnos a la competencia": 3, "nos vamos a la competencia": 3,
        "cambiar de proveedor": 3, "dejamos de ser clientes": 3,
        "en redes": 2,
    },
    "pt": {
        "advogado": 4, "advogados": 4, "meu advogado": 4, "acao judicial": 4,
        "processar voces": 4, "processar a empresa": 4, "vou processar": 4,
        "vamos processar": 4, "entrar na justica": 4, "procon": 4, "reclame aqui": 4,
        "juizado": 4, "anatel": 4, "consumidor.gov": 4,
        "no procon": 4, "no reclame aqui": 4,  # "no" is "in the" here, not a negation
        "nos vemos na justica": 6,
        "vamos cancelar": 3, "vou cancelar": 3, "eu cancelo": 3, "cancelar minha assinatura": 3,
        "cancelar nossa assinatura": 3, "cancelar o contrato": 3, "cancelar nosso contrato": 3,
        "cancelamos o contrato": 3, "rescindir o contrato": 3, "mudar para a concorrencia": 3,
        "ir para a concorrencia": 3, "trocar de fornecedor": 3,
    },
    "it": {
        "avvocato": 4, "vie legali": 4, "denuncia": 4, "fare causa": 4, "vi denuncio": 4,
        "disdire": 3, "disdetta": 3, "passiamo alla concorrenza": 3,
    },
    "nl": {
        "advocaat": 4, "advocaten": 4, "juridische stappen": 4, "rechtszaak": 4,
        "consumentenbond": 4, "geschillencommissie": 4, "ingebrekestelling": 4,
        "naar de rechter": 4, "stappen naar de rechter": 6, "juridische stappen nemen": 6,
        "opzeggen": 3, "zeggen we ... op": 3, "zeggen wij ... op": 3, "zeg ik ... op": 3,
        "we zeggen ... op": 3, "ik zeg ... op": 3, "overstappen naar": 3,
        "stappen we over": 3, "stap ik over": 3, "andere leverancier": 3, "ander pakket": 3,
        "we zijn weg": 3,
    },
}
# Per language: anger, frustration and mild annoyance, with weights; weight 0 marks an everyday
# use that would otherwise match a term (a threat's too).
_WORDS: dict[str, dict[str, float]] = {
    "en": {
        # anger
        "unacceptable": 3, "furious": 3, "outraged": 3, "outrageous": 3, "livid": 3,
        "disgusting": 3, "disgraceful": 3, "disgrace": 3, "appalling": 3, "atrocious": 3,
        "pathetic": 3, "incompetent": 3, "incompetence": 3, "worst": 3, "scam": 3,
        "bullshit": 3, "wtf": 3, "never again": 3, "fed up": 3, "sick and tired": 3,
        "enough is enough": 3, "final warning": 3, "fifth time": 3,
        "ridiculous": 2.5, "waste of time": 2.5, "useless": 2.5, "unprofessional": 2.5,
        "angry": 2.5, "garbage": 2.5, "shambles": 2.5, "is a joke": 2.5, "what the hell": 2.5,
        "had enough": 2.5, "i've had it": 2.5, "i have had it": 2.5, "i'm done": 2.5,
        "i am done": 2.5, "not bluffing": 2.5, "no one cares": 2.5, "nobody cares": 2.5,
        "ignoring me": 2.5, "lied to": 2.5, "liars": 2.5, "last chance": 2.5,
        "fourth time": 2.5,
        # "are you kidding me" is no joke
        "are you kidding": 2.5, "you must be kidding": 2.5, "you've got to be kidding": 2.5,
        "you have got to be kidding": 2.5, "you're kidding": 2.5, "are you joking": 2.5,
        "you must be joking": 2.5,
        # frustration
        "third time": 2, "how many times": 2, "again and again": 2, "over and over": 2,
        "terrible": 2, "horrible": 2, "awful": 2, "frustrated": 2, "frustrating": 2, "upset": 2,
        "nightmare": 2, "rubbish": 2, "hopeless": 2, "unbelievable": 2, "crap": 2, "ignored": 2,
        "sick of": 2, "still not fixed": 2, "bloody": 2,
        "disappointed": 1.5, "disappointing": 1.5, "unhappy": 1.5, "annoyed": 1.5,
        "annoying": 1.5, "damn": 1.5, "still waiting": 1.5, "can't believe": 1.5,
        "cant believe": 1.5, "no response": 1.5,
        # everyday uses, how-to questions, and someone else's anger told calmly
        "how do i cancel": 0, "how can i cancel": 0, "how to cancel": 0, "how do we cancel": 0,
        "how can we cancel": 0, "worst case": 0, "worst-case": 0, "at worst": 0, "upset stomach": 0,
        "my manager is furious": 0, "my boss is furious": 0, "my manager is angry": 0,
        "my boss is angry": 0, "my manager is upset": 0, "my boss is upset": 0,
    },
    "de": {
        "inakzeptabel": 3, "unverschamt": 3, "unverschamtheit": 3, "frechheit": 3,
        "skandal": 3, "skandalos": 3, "katastrophe": 3, "katastrophal": 3, "zumutung": 3,
        "wutend": 3, "stinksauer": 3, "emport": 3, "betrug": 3, "abzocke": 3, "verarsche": 3,
        "verarschen": 3, "scheisse": 3, "scheiße": 3, "scheiss": 3, "scheiß": 3,
        "saftladen": 3, "nie wieder": 3, "es reicht": 3, "mir reicht es": 3, "mir reicht's": 3,
        "die nase voll": 3, "schlechteste": 3, "schlechtester": 3, "unfahig": 3,
        "inkompetent": 3, "inkompetenz": 3, "miserabel": 3, "miserabler": 3, "miserablen": 3,
        "lacherlich": 2.5, "unprofessionell": 2.5, "sauer": 2.5, "zeitverschwendung": 2.5,
        "soll das ein witz sein": 2.5, "ist das ein witz": 2.5,
        "frustriert": 2, "frustrierend": 2, "furchtbar": 2, "schrecklich": 2, "unglaublich": 2,
        "zum dritten mal": 2, "immer noch nicht": 2, "ignoriert": 2,
        "enttauscht": 1.5, "enttauschend": 1.5, "genervt": 1.5, "nervig": 1.5,
        "argerlich": 1.5, "unzufrieden": 1.5,
        "wir kundigen nicht": 0, "kundigen wir nicht": 0, "wie kundigen wir": 0,
        "wie kundige ich": 0, "mein chef ist sauer": 0,
        "mein chef ist wutend": 0,
    },
    "fr": {
        "inadmissible": 3, "inacceptable": 3, "scandaleux": 3, "scandale": 3, "honteux": 3,
        "une honte": 3, "lamentable": 3, "pathetique": 3, "furieux": 3, "furieuse": 3,
        "en colere": 3, "hors de moi": 3, "ras le bol": 3, "ras-le-bol": 3, "j'en ai marre": 3,
        "marre": 3, "arnaque": 3, "escroquerie": 3, "escrocs": 3, "incompetent": 3,
        "incompetents": 3, "foutage de gueule": 3, "merde": 3, "pire service": 3,
        "plus jamais": 3, "n'importe quoi": 3, "vous vous moquez": 3,
        "vous vous foutez de nous": 3,
        "ridicule": 2.5, "c'est nul": 2.5, "perte de temps": 2.5, "peu professionnel": 2.5,
        "vous plaisantez": 2.5, "c'est une blague": 2.5,
        "frustre": 2, "frustrant": 2, "affreux": 2, "epouvantable": 2, "incroyable": 2,
        "troisieme fois": 2, "toujours pas": 2, "toujours rien": 2,
        "decu": 1.5, "decue": 1.5, "decevant": 1.5, "agace": 1.5, "agacant": 1.5,
        "enerve": 1.5, "mecontent": 1.5, "mecontente": 1.5,
        "comment resilier": 0, "mon chef est furieux": 0, "mon responsable est furieux": 0,
    },
    "es": {
        "inaceptable": 3, "indignante": 3, "vergonzoso": 3, "una verguenza": 3, "estafa": 3,
        "estafadores": 3, "furioso": 3, "furiosa": 3, "indignado": 3, "indignada": 3,
        "harto": 3, "harta": 3, "incompetentes": 3, "incompetencia": 3, "pesimo": 3,
        "mierda": 3, "porqueria": 3, "tomadura de pelo": 3, "el peor": 3, "nunca mas": 3,
        "basta ya": 3, "cabreado": 3, "cabreada": 3, "sinverguenzas": 3, "sinverguenza": 3,
        "mentirosos": 3, "ladrones": 3,
        "ridiculo": 2.5, "inutil": 2.5, "inutiles": 2.5, "basura": 2.5,
        "perdida de tiempo": 2.5, "poco profesional": 2.5, "enojado": 2.5, "enojada": 2.5,
        "enfadado": 2.5, "enfadada": 2.5, "estais de broma": 2.5, "estan de broma": 2.5,
        "esto es una broma": 2.5,
        "frustrado": 2, "frustrada": 2, "frustrante": 2, "tercera vez": 2,
        "sigue sin funcionar": 2,
        "decepcionado": 1.5, "decepcionada": 1.5, "molesto": 1.5, "molesta": 1.5,
        "descontento": 1.5, "descontenta": 1.5,
        "como cancelar": 0, "como cancelo": 0, "el peor de los casos": 0, "en el peor caso": 0,
        "mi jefe esta furioso": 0,
    },
    "pt": {
        "inaceitavel": 3, "um absurdo": 3, "absurdo": 3, "vergonhoso": 3, "uma vergonha": 3,
        "palhacada": 3, "descaso": 3, "furioso": 3, "furiosa": 3, "revoltado": 3,
        "revoltada": 3, "indignado": 3, "indignada": 3, "incompetentes": 3,
        "incompetencia": 3, "pessimo": 3, "pessimo atendimento": 3, "merda": 3,
        "porcaria": 3, "nunca mais": 3, "o pior": 3, "saco cheio": 3,
        "ridiculo": 2.5, "inutil": 2.5, "lixo": 2.5, "perda de tempo": 2.5,
        "pouco profissional": 2.5, "irritado": 2.5, "irritada": 2.5, "ta de brincadeira": 2.5,
        "so pode ser brincadeira": 2.5,
        "frustrado": 2, "frustrada": 2, "frustrante": 2, "horrivel": 2, "terrivel": 2,
        "terceira vez": 2, "continua sem funcionar": 2, "ainda nao foi resolvido": 2,
        "cansado de": 2, "cansada de": 2,
        "decepcionado": 1.5, "decepcionada": 1.5, "chateado": 1.5, "chateada": 1.5,
        "insatisfeito": 1.5, "insatisfeita": 1.5,
        "como cancelar": 0, "como cancelo": 0, "o pior caso": 0, "meu chefe esta furioso": 0,
    },
    "it": {
        "inaccettabile": 3, "vergognoso": 3, "una vergogna": 3, "furioso": 3, "furiosa": 3,
        "pessimo": 3, "truffa": 3, "incompetenti": 3, "arrabbiato": 2.5, "arrabbiata": 2.5,
        "ridicolo": 2.5, "stai scherzando": 2.5, "state scherzando": 2.5, "frustrato": 2,
        "frustrata": 2, "deluso": 1.5, "delusa": 1.5,
        "come disdire": 0,
    },
    "nl": {
        "onacceptabel": 3, "schandalig": 3, "schande": 3, "woedend": 3, "oplichting": 3,
        "oplichters": 3, "slechtste": 3, "waardeloos": 3, "waardeloze": 3, "bagger": 3,
        "klote": 3, "klaar mee": 3, "ben het zat": 3, "spuugzat": 3, "incompetent": 3,
        "belachelijk": 2.5, "boos": 2.5, "kwaad": 2.5, "onprofessioneel": 2.5,
        "amateuristisch": 2.5, "tijdverspilling": 2.5, "maak je een grapje": 2.5,
        "maken jullie een grapje": 2.5,
        "gefrustreerd": 2, "frustrerend": 2, "derde keer": 2, "nog steeds niet": 2,
        "teleurgesteld": 1.5, "teleurstellend": 1.5, "ontevreden": 1.5, "irritant": 1.5,
        "hoe kan ik opzeggen": 0, "hoe zeg ik ... op": 0, "hoe opzeggen": 0,
        "mijn baas is boos": 0, "mijn manager is boos": 0,
    },
}
LEXICONS: dict[str, dict[str, float]] = {
    code: {**THREATS.get(code, {}), **words} for code, words in _WORDS.items()
}
# Words that say the comment is a joke: it is not scored at all ("not kidding" does not count).
JOKES: dict[str, tuple[str, ...]] = {
    "en": ("just kidding", "only kidding", "kidding", "just joking", "only joking", "jk", "lol",
           "lmao", "rofl", "haha", "hahaha", "hehe"),
    "de": ("nur spass", "nur spaß", "kleiner scherz", "war ein scherz", "haha"),
    "fr": ("je plaisante", "je rigole", "pour rire", "mdr", "haha"),
    "es": ("es broma", "estoy bromeando", "bromeando", "jaja", "jajaja", "jeje"),
    "pt": ("to brincando", "estou brincando", "so brincando", "kkk", "kkkk", "kkkkk", "rsrs",
           "haha"),
    "it": ("sto scherzando", "scherzo", "ahah"),
    "nl": ("grapje", "haha"),
}
_JOKE_EMOJI = re.compile("[\U0001F602\U0001F923\U0001F606\U0001F61C\U0001F609]")
INTENSIFIERS = frozenset({
    "very", "extremely", "absolutely", "so", "really", "totally", "completely", "utterly",
    "incredibly", "truly", "beyond", "super", "sehr", "total", "vollig", "absolut", "absolute",
    "absoluter", "extrem", "echt", "wirklich", "komplett", "tres", "vraiment", "totalement",
    "completement", "absolument", "extremement", "muy", "totalmente", "completamente",
    "realmente", "absolutamente", "extremadamente", "muito", "extremamente", "molto", "davvero",
    "zeer", "heel",
})
INTENSIFIER_FACTOR = 1.5
TIMES = "\u00d7"  # the multiplication sign: "unacceptable TIMES 1.5" in the note
NEGATIONS = frozenset({"cant", "wont", "havent", "hasnt", "werent",
                       *(w.decode() for w in NEGATORS)})
CAPS_POINTS, CAPS_MAX = 0.5, 2.0
BANG_POINTS, BANG_MAX = 1.0, 2.0
CAPS_IGNORED = frozenset({
    "HTTP", "HTTPS", "HTML", "JSON", "YAML", "SAML", "OAUTH", "LDAP", "SMTP", "IMAP", "SFTP",
    "POST", "PATCH", "DELETE", "NULL", "TRUE", "FALSE", "ERROR", "WARN", "WARNING", "INFO",
    "DEBUG", "FATAL", "TRACE", "CRITICAL", "ASAP", "GDPR", "HIPAA", "EMEA", "APAC", "AMER",
    "CSAT", "TODO", "UUID", "ISBN", "IBAN", "SWIFT", "VLAN", "DHCP", "DSGVO", "RGPD", "LGPD",
    "CNIL", "SEPA", "BAFIN", "DGCCRF", "PROCON", "FACUA", "OMIC", "PROFECO",
})
SCANNED_CHARS = 5000  # a comment's first 5,000 characters: anger is not buried in a pasted log
QUOTE_LIMIT = 240
SHOWN_TERMS = 5

# Bytes of a comment as "A" (capital letter), "!" ("!" or "?") or "a" (anything else).
_SHAPE = bytes(65 if 65 <= b <= 90 else 33 if b in (33, 63) else 97 for b in range(256))
_CAPS = re.compile(r"\b[^\W\d_]{4,}\b")
_BANGS = re.compile(r"[!?]{2,}")
_REPLY_HEADER = re.compile(r"^[ \t]*(?:On\b[^\n]{0,300}\bwrote:[ \t]*$|-{2,}[ \t]*Original "
                           r"Message)", re.MULTILINE | re.IGNORECASE)
_TERM_EDGES = re.compile(r"\w(?:.*\w)?\Z", re.DOTALL)


def _normalise_term(term: str) -> str:
    return " ".join(fold(term.replace("\u2019", "'")).split())


def _terms(words: dict[str, float]) -> dict[str, float]:
    cleaned = {}
    for term, weight in words.items():
        normal = _normalise_term(term)
        if not normal:
            raise ValueError("blank word")
        if not _TERM_EDGES.match(normal):
            raise ValueError(f"{term!r}: a word or phrase must start and end with a letter or "
                             "digit")
        cleaned[normal] = weight
    return cleaned


class Options(LanguageOptions):
    builtin_packs: ClassVar = LEXICONS

    packs: dict[str, WeightedPackOptions] = Field(
        default_factory=dict,
        description="Your own words or phrases per language code with their weight (0-10), and "
        "exclusions, added to the built-in lexicon of that language (or making a new "
        "language): {terms = {word = weight}, exclude = […]}.")
    threshold: float = Field(6.0, gt=0, description="Score a single comment must reach. One "
                             "strong word scores 2-4, so it alone never fires at the default; "
                             "a threat in its own words (\"see you in court\") or made an "
                             "ultimatum does.")
    recent: int = Field(3, ge=1, description="How many of the most recent comments read "
                        "(see `comments`) are scored (each on its own).")
    extra_words: dict[str, Annotated[float, Field(ge=0, le=10)]] = Field(
        default_factory=dict,
        description="Words or phrases added to the built-in lexicon with their weight (0-10), "
        "any language; weight 0 switches a built-in term off.",
    )
    comments: str = comment_scope("customer", "sentiment")
    steps_up: int = Field(1, ge=1, description="How many tiers above the tier the ticket had "
                          "when the customer wrote the comment.")

    _scope = field_validator("comments")(check_scope)

    @field_validator("extra_words")
    @classmethod
    def _extra_words(cls, words: dict[str, float]) -> dict[str, float]:
        return _terms(words)

    @field_validator("packs")
    @classmethod
    def _pack_terms(cls, packs: dict[str, WeightedPackOptions]) -> dict[str, WeightedPackOptions]:
        for code, pack in packs.items():
            pack.terms = _terms(pack.terms)
            bad = [f"{t} = {w:g}" for t, w in pack.terms.items() if not 0 <= w <= 10]
            if bad:
                raise ValueError(f"pack {code}: weights are 0-10 ({', '.join(bad)})")
            _terms(dict.fromkeys(pack.exclude, 0))
        return packs

    @field_validator("exclude")
    @classmethod
    def _exclusions(cls, values: list[str]) -> list[str]:
        values = [v.strip() for v in values if v.strip()]
        _terms(dict.fromkeys(values, 0))
        return values


@hookimpl
def tierlift_register_policy(register):
    register(Options, needs={"comments"},
             summary="The customer is extremely upset (lexicon score of recent comments)")


@dataclass(frozen=True, eq=False)  # hashed by identity: lexicon() makes one per word list
class Lexicon:
    """Term weights, the words that say a comment is a joke, the compiled matcher of both, and
    for each term with a weight (or joke) one of its words (as ASCII bytes, see
    :func:`_words`): a comment with none of them cannot match anything."""

    weights: dict[str, float]
    pattern: re.Pattern[str]
    keywords: frozenset[bytes] | None  # None: no quick test possible (a term without ASCII)
    jokes: frozenset[str] = frozenset()
    threats: frozenset[str] = frozenset()  # terms that count double in an ultimatum
    gaps: tuple[tuple[str, re.Pattern[str]], ...] = ()  # "a ... b" terms and their own regex


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


# "a ... b": at most this many words between the parts, in one clause.
GAP_WORDS = 6
_GAP = rf"(?:\s+[^\s.,;:!?]+){{0,{GAP_WORDS}}}?\s+"
_GAP_MARK = "\x00"


def _piece(ch: str) -> str:
    return r"\s+" if ch == " " else _GAP if ch == _GAP_MARK else re.escape(ch)


def _gap_regex(term: str) -> re.Pattern[str]:
    """The regex of an "a ... b" term on its own (to tell which term a match is)."""
    return re.compile("".join(map(_piece, term.replace(" ... ", _GAP_MARK))))


def _trie_regex(terms: Iterable[str]) -> str:
    """One alternation shaped as a trie: fast on long text, and the longest term wins."""
    root: dict = {}
    for term in terms:
        node = root
        for ch in term.replace(" ... ", _GAP_MARK):
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        branches = [_piece(ch) + build(node[ch]) for ch in sorted(k for k in node if k)]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
        return f"(?:{body})?" if "" in node else body

    return build(root)


@lru_cache(maxsize=32)
def lexicon(extra: tuple[tuple[str, float], ...] = (), languages: tuple[str, ...] = tuple(LEXICONS),
            exclude: tuple[str, ...] = ()) -> Lexicon:
    """The built-in lexicons of ``languages``, ``exclude`` (weight 0) and ``extra`` ``(term,
    weight)`` pairs, in this order (a later weight wins), compiled once."""
    weights: dict[str, float] = {}
    for code in languages:
        weights.update((_normalise_term(t), float(w)) for t, w in LEXICONS.get(code, {}).items())
    weights.update((_normalise_term(t), 0.0) for t in exclude)
    weights.update((_normalise_term(t), float(w)) for t, w in extra)
    jokes = frozenset(_normalise_term(j) for code in languages for j in JOKES.get(code, ()))
    threats = frozenset(_normalise_term(t) for code in languages for t in THREATS.get(code, ()))
    keywords = [max(_words(t), key=_rarity, default=None)
                for t in (*(t for t, w in weights.items() if w), *jokes)]
    gaps = tuple((t, _gap_regex(t)) for t in weights if " ... " in t)
    return Lexicon(weights, re.compile(rf"\b(?:{_trie_regex([*weights, *jokes])})\b"),
                   None if None in keywords else frozenset(keywords), jokes, threats, gaps)


def _lexicon(options: Options) -> Lexicon:
    extra = [(t, w) for pack in options.packs.values() for t, w in pack.terms.items()]
    exclude = [*options.exclude, *(t for pack in options.packs.values() for t in pack.exclude)]
    return lexicon((*extra, *options.extra_words.items()), tuple(options.languages),
                   tuple(exclude))


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


def score(text: str, lex: Lexicon | None = None, negation: bool = True) -> Score:
    """Score one comment's text (its first 5,000 characters), each comment on its own:

    - every lexicon term (word or phrase, or "a ... b": the parts a few words apart in one
      clause; whole words, ignoring case and accents) adds its weight;
    - an intensifier right before a term ("very", "extremely", "absolutely", "sehr", "vraiment",
      "muy", "muito"…) multiplies it by 1.5;
    - a threat (:data:`THREATS`) made an ultimatum ("if this isn't fixed by Friday we're
      cancelling", "put it back or we are gone", "unless…", "si mañana no está resuelto
      cancelamos"; not in a question, not after "please") counts double: a churn or legal threat
      alone then reaches the default threshold, as the written policy has it;
    - with ``negation``, a negation among the two words before a term (words of one or two letters
      not counted), in the same clause ("not", "no", "never", "…n't", "nicht", "pas", "nao"…),
      cancels it: "I'm not angry", "not going to sue you"; a term with its own subject ("we're
      cancelling") is not negated by the clause before it ("doesn't work, we're cancelling");
    - each ALL-CAPS word of four letters or more adds 0.5 (at most 2 per comment; common acronyms
      and log levels such as HTTPS or ERROR do not count);
    - each run of "!!" or "?!" adds 1 (at most 2 per comment);
    - a comment that says it is joking ("just kidding", "lol", "mdr", "jaja", "kkkk", 😂) scores
      nothing ("I'm not kidding" and "are you kidding me" are no jokes).

    A lexicon term with weight 0 counts for nothing and shadows shorter terms inside it ("worst
    case" is not "worst"). The policy scores only what the customer wrote: public customer
    comments, without the quoted e-mail thread below "On … wrote:" or lines starting with ">"
    (see :func:`own_words`).
    """
    return _score(text[:SCANNED_CHARS], lex or lexicon(), negation)


# A ticket is evaluated again on every change, its earlier comments are not: remember the last
# scores (at most 1,024 texts of at most 5,000 characters).
@lru_cache(maxsize=1024)
def _score(text: str, lex: Lexicon, negation: bool) -> Score:
    text = text.replace("\u2019", "'")
    low = fold(text)
    shown = text.lower() if len(low) == len(text) else low  # the terms as written
    found: dict[str, list] = {}  # term -> [points, count, first start, label]
    weights = lex.weights
    quiet = lex.keywords is not None and lex.keywords.isdisjoint(_words(low))
    for match in () if quiet else lex.pattern.finditer(low):
        term = " ".join(match.group().split())  # a phrase may be written with other whitespace
        if term not in weights and term not in lex.jokes:  # an "a ... b" term
            term = next((t for t, regex in lex.gaps if regex.fullmatch(match.group())), term)
        start, end = match.span()
        context = _before(low, start)
        # "doesn't work, we're cancelling": a term with its own subject carries its own negation
        if negation and context is _NEGATED and term.split(" ", 1)[0] not in SUBJECTS:
            continue
        if term in lex.jokes:
            return Score(0.0, ())
        weight = weights.get(term, 0.0)
        if not weight:
            continue
        label = " ".join(shown[start:end].split())
        if context is True:
            weight *= INTENSIFIER_FACTOR
            term, label = (f"{t} {TIMES}{INTENSIFIER_FACTOR:g}" for t in (term, label))
        if term in lex.threats and ultimatum(low, start, end):
            weight *= ULTIMATUM_FACTOR
            term, label = (f"{t} (ultimatum {TIMES}{ULTIMATUM_FACTOR:g})" for t in (term, label))
        entry = found.setdefault(term, [0.0, 0, start, label])
        entry[0] += weight
        entry[1] += 1
    if _JOKE_EMOJI.search(text):
        return Score(0.0, ())
    parts = [Part(_counted(label, count), round(points, 2), start)
             for points, count, start, label in found.values()]
    # One cheap pass tells whether there can be a CAPS word or a "!!"/"?!" run at all.
    shape = text.encode().translate(_SHAPE)
    if b"AAAA" in shape or not text.isascii():
        caps = [m for m in _CAPS.finditer(text)
                if m.group().isupper() and m.group() not in CAPS_IGNORED]
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
    """``_NEGATED`` if a negation is among the two words before ``start`` in the same clause
    (words of one or two letters not counted), else whether the word right before is an
    intensifier."""
    lo = max(0, start - 60)
    tokens = low[lo:start].split()
    if lo > 0 and tokens and not low[lo - 1].isspace():
        tokens = tokens[1:]  # the window began inside a word
    previous = []  # the words of the clause right before, nearest first
    for token in reversed(tokens[-6:]):
        if token[-1] in _CLAUSE_ENDS:
            break
        previous.append(token.strip(_STRIP))
    # Little words do not count towards the two: "not going to sue you".
    near = [w for w in previous if len(w) > 2 or w in NEGATIONS][:2]
    if any(w in NEGATIONS or w.endswith("n't") for w in near):
        return _NEGATED
    return bool(previous) and previous[0] in INTENSIFIERS


# An ultimatum: a threat made on condition that the problem goes on — "if this isn't fixed by
# Friday we're cancelling", "put it back or we are gone", "we'll hear from our lawyers unless…",
# "si mañana no está resuelto cancelamos", "als dit morgen weer gebeurt zeggen we op" — in a
# sentence that is not a question ("if we cancel, do we keep our data?" asks).
ULTIMATUM_FACTOR = 2
_OTHERWISE = re.compile(r"\b(?:otherwise|or else|sonst|ansonsten|andernfalls|sinon|autrement|"
                        r"faute de quoi|de lo contrario|en caso contrario|caso contrario|"
                        r"do contrario|senao|altrimenti|anders|zo niet)\b")
_OR = re.compile(r"\b(?:or|oder|ou|o|of)\s+(?:else\s+)?(?:we|i|wir|ich|on|nous|je|j'|lo|los|las|"
                 r"les|os|nos|me|te|voy|vamos|eu|vou|wij|ik)\b")
_IF = re.compile(r"\b(?:if|wenn|falls|si|se|als|indien|qualora)\b")
_UNLESS = re.compile(r"\b(?:unless|es sei denn|a moins qu(?:e\b|')|sauf si|a menos que|salvo que|"
                     r"a no ser que|a nao ser que|tenzij|a meno che)\b")
# "… please cancel our account": a request, not a threat.
_POLITE = re.compile(r"\b(?:please|kindly|bitte|s'il vous plait|svp|por favor|per favore|"
                     r"alstublieft|graag)\s+\Z")
# What says the problem goes on, in an if-clause: a negation, "again", "still", "nothing"…
GOING_ON = NEGATIONS | frozenset({
    "again", "still", "nothing", "keep", "keeps", "continue", "continues", "wieder", "erneut",
    "nichts", "weiterhin", "encore", "toujours", "rien", "otra", "nuevo", "sigue", "siguen",
    "nada", "novamente", "novo", "ainda", "continua", "continuar", "weer", "opnieuw", "steeds",
    "niets", "ancora", "nuovo", "niente", "weiter", "weitergeht", "segue",
})
# Words that open a term with its own subject ("we're cancelling", "wir kündigen").
SUBJECTS = frozenset({"we", "we're", "we'll", "i", "i'm", "i'll", "wir", "ich", "je", "on",
                      "nous", "eu", "ik", "wij"})


def ultimatum(low: str, start: int, end: int) -> bool:
    """Whether the threat at ``low[start:end]`` is an ultimatum: its sentence (not a question)
    says "otherwise", "or we…", "unless…", or "if…" with the problem going on ("if this isn't
    fixed", "if it happens again"), before or after it."""
    first = max(start - 200, *(low.rfind(c, 0, start) + 1 for c in ".!?;\n"))
    last = min(end + 200, *(i for i in (low.find(c, end) for c in ".!?;\n") if i != -1),
               len(low))
    if low.startswith("?", last) or "\u00bf" in low[first:last] or \
            _POLITE.search(low, first, start):
        return False
    before, after = low[first:start], low[end:last]
    if _OTHERWISE.search(before) or _OTHERWISE.search(after) or _OR.search(low[first:end]):
        return True
    return _conditional(before) or _conditional(after)


def _conditional(clause: str) -> bool:
    if _UNLESS.search(clause):
        return True
    for mark in _IF.finditer(clause):
        words = [w.strip(_STRIP + ",:") for w in clause[mark.end():].split()]
        if any(w in GOING_ON or w.endswith("n't") for w in words):
            return True
    return False


def _counted(label: str, count: int) -> str:
    return label if count == 1 else f"{label} {'twice' if count == 2 else f'{count} times'}"


@hookimpl
def tierlift_evaluate(ticket, ctx):
    options = ctx.options
    lex = per_options(options, _lexicon)
    window = ticket_text(ticket, options.comments).comments[-options.recent:]
    upset = []
    for comment in reversed(window):
        text = own_words(comment.body[:SCANNED_CHARS])
        result = score(text, lex, options.negation)
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
