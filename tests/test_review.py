"""The review (``tierlift report``, ``/admin``): numbers read from a store filled the way the
worker fills it, and the report command that needs nothing but the store."""

from __future__ import annotations

import json
import textwrap
import time

import pytest
from click.testing import CliRunner

from webhook_app.cli import main
from webhook_app.review import Lateness, review, story_lines, ticket_stories
from webhook_app.store import AuditRecord, Delivery, Store

T0 = 1_759_305_600.0  # 2025-10-01 08:00:00 UTC
HOUR, DAY = 3600.0, 86400.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def seen(tier, *proposals, status="open", channel="email", organization=None, name=None,
         route=None, to_tier=None, route_to=None, priority=None, write=None) -> dict:
    """One round of an evaluation as the escalator audits it."""
    ticket = {"tier": tier, "status": status, "version": "v", "priority": "normal",
              "language": "en", "channel": channel, "organization": organization, "route": route}
    if name:
        ticket["organization_name"] = name
    round_ = {"ticket": ticket, "proposals": list(proposals),
              "decision": {"to_tier": to_tier, "route": route_to, "priority": priority}}
    if write == 200:
        round_["write"] = {"assignee_cleared": False, "requests": [
            {"method": "PUT", "path": "/api/v2/tickets/1.json", "body": {}, "status": 200}]}
    elif write is not None:
        round_["write"] = {"status": write, "error": "Safe Update prevented the update"}
    return round_


def proposal(policy, state="fired", target="L2", held=None, **extra) -> dict:
    return {"policy": policy, "target": target, "priority": None, "state": state,
            "evidence": [{"key": f"{policy}:1", "summary": f"{policy} saw something"}],
            **({"held": held} if held else {}), **extra}


def evaluate(store, clock, ref, *rounds, outcome="no_change", to_tier=None, route=None,
             priority=None, kind="ticket.comment_added", duration_ms=0.0, next_due=None,
             error=None, shadow=False) -> None:
    """A webhook for ticket ``ref`` stored, claimed and closed with this audit record."""
    store.receive(Delivery("zendesk", f"event:{ref}:{clock.now}", ref, kind, "{}", "1"))
    claim = store.claim("worker", 30)
    assert claim is not None and claim.ticket_ref == ref
    detail = {"deliveries": [e.dedupe_key for e in claim.entries], "rounds": list(rounds)}
    if error:
        detail["error"] = error
    if shadow:
        detail["rounds"][-1]["shadow"] = {"policies": ["sentiment"], "would_write": {
            "tier": "L2", "route": None, "priority": None, "add_tags": [],
            "internal_note": "tierlift would escalate this ticket from L1 to L2."}}
    store.finish(claim, AuditRecord(outcome=outcome, from_tier=rounds[0]["ticket"]["tier"]
                                    if rounds else None, to_tier=to_tier, route=route,
                                    priority=priority, duration_ms=duration_ms, detail=detail),
                 next_due=next_due)


def fill(store: Store, clock: Clock) -> None:
    """Twenty tickets over ten days: escalations by six policies on four channels, two taken
    back by agents within a week (one more after nine days), a conflict re-read and written,
    a rejected write, two deadlines evaluated late, one deadline never taken up, and a shadow
    policy's would-be move."""
    # 101: customer_request moves it to L2; an hour later tier 2 hands it back: an override.
    evaluate(store, clock, "101", seen("L1", proposal("customer_request"), organization="9",
                                       name="Acme", to_tier="L2", write=200),
             outcome="escalated", to_tier="L2")
    clock.now += HOUR
    evaluate(store, clock, "101", seen("L1", proposal("customer_request", "stale"),
                                       organization="9", name="Acme"))
    # 102: two policies fire together over chat; the ticket stays in L2.
    clock.now += 60
    evaluate(store, clock, "102", seen("L1", proposal("customer_request"), proposal("sentiment"),
                                       channel="chat", to_tier="L2", write=200),
             outcome="escalated", to_tier="L2")
    clock.now += 60
    evaluate(store, clock, "102", seen("L2", proposal("customer_request", "stale"),
                                       channel="chat"))
    # 103: complexity moves an L2 ticket to L3; nine days later it is back in L2.
    clock.now += 60
    evaluate(store, clock, "103", seen("L2", proposal("complexity", target="L3"),
                                       organization="9", name="Acme", to_tier="L3", write=200),
             outcome="escalated", to_tier="L3")
    # 104: routed to the billing team (web form); an agent takes it out of the team.
    clock.now += 60
    evaluate(store, clock, "104", seen("L1", proposal("specialized", target=None,
                                                      route="billing"),
                                       channel="web", organization="77", route_to="billing",
                                       write=200),
             outcome="escalated", route="billing")
    clock.now += 2 * HOUR
    evaluate(store, clock, "104", seen("L1", channel="web", organization="77", route=None))
    # 105: effort is held by the minimum-effort guardrail.
    clock.now += 60
    evaluate(store, clock, "105", seen("L1", proposal(
        "effort", "held", held="minimum effort in the current tier not met yet")))
    # 106: nothing to do, and a deadline that no scheduler ever takes up.
    evaluate(store, clock, "106", seen("L1"), next_due=clock.now + 300)
    # 108: sla raises the priority only, and asks to be looked at again in 100 s.
    evaluate(store, clock, "108", seen("L1", proposal("sla", target=None), priority="high",
                                       write=200),
             outcome="escalated", priority="high", next_due=clock.now + 100)
    clock.now += 102.5  # the scheduler runs 2.5 s late; the evaluation takes 0.5 s
    assert store.fire_due() == 1
    claim_deadline(store, clock, "108", duration_ms=500.0, next_due=clock.now + 200)
    clock.now += 200.5
    assert store.fire_due() == 2  # 106 (3.0 s late) and 108 again (0.5 s late)
    claim_deadline(store, clock, "106", duration_ms=0.0)  # 106 first: it was due earlier
    claim_deadline(store, clock, "108", duration_ms=0.0)
    evaluate(store, clock, "106", seen("L1"), next_due=clock.now - 120)  # overdue from now on
    # 109: a conflict, re-read, then written (api channel).
    clock.now += 60
    evaluate(store, clock, "109",
             seen("L1", proposal("vip"), channel="api", to_tier="L2", write=409),
             seen("L1", proposal("vip"), channel="api", to_tier="L2", write=200),
             outcome="escalated", to_tier="L2")
    # 110: the helpdesk rejects the write.
    clock.now += 60
    evaluate(store, clock, "110", seen("L1", proposal("customer_request"), to_tier="L2"),
             outcome="rejected", error="Rejected: 422 group is not assignable")
    # 111: a shadow policy would move it.
    clock.now += 60
    evaluate(store, clock, "111", seen("L1", proposal("sentiment", "shadow", target=None)),
             outcome="shadow", shadow=True)
    # 112-121: routine tickets; 101: tierlift's own write coming back (no rounds).
    for n in range(112, 122):
        clock.now += 60
        evaluate(store, clock, str(n), seen("L1"))
    evaluate(store, clock, "101", outcome="own_change")
    # nine days after 103's move: an agent put it back in L2
    clock.now = T0 + 9 * DAY
    evaluate(store, clock, "103", seen("L2", proposal("complexity", "stale", target="L3"),
                                       organization="9", name="Acme"))
    clock.now += 60


def claim_deadline(store, clock, ref, *, duration_ms, next_due=None) -> None:
    claim = store.claim("worker", 30)
    assert claim is not None and claim.ticket_ref == ref, claim
    assert [e.kind for e in claim.entries] == ["deadline"]
    store.finish(claim, AuditRecord(outcome="no_change", from_tier="L1",
                                    duration_ms=duration_ms,
                                    detail={"deliveries": [e.dedupe_key for e in claim.entries],
                                            "rounds": [seen("L1")]}), next_due=next_due)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def filled(tmp_path, clock) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'tierlift.db'}", clock=clock)
    store.create_schema()
    fill(store, clock)
    yield store
    store.close()


def test_escalations_per_tier_policy_channel_and_organization(filled, clock):
    r = review(filled, now=clock.now)
    assert r.tickets == 20
    assert (r.escalations, r.moves) == (6, 5)
    assert r.by_tier == {"L2": 3, "L3": 1, "priority/tags only": 1, "team billing": 1}
    assert r.by_policy == {"customer_request": 2, "complexity": 1, "sentiment": 1, "sla": 1,
                           "specialized": 1, "vip": 1}
    assert r.by_channel == {"email": 3, "api": 1, "chat": 1, "web": 1}
    assert r.by_organization == {"none": 3, "Acme": 2, "77": 1}
    assert r.evaluations == {"escalated": 6, "no_change": 20, "own_change": 1, "rejected": 1,
                             "shadow": 1}
    assert r.deliveries == {"done": 29}  # 26 webhooks, 3 deadlines
    assert [(e.platform, e.ticket_ref, e.target) for e in r.latest] == [
        ("zendesk", "109", "L2"), ("zendesk", "108", "priority/tags only"),
        ("zendesk", "104", "team billing"), ("zendesk", "103", "L3"), ("zendesk", "102", "L2"),
        ("zendesk", "101", "L2")]
    assert r.latest[4].policies == ("customer_request", "sentiment")


def test_tier_mix_as_last_seen_against_the_guide(filled, clock):
    r = review(filled, now=clock.now)
    assert [(s.tier, s.tickets, s.percent, s.guide, s.on_guide) for s in r.tier_mix] == [
        ("L1", 17, 85.0, "~80 %", True),  # the guide's bounds are included
        ("L2", 3, 15.0, "15-20 %", True),
        ("L3", 0, 0.0, "~5 %", False),
    ]


def test_overrides_per_policy_within_the_window(filled, clock):
    r = review(filled, now=clock.now)
    assert [(e.ticket_ref, e.target, e.policies, e.overridden_to, e.overridden_at - e.at)
            for e in r.overrides] == [
        ("101", "L2", ("customer_request",), "L1", HOUR),
        ("104", "team billing", ("specialized",), "L1", 2 * HOUR),
    ]
    assert [(p.policy, p.escalations, p.moves, p.overridden, p.override_percent)
            for p in r.policies] == [
        ("customer_request", 2, 2, 1, 50.0),
        ("complexity", 1, 1, 0, 0.0),
        ("sentiment", 1, 1, 0, 0.0),
        ("sla", 1, 0, 0, 0.0),
        ("specialized", 1, 1, 1, 100.0),
        ("vip", 1, 1, 0, 0.0),
    ]
    # nine days later 103 was back in L2: an override only in a ten-day window
    longer = review(filled, now=clock.now, override_days=10)
    assert [e.ticket_ref for e in longer.overrides] == ["101", "103", "104"]
    assert {p.policy: p.overridden for p in longer.policies}["complexity"] == 1


def test_a_ticket_moved_further_up_by_an_agent_is_no_override(tmp_path, clock):
    store = Store(f"sqlite:///{tmp_path / 'up.db'}", clock=clock)
    store.create_schema()
    evaluate(store, clock, "7", seen("L1", proposal("customer_request"), to_tier="L2",
                                     write=200), outcome="escalated", to_tier="L2")
    clock.now += HOUR
    evaluate(store, clock, "7", seen("L3"))
    assert review(store, now=clock.now).overrides == ()
    assert [s.tickets for s in review(store, now=clock.now).tier_mix] == [0, 0, 1]


def test_write_failures_and_deadline_lateness(filled, clock):
    r = review(filled, now=clock.now)
    assert [(f.ticket_ref, f.outcome, f.status, f.error, f.recovered)
            for f in r.write_failures] == [
        ("109", "escalated", 409, "Safe Update prevented the update", True),
        ("110", "rejected", None, "Rejected: 422 group is not assignable", False),
    ]
    # 108 due at +100 s started 2.0 s late (done 2.5 s late, after 0.5 s); later 106 and 108
    # fired together, 3.0 and 0.5 s after their deadlines; 106's next deadline is never taken up
    assert r.lateness == Lateness(ran=3, failed=0, pending=0, overdue=1, median_seconds=2.0,
                                  p95_seconds=3.0, max_seconds=3.0)


def test_shadow_would_be_writes_are_counted_apart(filled, clock):
    r = review(filled, now=clock.now)
    assert (r.shadow, r.shadow_by_tier, r.shadow_by_policy) == (1, {"L2": 1}, {"sentiment": 1})
    assert "sentiment" not in {p for e in r.latest for p in e.policies if e.ticket_ref == "111"}


def test_the_window_counts_only_what_happened_in_it(filled, clock):
    r = review(filled, since=T0 + 5 * DAY, now=clock.now)
    assert (r.tickets, r.escalations, r.evaluations, r.deliveries) == \
        (1, 0, {"no_change": 1}, {"done": 1})


def test_a_tickets_story(filled):
    [story] = ticket_stories(filled, "101")
    assert (story.platform, story.tier) == ("zendesk", "L1")
    assert story_lines(story) == [
        "zendesk #101  tier L1 as last seen",
        "2025-10-01 08:00:00  delivery event:101:1759305600.0 (ticket.comment_added, by 1): "
        "done",
        "2025-10-01 08:00:00  evaluation 1: escalated L1 -> L2  (0 ms)",
        "    round 1: ticket L1, open, en, email",
        "      customer_request fired -> L2: customer_request saw something",
        "      decision: to_tier L2",
        "      write: PUT /api/v2/tickets/1.json -> 200",
        "2025-10-01 09:00:00  delivery event:101:1759309200.0 (ticket.comment_added, by 1): "
        "done",
        "2025-10-01 09:00:00  evaluation 2: no_change  (0 ms)",
        "    round 1: ticket L1, open, en, email",
        "      customer_request stale -> L2: customer_request saw something",
        "      decision: no change",
        "2025-10-01 11:23:03  delivery event:101:1759317783.0 (ticket.comment_added, by 1): "
        "done",
        "2025-10-01 11:23:03  evaluation 28: own_change  (0 ms)",
    ]


def test_a_held_proposal_and_a_conflict_in_the_story(filled):
    [held] = ticket_stories(filled, "105")
    assert "      effort held -> L2 (minimum effort in the current tier not met yet): effort " \
        "saw something" in story_lines(held)
    [conflict] = ticket_stories(filled, "109")
    lines = story_lines(conflict)
    assert [line for line in lines if "write:" in line or "round" in line] == [
        "    round 1: ticket L1, open, en, api",
        "      write: 409: Safe Update prevented the update",
        "    round 2: ticket L1, open, en, api",
        "      write: PUT /api/v2/tickets/1.json -> 200",
    ]
    assert ticket_stories(filled, "999") == []


# -- tierlift report ---------------------------------------------------------------------------

REPORT = [
    "deliveries: done 29",
    "evaluations: escalated 6, no_change 20, own_change 1, rejected 1, shadow 1",
    "tickets: 20  escalations: 6 (5 moved)",
    "escalations per tier: L2 3, L3 1, priority/tags only 1, team billing 1",
    "escalations per policy: customer_request 2, complexity 1, sentiment 1, sla 1, "
    "specialized 1, vip 1",
    "escalations per channel: email 3, api 1, chat 1, web 1",
    "escalations per organization: none 3, Acme 2, 77 1",
    "tier mix (tickets by tier as last seen, against the playbooks' guide):",
    "  L1          17   85.0 %  (guide ~80 %)  on guide",
    "  L2           3   15.0 %  (guide 15-20 %)  on guide",
    "  L3           0    0.0 %  (guide ~5 %)  off guide",
    "overrides (taken back within 7 days): 2",
    "  customer_request: 1 of 2 moves (50.0 %)",
    "  complexity: 0 of 1 moves (0.0 %)",
    "  sentiment: 0 of 1 moves (0.0 %)",
    "  sla: 0 of 0 moves (0.0 %)",
    "  specialized: 1 of 1 moves (100.0 %)",
    "  vip: 0 of 1 moves (0.0 %)",
    "    zendesk #101: L2 by customer_request, back to L1 60.0 min later",
    "    zendesk #104: team billing by specialized, back to L1 2.0 h later",
    "write failures: 2 (1 not written since)",
    "  2025-10-01 11:11:03  zendesk #109  409: Safe Update prevented the update  "
    "(written later)",
    "  2025-10-01 11:12:03  zendesk #110  rejected: Rejected: 422 group is not assignable",
    "deadline lateness: 3 run, median 2.0 s, 95th percentile 3.0 s, max 3.0 s; 0 failed, "
    "0 pending, 1 overdue",
    "shadow (would have written): 1; per tier L2 1; per policy sentiment 1",
]


@pytest.fixture
def url(filled) -> str:
    return str(filled.engine.url)


def test_report_needs_only_the_database_url(url, tmp_path, monkeypatch):
    by_option = CliRunner().invoke(main, ["report", "--database-url", url, "--limit", "2"])
    assert by_option.exit_code == 0, by_option.output
    lines = by_option.output.splitlines()
    assert lines[:-2] == REPORT  # no config file, no helpdesk secret
    assert lines[-2:] == [
        "2025-10-01 11:23:03  zendesk #101  own_change",
        "2025-10-10 08:00:00  zendesk #103  no_change",
    ]
    monkeypatch.setenv("TIERLIFT_DATABASE_URL", url)
    by_environment = CliRunner().invoke(main, ["report", "--limit", "0"])
    assert by_environment.exit_code == 0, by_environment.output
    assert by_environment.output.splitlines() == REPORT


def test_report_reads_the_store_from_a_config_that_could_not_start_the_service(url, tmp_path):
    # a [zendesk] table without its secrets (kept in the service's environment) and policies
    # this machine does not know: the report needs neither
    config = tmp_path / "tierlift.toml"
    config.write_text(textwrap.dedent(f"""
        database_url = "{url}"
        tiers = ["L1", "L2", "L3"]
        [zendesk]
        subdomain = "acme"
        [policies.not_installed_here]
        enabled = true
    """))
    result = CliRunner().invoke(main, ["report", "--config", str(config), "--limit", "0"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == REPORT


def test_report_json_carries_the_same_numbers(url):
    result = CliRunner().invoke(main, ["report", "--database-url", url, "--json",
                                       "--override-days", "10"])
    assert result.exit_code == 0, result.output
    numbers = json.loads(result.output)
    assert numbers["escalations"] == 6
    assert numbers["by_policy"]["customer_request"] == 2
    assert [(s["tier"], s["percent"]) for s in numbers["tier_mix"]] == [
        ("L1", 85.0), ("L2", 15.0), ("L3", 0.0)]
    assert [o["ticket_ref"] for o in numbers["overrides"]] == ["101", "103", "104"]
    assert numbers["lateness"]["max_seconds"] == 3.0


def test_report_ticket_tells_one_tickets_story(url, filled):
    result = CliRunner().invoke(main, ["report", "--database-url", url, "--ticket", "105"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == story_lines(ticket_stories(filled, "105")[0])
    assert "effort held" in result.output and "minimum effort" in result.output
    missing = CliRunner().invoke(main, ["report", "--database-url", url, "--ticket", "999"])
    assert missing.exit_code == 1
    assert "nothing on ticket 999" in missing.stderr


def test_report_says_so_when_the_url_holds_no_tierlift_store(tmp_path):
    result = CliRunner().invoke(main, ["report", "--database-url",
                                       f"sqlite:///{tmp_path / 'elsewhere.db'}"])
    assert result.exit_code == 2
    assert "no tierlift store there" in result.stderr


def test_report_window_in_days(tmp_path):
    clock = Clock()
    clock.now = time.time() - 3 * DAY
    store = Store(f"sqlite:///{tmp_path / 'recent.db'}", clock=clock)
    store.create_schema()
    evaluate(store, clock, "1", seen("L1", proposal("vip"), to_tier="L2", write=200),
             outcome="escalated", to_tier="L2")
    clock.now = time.time() - HOUR
    evaluate(store, clock, "2", seen("L1"))
    url = str(store.engine.url)
    store.close()
    result = CliRunner().invoke(main, ["report", "--database-url", url, "--days", "1",
                                       "--limit", "5"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:3] == ["deliveries: done 1", "evaluations: no_change 1",
                         "tickets: 1  escalations: 0 (0 moved)"]
    assert lines[-1].endswith("zendesk #2  no_change")
    everything = CliRunner().invoke(main, ["report", "--database-url", url, "--limit", "0"])
    assert everything.output.splitlines()[2] == "tickets: 2  escalations: 1 (1 moved)"


def test_the_story_orders_evaluations_by_when_they_began(tmp_path, clock):
    # tierlift's own write comes back as a webhook while the evaluation that wrote is running
    store = Store(f"sqlite:///{tmp_path / 'order.db'}", clock=clock)
    store.create_schema()
    store.receive(Delivery("zendesk", "event:a", "5", "ticket.comment_added", "{}", "1"))
    claim = store.claim("worker", 30)
    clock.now += 1.5
    store.receive(Delivery("zendesk", "event:echo", "5", "ticket.group_changed", "{}", "900"))
    clock.now += 0.5
    store.finish(claim, AuditRecord(outcome="escalated", from_tier="L1", to_tier="L2",
                                    duration_ms=2000.0, detail={"rounds": [seen("L1")]}))
    [story] = ticket_stories(store, "5")
    assert [getattr(e, "key", getattr(e, "outcome", None)) for e in story.events] == [
        "event:a", "escalated", "event:echo"]
