"""The customer_request policy: what counts as asking for a manager, and which tier it targets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from builders import LADDER, T0, comment, ticket
from pydantic import ValidationError

from connector.ticket import AuthorRole, Priority, TierChange
from plugins import customer_request
from plugins.decision import decide
from plugins.proposal import PolicyContext


def evaluate(t, **options):
    ctx = PolicyContext(policy="customer_request",
                        options=customer_request.Options(**options), now=T0, tiers=LADDER)
    return customer_request.tierlift_evaluate(ticket=t, ctx=ctx)


def test_a_customer_asking_for_a_manager_proposes_one_tier_up_with_the_comment_as_evidence():
    [proposal] = evaluate(ticket(comment(7, "Hello. I want to Speak To A Manager now!",
                                         minutes=5)))
    assert proposal.policy == "customer_request"
    assert proposal.steps_up == 1 and proposal.tier is None and proposal.priority is None
    [evidence] = proposal.evidence
    assert evidence.key == "comment:7"
    assert evidence.summary == 'The customer asked: "Speak To A Manager"'
    assert evidence.quote == "I want to Speak To A Manager now!"
    assert evidence.at == T0 + timedelta(minutes=5)


@pytest.mark.parametrize("body", [
    "Please ESCALATE THIS.",
    "can i speak   to a\nmanager",
    "I need higher level support on this",
])
def test_matching_is_case_insensitive_and_tolerates_whitespace(body):
    assert len(evaluate(ticket(comment(1, body)))) == 1


@pytest.mark.parametrize("body", [
    "My manager asked me to send this invoice.",
    "Please do not escalate thisweek's report",  # not the whole words "escalate this"
    "Could you help me speak to a managerial assistant?",
    "",
])
def test_near_misses_do_not_fire(body):
    assert evaluate(ticket(comment(1, body))) == []


@pytest.mark.parametrize("role, public", [
    (AuthorRole.AGENT, True),  # an agent quoting the customer
    (AuthorRole.AGENT, False),  # an internal note
    (AuthorRole.CUSTOMER, False),  # a private comment is never the customer's public ask
    (AuthorRole.SELF, False),  # tierlift's own note quotes the phrase
])
def test_only_public_customer_comments_count(role, public):
    t = ticket(comment(1, "The customer wants to speak to a manager.", role=role, public=public))
    assert evaluate(t) == []


def test_each_asking_comment_is_its_own_evidence():
    t = ticket(comment(1, "escalate this please"), comment(2, "thanks"),
               comment(3, "I want to talk to a manager", minutes=9))
    assert [p.evidence[0].key for p in evaluate(t)] == ["comment:1", "comment:3"]


def test_target_counts_from_the_tier_the_ticket_had_when_the_customer_asked():
    # Asked while in L1; tier 2 has it by the time we evaluate: L2 is already enough.
    history = (TierChange(T0, "L1"), TierChange(T0 + timedelta(minutes=10), "L2"))
    t = ticket(comment(1, "speak to a manager", minutes=5), tier="L2", history=history)
    decision = decide(t, evaluate(t), LADDER)
    assert decision.to_tier is None
    assert decision.evidence_to_record() == [("customer_request", "comment:1", "satisfied")]
    # Asked again once in L2: that asks for L3.
    t2 = ticket(comment(1, "speak to a manager", minutes=5),
                comment(2, "I still want to speak to a manager", minutes=20),
                tier="L2", history=history)
    assert decide(t2, evaluate(t2), LADDER).to_tier == "L3"


def test_options_steps_up_and_priority():
    t = ticket(comment(1, "escalate this"))
    [proposal] = evaluate(t, steps_up=2, priority="HIGH", phrases=["escalate this"])
    assert proposal.steps_up == 2 and proposal.priority is Priority.HIGH
    assert decide(t, [proposal], LADDER).to_tier == "L3"


@pytest.mark.parametrize("options, field", [
    ({"phrases": []}, "phrases"),
    ({"phrases": ["  "]}, "phrases"),
    ({"phrases": "escalate"}, "phrases"),
    ({"steps_up": 0}, "steps_up"),
    ({"priority": "asap"}, "priority"),
])
def test_invalid_options_are_refused_naming_the_field(options, field):
    with pytest.raises(ValidationError) as caught:
        customer_request.Options(**options)
    assert [e["loc"][0] for e in caught.value.errors()] == [field]
