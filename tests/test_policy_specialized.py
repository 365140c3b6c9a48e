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
     "integrations", "needs the integrations team (2 matches): zapier, integration"),
    ("Where do I find my API keys?",
     "integrations", "needs the integrations team (2 matches): api key, api"),
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


def test_a_tie_goes_to_the_route_listed_first():
    t = ticket(comment(1, "After a phishing mail I was double charged."))
    assert evaluate(t).route == "billing"  # billing comes before security by default
    routes = {"security": {"keywords": ["phishing"]}, "billing": {"keywords": ["double charged"]}}
    assert evaluate(t, routes=routes).route == "security"


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
    assert evidence.summary == "needs the billing team (2 matches): wrong invoice, vat"
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
