"""Merging proposals into one decision, and the internal note that explains it."""

from __future__ import annotations

from datetime import timedelta

from builders import LADDER, T0, comment, ticket

from connector.ticket import Priority, TierLadder
from plugins.decision import decide, handoff_note, tier_write
from plugins.proposal import Evidence, Proposal


def proposal(policy="customer_request", key="comment:1", *, tier=None, steps_up=1,
             priority=None, minutes=0, suggestion=None):
    evidence = Evidence(key, f"{policy} saw {key}", quote="let me talk to a manager",
                        at=T0 + timedelta(minutes=minutes))
    return Proposal(policy, (evidence,), tier=tier, steps_up=0 if tier else steps_up,
                    priority=priority, suggestion=suggestion)


def test_the_highest_target_wins_and_every_contributor_is_kept():
    a, b = proposal("a", steps_up=1), proposal("b", tier="L3")
    decision = decide(ticket(), [a, b], LADDER)
    assert decision.to_tier == "L3"
    assert [r.proposal.policy for r in decision.fired] == ["a", "b"]
    assert decision.evidence_to_record() == [("a", "comment:1", "escalated"),
                                            ("b", "comment:1", "escalated")]


def test_nothing_moves_down_and_a_met_target_is_recorded_as_satisfied():
    decision = decide(ticket(tier="L3"), [proposal(tier="L2"), proposal("b", steps_up=1)],
                      LADDER)
    assert not decision.writes
    assert decision.to_tier is None
    assert [r.target for r in decision.satisfied] == ["L2", "L3"]  # L3 is capped at the top
    assert decision.evidence_to_record() == [("b", "comment:1", "satisfied"),
                                            ("customer_request", "comment:1", "satisfied")]


def test_used_evidence_is_stale_and_never_escalates_again():
    p = proposal()
    decision = decide(ticket(), [p], LADDER, used={("customer_request", "comment:1")})
    assert not decision.writes and decision.stale == (p,)
    # The same key seen by another policy is that policy's own evidence.
    other = proposal("b")
    assert decide(ticket(), [other], LADDER,
                  used={("customer_request", "comment:1")}).to_tier == "L2"


def test_priority_is_the_highest_proposed_and_only_ever_raised():
    t = ticket(priority=Priority.HIGH)
    decision = decide(t, [proposal(priority=Priority.URGENT, tier="L1"),
                          proposal("b", priority=Priority.LOW, tier="L1")], LADDER)
    assert decision.to_tier is None and decision.priority is Priority.URGENT
    assert [r.proposal.policy for r in decision.fired] == ["customer_request"]
    assert [r.proposal.policy for r in decision.satisfied] == ["b"]


def test_a_ladder_with_five_tiers():
    ladder = TierLadder(("L0", "L1", "L2", "L3", "L4"), "L1")
    t = ticket(tier="L1")
    assert decide(t, [proposal(steps_up=2)], ladder).to_tier == "L3"
    assert decide(t, [proposal(steps_up=9)], ladder).to_tier == "L4"


def test_the_write_tags_the_ticket_and_carries_the_note():
    t = ticket(comment(1, "x"))
    decision = decide(t, [proposal(suggestion="Call them back."), proposal("b", key="k")],
                      LADDER)
    write = tier_write(decision, t)
    assert write.tier == "L2"
    assert write.add_tags == ("tierlift_escalated", "tierlift_b", "tierlift_customer_request")
    assert write.priority is None
    assert write.internal_note == handoff_note(decision, t)


def test_the_note_says_what_moved_why_and_what_to_do():
    t = ticket(priority=Priority.NORMAL)
    decision = decide(t, [proposal(priority=Priority.HIGH, minutes=5,
                                   suggestion="Reply personally as the next tier.")], LADDER)
    assert handoff_note(decision, t) == (
        "tierlift escalated this ticket from L1 to L2. Priority: normal → high.\n"
        "\n"
        "Why:\n"
        "- customer_request: customer_request saw comment:1 (2026-11-20 09:05 UTC)\n"
        '    "let me talk to a manager"\n'
        "\n"
        "Suggested next steps:\n"
        "- customer_request: Reply personally as the next tier.\n"
        "\n"
        "Evidence: customer_request/comment:1"
    )
