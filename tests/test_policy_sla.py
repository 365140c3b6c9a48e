"""The sla policy: first reply, next reply and resolution clocks, at risk and breached."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from builders import LADDER, T0, comment, ticket
from pydantic import ValidationError

from connector.ticket import AuthorRole, Priority, TierChange, TierLadder
from plugins import sla
from plugins.calendars import build_calendar
from plugins.decision import decide
from plugins.proposal import PolicyContext

KEY = f"first_reply:{T0.isoformat(timespec='seconds')}"  # first_reply:2026-11-20T09:00:00+00:00
FIRST_REPLY = {"first_reply_minutes": {"normal": 60}}
BERLIN = ZoneInfo("Europe/Berlin")


def minutes(value: float) -> datetime:
    return T0 + timedelta(minutes=value)


def context(now: datetime, calendars=None, **options) -> PolicyContext:
    return PolicyContext(policy="sla", options=sla.Options(**options), now=now,
                         tiers=TierLadder(("L1", "L2", "L3"), "L1"), calendars=calendars or {})


def evaluate(t, now: datetime, calendars=None, **options):
    ctx = context(now, calendars, **options)
    return sla.tierlift_evaluate(ticket=t, ctx=ctx), ctx


def new_ticket(*comments, status: str = "open", history=None, priority=Priority.NORMAL):
    """A ticket as a connector fetches it for this policy (it needs "history"): the status
    history starts at creation."""
    t = ticket(*(comments or (comment(1, "The printer is on fire."),)), tags=(),
               priority=priority)
    return replace(t, status=status,
                   status_history=((T0, status),) if history is None else history)


# -- first reply -----------------------------------------------------------------------------


def test_before_the_at_risk_point_nothing_is_proposed_and_it_wakes_at_the_at_risk_moment():
    proposals, ctx = evaluate(new_ticket(), minutes(10), **FIRST_REPLY)
    assert proposals == []
    assert ctx.wakes == [minutes(45)]  # 75 % of 60 minutes


def test_at_risk_raises_priority_and_tags():
    proposals, ctx = evaluate(new_ticket(), minutes(50), **FIRST_REPLY)
    [proposal] = proposals
    assert proposal.policy == "sla"
    assert proposal.steps_up == 0 and proposal.tier is None
    assert proposal.priority is Priority.HIGH
    assert proposal.add_tags == ("tierlift_sla_at_risk",)
    [evidence] = proposal.evidence
    assert evidence.key == "first_reply:2026-11-20T09:00:00+00:00:at_risk"
    assert evidence.at == minutes(45)
    assert "2026-11-20 10:00:00 UTC" in evidence.summary
    assert "75 %" in evidence.summary
    assert ctx.wakes == [minutes(60)]  # next: the deadline


def test_exactly_at_the_at_risk_moment_it_is_at_risk():
    proposals, ctx = evaluate(new_ticket(), minutes(45), **FIRST_REPLY)
    assert [e.key for p in proposals for e in p.evidence] == [f"{KEY}:at_risk"]
    assert ctx.wakes == [minutes(60)]


def test_after_the_deadline_a_breach_escalates_one_tier():
    proposals, ctx = evaluate(new_ticket(), minutes(75), **FIRST_REPLY)
    [proposal] = proposals
    assert proposal.steps_up == 1 and proposal.priority is None and proposal.add_tags == ()
    [evidence] = proposal.evidence
    assert evidence.key == f"{KEY}:breached"
    assert evidence.at == minutes(60)
    assert evidence.summary.startswith("first reply target of 1:00 missed")
    assert "due 2026-11-20 10:00:00 UTC" in evidence.summary
    assert evidence.summary.endswith("0:15 ago")
    assert ctx.wakes == []  # nothing left to wait for on this clock
    decision = decide(new_ticket(), proposals, LADDER, now=minutes(75))
    assert decision.to_tier == "L2"


def test_exactly_at_the_deadline_it_is_breached():
    proposals, _ = evaluate(new_ticket(), minutes(60), **FIRST_REPLY)
    assert [e.key for p in proposals for e in p.evidence] == [f"{KEY}:breached"]


def test_steps_up_option():
    proposals, _ = evaluate(new_ticket(), minutes(75), steps_up=2, **FIRST_REPLY)
    assert proposals[0].steps_up == 2


def test_the_target_follows_the_ticket_priority_and_defaults_to_normal():
    targets = {"first_reply_minutes": {"urgent": 10, "normal": 60}}
    urgent, _ = evaluate(new_ticket(priority=Priority.URGENT), minutes(15), **targets)
    assert [e.key for p in urgent for e in p.evidence] == [f"{KEY}:breached"]
    unset, ctx = evaluate(new_ticket(priority=None), minutes(15), **targets)
    assert unset == [] and ctx.wakes == [minutes(45)]
    low, ctx = evaluate(new_ticket(priority=Priority.LOW), minutes(500), **targets)
    assert low == [] and ctx.wakes == []  # no target for low


def test_no_targets_configured_means_nothing():
    proposals, ctx = evaluate(new_ticket(), minutes(10_000))
    assert proposals == [] and ctx.wakes == []


def test_at_risk_off_wakes_at_the_deadline():
    proposals, ctx = evaluate(new_ticket(), minutes(50), at_risk_percent=0, **FIRST_REPLY)
    assert proposals == [] and ctx.wakes == [minutes(60)]


def test_at_risk_priority_empty_leaves_priority():
    proposals, _ = evaluate(new_ticket(), minutes(50), at_risk_priority="", **FIRST_REPLY)
    assert proposals[0].priority is None
    assert proposals[0].add_tags == ("tierlift_sla_at_risk",)


def test_a_public_agent_reply_stops_the_first_reply_clock():
    t = new_ticket(comment(1, "Help"), comment(2, "On it", role=AuthorRole.AGENT, minutes=5))
    proposals, ctx = evaluate(t, minutes(120), **FIRST_REPLY)
    assert proposals == [] and ctx.wakes == []


@pytest.mark.parametrize(("role", "public"), [
    (AuthorRole.AGENT, False),  # an internal note is no reply
    (AuthorRole.SELF, True),  # nor is tierlift's own comment
])
def test_other_comments_do_not_stop_the_clock(role, public):
    t = new_ticket(comment(1, "Help"), comment(2, "note", role=role, public=public, minutes=5))
    proposals, _ = evaluate(t, minutes(120), **FIRST_REPLY)
    assert [e.key for p in proposals for e in p.evidence] == [f"{KEY}:breached"]


def test_a_ticket_without_status_history_still_has_its_clock():
    # Ticket.status_history defaults to (); the Zendesk connector leaves it empty when the
    # audits carry no status event. The clock should simply run without pauses.
    proposals, ctx = evaluate(new_ticket(history=()), minutes(10), **FIRST_REPLY)
    assert proposals == [] and ctx.wakes == [minutes(45)]


# -- next reply ------------------------------------------------------------------------------


def test_a_customer_comment_after_an_agent_reply_starts_the_next_reply_clock():
    t = new_ticket(comment(1, "Help"),
                   comment(2, "Try turning it off", role=AuthorRole.AGENT, minutes=5),
                   comment(3, "Still burning", minutes=20),
                   comment(4, "Hello?", minutes=25))
    options = {"first_reply_minutes": {"normal": 10}, "next_reply_minutes": {"normal": 30}}
    proposals, ctx = evaluate(t, minutes(30), **options)
    assert proposals == []
    assert ctx.wakes == [minutes(20 + 22.5)]  # from the first waiting comment
    proposals, ctx = evaluate(t, minutes(55), **options)
    [proposal] = proposals
    [evidence] = proposal.evidence
    assert evidence.key == f"next_reply:{minutes(20).isoformat(timespec='seconds')}:breached"
    assert evidence.at == minutes(50)
    assert evidence.summary.startswith("next reply target of 0:30 missed")


def test_no_next_reply_clock_while_the_agent_spoke_last():
    t = new_ticket(comment(1, "Help"), comment(2, "Fixed?", role=AuthorRole.AGENT, minutes=5))
    proposals, ctx = evaluate(t, minutes(500), next_reply_minutes={"normal": 30})
    assert proposals == [] and ctx.wakes == []


def test_no_next_reply_clock_before_any_agent_reply():
    t = new_ticket(comment(1, "Help"), comment(2, "More", minutes=5))
    proposals, ctx = evaluate(t, minutes(500), next_reply_minutes={"normal": 30})
    assert proposals == [] and ctx.wakes == []


# -- resolution ------------------------------------------------------------------------------


def test_the_resolution_clock_runs_from_creation_despite_replies():
    t = new_ticket(comment(1, "Help"), comment(2, "Looking", role=AuthorRole.AGENT, minutes=5))
    options = {"resolution_minutes": {"normal": 240}}
    proposals, ctx = evaluate(t, minutes(60), **options)
    assert proposals == [] and ctx.wakes == [minutes(180)]
    proposals, _ = evaluate(t, minutes(241), **options)
    [evidence] = proposals[0].evidence
    assert evidence.key == f"resolution:{T0.isoformat(timespec='seconds')}:breached"
    assert evidence.summary.startswith("resolution target of 4:00 missed")


def test_several_clocks_wake_at_each_of_their_moments():
    options = {**FIRST_REPLY, "resolution_minutes": {"normal": 240}}
    proposals, ctx = evaluate(new_ticket(), minutes(50), **options)
    assert [e.key for p in proposals for e in p.evidence] == [f"{KEY}:at_risk"]
    assert sorted(ctx.wakes) == [minutes(60), minutes(180)]


# -- statuses --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["solved", "Closed", "resolved", "done"])
def test_a_solved_ticket_has_no_clock(status):
    options = {**FIRST_REPLY, "resolution_minutes": {"normal": 240}}
    proposals, ctx = evaluate(new_ticket(status=status), minutes(500), **options)
    assert not proposals and ctx.wakes == []


@pytest.mark.parametrize("status", ["pending", "On-Hold", "hold", "waiting for customer"])
def test_a_pausing_status_now_stops_the_clock_without_a_wake(status):
    proposals, ctx = evaluate(new_ticket(status=status), minutes(500), **FIRST_REPLY)
    assert not proposals and ctx.wakes == []


def test_a_past_pause_moves_the_deadline_by_the_paused_time():
    history = ((T0, "new"), (minutes(5), "pending"), (minutes(15), "open"))
    t = new_ticket(history=history)
    proposals, ctx = evaluate(t, minutes(50), **FIRST_REPLY)
    assert proposals == []
    assert ctx.wakes == [minutes(55)]  # at risk 45 + 10 paused
    proposals, ctx = evaluate(t, minutes(65), **FIRST_REPLY)
    [evidence] = proposals[0].evidence
    assert evidence.key == f"{KEY}:at_risk"  # the key names the clock, not the deadline
    assert evidence.at == minutes(55)
    assert ctx.wakes == [minutes(70)]
    proposals, _ = evaluate(t, minutes(70), **FIRST_REPLY)
    [evidence] = proposals[0].evidence
    assert (evidence.key, evidence.at) == (f"{KEY}:breached", minutes(70))


def test_custom_pausing_statuses():
    history = ((T0, "open"), (minutes(5), "Awaiting Vendor"), (minutes(25), "open"))
    t = new_ticket(history=history)
    _, ctx = evaluate(t, minutes(30), pausing_statuses=["awaiting vendor"], **FIRST_REPLY)
    assert ctx.wakes == [minutes(65)]


# -- fractions, calendars --------------------------------------------------------------------


def test_fractional_minutes():
    options = {"first_reply_minutes": {"normal": 0.05}}  # 3 seconds
    proposals, ctx = evaluate(new_ticket(), T0 + timedelta(seconds=1), **options)
    assert proposals == [] and ctx.wakes == [T0 + timedelta(seconds=2.25)]
    proposals, _ = evaluate(new_ticket(), T0 + timedelta(seconds=4), **options)
    [evidence] = proposals[0].evidence
    assert evidence.at == T0 + timedelta(seconds=3)
    assert evidence.summary == ("first reply target of 3 s missed: due 2026-11-20 09:00:03 "
                                "UTC, 1 s ago")


def test_a_business_calendar_counts_only_open_hours():
    office = build_calendar("office", "Europe/Berlin", {"weekdays": "09:00-17:00"})
    created = datetime(2026, 11, 20, 16, 30, tzinfo=BERLIN)  # a Friday
    t = replace(new_ticket(), created_at=created)
    calendars = {"office": office}
    options = {"calendar": "office", **FIRST_REPLY}
    _, ctx = evaluate(t, datetime(2026, 11, 21, 12, tzinfo=BERLIN), calendars, **options)
    assert ctx.wakes == [datetime(2026, 11, 23, 9, 15, tzinfo=BERLIN)]  # at risk: 45 min
    proposals, ctx = evaluate(t, datetime(2026, 11, 23, 9, 20, tzinfo=BERLIN), calendars,
                              **options)
    assert [e.key for p in proposals for e in p.evidence] == [
        "first_reply:2026-11-20T15:30:00+00:00:at_risk"]
    assert ctx.wakes == [datetime(2026, 11, 23, 9, 30, tzinfo=BERLIN)]
    proposals, _ = evaluate(t, datetime(2026, 11, 23, 10, tzinfo=BERLIN), calendars, **options)
    [evidence] = proposals[0].evidence
    assert evidence.at == datetime(2026, 11, 23, 9, 30, tzinfo=BERLIN)
    assert "due 2026-11-23 08:30:00 UTC" in evidence.summary


def test_a_pause_outside_open_hours_does_not_move_a_business_deadline():
    office = build_calendar("office", "Europe/Berlin", {"weekdays": "09:00-17:00"})
    created = datetime(2026, 11, 20, 16, 30, tzinfo=BERLIN)
    history = ((created, "open"), (datetime(2026, 11, 20, 18, tzinfo=BERLIN), "pending"),
               (datetime(2026, 11, 22, 12, tzinfo=BERLIN), "open"))
    t = replace(new_ticket(history=history), created_at=created)
    _, ctx = evaluate(t, datetime(2026, 11, 22, 13, tzinfo=BERLIN), {"office": office},
                      calendar="office", **FIRST_REPLY)
    assert ctx.wakes == [datetime(2026, 11, 23, 9, 15, tzinfo=BERLIN)]


def test_an_unknown_calendar_is_an_error():
    from plugins.calendars import CalendarError

    with pytest.raises(CalendarError, match=r"no \[calendars.office\] table"):
        evaluate(new_ticket(), minutes(1), calendar="office", **FIRST_REPLY)


# -- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("options", "field"), [
    ({"first_reply_minutes": {"normal": -5}}, "first_reply_minutes.normal"),
    ({"resolution_minutes": {"urgent": 0}}, "resolution_minutes.urgent"),
    ({"at_risk_percent": 100}, "at_risk_percent"),
    ({"at_risk_percent": -1}, "at_risk_percent"),
    ({"at_risk_priority": "critical"}, "at_risk_priority"),
    ({"next_reply_minutes": {"medium": 30}}, "next_reply_minutes.medium"),
    ({"steps_up": 0}, "steps_up"),
])
def test_bad_options_name_the_field(options, field):
    with pytest.raises(ValidationError) as error:
        sla.Options(**options)
    [problem] = error.value.errors()
    assert ".".join(str(part) for part in problem["loc"]) == field
    assert field in str(error.value)


def test_options_normalise():
    options = sla.Options(at_risk_priority=" URGENT ", pausing_statuses=[" Pending ", " "])
    assert options.at_risk_priority == "urgent"
    assert options.pausing_statuses == ["pending"]


# -- once per clock --------------------------------------------------------------------------


def test_the_evidence_key_is_stable_across_evaluations():
    keys = {e.key for now in (50, 52, 59.9)
            for p in evaluate(new_ticket(), minutes(now), **FIRST_REPLY)[0] for e in p.evidence}
    assert keys == {f"{KEY}:at_risk"}
    keys = {e.key for now in (61, 120, 6000)
            for p in evaluate(new_ticket(), minutes(now), **FIRST_REPLY)[0] for e in p.evidence}
    assert keys == {f"{KEY}:breached"}


def test_used_evidence_does_not_fire_again():
    t = new_ticket()
    at_risk, _ = evaluate(t, minutes(50), **FIRST_REPLY)
    first = decide(t, at_risk, LADDER, now=minutes(50))
    assert first.priority is Priority.HIGH and first.add_tags == ("tierlift_sla_at_risk",)
    used = {(p, k) for p, k, _ in first.evidence_to_record()}
    assert used == {("sla", f"{KEY}:at_risk")}
    again, _ = evaluate(t, minutes(55), **FIRST_REPLY)
    assert decide(t, again, LADDER, used, now=minutes(55)).fired == ()

    breach, _ = evaluate(t, minutes(61), **FIRST_REPLY)
    decision = decide(t, breach, LADDER, used, now=minutes(61))
    assert decision.to_tier == "L2"
    used |= {(p, k) for p, k, _ in decision.evidence_to_record()}
    escalated = replace(t, tier="L2")
    for later in (62, 120, 6000):
        proposals, ctx = evaluate(escalated, minutes(later), **FIRST_REPLY)
        assert ctx.wakes == []
        decision = decide(escalated, proposals, LADDER, used, now=minutes(later))
        assert not decision.writes and decision.fired == ()
        assert len(decision.stale) == len(proposals) == 1


def test_a_new_next_reply_clock_gets_a_new_key():
    base = [comment(1, "Help"), comment(2, "Try this", role=AuthorRole.AGENT, minutes=5),
            comment(3, "No luck", minutes=10)]
    later = [*base, comment(4, "Again", role=AuthorRole.AGENT, minutes=20),
             comment(5, "Still no luck", minutes=100)]
    options = {"next_reply_minutes": {"normal": 30}}
    [first], _ = evaluate(new_ticket(*base), minutes(50), **options)
    [second], _ = evaluate(new_ticket(*later), minutes(140), **options)
    assert first.evidence[0].key != second.evidence[0].key
    assert second.evidence[0].key == (
        f"next_reply:{minutes(100).astimezone(UTC).isoformat(timespec='seconds')}:breached")


def test_the_calendar_is_chosen_by_tier_then_priority_then_default():
    options = sla.Options(calendar="office", tier_calendars={"L3": "24x7"},
                          priority_calendars={"URGENT": "oncall"})
    assert options.calendar_for(new_ticket()) == "office"
    assert options.calendar_for(new_ticket(priority=Priority.URGENT)) == "oncall"
    l3 = replace(new_ticket(priority=Priority.URGENT), tier="L3")
    assert options.calendar_for(l3) == "24x7"
    with pytest.raises(ValidationError) as caught:
        sla.Options(priority_calendars={"asap": "office"})
    assert caught.value.errors()[0]["loc"] == ("priority_calendars",)


def escalated(*, followers=()) -> object:
    """In L2 since 10:00 after tierlift's escalation (first reply given, so no SLA clock)."""
    t = replace(new_ticket(comment(1, "Hi"), comment(2, "Looking", role=AuthorRole.AGENT,
                                                      minutes=5)),
                tier="L2", tags=("tierlift_escalated",), followers=tuple(followers))
    return replace(t, tier_history=(TierChange(T0, "L1"),
                                    TierChange(T0 + timedelta(hours=1), "L2")))


FOLLOWERS = {"followers_after_minutes": 120, "followers": ["7001", "7002"]}


def test_department_heads_follow_an_escalated_ticket_still_unresolved_later():
    proposals, ctx = evaluate(escalated(), minutes(150), **FOLLOWERS)
    assert proposals == [] and ctx.wakes == [minutes(180)]  # 10:00 + 2 h
    [proposal] = evaluate(escalated(), minutes(181), **FOLLOWERS)[0]
    assert (proposal.add_followers, proposal.steps_up) == (("7001", "7002"), 0)
    assert proposal.evidence[0].key == "followers:L2:2026-11-20T10:00:00+00:00"
    decision = decide(escalated(), [proposal], LADDER)
    assert decision.add_followers == ("7001", "7002") and decision.to_tier is None
    # already following: nothing to write, the evidence is recorded as satisfied
    already = decide(escalated(followers=["7001", "7002"]), [proposal], LADDER)
    assert not already.writes


def test_no_followers_for_tickets_tierlift_did_not_escalate():
    not_ours = replace(escalated(), tags=())
    assert evaluate(not_ours, minutes(300), **FOLLOWERS)[0] == []
