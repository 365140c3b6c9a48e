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


# --- Families of wording the support lead routes, and their near misses -----------------------

def only(body, **fields):
    """The proposal (route, summary) for one customer comment, or None."""
    proposal = evaluate(replace(ticket(comment(1, body)), **fields))
    return None if proposal is None else (proposal.route, proposal.evidence[0].summary)


@pytest.mark.parametrize("tags, body", [
    # A portal or trigger labels every billing question "billing": how-tos, refunds tier 1 did.
    (("billing",), "Where do I download all our invoices since January as PDFs?"),
    (("billing",), "I forgot to cancel after the trial and got charged €29, any chance of a "
                   "refund? No worries if not!"),
    # "api" is our own API, not a third-party connector.
    (("api",), "Where do I create a personal API token? I can't find it in settings."),
    (("api",), "Oi pessoal, na API de pedidos o parâmetro page_size aceita no máximo quanto?"),
    (("integration",), "How do I set up the Slack integration?"),
])
def test_topic_tags_alone_do_not_route(tags, body):
    assert only(body, tags=tags) is None


def test_security_and_compliance_tags_still_route():
    assert only("Please call me back.", tags=("security",)) == (
        "security", "needs the security team (1 match): tag security")
    assert only("Please call me back.", tags=("GDPR",)) == (
        "compliance", "needs the compliance team (1 match): tag gdpr")


def test_an_answered_question_is_skipped_whatever_its_tags():
    routes = {"billing": {"tags": ["billing"], "skip_answered": True}}
    asked = comment(1, "Why did my bill go up from €150 to €184 this month?", minutes=0)
    reply = comment(2, "You added 2 seats on the 9th, prorated: that is the €34.",
                    role=AuthorRole.AGENT, minutes=30)
    answered = replace(ticket(asked, reply, comment(3, "ah right, makes sense, cheers",
                                                    minutes=60)), tags=("billing",))
    assert evaluate(answered, routes=routes) is None
    unanswered = replace(ticket(asked, reply), tags=("billing",))
    assert evaluate(unanswered, routes=routes).evidence[0].summary == (
        "needs the billing team (1 match): tag billing")
    # A route that does not skip answered questions keeps its tag.
    routes["billing"]["skip_answered"] = False
    assert evaluate(answered, routes=routes).route == "billing"


def test_a_built_in_route_needs_nothing_of_its_own():
    options = specialized.Options(routes={"billing": {"suggestion": "ask Finance."}})
    assert list(options.routes) == ["billing"]
    assert options.routes["billing"].tags == []
    proposal = evaluate(ticket(comment(1, "I was charged twice")),
                        routes={"billing": {"suggestion": "ask Finance."}})
    assert proposal.suggestion == "Hand over to the billing team: ask Finance."
    # A route of an admin's own, with terms only in packs, is fine too.
    legal = {"legal": {"tags": ["legal"]}}
    assert evaluate(ticket(comment(1, "Unser Anwalt meldet sich.")), routes=legal,
                    packs={"de": {"legal": {"terms": ["anwalt"]}}}).route == "legal"


@pytest.mark.parametrize("body, summary", [
    ("Our HubSpot sync keeps failing since Monday.",
     "needs the integrations team (1 match): hubspot sync keeps failing"),
    ("We keep getting failed to sync errors with HubSpot.",
     "needs the integrations team (1 match): failed to sync errors with hubspot"),
    ("Die Synchronisation mit Salesforce schlägt fehl.",
     "needs the integrations team (1 match): salesforce schlägt fehl"),
    ("Notre connecteur Shopify renvoie une erreur.",
     "needs the integrations team (1 match): connecteur shopify renvoie une erreur"),
])
def test_integrations_is_a_failing_third_party_connector(body, summary):
    assert only(body) == ("integrations", summary)


@pytest.mark.parametrize("body", [
    # our own API: explained errors, SDK errors, how-tos, other sync jobs
    "Our nightly product sync started failing last night with 429 Too Many Requests - "
    "rate limit of 600 requests/minute exceeded. Would Business give us more headroom?",
    "Our sync job started failing after Tuesday's API changelog: KeyError: 'meta'",
    "X-RateLimit-Remaining: is that per API token or per workspace? We run two integrations.",
    "The mobile app stopped syncing offline changes.",
    "Die Synchronisation schlägt seit gestern fehl.",
    "La synchronisation échoue depuis la mise à jour de l'application mobile.",
    "La sincronización falla desde la última versión de la app.",
    "A sincronização falha no aplicativo desde ontem.",
    "Quick question: how do I sync contacts to HubSpot?",
])
def test_our_own_api_and_bare_sync_failures_are_not_integrations(body):
    assert only(body) is None


@pytest.mark.parametrize("body, summary", [
    ("Someone took over our admin account: the admin email on our account was changed to a "
     "gmail address I don't recognize.",
     "needs the security team (2 matches): someone took over, email on our account was changed"),
    ("Overnight someone logged into our practice manager's account from an IP in another "
     "country.", "needs the security team (1 match): someone logged into our practice "
     "manager's account"),
    ("There was a login from an IP in another country at 3am, not us.",
     "needs the security team (1 match): login from an ip in another country"),
    ("Our SIEM flagged it: we think her session cookie was stolen by an infostealer.",
     "needs the security team (2 matches): session cookie was stolen, infostealer"),
    ("Jemand hat unser Konto übernommen, seitdem unbekannte Anmeldungen.",
     "needs the security team (2 matches): konto übernommen, unbekannte anmeldungen"),
    ("Quelqu'un s'est connecté à mon compte, connexion inconnue depuis l'étranger.",
     "needs the security team (2 matches): quelqu'un s'est connecté, connexion inconnue"),
    ("Alguien entró en mi cuenta y veo inicios de sesión desconocidos.",
     "needs the security team (2 matches): alguien entró en mi cuenta, inicios de sesión "
     "desconocidos"),
    ("Alguém entrou na minha conta; vejo logins desconhecidos.",
     "needs the security team (2 matches): alguém entrou na minha conta, logins desconhecidos"),
])
def test_account_takeover_in_every_language(body, summary):
    assert only(body) == ("security", summary)


def test_strange_logins_with_charges_go_to_security_not_billing():
    body = ("unknown logins and we've been charged for 50 new seats. Someone logged into our "
            "manager's account and now we were charged twice for the seats.")
    assert only(body) == ("security", "needs the security team (2 matches): unknown logins, "
                                      "someone logged into our manager's account")


@pytest.mark.parametrize("body, summary", [
    ("Our intern pushed our production API key (the one starting sk_live_7Qx...) to a public "
     "GitHub repo.", "needs the security team (1 match): pushed our production api key"),
    ("API key committed to public repo", "needs the security team (1 match): api key committed"),
    ("My colleague pasted our webhook config, including our admin API token, into a public "
     "thread on your forum.", "needs the security team (1 match): pasted our webhook config, "
     "including our admin api token"),
    ("Ein Kollege hat unseren API-Schlüssel in ein öffentliches GitHub-Repo gepusht.",
     "needs the security team (1 match): api-schlüssel in ein öffentliches github-repo"),
    ("Un collègue a publié notre clé API sur un dépôt GitHub public.",
     "needs the security team (1 match): clé api sur un dépôt github public"),
    ("Un compañero publicó nuestra clave de API en un repositorio público de GitHub.",
     "needs the security team (1 match): clave de api en un repositorio público"),
    ("Um colega publicou nossa chave de API em um repositório público no GitHub.",
     "needs the security team (1 match): chave de api em um repositório público"),
])
def test_a_secret_posted_where_the_public_reads_it_is_security(body, summary):
    assert only(body) == ("security", summary)


@pytest.mark.parametrize("body", [
    # secrets how-tos, questions posted about keys
    "Where do I get an API key? The docs say use a personal API token.",
    "How do I share my API key with a colleague?",
    "Is there a public GitHub repo with API examples for token authentication?",
    "I posted a question about API tokens in your public forum.",
    # someone else asking whether we were hacked (a certificate warning)
    "Customers are emailing us asking if we've been hacked, the certificate expired.",
    "Kunden fragen, ob wir gehackt wurden, weil das Zertifikat abgelaufen ist.",
    "Nos clients nous demandent si notre compte a été piraté, à cause du certificat.",
    "Los clientes preguntan si nos han hackeado por el aviso del certificado.",
    "Os clientes perguntam se fomos hackeados por causa do certificado.",
    # our own people, our own trips
    "Someone from our team logged into the account to update the logo.",
    "How do I take over the admin role when our owner leaves?",
    "We logged in from another country during our trip, is that a problem?",
])
def test_security_near_misses(body):
    assert only(body) is None


@pytest.mark.parametrize("body, summary", [
    ("I am investigating an allegation of fraud and request subscriber information. A "
     "production order is attached.", "needs the compliance team (2 matches): subscriber "
     "information, production order"),
    ("Im Rahmen eines Ermittlungsverfahrens wegen des Verdachts des Betrugs bitten wir um "
     "Bestandsdatenauskunft.", "needs the compliance team (2 matches): ermittlungsverfahrens, "
     "bestandsdatenauskunft"),
    ("Dans le cadre d'une enquête pour fraude présumée, nous vous adressons une réquisition "
     "judiciaire.", "needs the compliance team (1 match): réquisition"),
    ("En el marco de una investigación por presunto fraude, la Guardia Civil solicita los datos "
     "del titular.", "needs the compliance team (1 match): guardia civil"),
    ("A Polícia Federal investiga suposta fraude e requisita os dados cadastrais.",
     "needs the compliance team (1 match): polícia"),
])
def test_law_enforcement_investigating_fraud_is_compliance(body, summary):
    assert only(body) == ("compliance", summary)


def test_fraud_on_the_customers_own_account_is_still_security():
    assert only("Please investigate this fraud on my account.") == (
        "security", "needs the security team (1 match): fraud")
    assert only("Someone used our account to send fraudulent invoices.") == (
        "security", "needs the security team (1 match): fraudulent")


@pytest.mark.parametrize("body, summary", [
    ("La Commission nationale de l'informatique et des libertés a été saisie d'une plainte "
     "relative à l'absence de réponse à sa demande d'effacement de ses données.",
     "needs the compliance team (3 matches): commission nationale de l'informatique, saisie "
     "d'une plainte, demande d'effacement"),
    ("The Information Commissioner's Office has received a complaint from one of your users.",
     "needs the compliance team (1 match): information commissioner"),
    ("Der Landesbeauftragte für Datenschutz hat uns eine Beschwerde weitergeleitet.",
     "needs the compliance team (1 match): landesbeauftragte für datenschutz"),
    ("A Autoridade Nacional de Proteção de Dados encaminhou uma reclamação.",
     "needs the compliance team (1 match): autoridade nacional de proteção de dados"),
    # access requests, in the customers' languages
    ("Ich bitte um Auskunft über die zu meiner Person gespeicherten Daten.",
     "needs the compliance team (1 match): auskunft über die zu meiner person gespeicherten "
     "daten"),
    ("Je demande l'accès à mes données personnelles.",
     "needs the compliance team (1 match): accès à mes données personnelles"),
    ("Quisiera saber qué datos personales tienen sobre mí.",
     "needs the compliance team (1 match): qué datos personales"),
    ("Solicito acesso aos meus dados pessoais.",
     "needs the compliance team (1 match): acesso aos meus dados pessoais"),
    ("Chiedo l'accesso ai miei dati personali.",
     "needs the compliance team (1 match): accesso ai miei dati personali"),
    ("Hierbij dien ik een inzageverzoek in.",
     "needs the compliance team (1 match): inzageverzoek"),
])
def test_regulators_and_access_requests_in_every_language(body, summary):
    assert only(body) == ("compliance", summary)


@pytest.mark.parametrize("body", [
    "I lost access to my data after the export.",
    "Ich habe keinen Zugriff mehr auf meine Daten.",
    "We have a complaint about the new dashboard.",
])
def test_compliance_near_misses(body):
    assert only(body) is None


@pytest.mark.parametrize("body, summary", [
    ("Rechnung INV-88213: falsche USt-IdNr. und alte Firmierung. Bitte um Korrektur und "
     "Neuausstellung.", "needs the billing team (3 matches): falsche ust-idnr., alte "
     "firmierung, neuausstellung"),
    ("The invoice shows a wrong VAT number, please send a reissued invoice.",
     "needs the billing team (2 matches): wrong vat number, reissued invoice"),
    ("Merci de réémettre la facture : le numéro de TVA est erroné.",
     "needs the billing team (2 matches): réémettre la facture, numéro de tva est erroné"),
    ("Necesito una factura rectificativa, el NIF es incorrecto.",
     "needs the billing team (2 matches): factura rectificativa, nif es incorrecto"),
    ("Preciso reemitir a nota fiscal, o CNPJ está errado.",
     "needs the billing team (2 matches): reemitir a nota fiscal, cnpj está errado"),
])
def test_invoice_corrections_in_every_language(body, summary):
    assert only(body) == ("billing", summary)


@pytest.mark.parametrize("body", [
    "Can I add our VAT number so it shows on future invoices?",
    "How do I change the company name on future invoices?",
    "Wie ändere ich die USt-IdNr. für künftige Rechnungen?",
])
def test_invoice_how_tos_are_not_corrections(body):
    assert only(body) is None


@pytest.mark.parametrize("body, summary", [
    ("You charged us twice, this is fraud!", "needs the billing team (1 match): charged us twice"),
    ("Das ist Betrug! Sie haben doppelt abgebucht.",
     "needs the billing team (1 match): doppelt abgebucht"),
    ("Vous nous avez prélevés deux fois, c'est de la fraude !",
     "needs the billing team (1 match): prélevés deux fois"),
    ("Nos cobraron dos veces, esto es un fraude.",
     "needs the billing team (1 match): cobraron dos veces"),
    ("Fui cobrado duas vezes, isso é golpe!",
     "needs the billing team (1 match): cobrado duas vezes"),
])
def test_calling_our_own_charge_fraud_is_a_billing_error(body, summary):
    assert only(body) == ("billing", summary)
