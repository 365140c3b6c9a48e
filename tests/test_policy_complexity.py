"""The complexity policy: a transparent weighted score of technical signals, once per ticket."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from builders import LADDER, T0, comment, ticket
from pydantic import ValidationError

from connector.ticket import AuthorRole, TierChange, TierLadder
from plugins import complexity
from plugins.decision import DecisionRules, decide
from plugins.manager import ConfigError, PolicyHost
from plugins.proposal import PolicyContext

FIVE = TierLadder(("L0", "L1", "L2", "L3", "L4"), "L1")


def evaluate(t, *, tiers=LADDER, **options):
    ctx = PolicyContext(policy="complexity", options=complexity.Options(**options), now=T0,
                        tiers=tiers)
    return complexity.tierlift_evaluate(ticket=t, ctx=ctx)


def test_two_strong_signals_propose_one_tier_up_with_the_score_spelled_out():
    t = ticket(comment(1, "Hi team. Since the SSO change last night we have data loss in two "
                          "workspaces. Please hurry.", minutes=5))
    proposal = evaluate(t)
    assert proposal.policy == "complexity"
    assert proposal.steps_up == 1 and proposal.tier is None
    assert proposal.priority is None and proposal.route is None and proposal.add_tags == ()
    [evidence] = proposal.evidence
    assert evidence.key == "score"
    assert evidence.summary == "complexity score 7 ≥ 5: data loss (4), sso (3)"
    assert evidence.quote == "Since the SSO change last night we have data loss in two workspaces."
    assert evidence.at == T0 + timedelta(minutes=5)
    assert proposal.suggestion.startswith("Needs deep product knowledge (data loss, sso): ")
    assert decide(t, [proposal], LADDER).to_tier == "L2"


@pytest.mark.parametrize("body", [
    "Our SSO login is broken.",  # one strong signal: 3
    "We noticed some data loss after the import.",  # the strongest one alone: 4
    "The webhook calls our API twice.",  # two medium ones: 2 + 2
    "SSO, sso, Sso! Still SSO.",  # a term counts once, however often it appears
    "",
])
def test_a_single_signal_or_repetition_does_not_fire(body):
    assert evaluate(ticket(comment(1, body))) is None


@pytest.mark.parametrize("body, summary", [
    ("Our SAML\n  SSO setup broke", "complexity score 6 ≥ 5: sso (3), saml (3)"),
    ("MIGRATIONS and Webhooks and APIs all fail",
     "complexity score 7 ≥ 5: migration (3), api (2), webhook (2)"),
    ("A 500 error, then an internal server error.",
     "complexity score 6 ≥ 5: 500 error (3), internal server error (3)"),
])
def test_case_whitespace_and_plurals_do_not_matter(body, summary):
    assert evaluate(ticket(comment(1, body))).evidence[0].summary == summary


@pytest.mark.parametrize("body", [
    "The rapid ssotool saml2 demo",  # "api", "sso", "saml" only inside other words
    "We keep the data-loss report and lossless data in the database_backup folder.",
    "Ssoftware migrationless encryptions_v2",
    "Ask the apiary about ssolike samlish things",
])
def test_near_misses_inside_other_words_do_not_count(body):
    # "data-loss" is not the phrase "data loss", and nothing else is a whole word here.
    assert evaluate(ticket(comment(1, body)), threshold=3) is None


@pytest.mark.parametrize("role, public", [
    (AuthorRole.AGENT, True),  # the agent explaining the problem back
    (AuthorRole.AGENT, False),  # an internal note
    (AuthorRole.CUSTOMER, False),
    (AuthorRole.SELF, False),  # tierlift's own note quoting the terms
])
def test_only_the_customers_public_words_count(role, public):
    t = ticket(comment(1, "Looks like SSO plus data loss.", role=role, public=public))
    assert evaluate(t) is None


def test_the_subject_counts_and_the_score_is_reached_at_creation():
    t = replace(ticket(comment(1, "Please help", minutes=3)), subject="SSO migration failed")
    [evidence] = evaluate(t).evidence
    assert evidence.summary == "complexity score 6 ≥ 5: sso (3), migration (3)"
    assert evidence.quote == "SSO migration failed"
    assert evidence.at == T0


def test_the_moment_is_when_the_score_first_reached_the_threshold():
    t = ticket(comment(1, "Our SSO stopped working.", minutes=5),
               comment(2, "We are looking into it.", role=AuthorRole.AGENT, minutes=10),
               comment(3, "Also the API returns odd results.", minutes=15),  # 3 + 2 = 5
               comment(4, "And now there is data loss!", minutes=30))
    [evidence] = evaluate(t).evidence
    assert evidence.summary == "complexity score 9 ≥ 5: data loss (4), sso (3), api (2)"
    assert evidence.at == T0 + timedelta(minutes=15)
    assert evidence.quote == "And now there is data loss!"  # the heaviest signal's sentence


def test_tags_form_and_field_values_add_to_the_score_from_the_tickets_creation():
    t = replace(ticket(comment(1, "The webhook fails.", minutes=5), tags=("Enterprise", "vip")),
                form="360001", custom_fields={"360010": ["Gold", "eu_region"], "360011": None})
    proposal = evaluate(t, tags={"enterprise": 1}, forms={"360001": 1},
                        fields={"360010": {"gold": 1, "EU_Region": 0.5}, "360011": {"x": 9}})
    [evidence] = proposal.evidence
    assert evidence.summary == ("complexity score 5.5 ≥ 5: webhook (2), tag enterprise (1), "
                                "form 360001 (1), field 360010 = gold (1), "
                                "field 360010 = eu_region (0.5)")
    assert evidence.at == T0 + timedelta(minutes=5)
    assert evidence.quote == "The webhook fails."
    # Without any keyword the threshold can be met by the ticket's data alone, from creation.
    t2 = replace(t, comments=())
    [evidence] = evaluate(t2, keywords={}, tags={"enterprise": 3}, forms={"360001": 2}).evidence
    assert evidence.summary == "complexity score 5 ≥ 5: tag enterprise (3), form 360001 (2)"
    assert evidence.quote is None and evidence.at == T0


def test_field_values_of_other_types_are_compared_as_text():
    t = replace(ticket(comment(1, "hello")), custom_fields={"1": True, "2": 42, "3": "  Gold "})
    proposal = evaluate(t, keywords={}, fields={"1": {"true": 2}, "2": {"42": 2}, "3": {"gold": 1}})
    assert proposal.evidence[0].summary == ("complexity score 5 ≥ 5: field 1 = true (2), "
                                            "field 2 = 42 (2), field 3 = gold (1)")


def test_the_threshold_and_weights_are_the_admins():
    t = ticket(comment(1, "The API is slow."))
    assert evaluate(t) is None
    [evidence] = evaluate(t, keywords={"API": 1.5, "slow": 1}, threshold=2.5).evidence
    assert evidence.summary == "complexity score 2.5 ≥ 2.5: api (1.5), slow (1)"


def test_an_absolute_tier_is_proposed_as_such_and_checked_against_the_ladder():
    t = ticket(comment(1, "SSO broke and we have data loss"), tier="L1")
    proposal = evaluate(t, tiers=FIVE, tier="L3")
    assert proposal.tier == "L3" and proposal.steps_up == 0
    assert decide(t, [proposal], FIVE).to_tier == "L3"
    with pytest.raises(ValueError, match=r"option tier = 'L9' is not one of your tiers "
                                         r"\(L0, L1, L2, L3, L4\)"):
        evaluate(ticket(comment(1, "nothing to see")), tiers=FIVE, tier="L9")


def test_steps_up_on_a_five_tier_ladder():
    t = ticket(comment(1, "SSO broke and we have data loss"), tier="L1")
    proposal = evaluate(t, tiers=FIVE, steps_up=2)
    assert proposal.steps_up == 2
    assert decide(t, [proposal], FIVE).to_tier == "L3"


def test_it_fires_once_per_ticket_and_does_not_bounce_back_after_a_move_down():
    first = ticket(comment(1, "SSO broke and we have data loss", minutes=5))
    decision = decide(first, [evaluate(first)], LADDER)
    assert decision.to_tier == "L2"
    used = {(p, key) for p, key, _ in decision.evidence_to_record()}
    assert used == {("complexity", "score")}
    # Tier 2 hands it back down; later the customer adds even more signals: same evidence key.
    history = (TierChange(T0, "L1"), TierChange(T0 + timedelta(minutes=20), "L2"),
               TierChange(T0 + timedelta(minutes=40), "L1"))
    later = ticket(comment(1, "SSO broke and we have data loss", minutes=5),
                   comment(2, "Now the SCIM migration and encryption fail too", minutes=50),
                   tier="L1", history=history)
    decision = decide(later, [evaluate(later)], LADDER, used)
    assert decision.to_tier is None and not decision.writes
    assert [p.policy for p in decision.stale] == ["complexity"]


def test_the_target_counts_from_the_tier_when_the_score_was_reached():
    # Reached in L1; an agent moved the ticket to L2 by hand before we saw it: L2 is enough.
    history = (TierChange(T0, "L1"), TierChange(T0 + timedelta(minutes=30), "L2"))
    t = ticket(comment(1, "SSO broke and we have data loss", minutes=5), tier="L2",
               history=history)
    decision = decide(t, [evaluate(t)], LADDER)
    assert decision.to_tier is None
    assert decision.evidence_to_record() == [("complexity", "score", "satisfied")]
    # Reached only once in L2 (the second signal came later): one above L2.
    t2 = ticket(comment(1, "SSO broke", minutes=5), comment(2, "and data loss", minutes=40),
                tier="L2", history=history)
    assert decide(t2, [evaluate(t2)], LADDER).to_tier == "L3"


def test_the_host_gates_complexity_until_the_minimum_effort_is_met():
    t = ticket(comment(1, "SSO broke and we have data loss", minutes=5))
    rules = DecisionRules(min_agent_replies=1)
    decision = decide(t, [evaluate(t)], LADDER, rules=rules, now=T0 + timedelta(minutes=10))
    assert decision.to_tier is None
    assert [(p.policy, why) for p, why in decision.held] == [
        ("complexity", "minimum effort in the current tier not met yet")]


def test_options_are_normalised():
    options = complexity.Options(keywords={"  Data   LOSS ": 4}, tags={"VIP": 1},
                                 fields={" 360010 ": {"Gold Plan": 2, 7: 1}}, tier=" ")
    assert options.keywords == {"data loss": 4}
    assert options.tags == {"vip": 1}
    assert options.fields == {"360010": {"gold plan": 2, "7": 1}}
    assert options.tier is None


@pytest.mark.parametrize("options, field", [
    ({"keywords": {"sso": 0}}, "keywords"),
    ({"keywords": {"sso": -1}}, "keywords"),
    ({"keywords": {"  ": 2}}, "keywords"),
    ({"keywords": {"SSO": 3, "sso": 2}}, "keywords"),
    ({"keywords": "sso"}, "keywords"),
    ({"tags": {"vip": -1}}, "tags"),
    ({"forms": {"360001": "heavy"}}, "forms"),
    ({"fields": {"360010": {}}}, "fields"),
    ({"fields": {"360010": {"gold": 0}}}, "fields"),
    ({"fields": {" ": {"gold": 1}}}, "fields"),
    ({"threshold": 0}, "threshold"),
    ({"threshold": 1000}, "threshold"),
    ({"keywords": {}}, "threshold"),  # nothing left to score: it could never fire
    ({"steps_up": 0}, "steps_up"),
])
def test_invalid_options_are_refused_naming_the_field(options, field):
    with pytest.raises(ValidationError) as caught:
        complexity.Options(**options)
    assert [e["loc"][0] for e in caught.value.errors()] == [field]


def test_an_unreachable_threshold_says_why():
    with pytest.raises(ValidationError, match="all weights together add up to 4, less than the "
                                              "threshold 5: the policy could never fire"):
        complexity.Options(keywords={"sso": 3, "api": 1})


def test_the_host_registers_it_and_names_bad_options_by_key():
    host = PolicyHost(load_entry_points=False)
    spec = host.specs()["complexity"]
    assert spec.needs == {"comments"} and spec.options is complexity.Options
    with pytest.raises(ConfigError) as caught:
        host.configure({"complexity": {"enabled": True, "steps_up": 0, "threshold": 0}})
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "policies.complexity.threshold", "policies.complexity.steps_up"]
    enabled = host.configure({"complexity": {"enabled": True, "tags": {"escalated": 5}}})
    t = replace(ticket(comment(1, "hello")), tags=("escalated",))
    [proposal] = enabled.evaluate(t, now=T0, tiers=LADDER).proposals
    assert proposal.evidence[0].summary == "complexity score 5 ≥ 5: tag escalated (5)"


def test_non_ascii_terms_and_text():
    t = ticket(comment(1, "Nous avons des DONNÉES PERDUES après la migration."))
    [evidence] = evaluate(t, keywords={"données perdues": 4, "migration": 3}).evidence
    assert evidence.summary == "complexity score 7 ≥ 5: données perdues (4), migration (3)"
    assert evidence.quote == "Nous avons des DONNÉES PERDUES après la migration."
    # A character that grows when lower-cased ("İ" → "i̇") shifts nothing: quoted lower-cased.
    t2 = ticket(comment(1, "İstanbul office: SSO is down."), comment(2, "İ: data loss.",
                                                                       minutes=7))
    [evidence] = evaluate(t2).evidence
    assert evidence.at == T0 + timedelta(minutes=7)
    assert evidence.quote == "i̇: data loss."


def test_overlapping_terms_each_count_on_their_own():
    t = ticket(comment(1, "The FEES for the data corruption fix, and the data loss…"))
    [evidence] = evaluate(t, keywords={"fee": 1, "fees": 1, "data loss": 1, "data corruption": 1,
                                       "loss": 1}, threshold=5).evidence
    assert evidence.summary == ("complexity score 5 ≥ 5: fee (1), fees (1), data loss (1), "
                                "data corruption (1), loss (1)")


def test_a_term_of_symbols_only_is_matched_too():
    t = ticket(comment(1, "It shows ### instead of the name"))
    assert evaluate(t, keywords={"###": 5}).evidence[0].summary == "complexity score 5 ≥ 5: ### (5)"
    assert evaluate(ticket(comment(1, "It shows a#### here")), keywords={"###": 5}) is None
