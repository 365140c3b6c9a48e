"""incident: several tickets about one problem, created within minutes of each other, are one
outage: move them together under one incident tag."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import ClassVar

from pydantic import BaseModel, Field, field_validator

from connector.ticket import Ticket
from plugins import hookimpl
from plugins.history import PastTicket, first_message, short_fields
from plugins.options import OptionalName, PriorityName
from plugins.repeat_issue import STOP_WORDS, SubjectWords, jaccard
from plugins.text import CustomerText, fold, matcher, normalise_term

TAG_PREFIX = "tierlift_incident_"
MIN_COMMON_WORDS = 3  # subject and first message alike: at least this many words in common
ENDINGS = ("ing", "ed", "en", "es", "e")  # cut once, leaving at least three letters
MAX_WALK = 50  # earlier incidents followed back to find where an untagged one began

# Words common to support tickets of every kind, the words helpdesks put in the subjects they
# make up themselves ("Chat with Visitor 4711", "Call from …"), and everyday words of a
# customer's first message ("since this morning", "tried everything", "our whole team").
_SUPPORT_WORDS = """
    help issue problem please urgent asap question query request support ticket case hi hello
    hey dear thank thanks need needed want working work not cant can unable anymore again chat
    visitor conversation message messaging call voicemail new regards best kind sorry hope
    since today yesterday morning afternoon evening minute hour day week ago time soon
    get got getting see seeing seem tried try trying know let like able use using used check
    checked look looking keep happen happening happened go going went make made say said tell
    told way thing lot bit many much well even yet around whole entire everything anything
    something nothing everyone anyone someone nobody right really already every suddenly
    currently still sent send reply advise info information detail possible quickly fix fixed
    team customer client user company ok okay
"""
SUPPORT_WORDS = frozenset(_SUPPORT_WORDS.split())

# Words that say nothing about a problem in the customers' other languages (German, French,
# Spanish, Portuguese), accent-free: texts are compared without accents.
_OTHER_STOP_WORDS = """
    aber alle allen aller alles als also am an auch auf aus bei beim bin bis bist bitte da damit
    dann das dass dem den denn der des dich die dir doch dort du durch ein eine einem einen einer
    eines er es etwa euch euer fur gar geht gibt gerade habe haben hat hatte hatten heute hier
    ich ihm ihn ihnen ihr ihre im immer ist ja jetzt kann kein keine keinen konnen konnte leider
    mal man mehr mein meine mich mir mit moglich muss nach nicht nichts noch nun nur ob oder ohne
    schon sehr sein seit sich sie sind soll uber um und uns unser unsere unter vom von vor war
    waren warum was weil wenn wer werden wie wieder wir wird wo wurde zu zum zur hallo danke
    gruss grusse freundlichen mfg liebe lieber geehrte geehrter damen herren hilfe frage
    funktioniert funktionieren klappt morgen minuten stunden uhr gestern kunde kunden ganze
    ganzen tag tage
    au aux avec ce ces cette ci comme dans de des du elle elles en est et etait etre il ils je la
    le les leur leurs lui ma mais meme mes moi mon ne nos notre nous on ou par pas plus pour qu
    que qui sa se ses si son sont sur ta te tes toi ton tu un une vos votre vous ai as avons
    avez ont fait faire peut peux pouvons pouvez bonjour merci cordialement salutations svp
    depuis encore toujours aujourd hui maintenant matin fonctionne marche tres tout tous toute
    toutes rien apres avant ca cela ceci car donc alors aussi deja quand comment pourquoi
    probleme aide equipe heures jour jours
    al algo con cual cuando del desde donde el ella ellos entre era esa ese esta estan estamos
    estoy esto fue ha han hay he hemos hola gracias saludos favor las le lo los mas mi mis muy
    nada ni no nuestra nuestro nuestros para pero poco por porque puede pueden puedo podemos
    quien sin sobre solo su sus tambien tenemos tengo tiene todo todos toda todas uno unos unas
    ya hoy ahora todavia aun funciona problema ayuda equipo cliente minutos horas manana
    despues antes cada otro otra asi bien dia dias
    ao aos com da das do dos ele eles em eu foi isso isto mas meu minha muito na nao nas nem
    nossa nosso os pela pelo pode podem posso pra ser seu sua tem temos tenho um uma voce voces
    ola obrigado obrigada hoje agora ainda
"""
OTHER_STOP_WORDS = frozenset(_OTHER_STOP_WORDS.split())


class Options(BaseModel):
    # Old names still accepted, with a deprecation warning (see PolicyHost.configure).
    renamed_options: ClassVar[dict[str, str]] = {"similarity": "subject_similarity"}

    count: int = Field(5, ge=2, description="Tickets (this one included) created within "
                       "`minutes` of each other that make an incident.")
    minutes: float = Field(30, gt=0, description="The most time between the creation of the "
                           "first and the last of them (measured between creation times, not "
                           "back from now).")
    subject_similarity: float = Field(0.5, gt=0, le=1, description="Tickets are alike when "
                                      "their subjects' significant words overlap this much "
                                      "(Jaccard, 0 to 1).")
    text_similarity: float = Field(0.2, gt=0, le=1, description="Tickets are also alike when "
                                   "they share at least three significant words of subject "
                                   "and first message together, and this share (0 to 1) of "
                                   "the words of the one with fewer.")
    match_tags: list[str] = Field(default_factory=list, description="Tickets sharing one of "
                                  "these tags are alike (e.g. a tag per service).")
    match_fields: list[str] = Field(default_factory=list, description="Tickets with the same "
                                    "value in one of these custom fields (ids) are alike (e.g. "
                                    "a \"Service affected\" field).")
    distinct_requesters: bool = Field(True, description="Count each requester once, so that "
                                      "one customer writing five times is not an outage.")
    ignore_words: list[str] = Field(default_factory=list, description="More words that say "
                                    "nothing about an incident (e.g. your product's name).")
    tier: OptionalName = Field(None, description="Move the tickets to this tier of your ladder "
                               "(absolute, e.g. your top tier); empty: no tier move.")
    route: str | None = Field("incident", description="The specialist team (route) that "
                              "handles incidents; empty: do not reroute.")
    priority: PriorityName = Field("urgent", description="Raise priority to this (low, normal, "
                                 "high, urgent); empty: leave priority alone.")

    @field_validator("ignore_words", "match_tags")
    @classmethod
    def _lower(cls, words: list[str]) -> list[str]:
        return [fold(w.strip()) for w in words if w.strip()]

    @field_validator("match_fields", mode="before")
    @classmethod
    def _ids_as_text(cls, ids: object) -> object:
        """TOML field ids are often written as numbers: ``[360001]`` means "360001"."""
        return [str(i).strip() for i in ids if str(i).strip()] if isinstance(ids, list) else ids

    @field_validator("route")
    @classmethod
    def _route(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


@hookimpl
def tierlift_register_policy(register):
    register(Options, needs={"comments"},  # the first message
             summary="Similar tickets created within minutes of each other: one incident")


@dataclass(frozen=True, slots=True)
class _Look:
    """What a ticket is about, as the incident policy compares tickets."""

    ref: str
    created_at: datetime
    person: str  # who counts once
    tags: tuple[str, ...]
    subject: frozenset[str]  # significant words of the subject
    words: frozenset[str]  # significant words of subject and first message
    marks: frozenset[str]  # configured tags and field values it carries

    @property
    def failing(self) -> bool:
        """It reports something failing (a symptom, an error status), or carries a mark."""
        return bool(self.marks) or not FAILING.isdisjoint(self.words) or \
            any(w.startswith("http") and w[4:].isdigit() for w in self.words)

    @property
    def order(self) -> tuple[datetime, str]:
        return self.created_at, self.ref


@lru_cache(maxsize=32)
def _signature_of(ignore_words: tuple[str, ...]) -> SubjectWords:
    return SubjectWords(STOP_WORDS | SUPPORT_WORDS | OTHER_STOP_WORDS | frozenset(ignore_words))


@lru_cache(maxsize=20000)
def _root(word: str) -> str:
    """A crude common root, so that "loading" meets "loads" and "weiße" meets "weiß"."""
    for ending in ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[:-len(ending)]
    return word


# Outage symptoms as customers put them in their languages: each is one shared "word", so that
# "can't log in, keeps loading" and "Anmeldung hängt, Lade-Symbol dreht sich" meet.
SYMPTOMS = {
    "login": ("log in", "log into", "login", "logon", "sign in", "signin", "sign on",
              "anmeld*", "einlog*", "login*", "connexion", "se connecter", "connecter",
              "iniciar sesion", "inicio de sesion", "acceder", "acceso", "entrar", "fazer login",
              "acessar", "acesso", "accedere", "accesso", "inloggen", "aanmelden"),
    "password": ("password", "passwort", "kennwort", "mot de passe", "contrasena", "senha",
                 "wachtwoord"),
    "hang": ("loading", "keeps loading", "spinner", "spinning", "spins", "hangs", "hanging",
             "stuck", "freez*", "frozen", "blank page", "white page", "grey page", "gray page",
             "timeout", "timed out", "time out", "lade*", "hangt", "dreht sich", "haengt",
             "chargement", "charge", "bloque", "tourne", "page blanche", "cargando", "carga",
             "colgado", "se queda", "pagina en blanco", "carregando", "travad*", "trava",
             "pagina em branco", "caricamento", "bloccat*", "laden", "blijft", "blank", "white",
             "blanc", "blanche", "en blanco", "em branco", "weiss", "weiß", "leer", "leere",
             "bianca", "wit"),
    "down": ("down", "outage", "not available", "unavailable", "offline", "ausfall",
             "nicht erreichbar", "storung", "panne", "indisponible", "en panne", "caido",
             "caida", "no disponible", "fora do ar", "indisponivel", "fuori servizio", "storing",
             "onbereikbaar", "unreachable", "not reachable", "inaccessible", "inaccesible",
             "inacessivel", "irraggiungibile", "is the site down", "on your end", "your side",
             "bei euch", "de votre cote", "de su lado", "do lado de voces"),
    "dashboard": ("dashboard*", "tableau de bord", "tableaux de bord", "panel", "paneles",
                  "painel", "paineis", "cruscotto"),
    "email": ("email*", "e-mail*", "mail*", "notification*", "benachrichtigung*", "courriel*",
              "correo*", "notificacion*", "notificac*"),
    "sync": ("sync*", "synchroni*", "sincroniz*", "integration*"),
    "payment": ("payment*", "checkout", "zahlung*", "paiement*", "pago*", "pagamento*"),
    "schedule": ("automation*", "workflow*", "scheduled", "scheduler", "cron", "time-triggered",
                 "zeitgesteuert*", "automatisierung*", "automatisation*", "planifie*",
                 "agendad*", "agendador", "automac*", "automatizac*", "programad*"),
    "slow": ("slow", "sluggish", "langsam", "lent", "lente", "lento", "lenta", "traag"),
    "fail": ("error*", "fail*", "broken", "not working", "doesn't work", "does not work",
             "won't load", "doesn't load", "not load*", "can't", "cannot", "unable", "crash*",
             "kaputt", "funktioniert nicht", "fehler*", "geht nicht", "nicht mehr", "erreur*",
             "ne marche pas", "ne fonctionne pas", "ne s'affiche pas", "impossible",
             "no funciona", "no carga", "no puedo", "no podemos", "falla*", "fallo", "erro",
             "erros", "nao funciona", "nao carrega", "nao consigo", "non funziona", "errore",
             "werkt niet", "fout*", "didn't fire", "did not fire", "didn't run", "did not run",
             "haven't run", "have not run", "none ... run", "no runs", "skipped",
             "nicht gelaufen",
             "laufen ... nicht", "nicht ausgefuhrt", "n'ont pas tourne", "ne tournent plus",
             "no se ejecut*", "no corrieron", "nao rodaram", "nao rodou", "nao executou"),
}
# A report of an outage says something fails; three "please reset my password" are routine.
FAILING = frozenset({"~hang", "~down", "~slow", "~fail"})


@lru_cache(maxsize=1)
def _symptom_matcher():
    return matcher(tuple(term for terms in SYMPTOMS.values() for term in terms))


_SYMPTOM_OF = {normalise_term(term): f"~{name}" for name, terms in SYMPTOMS.items()
               for term in terms}


def _symptoms(text: str) -> dict[str, str]:
    """The symptoms named in ``text``: their "word" -> the term that named them."""
    found = _symptom_matcher().first_matches(CustomerText(text, []))
    return {_SYMPTOM_OF[normalise_term(term)]: term for term in found}


# An HTTP error status ("503", "a 502 error") says more about an outage than most words.
_STATUS_CODE = re.compile(r"(?<![\w.,:/#$€£-])[45]0\d(?![\w.,:/%€£-])")


def _words(signature: SubjectWords, text: str, *, symptoms: bool = True) -> frozenset[str]:
    """The significant words of ``text``, their roots; with ``symptoms``, a symptom named in
    any language stands for the words that named it, and an HTTP error status is a word."""
    words = set(map(_root, signature(text)))
    if symptoms:
        for symptom, term in _symptoms(text).items():
            words.difference_update(map(_root, signature(term.replace("*", ""))))
            words.add(symptom)
        words.update(f"http{code}" for code in _STATUS_CODE.findall(text))
    return frozenset(words)


def _look(ticket: Ticket | PastTicket, message: str | None, fields, options: Options) -> _Look:
    signature = _signature_of(tuple(options.ignore_words))
    subject = fold(ticket.subject or "")
    marks = {f"tag:{t}" for t in map(fold, ticket.tags) if t in options.match_tags}
    marks.update(f"field:{key}={value}" for key in options.match_fields
                 for value in fields.get(key, ()))
    person = ticket.requester_id if options.distinct_requesters else None
    return _Look(ref=ticket.ref, created_at=ticket.created_at, person=person or f"#{ticket.ref}",
                 tags=ticket.tags, subject=_words(signature, subject, symptoms=False),
                 words=_words(signature, f"{subject}\n{fold(message)}" if message else subject),
                 marks=frozenset(marks))


def _alike(a: _Look, b: _Look, options: Options) -> bool:
    if not a.marks.isdisjoint(b.marks):
        return True
    if jaccard(a.subject, b.subject) >= options.subject_similarity:
        return True
    shared = a.words & b.words
    symptoms = {w for w in shared if w.startswith("~")}
    if len(symptoms) >= 2 and not FAILING.isdisjoint(symptoms):
        return True  # "the scheduled workflows did not run", in two languages
    common = len(shared)
    return common >= MIN_COMMON_WORDS and \
        common >= options.text_similarity * min(len(a.words), len(b.words))


def _incident(me: _Look, around: list[_Look],
              options: Options) -> tuple[list[_Look], datetime] | None:
    """The tickets that make an incident with ``me`` (oldest first) and when it had formed for
    ``me``, or ``None``. An incident: in some stretch of ``minutes`` (between creation times),
    ``me`` and tickets alike, one to the next, from at least ``count`` people."""
    width = timedelta(minutes=options.minutes)
    looks = sorted({x.ref: x for x in around if x.failing}.values(), key=lambda x: x.order)
    neighbours: dict[str, list[_Look]] = {}

    def alike(x: _Look) -> list[_Look]:
        if x.ref not in neighbours:
            neighbours[x.ref] = [y for y in looks if y.ref != x.ref
                                 and abs(y.created_at - x.created_at) <= width
                                 and _alike(x, y, options)]
        return neighbours[x.ref]

    members: dict[str, _Look] = {}
    formed: datetime | None = None
    starts = sorted({x.created_at for x in looks
                     if me.created_at - width <= x.created_at <= me.created_at})
    for start in starts:
        end = start + width
        component, todo = {me.ref: me}, [me]
        while todo:
            for y in alike(todo.pop()):
                if y.ref not in component and start <= y.created_at <= end:
                    component[y.ref] = y
                    todo.append(y)
        people: set[str] = set()
        for x in sorted(component.values(), key=lambda x: x.order):
            people.add(x.person)
            if len(people) == options.count:
                members.update(component)
                moment = max(x.created_at, me.created_at)
                formed = moment if formed is None else min(formed, moment)
                break
    if formed is None:
        return None
    return sorted(members.values(), key=lambda x: x.order), formed


@hookimpl
def tierlift_evaluate(ticket, ctx):
    options = ctx.options
    width = timedelta(minutes=options.minutes)
    me = _look(ticket, first_message(ticket), short_fields(ticket), options)
    if not me.failing:
        return None

    def around(center: _Look) -> list[_Look]:
        """The tickets created within ``minutes`` of ``center``, this one as it is now."""
        past = ctx.history.created_between(ticket.platform, center.created_at - width,
                                           center.created_at + width)
        return [me, *(_look(p, p.first_message, p.fields, options) for p in past
                      if p.ref != me.ref)]

    found = _incident(me, around(me), options)
    if found is None:
        return None
    members, formed = found
    tag = _incident_tag(ticket, members, lambda first: _incident(first, around(first), options))
    span = math.ceil((members[-1].created_at - members[0].created_at).total_seconds() / 60)
    return ctx.propose(
        ctx.evidence(
            f"incident:{tag}",
            f"{len(members)} similar tickets created within {max(span, 1)} min look like one "
            f"incident: {_refs([m.ref for m in members])}",
            quote=(ticket.subject or "").strip()[:240] or None,
            at=formed,
        ),
        tier=options.tier,
        steps_up=0,
        route=options.route,
        priority=options.priority,
        add_tags=(tag,),
        also_evaluate=[m.ref for m in members if m.ref != ticket.ref and tag not in m.tags],
        suggestion=f"Handle this as one incident (tag {tag}): confirm the outage, link the "
        "tickets to one problem, and answer all of them together once it is fixed.",
    )


def _incident_tag(ticket: Ticket, members: list[_Look],
                  incident_of: Callable[[_Look], tuple[list[_Look], datetime] | None]) -> str:
    """The incident's tag: the one this ticket carries, else the one the earliest tagged member
    carries, else, walking back from incident to earlier incident, the first tag found or one
    derived from the ticket where it all began. Evaluated in any order, or hours later, the
    members of one incident get the same tag; a later incident with the same words another."""
    cluster = members
    for _ in range(MAX_WALK):
        for tags in (ticket.tags, *(m.tags for m in cluster)):
            for tag in tags:
                if tag.startswith(TAG_PREFIX):
                    return tag
        first = cluster[0]
        earlier = incident_of(first)
        if earlier is None or earlier[0][0].ref == first.ref:
            break
        cluster = earlier[0]
    digest = hashlib.sha1(f"{ticket.platform}:{cluster[0].ref}".encode(),
                          usedforsecurity=False).hexdigest()
    return TAG_PREFIX + digest[:8]


def _refs(refs: list[str], limit: int = 10) -> str:
    shown = ", ".join(f"#{ref}" for ref in refs[:limit])
    return shown + (f" and {len(refs) - limit} more" if len(refs) > limit else "")
