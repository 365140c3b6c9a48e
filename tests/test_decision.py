"""Merging proposals into one decision, and the internal note that explains it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from builders import LADDER, T0, comment, ticket

from connector.ticket import AuthorRole, Organization, Priority, TierChange, TierLadder
from plugins.decision import DecisionRules, decide, handoff_note, tier_write
from plugins.history import RELATED_LIMIT, PastTicket
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
        "Ticket facts:\n"
        "- Age: 1 h 0 min (created 2026-11-20 09:00 UTC); in L1 since 2026-11-20 09:00 UTC\n"
        "- Agent replies in L1: 0; reopens: 0\n"
        "- Channel: email\n"
        "\n"
        "Suggested next steps:\n"
        "- customer_request: Reply personally as the next tier.\n"
        "\n"
        "Evidence: customer_request/comment:1"
    )


def route(policy, name, key="k", **kw):
    return Proposal(policy, (Evidence(key, f"{policy} wants {name}"),), steps_up=0, route=name,
                    **kw)


def test_a_specialist_route_wins_over_a_tier_bump_and_the_note_says_so():
    decision = decide(ticket(), [proposal(), route("specialized", "billing")], LADDER)
    assert (decision.to_tier, decision.route) == (None, "billing")
    assert decision.superseded == "the move to L2 gave way to the billing team"
    assert [r.proposal.policy for r in decision.fired] == ["customer_request", "specialized"]
    note = handoff_note(decision, ticket())
    assert note.startswith("tierlift routed this ticket to the billing team.\n")
    assert "- note: the move to L2 gave way to the billing team" in note


def test_tiers_first_when_configured():
    rules = DecisionRules(route_over_tier=False)
    decision = decide(ticket(), [proposal(), route("specialized", "billing")], LADDER,
                      rules=rules)
    assert (decision.to_tier, decision.route) == ("L2", None)


def test_route_precedence_and_a_ticket_already_with_the_team():
    decision = decide(ticket(), [route("specialized", "billing"), route("incident", "incident"),
                                 route("vip", "vip")], LADDER)
    assert decision.route == "incident"
    with_billing = replace(ticket(), route="billing")
    decision = decide(with_billing, [route("specialized", "billing")], LADDER)
    assert not decision.writes
    assert [r.proposal.policy for r in decision.satisfied] == ["specialized"]


def test_the_top_tier_caps_every_move():
    rules = DecisionRules(top_tier="L2")
    assert decide(ticket(), [proposal(steps_up=2)], LADDER, rules=rules).to_tier == "L2"
    assert not decide(ticket(tier="L2"), [proposal(tier="L3")], LADDER, rules=rules).writes


def test_gated_policies_wait_for_the_minimum_effort_others_bypass_it():
    rules = DecisionRules(min_age_minutes=120, min_agent_replies=2)
    young = ticket()  # created 09:00, evaluated at 10:00, no agent reply
    now = T0 + timedelta(hours=1)
    decision = decide(young, [proposal("complexity"), proposal("sentiment", key="s")], LADDER,
                      rules=rules, now=now)
    assert not decision.writes
    assert [(p.policy, reason) for p, reason in decision.held] == [
        ("complexity", "minimum effort in the current tier not met yet"),
        ("sentiment", "minimum effort in the current tier not met yet")]
    assert decision.evidence_to_record() == []  # held evidence is not used up
    # customer_request is not gated
    assert decide(young, [proposal()], LADDER, rules=rules, now=now).to_tier == "L2"
    # two agent replies meet the minimum even before two hours
    replied = ticket(comment(2, "a", role=AuthorRole.AGENT, minutes=10),
                     comment(3, "b", role=AuthorRole.AGENT, minutes=20))
    assert decide(replied, [proposal("complexity")], LADDER, rules=rules,
                  now=now).to_tier == "L2"
    # so does the age alone
    assert decide(young, [proposal("complexity")], LADDER, rules=rules,
                  now=T0 + timedelta(hours=2)).to_tier == "L2"


def test_the_cooldown_holds_everything_after_an_escalation():
    rules = DecisionRules(cooldown_minutes=30)
    now = T0 + timedelta(hours=2)
    decision = decide(ticket(), [proposal()], LADDER, rules=rules, now=now,
                      last_escalation=now - timedelta(minutes=10))
    assert not decision.writes
    assert decision.held[0][1] == "cooldown: escalated less than 30 min ago"
    assert decide(ticket(), [proposal()], LADDER, rules=rules, now=now,
                  last_escalation=now - timedelta(minutes=31)).to_tier == "L2"


def test_tags_priority_and_tickets_to_look_at_again_are_merged():
    a = proposal("incident", key="i", tier="L1", priority=Priority.URGENT)
    a = replace(a, add_tags=("tierlift_incident_ab12cd34",), also_evaluate=("43", "44", "42"))
    decision = decide(ticket(), [a], LADDER)
    assert decision.add_tags == ("tierlift_incident_ab12cd34",)
    assert decision.also_evaluate == ("43", "44")  # not the ticket itself
    assert decision.priority is Priority.URGENT
    write = tier_write(decision, ticket())
    assert write.add_tags == ("tierlift_escalated", "tierlift_incident",
                              "tierlift_incident_ab12cd34")


def test_the_public_reply_is_filled_in_only_when_the_ticket_moves():
    template = "A {tier} specialist ({team}) has your request."
    moved = decide(ticket(), [proposal()], LADDER)
    assert tier_write(moved, ticket(), public_reply=template).public_reply == \
        "A L2 specialist (specialist) has your request."
    priority_only = decide(ticket(), [proposal(tier="L1", priority=Priority.URGENT)], LADDER)
    assert tier_write(priority_only, ticket(), public_reply=template).public_reply is None


def test_ticket_facts_list_earlier_tickets_and_the_organization():
    t = replace(ticket(), organization=Organization("77", "Acme Corp"), reopens=2,
                channel="twitter", channel_detail="mention")
    earlier = [PastTicket("zendesk", str(n), f"Sync fails {n}", (), None, "1", "77",
                          T0 - timedelta(days=n), "solved") for n in range(1, 8)]
    note = handoff_note(decide(t, [proposal()], LADDER), t, related=earlier)
    assert "- Agent replies in L1: 0; reopens: 2" in note
    assert "- Channel: twitter (mention)" in note
    assert "- Organization: Acme Corp" in note
    assert ('- Earlier tickets from this requester or organization: #1 "Sync fails 1" '
            '(2026-11-19), #2 "Sync fails 2" (2026-11-18)') in note
    assert note.count("#") == 5 and "and 2 more" in note


def test_earlier_tickets_beyond_what_the_history_answers_are_counted_as_at_least():
    t = replace(ticket(), organization=Organization("77", "Acme Corp"), organization_id="77")
    capped = [PastTicket("zendesk", str(n), f"Export {n}", (), None, f"c{n}", "77",
                         T0 - timedelta(minutes=n), "solved") for n in range(1, RELATED_LIMIT)]
    note = handoff_note(decide(t, [proposal()], LADDER), t, related=capped)
    assert f"and at least {RELATED_LIMIT - 6} more" in note
    note = handoff_note(decide(t, [proposal()], LADDER), t, related=capped[:-1])
    assert f"and {RELATED_LIMIT - 7} more" in note and "at least" not in note


def test_a_solved_or_closed_ticket_is_never_escalated_and_keeps_its_evidence():
    for platform, status in (("zendesk", "solved"), ("zendesk", "closed"),
                             ("jira", "Resolved"), ("jira", "Done")):
        t = replace(ticket(), platform=platform, status=status)
        p = proposal(priority=Priority.URGENT)
        decision = decide(t, [p], LADDER)
        assert not decision.writes
        assert decision.held == ((p, f"the ticket is {status}: never escalated"),)
        assert decision.evidence_to_record() == []  # a reopened ticket is judged afresh
    still_open = decide(replace(ticket(), platform="jira", status="Waiting for support"),
                        [proposal()], LADDER)
    assert still_open.to_tier == "L2"


def test_closed_statuses_are_configurable_per_platform():
    rules = DecisionRules(closed_statuses={"jira": frozenset({"won't do"})})
    t = replace(ticket(), platform="jira", status="Won't Do")
    assert decide(t, [proposal()], LADDER, rules=rules).held
    solved = replace(ticket(), status="solved")  # zendesk not configured: nothing is closed
    assert decide(solved, [proposal()], LADDER, rules=rules).to_tier == "L2"


def test_an_agents_move_down_seen_only_in_the_helpdesk_history_is_respected():
    """Asked at 09:10, moved to L2 by an agent at 09:30, back to L1 at 10:00: tierlift never saw
    it in L2, but the history says the request was acted on."""
    history = (TierChange(T0, "L1"), TierChange(T0 + timedelta(minutes=30), "L2"),
               TierChange(T0 + timedelta(minutes=60), "L1"))
    t = ticket(history=history)
    asked = proposal(minutes=10)
    decision = decide(t, [asked], LADDER)
    assert not decision.writes
    assert decision.evidence_to_record() == [("customer_request", "comment:1", "satisfied")]
    asked_again = proposal(key="comment:2", minutes=70)
    assert decide(t, [asked, asked_again], LADDER).to_tier == "L2"


def test_the_evidence_rule_leaves_priority_only_proposals_alone():
    history = (TierChange(T0, "L1"), TierChange(T0 + timedelta(minutes=60), "L2"))
    social = Proposal("channel", (Evidence("channel:twitter", "public tweet", at=T0),),
                      priority=Priority.HIGH)
    decision = decide(ticket(tier="L2", history=history), [social], LADDER)
    assert decision.priority is Priority.HIGH and decision.to_tier is None


def test_a_young_ticket_holds_gated_policies_unless_a_bypass_policy_fires():
    rules = DecisionRules(min_age_minutes=30, min_agent_replies=1, effort_since="creation",
                          bypass=frozenset({"customer_request", "vip"}))
    young = replace(ticket(), updated_at=T0 + timedelta(minutes=20))
    angry = proposal("sentiment", key="comment:1")
    decision = decide(young, [angry], LADDER, rules=rules, now=T0 + timedelta(minutes=20))
    assert decision.held == ((angry, "too early: minimum effort not met yet"),)
    asked = proposal("customer_request", key="comment:2")
    both = decide(young, [angry, asked], LADDER, rules=rules, now=T0 + timedelta(minutes=20))
    assert both.to_tier == "L2" and {r.proposal.policy for r in both.fired} == \
        {"sentiment", "customer_request"}
    # Thirty minutes old, or one public agent reply, and the ticket is no longer young.
    assert decide(young, [angry], LADDER, rules=rules,
                  now=T0 + timedelta(minutes=30)).to_tier == "L2"
    replied = ticket(comment(1, "Have you tried again?", role=AuthorRole.AGENT, minutes=5))
    assert decide(replied, [angry], LADDER, rules=rules,
                  now=T0 + timedelta(minutes=20)).to_tier == "L2"


def test_a_young_ticket_is_measured_from_creation_not_from_its_last_move():
    """Created two days ago, moved to L2 ten minutes ago: old, whatever the tier says."""
    history = (TierChange(T0, "L1"), TierChange(T0 + timedelta(days=2), "L2"))
    t = ticket(tier="L2", history=history)
    now = T0 + timedelta(days=2, minutes=10)
    fresh = proposal("complexity", key="comment:9", minutes=2 * 24 * 60 + 5)
    creation = DecisionRules(min_age_minutes=30, effort_since="creation")
    assert decide(t, [fresh], LADDER, rules=creation, now=now).to_tier == "L3"
    in_tier = DecisionRules(min_age_minutes=30)
    assert decide(t, [fresh], LADDER, rules=in_tier, now=now).held


def test_a_proposal_held_as_too_early_asks_to_be_looked_at_again_when_the_hold_ends():
    """Nothing else may happen to a young ticket: it is evaluated again when it stops being
    young, not left with its evidence held for ever."""
    rules = DecisionRules(min_age_minutes=30, min_agent_replies=1, effort_since="creation")
    t = replace(ticket(), updated_at=T0 + timedelta(minutes=5))
    angry = proposal("sentiment")
    decision = decide(t, [angry], LADDER, rules=rules, now=T0 + timedelta(minutes=5))
    assert decision.held and decision.wake_at == T0 + timedelta(minutes=30)
    cooling = decide(t, [proposal()], LADDER, rules=DecisionRules(cooldown_minutes=60),
                     now=T0 + timedelta(minutes=5), last_escalation=T0)
    assert cooling.wake_at == T0 + timedelta(hours=1)
    assert decide(t, [proposal()], LADDER).wake_at is None  # nothing held


def test_a_ticket_a_team_has_is_not_pulled_out_by_a_tier_bump():
    t = replace(ticket(), route="billing")
    decision = decide(t, [proposal("complexity", priority=Priority.HIGH)], LADDER)
    assert (decision.to_tier, decision.route, decision.priority) == (None, None, Priority.HIGH)
    assert decision.superseded == "the billing team has the ticket: no move to L2"
    tiers_first = decide(t, [proposal("complexity")], LADDER,
                         rules=DecisionRules(route_over_tier=False))
    assert tiers_first.to_tier == "L2"
