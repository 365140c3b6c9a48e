"""The effort policy: replies, reopens and hours in the current tier, once per stint in a tier."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from builders import LADDER, T0, comment, ticket
from pydantic import ValidationError

from connector.ticket import AuthorRole, Priority, TierChange, TierLadder
from plugins import effort
from plugins.calendars import CalendarError, build_calendar
from plugins.decision import DecisionRules, decide
from plugins.manager import PolicyHost
from plugins.proposal import PolicyContext

FIVE = TierLadder(("L0", "L1", "L2", "L3", "L4"), "L1")
# T0 is Friday 2026-11-20 09:00 UTC, 10:00 in Berlin.
OFFICE = build_calendar("office", "Europe/Berlin", {"weekdays": "09:00-17:00"})


def evaluate(t, *, now=None, tiers=LADDER, **options):
    ctx = PolicyContext(policy="effort", options=effort.Options(**options),
                        now=now or t.updated_at, tiers=tiers, calendars={"office": OFFICE})
    return effort.tierlift_evaluate(ticket=t, ctx=ctx)


def reply(cid: int, minutes: int, *, public: bool = True, role=AuthorRole.AGENT):
    return comment(cid, f"Agent reply {cid}: could you try restarting it?", role=role,
                   public=public, minutes=minutes, author="501")


def customer(cid: int, minutes: int):
    return comment(cid, "Still broken, nothing changed.", minutes=minutes)


def l1_ticket(*comments, **kwargs):
    return ticket(customer(1, 0), *comments, **kwargs)


def test_three_agent_replies_in_l1_propose_one_tier_up_once_for_the_stint():
    t = l1_ticket(reply(2, 10), customer(3, 20), reply(4, 30), customer(5, 40), reply(6, 50))
    proposal = evaluate(t)
    assert proposal.policy == "effort"
    assert (proposal.tier, proposal.steps_up, proposal.priority, proposal.route) == \
        (None, 1, None, None)
    assert proposal.add_tags == () and proposal.also_evaluate == ()
    [evidence] = proposal.evidence
    assert evidence.key == "stint:L1:2026-11-20T09:00:00Z"
    assert evidence.summary == \
        "3 agent replies in L1 without resolution (since 2026-11-20 09:00 UTC)"
    assert evidence.at == T0 + timedelta(minutes=50)  # when the third reply was written
    assert evidence.quote is None
    assert "L1 tried so far" in proposal.suggestion
    decision = decide(t, [proposal], LADDER)
    assert decision.to_tier == "L2"
    assert decision.evidence_to_record() == \
        [("effort", "stint:L1:2026-11-20T09:00:00Z", "escalated")]


@pytest.mark.parametrize("t", [
    l1_ticket(reply(2, 10), reply(3, 20, public=False), reply(4, 30, role=AuthorRole.SELF),
              customer(5, 40), reply(6, 50)),
    l1_ticket(reply(2, 10), reply(4, 30), reply(6, 50), reply(8, 70), tier="L2",
              history=(TierChange(T0, "L1"), TierChange(T0 + timedelta(minutes=40), "L2"))),
])
def test_replies_are_counted_as_the_ticket_counts_them(t):
    # The handoff note's facts and the minimum-effort gate use ticket.agent_replies_since.
    count = t.agent_replies_since(t.tier_entered_at)
    [evidence] = evaluate(t, agent_replies=count).evidence
    assert evidence.summary.startswith(f"{count} agent replies in {t.tier}")
    assert evaluate(t, agent_replies=count + 1) is None


def test_more_replies_in_the_same_stint_keep_the_same_key():
    t3 = l1_ticket(reply(2, 10), reply(4, 30), reply(6, 50))
    t5 = l1_ticket(reply(2, 10), reply(4, 30), reply(6, 50), reply(8, 70), reply(9, 80))
    first, later = evaluate(t3), evaluate(t5)
    assert first.evidence[0].key == later.evidence[0].key
    assert later.evidence[0].summary.startswith("5 agent replies in L1")
    used = {("effort", first.evidence[0].key)}
    assert decide(t5, [later], LADDER, used).stale == (later,)


@pytest.mark.parametrize("comments", [
    (reply(2, 10), reply(4, 30)),  # two replies only
    (reply(2, 10), reply(4, 30), reply(6, 50, public=False)),  # an internal note
    (reply(2, 10), reply(4, 30), reply(6, 50, role=AuthorRole.SELF)),  # tierlift's own comment
    (reply(2, 10), reply(4, 30), customer(6, 50), customer(7, 60)),  # the customer talking
])
def test_near_misses_do_not_fire(comments):
    assert evaluate(l1_ticket(*comments)) is None


@pytest.mark.parametrize("status", ["solved", "closed", "Done", "RESOLVED"])
def test_a_resolved_ticket_is_left_alone(status):
    t = replace(l1_ticket(reply(2, 10), reply(4, 30), reply(6, 50)), status=status, reopens=5)
    assert evaluate(t) is None


def test_pending_and_on_hold_are_not_resolved():
    for status in ("pending", "hold", "new"):
        t = replace(l1_ticket(reply(2, 10), reply(4, 30), reply(6, 50)), status=status)
        assert evaluate(t) is not None


def test_replies_before_the_ticket_entered_its_tier_do_not_count():
    history = (TierChange(T0, "L1"), TierChange(T0 + timedelta(minutes=60), "L2"))
    t = l1_ticket(reply(2, 10), reply(4, 30), reply(6, 50), reply(8, 70), reply(9, 80),
                  tier="L2", history=history)
    assert evaluate(t) is None  # two replies in L2 so far
    t = replace(t, comments=(*t.comments, reply(10, 90)))
    [evidence] = evaluate(t).evidence
    assert evidence.key == "stint:L2:2026-11-20T10:00:00Z"
    assert evidence.summary == \
        "3 agent replies in L2 without resolution (since 2026-11-20 10:00 UTC)"
    assert decide(t, [evaluate(t)], LADDER).to_tier == "L3"


def test_a_move_back_down_needs_new_replies_in_the_new_stint_and_never_bounces_on_old_ones():
    used: set[tuple[str, str]] = set()

    def run(t):
        proposals = [p for p in [evaluate(t)] if p is not None]
        decision = decide(t, proposals, LADDER, used)
        used.update((policy, key) for policy, key, _ in decision.evidence_to_record())
        return decision

    replies = (reply(2, 10), reply(4, 30), reply(6, 50))
    assert run(l1_ticket(*replies)).to_tier == "L2"
    # tierlift moved it to L2 at 10:00; an agent moved it back down to L1 at 11:00.
    history = (TierChange(T0, "L1"), TierChange(T0 + timedelta(minutes=60), "L2"),
               TierChange(T0 + timedelta(minutes=120), "L1"))
    back_down = l1_ticket(*replies, history=history)
    assert evaluate(back_down) is None
    assert run(back_down).to_tier is None
    two_more = replace(back_down, comments=(*back_down.comments, reply(11, 130), reply(12, 140)))
    assert evaluate(two_more) is None
    third = replace(two_more, comments=(*two_more.comments, reply(13, 150)))
    [evidence] = evaluate(third).evidence
    assert evidence.key == "stint:L1:2026-11-20T11:00:00Z"
    assert evidence.summary == \
        "3 agent replies in L1 without resolution (since 2026-11-20 11:00 UTC)"
    assert run(third).to_tier == "L2"
    # The same evidence again (a re-delivered webhook) does nothing.
    assert run(third).stale != ()


def test_reopens_fire_once_per_block_in_the_first_tier():
    t = replace(l1_ticket(), reopens=2)
    proposal = evaluate(t)
    [evidence] = proposal.evidence
    assert evidence.key == "reopens:2"
    assert evidence.summary == "2 reopens without resolution (in L1 since 2026-11-20 09:00 UTC)"
    assert evidence.at is None  # counts from the current tier
    assert decide(t, [proposal], LADDER).to_tier == "L2"
    used = {("effort", "reopens:2")}
    # Reopened once more, still in L1: the same block of reopens, nothing new.
    assert decide(replace(t, reopens=3), [evaluate(replace(t, reopens=3))], LADDER,
                  used).stale != ()
    # Two more reopens (4 in all), still in L1: new evidence.
    again = replace(t, reopens=4)
    assert evaluate(again).evidence[0].key == "reopens:4"
    assert decide(again, [evaluate(again)], LADDER, used).to_tier == "L2"


@pytest.mark.parametrize("history", [
    (TierChange(T0, "L1"), TierChange(T0 + timedelta(hours=1), "L2")),  # up, by anyone
    (TierChange(T0, "L1"), TierChange(T0 + timedelta(hours=1), "L2"),
     TierChange(T0 + timedelta(hours=2), "L1")),  # and back down by an agent
], ids=["moved-up", "moved-back-down"])
def test_after_a_move_reopens_are_ignored_and_only_replies_in_the_tier_count(history):
    # Resolved and reopened twice in L1 before an agent moved it; reopened twice more since.
    tier = history[-1].tier
    t = replace(l1_ticket(reply(2, 10), reply(4, 30), reply(6, 50), tier=tier, history=history),
                reopens=4)
    assert evaluate(t) is None
    entered = history[-1].at
    minutes = int((entered - T0).total_seconds() // 60)
    later = replace(t, comments=(*t.comments, *(reply(20 + n, minutes + 10 * n)
                                                 for n in range(1, 4))))
    proposal = evaluate(later)
    stamp = entered.strftime("%Y-%m-%d %H:%M")
    assert [(e.key, e.summary) for e in proposal.evidence] == [
        (f"stint:{tier}:{entered.isoformat()[:19]}Z",
         f"3 agent replies in {tier} without resolution (since {stamp} UTC)")]


@pytest.mark.parametrize("reopens, key", [(0, None), (1, None), (2, "reopens:2"),
                                          (3, "reopens:2"), (5, "reopens:4")])
def test_reopen_blocks(reopens, key):
    proposal = evaluate(replace(l1_ticket(), reopens=reopens))
    assert (proposal.evidence[0].key if proposal else None) == key


def test_one_reopen_reads_in_the_singular():
    [evidence] = evaluate(replace(l1_ticket(), reopens=1), reopens=1).evidence
    assert evidence.summary.startswith("1 reopen without resolution")


def test_replies_and_reopens_together_are_one_proposal_with_both_pieces_of_evidence():
    t = replace(l1_ticket(reply(2, 10), reply(4, 30), reply(6, 50)), reopens=2)
    proposal = evaluate(t)
    assert [e.key for e in proposal.evidence] == ["stint:L1:2026-11-20T09:00:00Z", "reopens:2"]
    # Only the reopens used before: the stint's replies still escalate.
    assert decide(t, [proposal], LADDER, {("effort", "reopens:2")}).to_tier == "L2"


def test_hours_in_tier_around_the_clock():
    t = l1_ticket()
    assert evaluate(t, now=T0 + timedelta(hours=3, minutes=59), hours_in_tier=4) is None
    [evidence] = evaluate(t, now=T0 + timedelta(hours=5), hours_in_tier=4).evidence
    assert evidence.key == "stint:L1:2026-11-20T09:00:00Z"
    assert evidence.summary == "5 hours in L1 without resolution (since 2026-11-20 09:00 UTC)"
    assert evidence.at == T0 + timedelta(hours=4)


def test_hours_in_tier_in_business_hours():
    monday = T0 + timedelta(days=3)  # Mon 10:00 Berlin: Fri 10-17 + Mon 9-10 = 8 h open
    assert evaluate(l1_ticket(), now=monday, hours_in_tier=8.5, calendar="office") is None
    [evidence] = evaluate(l1_ticket(), now=monday, hours_in_tier=8, calendar="office",
                          agent_replies=0, reopens=0).evidence
    assert evidence.summary == "8 business hours (office) in L1 without resolution " \
        "(since 2026-11-20 09:00 UTC)"
    assert evidence.at == monday


def test_replies_and_hours_share_the_stint_evidence():
    t = l1_ticket(reply(2, 10), reply(4, 30), reply(6, 50))
    [evidence] = evaluate(t, now=T0 + timedelta(hours=30), hours_in_tier=24).evidence
    assert evidence.summary == "3 agent replies and 30 hours in L1 without resolution " \
        "(since 2026-11-20 09:00 UTC)"
    assert evidence.at == T0 + timedelta(minutes=50)  # the earlier of the two thresholds


def test_an_unknown_calendar_is_an_error_the_host_records():
    with pytest.raises(CalendarError, match=r"calendars\.support"):
        evaluate(l1_ticket(), hours_in_tier=4, calendar="support")


def test_the_calendar_is_not_looked_up_without_hours_in_tier():
    assert evaluate(l1_ticket(), calendar="support") is None


def test_admin_ladders_and_the_top_tier():
    # Five tiers: L3 → L4.
    t = l1_ticket(reply(2, 10), reply(4, 30), reply(6, 50), tier="L3")
    assert decide(t, [evaluate(t, tiers=FIVE)], FIVE).to_tier == "L4"
    # Already at the top: the evidence is recorded as satisfied, nothing moves.
    top = l1_ticket(reply(2, 10), reply(4, 30), reply(6, 50), tier="L4")
    decision = decide(top, [evaluate(top, tiers=FIVE)], FIVE)
    assert decision.to_tier is None
    assert decision.evidence_to_record() == \
        [("effort", "stint:L4:2026-11-20T09:00:00Z", "satisfied")]


def test_options_steps_up_and_priority():
    t = l1_ticket(reply(2, 10), reply(4, 30))
    proposal = evaluate(t, agent_replies=2, steps_up=2, priority="High")
    assert proposal.steps_up == 2 and proposal.priority is Priority.HIGH
    assert decide(t, [proposal], LADDER).to_tier == "L3"


def test_effort_is_gated_by_the_minimum_effort_rule_and_keeps_its_evidence():
    t = l1_ticket(reply(2, 10), reply(4, 30), reply(6, 50))
    rules = DecisionRules(min_age_minutes=120)
    decision = decide(t, [evaluate(t)], LADDER, rules=rules, now=T0 + timedelta(minutes=60))
    assert decision.to_tier is None and len(decision.held) == 1
    assert decision.evidence_to_record() == []


def test_zero_switches_a_trigger_off():
    options = effort.Options(agent_replies=0, hours_in_tier=0)
    assert (options.agent_replies, options.reopens, options.hours_in_tier) == (None, 2, None)
    t = replace(l1_ticket(reply(2, 10), reply(4, 30), reply(6, 50)), reopens=1)
    assert evaluate(t, agent_replies=0) is None


@pytest.mark.parametrize("options, field", [
    ({"agent_replies": -1}, "agent_replies"),
    ({"reopens": -2}, "reopens"),
    ({"hours_in_tier": -4}, "hours_in_tier"),
    ({"agent_replies": "many"}, "agent_replies"),
    ({"calendar": " "}, "calendar"),
    ({"steps_up": 0}, "steps_up"),
    ({"priority": "asap"}, "priority"),
    ({"resolved_statuses": "solved"}, "resolved_statuses"),
])
def test_invalid_options_are_refused_naming_the_field(options, field):
    with pytest.raises(ValidationError) as caught:
        effort.Options(**options)
    assert [e["loc"][0] for e in caught.value.errors()] == [field]


def test_switching_every_trigger_off_is_refused_naming_them():
    with pytest.raises(ValidationError, match="agent_replies, reopens, hours_in_tier"):
        effort.Options(agent_replies=0, reopens=0)


def test_registered_with_its_needs_and_configurable_through_the_host():
    host = PolicyHost(load_entry_points=False)
    spec = host.specs()["effort"]
    assert spec.options is effort.Options and spec.needs == {"comments", "history"}
    enabled = host.configure({"effort": {"enabled": True, "agent_replies": 2, "reopens": 0}})
    result = enabled.evaluate(l1_ticket(reply(2, 10), reply(4, 30)), now=T0, tiers=LADDER)
    assert [p.evidence[0].key for p in result.proposals] == ["stint:L1:2026-11-20T09:00:00Z"]


def test_a_cross_field_option_problem_is_reported_under_the_policy_key():
    from plugins.manager import ConfigError

    host = PolicyHost(load_entry_points=False)
    with pytest.raises(ConfigError) as caught:
        host.configure({"effort": {"enabled": True, "agent_replies": 0, "reopens": 0}})
    [problem] = caught.value.problems
    assert problem.startswith("policies.effort: ")


def test_it_asks_to_be_woken_when_the_hours_in_tier_run_out():
    ctx = PolicyContext(policy="effort", options=effort.Options(hours_in_tier=4),
                        now=T0 + timedelta(hours=1), tiers=LADDER)
    assert effort.tierlift_evaluate(l1_ticket(), ctx) is None
    assert ctx.wakes == [T0 + timedelta(hours=4)]


# -- "Resolved" includes the customer's latest comment confirming the fix ----------------------

STANDARD = {"agent_replies": 5, "reopens": 2, "hours_in_tier": 48}


def five_replies(*last, language_reply: str = "Could you clear the cache and try again?"):
    """Five public agent replies in L1 (the last at 09:50), the customer answering in between,
    reopened twice, 50 hours old; then ``last``."""
    comments = [customer(1, 0)]
    for n in range(5):
        comments.append(comment(10 + n, language_reply, role=AuthorRole.AGENT, author="501",
                                minutes=10 + 10 * n))
        if n < 4:
            comments.append(comment(20 + n, "Tried that, same error.", minutes=15 + 10 * n))
    return replace(ticket(*comments, *last), reopens=2)


def run(t, **options):
    ctx = PolicyContext(policy="effort", options=effort.Options(**{**STANDARD, **options}),
                        now=T0 + timedelta(hours=50), tiers=LADDER)
    return effort.tierlift_evaluate(ticket=t, ctx=ctx), ctx


def fires_in_full(proposal) -> None:
    assert [(e.key, e.summary, e.at) for e in proposal.evidence] == [
        ("stint:L1:2026-11-20T09:00:00Z", "5 agent replies and 50 hours in L1 without resolution "
         "(since 2026-11-20 09:00 UTC)", T0 + timedelta(minutes=50)),
        ("reopens:2", "2 reopens without resolution (in L1 since 2026-11-20 09:00 UTC)", None)]
    assert (proposal.steps_up, proposal.tier, proposal.priority) == (1, None, None)


@pytest.mark.parametrize("text", [
    "That worked, thanks! The export runs through now.",
    "All good now :) appreciate the patience",
    "Problem solved - it was the proxy. Thanks Ana",
    "It's working again, thanks a lot. Happy for you to close this.",
    "Funktioniert wieder, danke!",
    "Super, jetzt klappt es. Problem gelöst, vielen Dank für die Geduld.",
    "Ça marche, merci beaucoup !",
    "ca marche merci",  # no cedilla, no capitals
    "C'est réglé, merci. Vous pouvez fermer le ticket.",
    "Ya funciona, gracias. No necesito nada más.",  # "más", not the Portuguese "mas"
    "Solucionado, mil gracias por la ayuda",
    "Resolvido, obrigado!",
    "Deu certo!! Muito obrigada pela ajuda",
    "FUNCIONOU. valeu",
])
def test_a_customer_confirming_the_fix_after_the_latest_reply_is_resolved(text):
    t = five_replies(comment(40, text, minutes=120))
    assert run(t)[0] is None
    assert run(five_replies())[0] is not None  # the same ticket without it fires


def test_a_confirmed_ticket_asks_for_no_wake_up():
    t = five_replies(comment(40, "That did the trick, thank you!", minutes=120))
    proposal, ctx = run(t, agent_replies=0, reopens=0, hours_in_tier=60)
    assert proposal is None and ctx.wakes == []


@pytest.mark.parametrize("text", [
    "thanks, but it still doesn't work",
    "it worked yesterday but now it's broken again",
    "danke, aber es geht immer noch nicht",
    "merci mais ça ne marche toujours pas",
    "Gracias, pero todavía no funciona la exportación",
    "Obrigado, mas ainda não funciona",
    "Did that work on your side? Mine shows the same error.",
    "Is it fixed now?",
    "It's not working now either.",
    "No se ha solucionado, sigue igual.",
    "Não foi resolvido.",
    "ça marche pas",
    "It works now on Chrome. Firefox still shows the error.",
    "Funktioniert nicht mehr seit dem Update.",
    "If that worked I wouldn't be writing to you.",
    "Sag Bescheid, ob es jetzt klappt.",
    "Se deu certo aí, me avisa que eu testo aqui.",
    "Thanks for the quick reply!",
])
def test_near_misses_are_no_confirmation(text):
    proposal, _ = run(five_replies(comment(40, text, minutes=120)))
    fires_in_full(proposal)


def test_a_confirmation_before_the_latest_agent_reply_does_not_count():
    t = five_replies(comment(40, "That worked, thanks!", minutes=120),
                     comment(41, "Glad to hear! Anything else I can help with?",
                             role=AuthorRole.AGENT, author="501", minutes=130))
    assert [e.summary for e in run(t)[0].evidence] == [
        "6 agent replies and 50 hours in L1 without resolution (since 2026-11-20 09:00 UTC)",
        "2 reopens without resolution (in L1 since 2026-11-20 09:00 UTC)"]


def test_a_later_comment_takes_a_confirmation_back_and_a_neutral_one_does_not():
    confirmed = comment(40, "Ya funciona, gracias.", minutes=120)
    taken_back = comment(41, "Perdón, vuelve a fallar desde esta mañana.", minutes=600)
    thanks = comment(42, "Muchas gracias otra vez, excelente soporte.", minutes=610)
    fires_in_full(run(five_replies(confirmed, taken_back))[0])
    assert run(five_replies(confirmed, thanks))[0] is None
    # Broken again, then fixed again: the latest word counts.
    assert run(five_replies(confirmed, taken_back,
                            comment(43, "Agora funciona, obrigado", minutes=700)))[0] is None


def test_internal_notes_and_tierlift_comments_do_not_hide_a_confirmation():
    t = five_replies(comment(40, "All good now, thanks!", minutes=120),
                     comment(41, "Customer confirmed, will close tomorrow.",
                             role=AuthorRole.AGENT, author="501", public=False, minutes=125),
                     comment(42, "tierlift note", role=AuthorRole.SELF, public=False,
                             author="900", minutes=126))
    assert run(t)[0] is None


def test_the_first_message_never_confirms_a_fix_a_later_comment_may():
    first = comment(1, "You fixed this in March and it was all good. Today the export fails "
                    "with error 500 again.", minutes=0)
    assert effort._confirms(first.body, (("all", "good"),))
    t = replace(ticket(first), reopens=2)
    [evidence] = run(t, hours_in_tier=0)[0].evidence
    assert evidence.key == "reopens:2"
    solved_alone = replace(t, comments=(first, comment(2, "Never mind, all good now: it was "
                                                          "our VPN. Thanks!", minutes=30)))
    assert run(solved_alone)[0] is None


def test_confirmation_phrases_are_options():
    t = five_replies(comment(40, "Ora funziona, grazie mille!", minutes=120))
    fires_in_full(run(t)[0])
    assert run(t, confirmation_phrases={"it": ["ora funziona"]})[0] is None
    confirmed = five_replies(comment(40, "That worked, thanks!", minutes=120))
    fires_in_full(run(confirmed, confirmation_phrases={})[0])  # switched off
    # A contradiction of the admin's own.
    late = five_replies(comment(40, "That worked, thanks! Only the PDF export is slow.",
                                minutes=120))
    assert run(late)[0] is None
    fires_in_full(run(late, contradictions={"en": ["only"]})[0])


@pytest.mark.parametrize("options", [
    {"confirmation_phrases": {" ": ["works now"]}},
    {"confirmation_phrases": {"en": ["!!"]}},
    {"contradictions": {"de": ["aber", " "]}},
    {"confirmation_phrases": {"en": "works now"}},
])
def test_invalid_phrases_are_refused_naming_the_field(options):
    with pytest.raises(ValidationError) as caught:
        effort.Options(**options)
    assert [e["loc"][0] for e in caught.value.errors()] == [next(iter(options))]


def test_phrase_options_through_the_host():
    host = PolicyHost(load_entry_points=False)
    enabled = host.configure({"effort": {"enabled": True, "agent_replies": 5,
                                         "confirmation_phrases": {"EN": ["sorted, cheers"]}}})
    assert enabled.options["effort"].confirmation_phrases == {"en": ["sorted, cheers"]}
    assert enabled.options["effort"].contradictions == effort.DEFAULT_CONTRADICTIONS
    t = five_replies(comment(40, "Sorted, cheers mate", minutes=120))
    assert enabled.evaluate(t, now=T0 + timedelta(hours=1), tiers=LADDER).proposals == []
