"""The customer's language: the helpdesk's signal first (requester locale, a language tag),
else a guess from the customer's words; shown in the handoff note and the audit."""

from __future__ import annotations

from dataclasses import replace

import pytest
import responses
from builders import LADDER, T0, comment, ticket, zendesk_audits, zendesk_ticket

from connector.http import ApiSession
from connector.ticket import AuthorRole
from connector.zendesk import ZendeskConnector
from plugins.decision import decide, handoff_note
from plugins.language import Language, detect, ticket_language
from plugins.proposal import Evidence, Proposal

ZENDESK = "https://acme.zendesk.com"


@pytest.mark.parametrize("code, text", [
    ("en", "Hi, since yesterday I can't log in. Could you please have a look? Thanks"),
    ("de", "Hallo, seit gestern kann ich mich nicht mehr anmelden, bitte helfen Sie mir."),
    ("fr", "Bonjour, depuis hier je ne peux pas me connecter, merci de votre aide"),
    ("es", "Hola, desde ayer no puedo entrar a la cuenta, gracias por la ayuda"),
    ("pt", "Olá, desde ontem não consigo entrar na minha conta, obrigado pela ajuda"),
    ("it", "Buongiorno, da ieri non riesco ad accedere, grazie per l'aiuto"),
    ("nl", "Hallo, sinds gisteren kan ik niet meer inloggen, bedankt voor de hulp"),
])
def test_the_customers_words_tell_their_language(code, text):
    assert detect(text) == code


@pytest.mark.parametrize("text", ["SSO broken", "ERROR 500!!!", "", "Invoice #4411 / PO 9921"])
def test_too_little_text_is_no_language(text):
    assert detect(text) is None


def test_the_helpdesks_signal_comes_first():
    german = ticket(comment(1, "Hi, I can't log in since yesterday, please help me with this"))
    assert ticket_language(german) == Language("en", "detected")
    tagged = replace(german, tags=("vip", "lang_de"))
    assert ticket_language(tagged) == Language("de", "tag lang_de")
    located = replace(tagged, locale="pt-BR")
    assert ticket_language(located) == Language("pt", "requester locale")
    assert ticket_language(located).describe() == "Portuguese (requester locale)"
    agents_only = ticket(comment(1, "Hallo, bitte prüfen Sie das, ich kann nicht mehr",
                                 role=AuthorRole.AGENT))
    assert ticket_language(agents_only) is None  # only what the customer wrote counts


def test_the_handoff_note_names_the_language():
    t = ticket(comment(1, "Bonjour, je voudrais parler à un responsable, merci"))
    asked = Proposal("customer_request", (Evidence("comment:1", "asked", at=T0),), steps_up=1)
    note = handoff_note(decide(t, [asked], LADDER), t)
    assert "\n- Language: French (detected)\n" in note


@responses.activate
def test_zendesk_gives_the_requesters_locale_from_the_side_loaded_users():
    responses.get(f"{ZENDESK}/api/v2/users/me.json", json={"user": {"id": 900}})
    responses.get(f"{ZENDESK}/api/v2/tickets/42.json", json=zendesk_ticket())
    body = zendesk_audits(("2026-11-20T09:00:00Z", 101), comments=(
        (1, 1, "Olá, preciso de ajuda", True, "2026-11-20T09:00:00Z"),))
    body["users"][0]["locale"] = "pt-BR"
    responses.get(f"{ZENDESK}/api/v2/tickets/42/audits.json", json=body)
    connector = ZendeskConnector(ApiSession(ZENDESK, ("bot@acme.example/token", "t")),
                                 {"L1": 101, "L2": 102, "L3": 103}, LADDER)
    fetched = connector.fetch("42", needs=frozenset({"comments"}))
    assert fetched.locale == "pt-BR"
    assert [c.body for c in fetched.customer_comments] == ["Olá, preciso de ajuda"]
