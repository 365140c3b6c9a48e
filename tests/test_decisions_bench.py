"""bench/decisions.py, the labelled-ticket harness: loading the labels, backdated scenes in the
emulators, the scoring (on hand-made outcomes and synthetic audits), and a small labelled set
end to end through ``tierlift serve`` with the exact scores it gets."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from webhook_app.emulator.labels import (
    Expect,
    LabelError,
    Labelled,
    LabelSet,
    State,
    load_tickets,
    parse_labels,
    parse_offset,
)
from webhook_app.emulator.scenes import (
    Outcome,
    announcement_order,
    audited_policies,
    build_scene,
    connection_env,
    downward_moves,
    helpdesks,
    repeated_evidence,
    state_of,
)
from webhook_app.emulator.zendesk import BOT_ID
from webhook_app.settings import load_settings

BENCH = Path(__file__).resolve().parent.parent / "bench"
if str(BENCH) not in sys.path:  # the benchmarks import their shared loopback module by name
    sys.path.insert(0, str(BENCH))

from decisions import (  # noqa: E402
    TIERLIFT,
    Counts,
    order_differences,
    outcome_label,
    report,
    run,
    score,
)

# -- the small labelled set, end to end ----------------------------------------------------

LABELS = """
[people.hannah]
name = "Hannah Weber"
organization = "globex"
locale = "de"

[people.rui]
name = "Rui Costa"
locale = "pt-BR"

[people.ola]
name = "Ola Nordmann"

[people.sam]
name = "Sam Lee"

[people.kim]
name = "Kim Park"

[people.lee]
name = "Lee Chan"

[organizations.globex]
name = "Globex GmbH"
tags = ["enterprise"]

[[ticket]]
name = "zd-de-manager-after-a-reply"
platform = "zendesk"
language = "de"
requester = "hannah"
created = "-3h"
subject = "Export der Monatsberichte"
description = "Hallo, der Export der Monatsberichte bricht immer wieder ab."
[[ticket.events]]
at = "-2h30m"
kind = "reply"
text = "Danke, wir sehen uns das an."
[[ticket.events]]
at = "-2h"
kind = "customer"
text = "Das dauert zu lange. Ich möchte mit einem Vorgesetzten sprechen."
[ticket.expect]
tier = "L2"
criteria = ["customer_request"]
why = "Asks for a supervisor in German after a reply."

[[ticket]]
name = "jira-near-miss-my-manager-asked"
platform = "jira"
requester = "ola"
created = "-1h"
subject = "Report export misses rows"
description = "My manager asked me to get the report export sorted out before Friday."
[ticket.expect]
criteria = []
why = "Their manager asked them; not a request for ours."

[[ticket]]
name = "jira-resolved-with-a-manager-request"
platform = "jira"
requester = "rui"
created = "-5d"
status = "Resolved"
earlier = true
subject = "Import keeps failing"
description = "Third time now. I want to speak to a manager."
[ticket.expect]
criteria = []
why = "Resolved: never escalated, whatever it says."

[[ticket]]
name = "jira-charged-twice-to-billing"
platform = "jira"
requester = "rui"
created = "-2h"
subject = "Double charge"
description = "We were charged twice this month for the same seats."
[ticket.expect]
team = "billing"
criteria = ["specialized"]
why = "Duplicate charge: billing."

[[ticket]]
name = "zd-young-sso-data-loss-held"
platform = "zendesk"
requester = "ola"
created = "-10m"
subject = "SAML login broken"
description = "Since this morning SSO via SAML fails and we see data loss in user profiles."
[ticket.expect]
criteria = []
why = "Complex, but ten minutes old and nobody answered yet."

[[ticket]]
name = "zd-outage-1"
platform = "zendesk"
requester = "sam"
created = "-6m"
subject = "Dashboard not loading"
description = "The dashboard spins forever."
[ticket.expect]
priority = "urgent"
criteria = ["incident"]

[[ticket]]
name = "zd-outage-2"
platform = "zendesk"
requester = "kim"
created = "-5m"
subject = "Dashboard not loading"
description = "Our dashboard is blank since a few minutes."
[ticket.expect]
priority = "urgent"
criteria = ["incident"]

[[ticket]]
name = "zd-outage-3"
platform = "zendesk"
requester = "lee"
created = "-4m"
subject = "Dashboard not loading for us"
description = "Dashboard won't load."
[ticket.expect]
priority = "urgent"
criteria = ["incident"]
"""

# The policies today's tierlift already implements for these tickets; the connection tables
# come from the environment, as the bench supplies them.
CONFIG = """
tiers = ["L1", "L2", "L3"]
default_tier = "L1"

[escalation]
min_age_minutes = 30
min_agent_replies = 1
effort_since = "creation"

[policies.customer_request]
enabled = true
phrases = ["speak to a manager", "mit einem Vorgesetzten sprechen"]

[policies.complexity]
enabled = true

[policies.specialized]
enabled = true

[policies.incident]
enabled = true
count = 3
minutes = 10
route = ""
"""


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    config = tmp_path_factory.mktemp("decisions") / "tierlift.toml"
    config.write_text(CONFIG)
    outcomes, evaluations = run(parse_labels(LABELS, "small.toml"), config)
    return {o.ticket.name: o for o in outcomes}, evaluations


@pytest.mark.parametrize("order", ["reversed", "together"])
def test_the_decisions_do_not_depend_on_the_order_of_the_deliveries(ran, tmp_path, order):
    """Reversed, or all at once (as after an outage): the same end state for every ticket,
    the incident included."""
    config = tmp_path / "tierlift.toml"
    config.write_text(CONFIG)
    outcomes, _ = run(parse_labels(LABELS, "small.toml"), config, order=order)
    assert order_differences(list(ran[0].values()), outcomes) == []


def test_announcement_orders():
    labels = parse_labels(LABELS, "small.toml")
    names = [t.name for t in labels.tickets]
    earlier = [t.name for t in labels.tickets if t.earlier]
    rest = [t.name for t in labels.tickets if not t.earlier]
    assert earlier and rest
    assert [[t.name for t in wave] for wave in announcement_order(labels, "file")] == \
        [earlier, rest]
    assert [t.name for t in announcement_order(labels, "reversed")[1]] == rest[::-1]
    assert sorted(t.name for t in announcement_order(labels, "shuffled")[1]) == sorted(rest)
    assert [[t.name for t in wave] for wave in announcement_order(labels, "together")] == \
        [names]
    with pytest.raises(ValueError):
        announcement_order(labels, "sideways")


def test_small_set_scores_exactly(ran):
    outcomes, _ = ran
    result = score(list(outcomes.values()))
    assert [o.ticket.name for o in result.disagreements] == []
    assert (result.agreed, result.tickets) == (8, 8)
    assert result.by_platform == {"jira": (3, 3), "zendesk": (5, 5)}
    assert result.by_language == {"de": (1, 1), "en": (7, 7)}
    assert {name: (c.true_positive, c.false_positive, c.false_negative)
            for name, c in result.criteria.items()} == {
        "customer_request": (1, 0, 0), "specialized": (1, 0, 0), "incident": (3, 0, 0)}
    assert (result.overall.precision, result.overall.recall) == (1.0, 1.0)
    assert result.confusion == Counter({("stay", "stay"): 6, ("L2", "L2"): 1,
                                        ("billing", "billing"): 1})
    assert (result.writes, result.downward_moves, result.loops, result.closed_writes) == \
        (5, 0, 0, 0)
    assert result.safe


def test_small_set_states_and_guardrails(ran):
    outcomes, evaluations = ran
    assert outcomes["zd-de-manager-after-a-reply"].after == State("L2", None, "normal")
    assert outcomes["jira-charged-twice-to-billing"].after == State("L1", "billing", "normal")
    assert outcomes["zd-outage-3"].after == State("L1", None, "urgent")
    young = outcomes["zd-young-sso-data-loss-held"]
    assert young.fired == frozenset() and young.held[0].startswith("complexity: ")
    resolved = outcomes["jira-resolved-with-a-manager-request"]
    assert resolved.status_then == "Resolved" and resolved.writes == 0
    assert resolved.held[0].startswith("customer_request: ")
    assert evaluations["escalated"] == 5


# -- loading the labels ---------------------------------------------------------------------

def test_offsets():
    assert parse_offset("-3h", "x") == -timedelta(hours=3)
    assert parse_offset("-2d4h", "x") == -timedelta(days=2, hours=4)
    assert parse_offset("-1h30m", "x") == -timedelta(hours=1, minutes=30)
    assert parse_offset("-45m", "x") == -timedelta(minutes=45)
    assert parse_offset("now", "x") == timedelta(0)
    for wrong in ("3h", "-", "-3x", "yesterday"):
        with pytest.raises(LabelError, match="x: "):
            parse_offset(wrong, "x")


def test_labels_load_with_defaults():
    labels = parse_labels(LABELS, "small.toml")
    assert len(labels.tickets) == 8
    ticket = next(t for t in labels.tickets if t.name == "zd-de-manager-after-a-reply")
    assert ticket.requester == "small:hannah" and ticket.language == "de"
    assert labels.people["small:hannah"].organization == "small:globex"
    assert [e.kind for e in ticket.events] == ["reply", "customer"]
    assert ticket.expect == Expect(State("L2", None, "normal"),
                                   frozenset({"customer_request"}),
                                   "Asks for a supervisor in German after a reply.")
    resolved = next(t for t in labels.tickets if t.earlier)
    assert resolved.status == "Resolved" and resolved.created == -timedelta(days=5)


def test_load_tickets_reads_every_file(tmp_path):
    (tmp_path / "a.toml").write_text(LABELS)
    (tmp_path / "b.toml").write_text(_one_ticket("another"))
    labels = load_tickets(sorted(tmp_path.glob("*.toml")))
    assert len(labels.tickets) == 9
    assert "b:p" in labels.people and "a:hannah" in labels.people
    (tmp_path / "c.toml").write_text(_one_ticket("another"))
    with pytest.raises(LabelError, match="more than once: another"):
        load_tickets(sorted(tmp_path.glob("*.toml")))


def test_omitted_expectations_keep_the_ticket_as_the_events_left_it():
    ticket = parse_labels(_one_ticket("x", events='[[ticket.events]]\nat = "-1h"\n'
                                      'kind = "move"\ntier = "L2"\n',
                                      expect="criteria = []"), "f").tickets[0]
    assert ticket.expect.state == State("L2", None, "normal")


@pytest.mark.parametrize(("change", "message"), [
    ({"subjekt": '"typo"'}, "unknown key subjekt"),
    ({"requester": '"nobody"'}, "requester 'nobody' is not in"),
    ({"platform": '"freshdesk"'}, "platform: 'freshdesk' is not one of"),
    ({"status": '"archived"'}, "status: 'archived'"),
    ({"tags": '["two words"]', "platform": '"jira"'}, "Jira labels cannot contain spaces"),
])
def test_label_mistakes_are_named(change, message):
    with pytest.raises(LabelError, match=message):
        parse_labels(_one_ticket("x", **{"fields": change}), "f.toml")


def test_event_and_expectation_mistakes_are_named():
    early = '[[ticket.events]]\nat = "-5h"\nkind = "customer"\ntext = "hi"\n'
    with pytest.raises(LabelError, match="event 1: at -5h is before"):
        parse_labels(_one_ticket("x", events=early), "f.toml")
    no_text = '[[ticket.events]]\nat = "-1h"\nkind = "reply"\n'
    with pytest.raises(LabelError, match="a reply event needs text"):
        parse_labels(_one_ticket("x", events=no_text), "f.toml")
    with pytest.raises(LabelError, match="unknown escalate"):
        parse_labels(_one_ticket("x", expect='criteria = ["escalate"]'), "f.toml")
    with pytest.raises(LabelError, match=r"expect\.team: 'legal'"):
        parse_labels(_one_ticket("x", expect='team = "legal"\ncriteria = []'), "f.toml")


def _one_ticket(name: str, *, events: str = "", expect: str = "criteria = []",
                fields: dict | None = None) -> str:
    values = {"name": f'"{name}"', "platform": '"zendesk"', "requester": '"p"',
              "created": '"-3h"', "subject": '"Subject"', "description": '"Text"',
              **(fields or {})}
    lines = "\n".join(f"{k} = {v}" for k, v in values.items())
    return (f'[people.p]\nname = "P"\n\n[[ticket]]\n{lines}\n{events}'
            f"[ticket.expect]\n{expect}\n")


# -- backdated scenes in the emulators --------------------------------------------------------

def test_zendesk_scene_is_backdated_and_the_clock_keeps_going_forward():
    zendesk, _ = helpdesks()
    now = datetime.now(UTC).replace(microsecond=0)
    zendesk.user(7, "Cy", locale="fr", organization_id=None)
    ticket = zendesk.create_ticket(subject="s", description="d", requester_id=7, group_id=101,
                                   status="open", at=now - timedelta(hours=3), notify=False)
    zendesk.customer_comment(ticket, "again", at=now - timedelta(hours=2), notify=False)
    zendesk.agent_moves(ticket, 501, 201, at=now - timedelta(hours=1), notify=False)
    zendesk.agent_sets_status(ticket, 501, "pending", at=now - timedelta(minutes=30),
                              notify=False)
    stamp = (now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    raw = zendesk.tickets[ticket]
    assert raw["created_at"] == (now - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert raw["updated_at"] == stamp and raw["status"] == "pending"
    assert [c["created_at"][11:16] for c in zendesk.comments[ticket]] == \
        [(now - timedelta(hours=h)).strftime("%H:%M") for h in (3, 2)]
    assert [a["created_at"] for a in zendesk.audits[ticket]][-1] == stamp
    assert zendesk.users[7]["locale"] == "fr"
    zendesk.agent_note(ticket, 501, "live one", notify=False)
    zendesk.agent_note(ticket, 501, "live two", notify=False)
    first, second = (c["created_at"] for c in zendesk.comments[ticket][-2:])
    assert now.strftime("%Y-%m-%dT%H:%M:%SZ") <= first < second
    assert zendesk.tickets[ticket]["updated_at"] == second


def test_jira_scene_is_backdated_and_the_clock_keeps_going_forward():
    _, jira = helpdesks()
    now = datetime.now(UTC).replace(microsecond=0)
    jira.user("qm:c", "Cy", customer=True)
    key = jira.create_issue("s", "d", "qm:c", status="In Progress",
                            at=now - timedelta(hours=3), notify=False)
    jira.customer_comment(key, "again", at=now - timedelta(hours=2), notify=False)
    jira.agent_sets_team(key, "qm:agent-tier-1", "Billing", at=now - timedelta(hours=1),
                         notify=False)
    jira.agent_sets_status(key, "qm:agent-tier-1", "Resolved",
                           at=now - timedelta(minutes=30), notify=False)
    jira.agent_sets_status(key, "qm:agent-tier-1", "In Progress",
                           at=now - timedelta(minutes=20), notify=False)
    issue = jira.issues[key]
    assert issue.created == now - timedelta(hours=3)
    assert issue.comments[0].created == now - timedelta(hours=2)
    assert [h.created for h in issue.histories] == \
        [now - timedelta(minutes=m) for m in (60, 30, 20)]
    assert issue.updated == now - timedelta(minutes=20) and issue.team == "Billing"
    reopen = [i for i in issue.histories[-1].items if i["field"] == "resolution"]
    assert reopen == [{"field": "resolution", "fieldtype": "jira", "fieldId": "resolution",
                       "from": "10000", "fromString": "Done", "to": None, "toString": None}]
    jira.agent_comment(key, "qm:agent-tier-1", "live one", notify=False)
    jira.agent_comment(key, "qm:agent-tier-1", "live two", notify=False)
    first, second = (c.created for c in issue.comments[-2:])
    assert now <= first < second and issue.updated == second


def test_scene_states_and_downward_writes():
    zendesk, jira = helpdesks()
    labels = parse_labels(textwrap.dedent("""
        [people.p]
        name = "P"
        [[ticket]]
        name = "zd"
        platform = "zendesk"
        requester = "p"
        created = "-3h"
        tier = "L2"
        subject = "S"
        description = "D"
        [[ticket.events]]
        at = "-2h"
        kind = "route"
        team = "billing"
        [ticket.expect]
        criteria = []
        [[ticket]]
        name = "jr"
        platform = "jira"
        requester = "p"
        created = "-3h"
        tier = "L3"
        priority = "high"
        subject = "S"
        description = "D"
        [ticket.expect]
        criteria = []
    """), "f.toml")
    scene = build_scene(labels, zendesk, jira)
    zd, jr = labels.tickets
    assert scene.before == {"zd": State("L2", "billing", "normal"),
                            "jr": State("L3", None, "high")}
    assert state_of(scene, zd) == State("L2", "billing", "normal")
    zendesk_api = zendesk.app().test_client()
    auth = base64.b64encode(f"{zendesk.email}/token:{zendesk.api_token}".encode()).decode()
    answer = zendesk_api.put(f"/api/v2/tickets/{scene.refs['zd']}.json",
                             json={"ticket": {"group_id": 101}},
                             headers={"Authorization": f"Basic {auth}"})
    assert answer.status_code == 200
    assert zendesk.audits[int(scene.refs["zd"])][-1]["author_id"] == BOT_ID
    jira_api = jira.app().test_client()
    auth = base64.b64encode(f"{jira.email}:{jira.api_token}".encode()).decode()
    answer = jira_api.put(f"/rest/api/3/issue/{scene.refs['jr']}",
                          json={"fields": {jira.tier_field: {"value": "Tier 2"}}},
                          headers={"Authorization": f"Basic {auth}"})
    assert answer.status_code == 204
    assert (downward_moves(scene, zd), downward_moves(scene, jr)) == (1, 1)
    assert state_of(scene, zd) == State("L1", None, "normal")


def test_connection_details_make_a_valid_config_from_the_environment(tmp_path, monkeypatch):
    zendesk, jira = helpdesks()
    scene = build_scene(LabelSet(()), zendesk, jira)
    env = connection_env(scene, f"sqlite:///{tmp_path / 'db'}", "http://127.0.0.1:1",
                         "http://127.0.0.1:2")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = tmp_path / "tierlift.toml"
    config.write_text(CONFIG)
    settings = load_settings(config)
    assert settings.zendesk.route_groups["billing"] == 201
    assert settings.jira.tier_values == {"L1": "Tier 1", "L2": "Tier 2", "L3": "Tier 3"}
    assert settings.worker.sweep_minutes == 0
    assert settings.policies["incident"]["count"] == 3  # the file's policies stay


def test_the_standard_preset_takes_the_connection_details(tmp_path):
    preset = subprocess.run([TIERLIFT, "init", "--preset", "standard"], capture_output=True,
                            text=True, check=False)
    if preset.returncode != 0:
        pytest.skip("tierlift init --preset standard is not there yet")
    config = tmp_path / "tierlift.toml"
    config.write_text(preset.stdout)
    zendesk, jira = helpdesks()
    scene = build_scene(LabelSet(()), zendesk, jira)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERLIFT_")}
    env.update(connection_env(scene, f"sqlite:///{tmp_path / 'db'}", "http://127.0.0.1:1",
                              "http://127.0.0.1:2"))
    checked = subprocess.run([TIERLIFT, "check", "--config", str(config)], env=env,
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr


# -- scoring ----------------------------------------------------------------------------------

L1 = State("L1", None, "normal")


def _outcome(name: str, *, platform: str = "zendesk", expect: State = L1,
             labelled: tuple[str, ...] = (), after: State = L1, fired: tuple[str, ...] = (),
             before: State = L1, **counts) -> Outcome:
    ticket = Labelled(name=name, platform=platform, requester="f:p", created=timedelta(0),
                      tier=before.tier, priority=before.priority, status="open", subject="s",
                      description="d", expect=Expect(expect, frozenset(labelled), "because"))
    return Outcome(ticket, before, after, frozenset(fired), **counts)


def test_precision_recall_and_f1_per_criterion():
    result = score([
        _outcome("a", labelled=("customer_request",), fired=("customer_request",)),
        _outcome("b", labelled=("customer_request",)),
        _outcome("c", fired=("customer_request", "channel")),
        _outcome("d", labelled=("specialized", "policy_exception"), fired=("specialized",)),
    ])
    assert list(result.criteria) == ["customer_request", "specialized", "policy_exception",
                                     "channel"]
    request = result.criteria["customer_request"]
    assert (request.precision, request.recall, request.f1) == (0.5, 0.5, 0.5)
    assert result.criteria["specialized"] == Counts(1, 0, 0)
    exception = result.criteria["policy_exception"]
    assert (exception.precision, exception.recall, exception.f1) == (None, 0.0, None)
    channel = result.criteria["channel"]
    assert (channel.precision, channel.recall) == (0.0, None)
    assert result.overall == Counts(2, 2, 2)


def test_f1_of_nothing_right_is_zero():
    assert Counts(0, 3, 2).f1 == 0.0


def test_outcomes_for_the_confusion_table():
    billing = State("L1", "billing", "normal")
    assert outcome_label(L1, L1) == "stay"
    assert outcome_label(L1, State("L2", None, "high")) == "L2"
    assert outcome_label(L1, billing) == "billing"
    assert outcome_label(billing, billing) == "stay"  # an agent routed it before
    assert outcome_label(L1, State("L2", "security", "high")) == "security"  # the team wins
    assert outcome_label(State("L2", None, "normal"), L1) == "L1"  # a move down shows


def test_agreement_confusion_and_disagreements():
    l2 = State("L2", None, "normal")
    result = score([
        _outcome("right", expect=l2, after=l2),
        _outcome("wrong priority", expect=l2, after=State("L2", None, "high")),
        _outcome("missed", platform="jira", expect=l2),
        _outcome("quiet", platform="jira"),
        _outcome("routed", platform="jira", expect=State("L1", "billing", "normal"),
                 after=State("L1", "billing", "normal")),
    ])
    assert (result.agreed, result.tickets) == (3, 5)
    assert result.by_platform == {"jira": (2, 3), "zendesk": (1, 2)}
    assert [o.ticket.name for o in result.disagreements] == ["wrong priority", "missed"]
    assert result.confusion == Counter({("L2", "L2"): 2, ("L2", "stay"): 1,
                                        ("stay", "stay"): 1, ("billing", "billing"): 1})


def test_safety_counts():
    result = score([
        _outcome("once", writes=1),
        _outcome("twice", writes=2, repeated=1),
        _outcome("new evidence", writes=2),
        _outcome("echo", writes=1, echo_writes=1),
        _outcome("down", writes=1, downward=1),
        _outcome("solved", writes=1, closed_writes=1, status_then="solved"),
    ])
    assert (result.writes, result.loops, result.downward_moves, result.closed_writes) == \
        (8, 2, 1, 1)
    assert not result.safe
    assert [o.ticket.name for o in result.unsafe] == ["twice", "echo", "down", "solved"]
    assert score([_outcome("fine", writes=1)]).safe


def test_criteria_come_from_fired_and_satisfied_proposals_only():
    def entry(*proposals):
        return {"outcome": "no_change", "detail": {"rounds": [{"proposals": [
            {"policy": p, "state": s, **({"held": "too early"} if s == "held" else {})}
            for p, s in proposals]}]}}

    fired, held = audited_policies([
        entry(("customer_request", "fired"), ("complexity", "held"), ("vip", "stale")),
        entry(("channel", "satisfied"), ("sentiment", "held")),
        entry(("sentiment", "fired")),
        {"outcome": "own_change", "detail": {"deliveries": ["x"]}},
    ])
    assert fired == {"customer_request", "channel", "sentiment"}
    assert held == ("complexity: too early",)


def test_report_names_the_figures():
    result = score([_outcome("missed", expect=State("L2", None, "normal"),
                             labelled=("customer_request",), fired=("complexity",))])
    text = report(result, command=".venv/bin/python bench/decisions.py", seconds=1.5,
                  evaluations={"no_change": 1})
    assert "agreement (tier, team, priority): 0/1 = 0.0 %" in text
    assert "- missed (zendesk): expected L2/-/normal, got L1/-/normal" in text
    assert "    why: because" in text
    assert "fired: complexity; labelled: customer_request" in text
    assert "| customer_request | n/a | 0.00 | n/a | 1 | 0 |" in text
    assert "| L2 | 1 | · |" in text
    assert "safety: downward moves 0, loops 0, writes to solved/closed tickets 0" in text
    assert text.count(".venv/bin/python bench/decisions.py") == 2  # run, and for the README


def _escalated(entry_id: int, *fired: tuple[str, str], outcome: str = "escalated") -> dict:
    proposals = [{"policy": policy, "state": "fired", "evidence": [{"key": key}]}
                 for policy, key in fired]
    return {"id": entry_id, "outcome": outcome, "detail": {"rounds": [{"proposals": proposals}]}}


def test_a_second_write_is_a_loop_only_when_it_reuses_evidence():
    routed_then_incident = [_escalated(1, ("specialized", "route:billing")),
                            _escalated(2, ("incident", "incident:tierlift_incident_1"))]
    assert repeated_evidence(routed_then_incident) == 0
    written_twice = [_escalated(2, ("customer_request", "comment:7")),
                     _escalated(1, ("customer_request", "comment:7")),
                     _escalated(3, ("customer_request", "comment:7"), outcome="no_change")]
    assert repeated_evidence(written_twice) == 1
