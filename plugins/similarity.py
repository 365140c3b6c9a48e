"""What a ticket is about, compared across tickets and languages: the significant words of its
subject and first message, outage symptoms named in any of the customers' languages, HTTP error
statuses. Shared by the policies that look across tickets (incident, repeat_issue)."""

from __future__ import annotations

import re
import weakref
from collections.abc import Sequence
from functools import lru_cache

from plugins.text import CustomerText, matcher, normalise_term

# Words that say nothing about what a subject is about (English, plus reply/forward prefixes
# and the halves of contractions the tokenizer leaves).
STOP_WORDS = frozenset({
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any",
    "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both",
    "but", "by", "can", "cannot", "could", "did", "do", "does", "doing", "don", "doesn", "didn",
    "during", "each", "few", "for", "from", "further", "had", "has", "hasn", "have", "haven",
    "having", "he", "her", "here", "hers", "him", "his", "how", "i", "if", "im", "in", "into",
    "is", "isn", "it", "its", "itself", "just", "ll", "me", "more", "most", "my", "no", "nor",
    "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "over", "own",
    "same", "she", "should", "so", "some", "still", "such", "than", "that", "the", "their",
    "theirs", "them", "then", "there", "these", "they", "this", "those", "through", "to", "too",
    "under", "until", "us", "very", "ve", "was", "wasn", "we", "were", "weren", "what", "when",
    "where", "which", "while", "who", "whom", "why", "will", "with", "won", "would", "wouldn",
    "you", "your", "yours", "re", "fw", "fwd", "aw", "wg",
})

_WORD = re.compile(r"[^\W\d_]{2,}")  # runs of two or more letters: digits and punctuation go
# The same in ASCII text, split in C: any byte but a lower-case letter separates words.
_LETTER_BYTES = bytes(b if 97 <= b <= 122 else 32 for b in range(256))
_ONE_LETTER = frozenset(map(chr, range(97, 123)))


def _letter_runs(lowered: str) -> set[str]:
    """The distinct runs of two or more letters in a lower-cased text."""
    if lowered.isascii():
        return set(lowered.encode().translate(_LETTER_BYTES).decode().split()) - _ONE_LETTER
    return set(_WORD.findall(lowered))


def _stem(word: str) -> str:
    """A crude singular: "errors" → "error", but "access" and "bus" stay."""
    return word[:-1] if len(word) > 3 and word[-1] == "s" and word[-2] != "s" else word


class WordCache:
    """What was made of texts' words, ``kept`` (a policy's, each :class:`SubjectWords`'):
    :func:`forget` empties every one."""

    __slots__ = ("__weakref__", "kept")

    def __init__(self) -> None:
        self.kept: dict = {}
        _word_caches.add(self)


_word_caches: weakref.WeakSet[WordCache] = weakref.WeakSet()


class SubjectWords:
    """Turns a subject into its set of significant words: lowercased, digits and punctuation
    removed, words in ``ignored`` (or their plurals) dropped, plurals made singular. Results are
    cached per subject, since the same history is read again and again."""

    MAX_CACHED = 20000

    def __init__(self, ignored: frozenset[str]) -> None:
        self.ignored = ignored | {_stem(word) for word in ignored}
        self._kept = WordCache()
        self._cache: dict[str | None, frozenset[str]] = self._kept.kept

    def __call__(self, subject: str | None) -> frozenset[str]:
        words = self._cache.get(subject)
        if words is None:
            words = self._words(subject)
        return words

    def many(self, subjects: Sequence[str | None]) -> list[frozenset[str]]:
        """The words of each subject, in order (a few hundred per call, mostly cached)."""
        found = list(map(self._cache.get, subjects))
        if None in found:
            found = [words if words is not None else self._words(subject)
                     for subject, words in zip(subjects, found, strict=True)]
        return found

    def _words(self, subject: str | None) -> frozenset[str]:
        # set operations on the distinct words: a text repeats most of its words
        found = _letter_runs(subject.lower() if subject else "") - self.ignored
        words = frozenset(map(_stem, found)) - self.ignored
        if len(self._cache) >= self.MAX_CACHED:
            self._cache.clear()
        self._cache[subject] = words
        return words


def forget() -> None:
    """Empty every cache of words (a benchmark's pass starts as a worker's first would)."""
    words_of.cache_clear()
    symptoms.cache_clear()
    for cache in list(_word_caches):
        cache.kept.clear()


@lru_cache(maxsize=32)
def subject_words(ignored: frozenset[str] = STOP_WORDS) -> SubjectWords:
    """The (shared) :class:`SubjectWords` ignoring ``ignored``."""
    return SubjectWords(ignored)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity: shared words over all words; 0 when either set is empty."""
    if not a or not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


MIN_COMMON_WORDS = 3  # subject and first message alike: at least this many words in common
ENDINGS = ("ing", "ed", "en", "es", "e")  # cut once, leaving at least three letters

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


@lru_cache(maxsize=20000)
def root(word: str) -> str:
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
    "logout": ("logged out", "logging me out", "logs me out", "log me out", "logged me out",
               "signed out", "signs me out", "signing me out", "signed me out", "sign me out",
               "kicked out", "session expire*", "abgemeldet", "rausgeworfen", "deconnecte*",
               "desconecta*", "deslogad*", "disconnesso", "uitgelogd"),
    "mobile": ("iphone", "ipad", "ios", "android", "mobile app", "app on my phone", "handy",
               "smartphone", "movil", "celular", "telemovel", "cellulare", "telefoon"),
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
FAILING = frozenset({"~hang", "~down", "~slow", "~fail", "~logout"})


@lru_cache(maxsize=1)
def _symptom_matcher():
    return matcher(tuple(term for terms in SYMPTOMS.values() for term in terms))


_SYMPTOM_OF = {normalise_term(term): f"~{name}" for name, terms in SYMPTOMS.items()
               for term in terms}


@lru_cache(maxsize=8192)
def symptoms(text: str) -> tuple[tuple[str, str], ...]:
    """The symptoms named in ``text``: their "word" and the term that named it. Cached apart
    from :func:`words_of`: policies read the same text with different ignored words."""
    found = _symptom_matcher().first_matches(CustomerText(text, []))
    return tuple({_SYMPTOM_OF[normalise_term(term)]: term for term in found}.items())


# An HTTP error status ("503", "a 502 error") says more about an outage than most words.
_STATUS_CODE = re.compile(r"(?<![\w.,:/#$€£-])[45]0\d(?![\w.,:/%€£-])")


@lru_cache(maxsize=8192)
def words_of(words_in: SubjectWords, text: str, *, named: bool = True) -> frozenset[str]:
    """The significant words of ``text``, their roots; with ``named``, a symptom named in any
    language stands for the words that named it, and an HTTP error status is a word. Cached:
    incident and repeat_issue read the same recent tickets' subjects and first messages at
    every evaluation."""
    words = set(map(root, words_in(text)))
    if named:
        for symptom, term in symptoms(text):
            words.difference_update(_term_roots(words_in, term))
            words.add(symptom)
        words.update(f"http{code}" for code in _error_statuses(text))
    return frozenset(words)


def _error_statuses(text: str) -> list[str]:
    """The HTTP error statuses ``text`` names ("503")."""
    if "40" in text or "50" in text:  # the pattern looks behind at every position
        return _STATUS_CODE.findall(text)
    return []


def reports_failure(text: str) -> bool:
    """``text`` (folded) names a failure (:data:`FAILING`) or an HTTP error status: what
    :func:`words_of` would tell, without reading its words."""
    return any(symptom in FAILING for symptom, _ in symptoms(text)) or \
        bool(_error_statuses(text))


@lru_cache(maxsize=1024)
def _term_roots(words_in: SubjectWords, term: str) -> frozenset[str]:
    """The roots of a symptom term's words: the vocabulary's, computed once per process."""
    return frozenset(map(root, words_in(term.replace("*", ""))))


@lru_cache(maxsize=32)
def signature(ignore_words: tuple[str, ...]) -> SubjectWords:
    """Significant words in any of the customers' languages, ``ignore_words`` left out."""
    return SubjectWords(STOP_WORDS | SUPPORT_WORDS | OTHER_STOP_WORDS | frozenset(ignore_words))


def text_alike(a: frozenset[str], b: frozenset[str], share: float) -> bool:
    """Two texts' words (:func:`words_of`) tell of one problem: two symptoms in common, one of
    them a failure, or at least :data:`MIN_COMMON_WORDS` words in common that make up ``share``
    of the words of the one with fewer."""
    shared = a & b
    named = {w for w in shared if w.startswith("~")}
    if len(named) >= 2 and not FAILING.isdisjoint(named):
        return True  # "the scheduled workflows did not run", in two languages
    return len(shared) >= MIN_COMMON_WORDS and len(shared) >= share * min(len(a), len(b))
