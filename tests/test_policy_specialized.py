"""The specialized policy: which specialist team a request needs, proposed sideways."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from builders import LADDER, T0, comment, ticket
from pydantic import ValidationError

from connector.ticket import AuthorRole, Priority, TierChange
from plugins import specialized
from plugins.decision import DecisionRules, decide
from plugins.manager import ConfigError, PolicyHost
from plugins.proposal import PolicyContext


def evaluate(t, **options):
    ctx = PolicyContext(policy="specialized", options=specialized.Options(**options), now=T0,
                        tiers=LADDER)
    return specialized.tierlift_evaluate(ticket=t, ctx=ctx)


def test_a_billing_request_goes_sideways_to_the_billing_team():
    t = ticket(comment(3, "Hello. I was charged twice and the March invoice is wrong, see "
                          "attached.", minutes=5))
    proposal = evaluate(t)
    assert proposal.policy == "specialized"
    assert proposal.route == "billing"
    assert proposal.steps_up == 0 and proposal.tier is None
    assert proposal.priority is None and proposal.add_tags == ()
    [evidence] = proposal.evidence
    assert evidence.key == "route:billing"
    assert evidence.summary == ("needs the billing team (2 matches): charged twice, "
                                "invoice is wrong")
    assert evidence.quote == "I was charged twice and the March invoice is wrong, see attached."
    assert evidence.at is None  # counted from the current tier: a sideways move never climbs
    assert proposal.suggestion == ("Hand over to the billing team: check the invoices and "
                                   "payment history before replying.")
    decision = decide(t, [proposal], LADDER)
    assert decision.route == "billing" and decision.to_tier is None


@pytest.mark.parametrize("body, route, summary", [
    ("I think my account was hacked: a suspicious login from abroad, then a phishing mail.",
     "security", "needs the security team (3 matches): hacked, suspicious login, phishing"),
    ("This is an account takeover. Fraudulent orders everywhere!",
     "security", "needs the security team (2 matches): account takeover, fraudulent"),
    ("Under the GDPR this is a data deletion request for my account.",
     "compliance", "needs the compliance team (2 matches): gdpr, data deletion request"),
    ("Please send your SOC 2 report and the DPA.",
     "compliance", "needs the compliance team (2 matches): soc 2, dpa"),
    ("Our Zapier integration stopped syncing.",
     "integrations", "needs the integrations team (1 match): zapier integration stopped"),
])
def test_the_default_routes(body, route, summary):
    proposal = evaluate(ticket(comment(1, body)))
    assert proposal.route == route
    assert proposal.evidence[0].summary == summary


def test_security_raises_priority_and_the_suggestion_names_the_team():
    proposal = evaluate(ticket(comment(1, "Someone hacked my account")))
    assert proposal.route == "security" and proposal.priority is Priority.HIGH
    assert proposal.suggestion.startswith("Hand over to the security team: secure the account")
    assert proposal.evidence[0].summary == "needs the security team (1 match): hacked"


def test_the_route_with_most_matches_wins():
    t = ticket(comment(1, "I was double charged, and after a phishing link my account was "
                          "compromised."))
    assert evaluate(t).route == "security"  # 2 against 1


def test_the_written_policys_precedence_decides_between_teams():
    # security > compliance > billing > integrations, whatever the number of matches
    t = ticket(comment(1, "After a phishing mail I was double charged and the invoice is wrong."))
    assert evaluate(t).route == "security"
    t2 = ticket(comment(1, "Our Salesforce sync failed and we were charged twice; under the GDPR "
                           "please also send us a copy of my personal data."))
    assert evaluate(t2).route == "compliance"
    t3 = ticket(comment(1, "The HubSpot connector stopped syncing, and the payment failed."))
    assert evaluate(t3).route == "billing"
    # Without a precedence, the route with most matches wins, then the one listed first.
    assert evaluate(t, precedence=[]).route == "billing"
    routes = {"security": {"keywords": ["phishing"]}, "billing": {"keywords": ["double charged"]}}
    assert evaluate(ticket(comment(1, "After a phishing mail I was double charged.")),
                    routes=routes, precedence=[]).route == "security"
    assert evaluate(t, precedence=["billing"]).route == "billing"


@pytest.mark.parametrize("body", [
    "Please send me the invoice for March, and can I get a refund?",  # routine for tier 1
    "Change billing contact: who can change our contact person?",
    "We were overcharging our own customers today.",  # "overcharged" is not "overcharging"
    "The hackathon went great; the vatican tour too.",
    "We compromised on the design of the report.",
    "This is a breach of contract, says our lawyer.",  # not a data or security breach
    "Our apiary is an update to the udpate.",
    "Thanks, all good now!",
])
def test_near_misses_do_not_route(body):
    assert evaluate(ticket(comment(1, body))) is None


@pytest.mark.parametrize("role, public", [
    (AuthorRole.AGENT, True),
    (AuthorRole.AGENT, False),
    (AuthorRole.CUSTOMER, False),
    (AuthorRole.SELF, False),
])
def test_only_the_customers_public_words_count(role, public):
    t = ticket(comment(1, "This looks like phishing and a wrong invoice.", role=role,
                       public=public))
    assert evaluate(t) is None


def test_the_subject_counts():
    t = replace(ticket(comment(1, "see title")), subject="Wrong invoice: VAT missing")
    [evidence] = evaluate(t).evidence
    assert evidence.summary == "needs the billing team (2 matches): wrong invoice, vat missing"
    assert evidence.quote == "Wrong invoice: VAT missing"


def test_tags_forms_and_field_values_match_too():
    routes = {"legal": {"keywords": ["lawyer"], "tags": ["Legal"], "forms": [360002],
                        "fields": {"360020": ["Contract", 7]}, "suggestion": "loop in counsel."}}
    t = replace(ticket(comment(1, "Hello")), tags=("vip", "legal"), form="360002",
                custom_fields={"360020": ["contract", "other"], "360021": "x"})
    proposal = evaluate(t, routes=routes)
    assert proposal.route == "legal" and proposal.priority is None
    [evidence] = proposal.evidence
    assert evidence.summary == ("needs the legal team (3 matches): tag legal, form 360002, "
                                "field 360020 = contract")
    assert evidence.quote is None
    assert proposal.suggestion == "Hand over to the legal team: loop in counsel."
    t2 = replace(t, tags=(), form=None, custom_fields={"360020": 7})
    assert evaluate(t2, routes=routes).evidence[0].summary == (
        "needs the legal team (1 match): field 360020 = 7")


def test_min_matches():
    one = ticket(comment(1, "I was charged twice"))
    two = ticket(comment(1, "I was charged twice and the VAT is missing"))
    assert evaluate(one, min_matches=2) is None
    assert evaluate(two, min_matches=2).route == "billing"


def test_a_route_is_used_once_and_does_not_bounce_back():
    t = ticket(comment(1, "My invoice is wrong", minutes=5))
    decision = decide(t, [evaluate(t)], LADDER)
    assert decision.route == "billing"
    used = {(p, key) for p, key, _ in decision.evidence_to_record()}
    assert used == {("specialized", "route:billing")}
    # The billing team sends it back to the general queue; more billing words change nothing.
    back = ticket(comment(1, "My invoice is wrong", minutes=5),
                  comment(2, "And the VAT is wrong too, I was overcharged.", minutes=60))
    decision = decide(back, [evaluate(back)], LADDER, used)
    assert not decision.writes and [p.policy for p in decision.stale] == ["specialized"]
    # Security becomes the best match later: that is new evidence, for another team.
    later = ticket(comment(1, "My invoice is wrong", minutes=5),
                   comment(2, "Now my account was hacked after a phishing mail", minutes=90))
    decision = decide(later, [evaluate(later)], LADDER, used)
    assert decision.route == "security"
    assert decision.priority is Priority.HIGH


def test_a_ticket_already_with_the_team_is_satisfied():
    t = replace(ticket(comment(1, "My invoice is wrong")), route="billing")
    decision = decide(t, [evaluate(t)], LADDER)
    assert not decision.writes
    assert decision.evidence_to_record() == [("specialized", "route:billing", "satisfied")]


def test_it_never_moves_the_tier_even_after_a_move_down():
    history = (TierChange(T0, "L2"), TierChange(T0 + timedelta(minutes=30), "L1"))
    t = ticket(comment(1, "My invoice is wrong", minutes=5), tier="L1", history=history)
    decision = decide(t, [evaluate(t)], LADDER)
    assert decision.route == "billing" and decision.to_tier is None
    assert decision.superseded is None


def test_a_sideways_proposal_with_a_moment_never_moves_the_tier():
    history = (TierChange(T0, "L2"), TierChange(T0 + timedelta(minutes=30), "L1"))
    t = ticket(comment(1, "My invoice is wrong", minutes=5), tier="L1", history=history)
    ctx = PolicyContext(policy="specialized", options=specialized.Options(), now=T0, tiers=LADDER)
    sideways = ctx.propose(ctx.evidence("route:billing", "needs the billing team",
                                        at=T0 + timedelta(minutes=5)), steps_up=0, route="billing")
    assert decide(t, [sideways], LADDER).superseded is None
    decision = decide(t, [sideways], LADDER, rules=DecisionRules(route_over_tier=False))
    assert (decision.to_tier, decision.route) == (None, "billing")


def test_options_are_normalised():
    options = specialized.Options(routes={" legal ": {"keywords": ["  Legal   Action ", "lawyer",
                                                                   "LAWYER"],
                                                      "priority": "URGENT", "forms": [12]}})
    route = options.routes["legal"]
    assert route.keywords == ["legal action", "lawyer"]
    patterns = specialized.Options(routes={"x": {"keywords": [r" re:\bCASE-\d+\b "]}})
    assert patterns.routes["x"].keywords == [r"re:\bCASE-\d+\b"]  # a pattern is kept as written
    assert route.priority == "urgent" and route.forms == ["12"]
    proposal = evaluate(ticket(comment(1, "Our LEGAL action starts")),
                        routes={"legal": {"keywords": ["legal action"], "priority": "urgent"}})
    assert proposal.route == "legal" and proposal.priority is Priority.URGENT


@pytest.mark.parametrize("options, location", [
    ({"routes": {}}, ("routes",)),
    ({"routes": {"legal": {}}}, ("routes", "legal")),  # nothing to match
    ({"routes": {"legal": {"keywords": ["  "]}}}, ("routes", "legal", "keywords")),
    ({"routes": {"legal": {"keywords": ["x"], "priority": "asap"}}},
     ("routes", "legal", "priority")),
    ({"routes": {"legal": {"keyword": ["x"]}}}, ("routes", "legal", "keyword")),  # a typo
    ({"routes": {"legal": {"fields": {"360020": []}}}}, ("routes", "legal", "fields")),
    ({"routes": {" ": {"keywords": ["x"]}}}, ("routes",)),
    ({"routes": ["billing"]}, ("routes",)),
    ({"min_matches": 0}, ("min_matches",)),
])
def test_invalid_options_are_refused_naming_the_field(options, location):
    with pytest.raises(ValidationError) as caught:
        specialized.Options(**options)
    assert [e["loc"][:len(location)] for e in caught.value.errors()] == [location]


def test_the_host_registers_it_and_names_bad_options_by_key():
    host = PolicyHost(load_entry_points=False)
    assert host.specs()["specialized"].needs == {"comments"}
    with pytest.raises(ConfigError) as caught:
        host.configure({"specialized": {"enabled": True,
                                        "routes": {"legal": {"priority": "asap"}}}})
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "policies.specialized.routes.legal.priority"]


@pytest.mark.parametrize("body, route, summary", [
    # billing: duplicate or wrong charges, invoice corrections, failed payments, chargebacks
    ("Hallo, Sie haben uns im März doppelt abgebucht und die Rechnung ist falsch.", "billing",
     "needs the billing team (2 matches): doppelt abgebucht, rechnung ist falsch"),
    ("Bonjour, nous avons été facturés deux fois ce mois-ci, merci de corriger la facture.",
     "billing", "needs the billing team (2 matches): facturés deux fois, corriger la facture"),
    ("Hola, tenemos un cobro duplicado en la tarjeta y el pago fue rechazado.", "billing",
     "needs the billing team (2 matches): cobro duplicado, pago fue rechazado"),
    ("Olá, fui cobrado duas vezes e a fatura está errada.", "billing",
     "needs the billing team (2 matches): cobrado duas vezes, fatura está errada"),
    ("My bank shows a chargeback for the March invoice.", "billing",
     "needs the billing team (1 match): chargeback"),
    # security: account takeover, fraud, phished credentials, leaked keys
    ("We leaked our API key on GitHub yesterday, please help.", "security",
     "needs the security team (1 match): leaked our api key"),
    ("Mein Konto wurde gehackt, es gab eine verdächtige Anmeldung aus Brasilien.", "security",
     "needs the security team (2 matches): gehackt, verdächtige anmeldung"),
    ("Mon compte a été piraté après un mail de hameçonnage.", "security",
     "needs the security team (2 matches): compte a été piraté, hameçonnage"),
    ("Creo que mi cuenta fue hackeada, hay acceso no autorizado.", "security",
     "needs the security team (2 matches): hackeada, acceso no autorizado"),
    ("Caí em um golpe de phishing e minha senha foi roubada.", "security",
     "needs the security team (3 matches): golpe, phishing, senha foi roubada"),
    # compliance: data-subject requests, DPA/BAA, regulators, law enforcement
    ("Please sign our BAA before we onboard patients.", "compliance",
     "needs the compliance team (1 match): baa"),
    ("Gemäß DSGVO bitte ich um Löschung meiner Daten.", "compliance",
     "needs the compliance team (2 matches): dsgvo, löschung meiner daten"),
    ("Conformément au RGPD, je demande une copie de mes données.", "compliance",
     "needs the compliance team (2 matches): rgpd, copie de mes données"),
    ("Hemos recibido una orden judicial sobre una cuenta.", "compliance",
     "needs the compliance team (1 match): orden judicial"),
    ("Com base na LGPD, quero excluir meus dados.", "compliance",
     "needs the compliance team (2 matches): lgpd, excluir meus dados"),
    # integrations: a failing third-party connector
    ("Die Shopify-Integration funktioniert nicht mehr.", "integrations",
     "needs the integrations team (1 match): shopify-integration funktioniert nicht"),
    ("Notre intégration Salesforce ne fonctionne plus depuis lundi.", "integrations",
     "needs the integrations team (1 match): intégration salesforce ne fonctionne plus"),
    ("La integración con HubSpot no funciona desde ayer.", "integrations",
     "needs the integrations team (1 match): integración con hubspot no funciona"),
    ("Nossa integração com o Salesforce parou de sincronizar.", "integrations",
     "needs the integrations team (1 match): salesforce parou de sincronizar"),
])
def test_routes_in_every_language(body, route, summary):
    proposal = evaluate(ticket(comment(2, body, minutes=3)))
    assert (proposal.route, proposal.steps_up, proposal.tier) == (route, 0, None)
    [evidence] = proposal.evidence
    assert evidence.key == f"route:{route}"
    assert evidence.summary == summary
    assert evidence.at is None


@pytest.mark.parametrize("body", [
    # billing how-tos
    "How do I download my invoice for March?",
    "My manager asked me where I can download the invoice with the corrected address.",
    "Wo finde ich meine Rechnung für März?",
    "Comment télécharger ma facture de mars ?",
    "¿Dónde puedo descargar mi factura de marzo?",
    "Onde baixo a fatura de março?",
    "How do I update the payment method for next month?",
    # negated
    "I was not charged twice, I only want to understand the invoice.",
    "Wir wurden nicht doppelt abgebucht, alles gut.",
    "Não fui cobrado duas vezes, só quero entender a fatura.",
    # integration how-tos
    "How do I set up the Slack integration?",
    "Gibt es eine Integration mit Shopify?",
    "Existe uma integração com o HubSpot?",
    # other everyday words
    "A quick hack: export to CSV and re-import.",
])
def test_near_misses_in_every_language(body):
    assert evaluate(ticket(comment(1, body))) is None


def test_an_already_answered_billing_question_is_left_alone():
    asked = comment(1, "Why was I charged twice this month?", minutes=0)
    reply = comment(2, "The second charge is a pre-authorisation; it disappears in 3 days.",
                    role=AuthorRole.AGENT, minutes=30)
    t = ticket(asked, reply, comment(3, "Thanks, that explains it!", minutes=60))
    assert evaluate(t) is None
    for answer in ("Danke, hat sich erledigt.", "Merci, c'est réglé.",
                   "Entendido, gracias.", "Problema resolvido, obrigado!"):
        assert evaluate(ticket(asked, reply, comment(3, answer, minutes=60))) is None
    # Not answered: the customer says it is not solved, or wrote before the reply only.
    for answer in ("Thanks, but that is still not solved: charged twice again.",
                   "Thanks but not solved."):
        assert evaluate(ticket(asked, reply, comment(3, answer, minutes=60))).route == "billing"
    assert evaluate(ticket(asked, reply)).route == "billing"
    assert evaluate(ticket(asked, comment(3, "Thanks, that explains it!", minutes=10),
                           reply)).route == "billing"
    # Other routes do not skip answered questions.
    hacked = ticket(comment(1, "My account was hacked."), reply,
                    comment(3, "Thanks, that explains it!", minutes=60))
    assert evaluate(hacked).route == "security"


def test_routes_can_be_added_and_packs_extended():
    legal = {"legal": {"keywords": ["subpoena ... lawyer"], "priority": "high"}}
    t = ticket(comment(1, "We received a subpoena from their lawyer."))
    assert evaluate(t).route == "compliance"  # "subpoena" is the compliance team's
    assert evaluate(t, add_routes=legal, precedence=["legal"]).route == "legal"
    assert set(specialized.Options(add_routes=legal).routes) == {
        "billing", "security", "compliance", "integrations", "legal"}
    danish = ticket(comment(1, "Vi er blevet trukket to gange."))
    assert evaluate(danish) is None
    proposal = evaluate(danish, packs={"da": {"billing": {"terms": ["trukket to gange"]}}})
    assert proposal.evidence[0].summary == "needs the billing team (1 match): trukket to gange"
    german = ticket(comment(1, "Uns wurde doppelt abgebucht."))
    assert evaluate(german, languages=["en"]) is None
    assert evaluate(german, packs={"de": {"billing": {"exclude": ["wurde doppelt"]}}}) is None
    # A route's own keywords replace its built-in packs, as before.
    assert evaluate(german, routes={"billing": {"keywords": ["refund"]}}) is None


def test_which_comments_are_read():
    t = ticket(comment(1, "I cannot log in."),
               comment(2, "Checked the log: the account was hacked from an unknown IP.",
                       role=AuthorRole.AGENT, public=False, minutes=20))
    assert evaluate(t) is None
    assert evaluate(t, comments="all").route == "security"


@pytest.mark.parametrize("options, message", [
    ({"packs": {"de": {"legal": {"terms": ["anwalt"]}}}}, "packs.de: no route legal"),
    ({"languages": ["da"]}, "languages: no pack for da"),
    ({"add_routes": {"legal": {}}}, "a route needs at least one of"),
    ({"comments": "agents"}, "expected one of customer, public, all"),
])
def test_invalid_language_options_say_why(options, message):
    with pytest.raises(ValidationError, match=message):
        specialized.Options(**options)
