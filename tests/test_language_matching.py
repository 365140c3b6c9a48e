"""Language-aware matching: accents and case, proximity, patterns, exclusions, negation, and the
customer_request packs on text written the way customers write it."""

from __future__ import annotations

import gc
import re
from datetime import timedelta
from pathlib import Path

import pytest
from builders import LADDER, T0, comment, ticket
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from connector.ticket import AuthorRole
from plugins import complexity, customer_request, keywords, packs, policy_exception, specialized
from plugins import text as text_module
from plugins.packs import Pack
from plugins.proposal import PolicyContext
from plugins.text import CustomerText, Matcher, fold, normalise_term
from webhook_app.emulator.labels import load_tickets


def found(terms, text, *, exclude=(), negation=False) -> list[str]:
    """The spans of ``text`` that ``terms`` match, as written in ``text``."""
    body = CustomerText("", [text])
    matcher = Matcher(tuple(terms), tuple(exclude), negation)
    return [body.original_of(m.span()) for _, m in matcher.occurrences(body)]


def asks(body: str, **options) -> list[str]:
    """What customer_request quotes as the request in ``body`` (empty: no request)."""
    ctx = PolicyContext(policy="customer_request", options=customer_request.Options(**options),
                        now=T0, tiers=LADDER)
    return [p.evidence[0].summary for p in customer_request.tierlift_evaluate(
        ticket=ticket(comment(1, body)), ctx=ctx)]


def test_folding_keeps_every_position_and_drops_accents_and_case():
    text = "Não consigo FALAR com o responsável — Straße, Ça, Ñandú"
    assert fold(text) == "nao consigo falar com o responsavel — straße, ca, nandu"
    assert len(fold(text)) == len(text)


def test_terms_match_whatever_the_accents_on_either_side():
    assert found(["responsável"], "quero falar com o RESPONSAVEL") == ["RESPONSAVEL"]
    assert found(["responsavel"], "quero falar com o responsável") == ["responsável"]
    assert found(["nivel superior"], "Necesito soporte de nivel \n superior") == ["nivel superior"]


def test_a_starred_word_takes_any_ending():
    assert found(["eskalier*"], "Bitte eskalieren Sie. Ich habe eskaliert.") == \
        ["eskalieren", "eskaliert"]
    assert found(["eskalier*"], "Eskalation") == []


def test_proximity_matches_the_parts_in_order_within_one_sentence():
    terms = ["charged ... twice"]
    assert found(terms, "You charged my card for the March invoice twice!") == \
        ["charged my card for the March invoice twice"]
    assert found(terms, "I was charged. Then I paid twice") == []  # another sentence
    assert found(terms, "twice I was charged") == []  # wrong order
    assert found(terms, "charged one two three four five six seven twice") == []  # too far


def test_a_starred_word_of_a_gated_term_is_looked_for_before_its_pattern_runs():
    terms = ["api ... fehler*", "sso login*"]
    assert [t.needs for t in Matcher(tuple(terms)).terms] == [({"fehler"},), ({"login"},)]
    assert found(terms, "Die API wirft Fehlermeldungen") == ["API wirft Fehlermeldungen"]
    assert found(terms, "Die API ist langsam, kein Fehler") == []  # another clause
    assert found(terms, "SSO logins fail; the API is slow") == ["SSO logins"]
    assert found(terms, "SSO log in fails") == []


def test_a_pattern_is_tried_only_when_the_text_holds_every_string_set_it_needs():
    """Looked up by its stored things, tried only when a way of losing them is there too."""
    terms = (r"re:\b(?:contacts|rows)\b[^.]{0,20}\b(?:gone|vanished(?! in))\b",)
    matcher = Matcher(terms)
    [term] = matcher.terms
    assert term.needs == ({"gone", "vanished"},)
    tried = []

    class Recorded:  # the term's regex, noting each use
        def __getattr__(self, name):
            tried.append(name)
            return getattr(term.regex, name)

    matcher.terms = [term._replace(regex=Recorded())]
    spans = [m.span() for _, m in matcher.occurrences(CustomerText("The contacts page is slow",
                                                                   []))]
    assert (spans, tried) == ([], [])
    gone = CustomerText("All our contacts are just GONE", [])
    assert [m.span() for _, m in matcher.occurrences(gone)] == [(8, 30)] and tried
    assert found(terms, "Overnight 3,000 rows vanished") == ["rows vanished"]
    # strings of two letters are everywhere: not looked up
    assert Matcher((r"re:\bcontacts (?:is|are) (?:gone|lost)\b",)).terms[0].needs == \
        ({"gone", "lost"},)


@pytest.mark.parametrize(("pattern", "needed"), [
    (r"\bfoo(?:bar)?baz\b", [("foo",), ("baz",)]),  # an optional part is not needed
    (r"(?:data|records?) (?:gone|lost)", [("data", "record"), ("gone", "lost"), (" ",)]),
    (r"x*(?=abc)def", [("def",)]),  # nor what a lookaround looks at
    (r"(?<!we )drops", [("drops",)]),
    (r"(?:ab|)cd", [("cd",)]),  # an alternative that needs nothing
    (r"(?:err){2}or", [("err",), ("or",)]),
    (r"Foo|Bar", [("foo", "bar")]),
    (r"(abc)\1", [("abc",)]),
    # constructs not looked into need nothing: atomic groups, possessive repeats, conditionals,
    # groups with their own flags
    (r"(?>foo)bar", [("bar",)]),
    (r"(?:ab)*+cde", [("cde",)]),
    (r"(x)?(?(1)abc|def)", []),
    (r"(?-i:Foo)bar", [("bar",)]),
])
def test_the_strings_a_pattern_needs_come_from_its_parse(pattern, needed):
    assert text_module._needed(pattern, re.IGNORECASE) == needed


@pytest.mark.parametrize(("term", "text", "spans"), [
    # a pattern that can match nothing is tried everywhere, as re.finditer would
    (r"re:(?<![^\n\0])[ \t]*(?:[ \t]*|\w+)", "b \tat foo", [(0, 1)]),
    (r"re:[ab]\n[cd]", "x a\nc y", [(2, 5)]),  # a line break is a string like any other
])
def test_an_admins_odd_pattern_finds_what_re_finds(term, text, spans):
    assert [m.span() for _, m in Matcher((term,)).occurrences(CustomerText(text, []))] == spans


def test_patterns_find_stack_traces_on_the_folded_text():
    trace = ("It crashes on save:\nTraceback (most recent call last):\n  File \"app.py\", "
             "line 3\nValueError: bad input")
    assert found([r"re:^\w+(?:error|exception):"], trace) == ["ValueError:"]
    assert found([r"re:traceback \(most recent call last\)"], trace) == \
        ["Traceback (most recent call last)"]


def test_matchers_share_one_look_at_a_text_even_when_built_after_it():
    body = CustomerText("Sync down", ["The webhook failed again, see /orders-v9/export"])
    first = Matcher(("re:/orders-v9/\\w+",))
    assert [m.group() for _, m in first.occurrences(body)] == ["/orders-v9/export"]
    looked = body.found
    later = Matcher(("webhook* ... fail*", "re:\\bsync\\b"))  # built after the look
    assert [m.group() for _, m in later.occurrences(body)] == ["webhook failed", "sync"]
    assert body.found is not looked and [m.group() for _, m in first.occurrences(body)] == \
        ["/orders-v9/export"]
    del first, later
    gc.collect()
    gone = Matcher(("again*",))
    assert [m.group() for _, m in gone.occurrences(body)] == ["again"]
    assert "/orders-v9/" not in body.found[0].strings  # a matcher's strings leave with it


def test_a_character_that_folds_to_ascii_case_insensitively_still_lets_patterns_match():
    # a dotless i (U+0131, Turkish keyboards) matches "i" in a pattern, which is IGNORECASE:
    # the pattern's needed string "failed" is not in the text, yet the pattern matches
    assert found(["re:\\bsync failed"], "the sync fa\u0131led again") == ["sync fa\u0131led"]


def test_a_term_inside_a_name_is_not_a_match():
    terms = ["escalation", "manager"]
    text = "posts to #support-escalations, see escalation-rules.md, ask @manager or the manager"
    assert found(terms, text) == ["manager"]


def test_an_overlapping_exclusion_drops_the_match():
    terms, exclude = ["manager"], ["password manager", "my manager ... asked"]
    assert found(terms, "my password manager lost everything", exclude=exclude) == []
    assert found(terms, "My manager has asked me to write", exclude=exclude) == []
    assert found(terms, "password manager broke, get me a manager", exclude=exclude) == \
        ["manager"]


@pytest.mark.parametrize("text, negated", [
    ("There is no need to escalate this", True),
    ("I don't want to escalate, just asking", True),
    ("Das muss nicht eskaliert werden", True),
    ("Pas besoin d'escalader", True),
    ("No hace falta escalar", True),
    ("Não precisa escalar", True),
    ("Nothing works, please escalate", False),  # "nothing" negates nothing
    ("No, escalate it now", False),  # another clause
    ("It is not working at all and I want you to escalate", False),  # too far back
    ("Why has this not been escalated?", False),  # asking why not is asking for it
    ("¿Por qué no lo escalaron todavía?", False),
])
def test_a_negation_just_before_a_match_in_the_same_clause_cancels_it(text, negated):
    terms = ["escalat*", "eskalier*", "escalader", "escalar", "escalaron"]
    assert (found(terms, text, negation=True) == []) is negated


@pytest.mark.parametrize("body, quoted", [
    ("Hi, this is the 3rd time I write. I want to speak to your manager today.",
     "speak to your manager"),
    ("can u pls escalate, its been a week!!", "escalate"),
    ("Could I speak with someone senior please", "speak with someone senior"),
    ("Guten Tag, ich möchte bitte mit Ihrem Vorgesetzten sprechen.", "Vorgesetzten"),
    ("Bitte eskalieren Sie das an die nächste Ebene", "eskalieren"),
    ("Bonjour, je souhaite parler à un responsable svp", "parler à un responsable"),
    ("Merci de faire remonter mon dossier au niveau supérieur.", "remonter mon dossier"),
    ("Quiero hablar con un supervisor YA", "hablar con un supervisor"),
    ("por favor escalen el caso, llevamos 5 dias así", "escalen"),
    ("Preciso falar com o gerente, ninguém resolve", "falar com o gerente"),
    ("Vorrei parlare con un responsabile, grazie", "parlare con un responsabile"),
    ("Ik wil graag spreken met een leidinggevende", "spreken met een leidinggevende"),
])
def test_customers_ask_for_a_manager_in_their_own_words_and_languages(body, quoted):
    assert asks(body) == [f'The customer asked: "{quoted}"']


@pytest.mark.parametrize("body", [
    "My manager asked me to find out why the export is empty.",
    "I lost the master password of my password manager, can you reset 2FA?",
    "Our account manager Julia promised a call back.",
    "How do I configure escalation rules so tickets go to my team lead?",
    "how can tickets unassigned for 4 hours get escalated to my team leads group?",
    "the Slack app stopped posting to our #support-escalations channel",
    "I'm a manager at Globex and as a manager I need SSO for my team",
    "There's no need to escalate this, it's just a question.",
    "lol the escalator at your office was broken when I visited",
    "Mein Chef hat mich gebeten, die Rechnung nachzufragen.",
    "Wie richte ich Eskalationsregeln ein?",
    "Mon responsable m'a demandé de vous contacter pour la facture.",
    "Pas besoin d'escalader, c'est juste une question.",
    "Mi jefe me pidió que les escribiera sobre la factura.",
    "No hace falta escalar esto, gracias.",
    "Meu gerente pediu para eu abrir este chamado.",
    "Não precisa escalar, é só uma dúvida.",
    "I don't want to talk to a manager, I just want my export to work.",
])
def test_near_misses_in_every_language_are_not_requests(body):
    assert asks(body) == []


def test_packs_can_be_narrowed_extended_and_given_new_languages():
    swedish = "Jag vill prata med en chef"
    assert asks(swedish) == []
    assert asks(swedish, packs={"sv": {"terms": ["prata ... chef"]}}) == \
        ['The customer asked: "prata med en chef"']
    assert asks(swedish, languages=["en", "sv"], packs={"sv": {"terms": ["prata ... chef"]}})
    assert asks("Quiero hablar con el gerente", languages=["en"]) == []
    assert asks("send me to your boss's boss", add_phrases=["boss's boss"]) == \
        ['The customer asked: "boss\'s boss"']
    assert asks("our manager wants a call", exclude=["wants a call"]) == []


def test_phrases_still_replace_the_packs_as_before():
    assert asks("Please escalate this", phrases=["speak to a manager"]) == []
    assert asks("speak to a manager", phrases=["speak to a manager"]) == \
        ['The customer asked: "speak to a manager"']
    # Exclusions and negation of the packs still apply to the admin's own phrases.
    assert asks("no need to speak to a manager", phrases=["speak to a manager"]) == []


def test_unknown_languages_and_comment_scopes_are_refused_naming_the_key():
    with pytest.raises(ValidationError, match="languages: no pack for sv"):
        customer_request.Options(languages=["en", "sv"])
    with pytest.raises(ValidationError, match="expected one of customer, public, all"):
        customer_request.Options(comments="everyone")


def test_only_what_the_customer_wrote_publicly_counts_unless_configured():
    t = ticket(comment(1, "Export fails"),
               comment(2, "Customer wants to talk to a supervisor.",
                       role=AuthorRole.AGENT, public=False, minutes=3))
    ctx = PolicyContext(policy="customer_request", options=customer_request.Options(),
                        now=T0 + timedelta(hours=1), tiers=LADDER)
    assert customer_request.tierlift_evaluate(ticket=t, ctx=ctx) == []
    ctx.options = customer_request.Options(comments="all")
    [proposal] = customer_request.tierlift_evaluate(ticket=t, ctx=ctx)
    assert proposal.evidence[0].key == "comment:2"
    assert proposal.evidence[0].at == T0 + timedelta(minutes=3)


def test_tierlifts_own_notes_are_never_read_again_whatever_the_scope():
    """Our note quotes the request it acted on: reading it would make new evidence of it."""
    own = comment(2, 'tierlift escalated this ticket.\n    "I want to speak to a manager"',
                  role=AuthorRole.SELF, public=False, minutes=5)
    t = ticket(comment(1, "The export is empty"), own)
    for scope in ("customer", "public", "all"):
        ctx = PolicyContext(policy="customer_request",
                            options=customer_request.Options(comments=scope), now=T0,
                            tiers=LADDER)
        assert customer_request.tierlift_evaluate(ticket=t, ctx=ctx) == []


def _shipped_patterns() -> list[str]:
    """Every ``re:`` term the built-in policies and packs ship."""
    found: set[str] = set()

    def walk(value, depth=0):
        if isinstance(value, str):
            if value.startswith("re:"):
                found.add(value)
        elif depth < 4 and isinstance(value, dict | list | tuple | set | frozenset):
            for item in (value.values() if isinstance(value, dict) else value):
                walk(item, depth + 1)
        elif depth < 4 and isinstance(value, Pack):
            walk((value.terms, value.exclude), depth + 1)

    for module in (complexity, customer_request, keywords, packs, policy_exception, specialized):
        walk(list(vars(module).values()))
    return sorted(found)


SHIPPED = _shipped_patterns()
_COMPILED = [text_module._compile(normalise_term(p))[0] for p in SHIPPED]
_ANCHORED = [(r, starts) for r in _COMPILED if (starts := text_module._starts(r.pattern, r.flags))]
_PIECES = sorted({s for _, starts in _ANCHORED for s in starts} - {text_module.LINE_START}
                 | {s for r in _COMPILED for strings in text_module._needed(r.pattern, r.flags)
                    for s in strings}
                 | {"500", "a", "the", "api", "error:", "to", "is", "at", "  at",
                    "com.acme.foo(foo.java:42)", "(https://app.acme.io/main.js:10:5)"})
_GLUE = ("", " ", " ", " ", ", ", ". ", "\n", "\0", "-", "/", ":", "\t", "\n  ")


def test_most_shipped_patterns_are_tried_only_where_they_can_start():
    assert len(SHIPPED) > 60 and len(_ANCHORED) > len(SHIPPED) // 2
    traces = [starts for _, starts in _ANCHORED if starts[0] == text_module.LINE_START]
    line = text_module.LINE_START
    assert sorted(traces) == [(line, "at ")] * 3 + [(line, 'file "')]


def test_a_stack_trace_line_is_found_where_its_line_starts():
    terms = (r"re:(?<![^\n\0])[ \t]*at [\w$.<>]+\([\w$]+\.java:\d+\)",)
    trace = CustomerText("Export fails", ["Exception in thread main\n    at com.acme.Foo("
                                          "Foo.java:42)\n\tat com.acme.Bar(Bar.java:7) at "
                                          "x.Y(Y.java:1)"])
    found = [m.group() for _, m in Matcher(terms).occurrences(trace)]
    assert found == ["    at com.acme.foo(foo.java:42)", "\tat com.acme.bar(bar.java:7)"]
    assert trace.line_starts == [0, 13, 38, 71]
    pasted = CustomerText("at com.acme.Foo(Foo.java:42)", [])  # at the very start
    assert [m.span() for _, m in Matcher(terms).occurrences(pasted)] == [(0, 28)]


ROOT = Path(__file__).resolve().parent.parent
_NEEDED = [(r, needed) for r in _COMPILED if (needed := text_module._needed(r.pattern, r.flags))]


def test_most_shipped_patterns_need_more_than_one_string_set():
    assert sum(len(needed) > 1 for _, needed in _NEEDED) > len(SHIPPED) // 2


def test_a_shipped_pattern_finds_the_strings_it_needs_in_the_labelled_tickets_it_matches():
    labels = load_tickets(sorted((ROOT / "bench" / "decisions").glob("**/*.toml")))
    texts = [fold("\0".join((t.subject, t.description, *(e.text or "" for e in t.events))))
             for t in labels.tickets]
    matched = 0
    for regex, needed in _NEEDED:
        for text in filter(regex.search, texts):
            matched += 1
            assert all(any(s in text for s in strings) for strings in needed), regex.pattern
    assert len(texts) > 300 and matched > 200


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_PIECES), st.sampled_from(_GLUE)), max_size=40))
def test_a_pattern_matches_only_texts_holding_a_string_of_each_set_it_needs(pieces):
    text = "".join(piece + glue for piece, glue in pieces)
    for regex, needed in _NEEDED:
        if regex.search(text):
            assert all(any(s in text for s in strings) for strings in needed), regex.pattern


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_PIECES), st.sampled_from(_GLUE)), max_size=40))
def test_a_pattern_tried_where_it_can_start_finds_what_it_finds_anywhere(pieces):
    text = "".join(piece + glue for piece, glue in pieces)
    line_starts = {0} | {i + 1 for i, char in enumerate(text) if char in "\n\0"}
    for regex, starts in _ANCHORED:
        lines = starts[0] == text_module.LINE_START
        at = {i for s in starts[lines:] for i in range(len(text)) if text.startswith(s, i)}
        if starts == (text_module.LINE_START,):
            positions = line_starts
        elif lines:  # the lines where blanks come before one of the strings
            positions = text_module._line_starts_before(text, at)
            assert positions <= line_starts
        else:
            positions = at
        assert [m.span() for m in text_module._anchored(regex, text, positions)] == \
            [m.span() for m in regex.finditer(text)], regex.pattern
