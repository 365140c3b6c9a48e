"""The vip policy: which organizations and requesters are key accounts, and what they get."""

from __future__ import annotations

from dataclasses import replace

import pytest
from builders import LADDER, T0, comment, ticket
from pydantic import ValidationError

from connector.ticket import Organization, Priority, TierLadder
from plugins import vip
from plugins.decision import decide
from plugins.manager import PolicyHost
from plugins.proposal import PolicyContext

ACME = Organization("3001", "Acme Corp", tags=("enterprise", "emea"),
                    fields={"account_tier": "Platinum", "regions": ["emea", "apac"],
                            "strategic": True, "seats": 250})
SHOP = Organization("3002", "Corner Shop", tags=("smb",), fields={"account_tier": "basic"})


def key_account_ticket(org: Organization | None = ACME, *, requester: str | None = "1",
                       org_id: str | None = None, **kwargs):
    t = ticket(comment(1, "Our invoices do not export.", minutes=1), tags=(), **kwargs)
    return replace(t, organization=org, requester_id=requester,
                   organization_id=org_id or (org.id if org else None))


def evaluate(t, tiers=LADDER, **options):
    ctx = PolicyContext(policy="vip", options=vip.Options(**options), now=T0, tiers=tiers)
    return vip.tierlift_evaluate(ticket=t, ctx=ctx)


def test_a_tagged_key_account_goes_to_the_vip_team_with_high_priority_from_the_first_message():
    proposal = evaluate(key_account_ticket())
    assert proposal.policy == "vip"
    assert proposal.route == "vip"
    assert proposal.priority is Priority.HIGH
    assert proposal.tier is None and proposal.steps_up == 0 and proposal.add_tags == ()
    [evidence] = proposal.evidence
    assert evidence.key == "key_account"
    assert evidence.summary == "organization Acme Corp is tagged enterprise"
    assert evidence.quote is None and evidence.at == T0
    assert proposal.suggestion.startswith("Key account: the vip team owns this")


def test_the_decision_routes_it_and_raises_priority():
    t = key_account_ticket()
    decision = decide(t, [evaluate(t)], LADDER)
    assert decision.route == "vip" and decision.to_tier is None
    assert decision.priority is Priority.HIGH
    assert decision.evidence_to_record() == [("vip", "key_account", "escalated")]


def test_fires_once_per_ticket_an_agent_moving_it_back_is_not_undone():
    t = key_account_ticket()
    used = {("vip", "key_account")}
    # Tier 2 took it off the vip team and set priority back to normal: same evidence, stale.
    later = replace(t, comments=(*t.comments, comment(2, "Any news?", minutes=90)))
    decision = decide(later, [evaluate(later)], LADDER, used=used)
    assert not decision.writes and len(decision.stale) == 1


def test_a_ticket_already_with_the_team_at_high_priority_is_satisfied_and_recorded():
    t = replace(key_account_ticket(priority=Priority.HIGH), route="vip")
    decision = decide(t, [evaluate(t)], LADDER)
    assert not decision.writes
    assert decision.evidence_to_record() == [("vip", "key_account", "satisfied")]


@pytest.mark.parametrize("org, options, summary", [
    (ACME, {}, "organization Acme Corp is tagged enterprise"),
    (replace(ACME, tags=("VIP",)), {}, "organization Acme Corp is tagged vip"),
    (ACME, {"org_tags": ["emea", "enterprise"]}, "organization Acme Corp is tagged emea"),
    (ACME, {"org_tags": [], "org_fields": {"account_tier": ["gold", "platinum"]}},
     "organization Acme Corp has account_tier = Platinum"),
    (ACME, {"org_tags": [], "org_fields": {"regions": ["APAC"]}},
     "organization Acme Corp has regions = apac"),
    (ACME, {"org_tags": [], "org_fields": {"strategic": [True]}},
     "organization Acme Corp has strategic = true"),
    (ACME, {"org_tags": [], "org_fields": {"seats": [250]}},
     "organization Acme Corp has seats = 250"),
    (ACME, {"organizations": [3001]}, "organization Acme Corp is on the key-account list"),
    (SHOP, {"organizations": ["corner SHOP"]},
     "organization Corner Shop is on the key-account list"),
    (replace(SHOP, name=""), {"organizations": ["3002"]},
     "organization 3002 is on the key-account list"),
    (SHOP, {"requesters": [1]}, "requester 1 is on the key-account list"),
    (None, {"requesters": ["1"]}, "requester 1 is on the key-account list"),
])
def test_each_rule_says_what_matched(org, options, summary):
    [evidence] = evaluate(key_account_ticket(org), **options).evidence
    assert evidence.summary == summary


def test_a_listed_organization_id_matches_even_when_the_organization_was_not_fetched():
    t = key_account_ticket(None, org_id="3001")
    [evidence] = evaluate(t, organizations=["3001"]).evidence
    assert evidence.summary == "organization 3001 is on the key-account list"
    assert evaluate(t) is None  # tags need the organization itself


@pytest.mark.parametrize("org, options", [
    (SHOP, {}),
    (None, {}),
    (replace(ACME, tags=("former_vip", "vip_candidate", "enterprise-trial")), {}),
    (ACME, {"org_tags": ["vip"], "org_fields": {"account_tier": ["plat"]}}),
    (ACME, {"org_tags": ["vip"], "org_fields": {"missing_field": ["platinum"]}}),
    (replace(ACME, fields={"account_tier": None}),
     {"org_tags": ["vip"], "org_fields": {"account_tier": ["none"]}}),
    (ACME, {"org_tags": ["vip"], "org_fields": {"strategic": [False]}}),
    (SHOP, {"organizations": ["Corner Shop Ltd", "300"]}),
    (SHOP, {"requesters": ["10", "11"]}),
])
def test_near_misses_do_not_fire(org, options):
    assert evaluate(key_account_ticket(org), **options) is None


def test_no_requester_no_organization_nothing():
    assert evaluate(key_account_ticket(None, requester=None), requesters=["1"]) is None


def test_an_absolute_tier_and_other_route_or_priority():
    t = key_account_ticket()
    proposal = evaluate(t, tier="L3", route="key_accounts", priority="URGENT")
    assert (proposal.tier, proposal.steps_up, proposal.route, proposal.priority) == \
        ("L3", 0, "key_accounts", Priority.URGENT)
    proposal = evaluate(t, tier="L3", route="", priority="")
    assert (proposal.tier, proposal.route, proposal.priority) == ("L3", None, None)
    assert decide(t, [proposal], LADDER).to_tier == "L3"
    assert proposal.suggestion.startswith("Key account: the next tier owns this")


def test_a_five_tier_ladder():
    ladder = TierLadder(("L0", "L1", "L2", "L3", "L4"), "L1")
    t = key_account_ticket()
    proposal = evaluate(t, ladder, tier="L4", route=None)
    assert decide(t, [proposal], ladder).to_tier == "L4"


def test_a_tier_that_is_not_on_the_ladder_is_an_error_at_evaluation():
    with pytest.raises(ValueError, match=r"vip: option tier 'L9' is not one of your tiers "
                                         r"\(L1, L2, L3\)"):
        evaluate(key_account_ticket(SHOP), tier="L9")


def test_registered_to_read_only_the_organization():
    host = PolicyHost(load_entry_points=False)
    spec = host.specs()["vip"]
    assert spec.needs == frozenset({"organization"}) and spec.options is vip.Options
    enabled = host.configure({"vip": {"enabled": True, "organizations": [3001]}})
    assert enabled.options["vip"].organizations == ["3001"]


def test_options_normalise_tags_and_ids():
    options = vip.Options(org_tags=[" VIP ", "Key_Account"], requesters=[77, " 78 "],
                          org_fields={" tier ": ["Gold", " ", 3]}, priority=" High ")
    assert options.org_tags == ["vip", "key_account"]
    assert options.requesters == ["77", "78"]
    assert options.org_fields == {"tier": ["Gold", "3"]}
    assert options.priority == "high"


@pytest.mark.parametrize("options, field", [
    ({"org_tags": []}, "org_tags"),
    ({"org_tags": [" "]}, "org_tags"),
    ({"org_tags": ["key account"]}, "org_tags"),
    ({"org_tags": "vip"}, "org_tags"),
    ({"org_fields": {"account_tier": []}}, "org_fields"),
    ({"org_fields": {"account_tier": [" "]}}, "org_fields"),
    ({"org_fields": {" ": ["gold"]}}, "org_fields"),
    ({"org_fields": {"account_tier": "gold"}}, "org_fields"),
    ({"organizations": ["Acme", ""]}, "organizations"),
    ({"requesters": [" "]}, "requesters"),
    ({"priority": "asap"}, "priority"),
    ({"route": "", "priority": None}, "route"),
    ({"route": None, "priority": "", "tier": " "}, "route"),
])
def test_invalid_options_are_refused_naming_the_field(options, field):
    with pytest.raises(ValidationError) as caught:
        vip.Options(**options)
    assert [e["loc"][0] for e in caught.value.errors()] == [field]


def test_emptying_the_tags_is_fine_when_another_rule_is_given():
    assert vip.Options(org_tags=[], requesters=["1"]).org_tags == []
    assert vip.Options(org_tags=[], org_fields={"tier": ["gold"]}).org_tags == []


# -- Jira Service Management: organizations without tags, listed by id or name ---------------

NORTHWIND = Organization("27", "Northwind Freight Ltd")  # as the Jira connector reads it
HELVETIA = Organization("4", "Helvetia Messtechnik AG")


def jsm_ticket(org: Organization):
    t = key_account_ticket(org, requester="qm:9f2c:5b10ac8d82e05b22cc7d4ef5")
    return replace(t, platform="jira", ref="SUP-7",
                   custom_fields={"customfield_10002": [{"id": org.id, "name": org.name}]})


@pytest.mark.parametrize("listed, summary", [
    (["27"], "organization Northwind Freight Ltd is on the key-account list"),
    ([27], "organization Northwind Freight Ltd is on the key-account list"),
    (["northwind freight LTD"], "organization Northwind Freight Ltd is on the key-account list"),
])
def test_a_listed_jsm_organization_goes_to_the_dedicated_team_from_the_first_message(listed,
                                                                                    summary):
    t = jsm_ticket(NORTHWIND)
    proposal = evaluate(t, organizations=[*listed, "Helvetia Messtechnik AG"],
                        org_tags=["vip", "enterprise_key_account"], route="key_accounts")
    assert (proposal.route, proposal.priority, proposal.tier, proposal.steps_up) == \
        ("key_accounts", Priority.HIGH, None, 0)
    assert [(e.key, e.summary, e.at) for e in proposal.evidence] == \
        [("key_account", summary, T0)]
    decision = decide(t, [proposal], LADDER)
    assert (decision.route, decision.priority, decision.to_tier) == \
        ("key_accounts", Priority.HIGH, None)


def test_a_listed_jsm_organization_with_the_standard_preset_goes_to_l2():
    t = jsm_ticket(HELVETIA)
    proposal = evaluate(t, organizations=["4"], org_tags=["vip", "enterprise_key_account"],
                        tier="L2", route="", priority="")
    assert (proposal.tier, proposal.route, proposal.priority) == ("L2", None, None)
    assert decide(t, [proposal], LADDER).to_tier == "L2"


@pytest.mark.parametrize("org, options", [
    (NORTHWIND, {}),  # default tags: JSM organizations have none
    (NORTHWIND, {"organizations": ["4", "Helvetia Messtechnik AG"]}),
    (NORTHWIND, {"organizations": ["Northwind", "270", "Northwind Freight"]}),
    (HELVETIA, {"organizations": ["27"], "org_fields": {"account_tier": ["platinum"]}}),
])
def test_an_unlisted_jsm_organization_gets_nothing(org, options):
    assert evaluate(jsm_ticket(org), **options) is None
