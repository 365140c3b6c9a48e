"""The helpdesk's own SLA deadlines (Zendesk SLA policies, JSM SLAs), read and acted on."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import responses
from builders import LADDER, T0, comment, ticket
from conftest import TIER_GROUPS, ZENDESK_URL

from connector.http import ApiSession
from connector.jira import JiraConnector
from connector.ticket import PlatformDeadline, Priority
from connector.zendesk import ZendeskConnector
from plugins import sla
from plugins.manager import PolicyHost
from plugins.proposal import PolicyContext

JIRA = "https://acme.atlassian.net"


def test_zendesk_reads_active_and_paused_sla_targets_with_the_ticket():
    connector = ZendeskConnector(ApiSession(ZENDESK_URL, ("bot/token", "t")), TIER_GROUPS,
                                 LADDER)
    body = {"ticket": {"id": 5, "status": "open", "created_at": "2026-11-20T09:00:00Z",
                       "updated_at": "2026-11-20T09:10:00Z", "group_id": 101, "slas": {
                           "policy_metrics": [
                               {"breach_at": "2026-11-20T10:00:00Z", "stage": "active",
                                "metric": "first_reply_time", "hours": 1},
                               {"breach_at": None, "stage": "paused",
                                "metric": "requester_wait_time", "minutes": 480},
                               {"breach_at": "2026-11-20T09:30:00Z", "stage": "achieved",
                                "metric": "next_reply_time", "minutes": 30}]}}}
    with responses.RequestsMock() as mock:
        mock.get(f"{ZENDESK_URL}/api/v2/tickets/5.json", json=body,
                 match=[responses.matchers.query_param_matcher({"include": "slas"})])
        t = connector.fetch("5", needs=frozenset({"platform_sla"}))
    assert t.platform_deadlines == (
        PlatformDeadline("first_reply_time", datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
                         goal_seconds=3600),
        PlatformDeadline("requester_wait_time", None, goal_seconds=480 * 60),
    )


def test_jsm_slas_are_read_from_the_request_sla_endpoint():
    connector = JiraConnector(ApiSession(JIRA, ("bot@acme.example", "t")), cloud=True,
                              tier_field="customfield_1",
                              tier_values={"L1": "T1", "L2": "T2", "L3": "T3"}, ladder=LADDER,
                              priorities={})
    issue = {"id": "1", "key": "SUP-1", "fields": {
        "created": "2026-11-20T09:00:00.000+0000", "updated": "2026-11-20T09:00:00.000+0000",
        "project": {"key": "SUP", "projectTypeKey": "service_desk"},
        "comment": {"comments": [], "total": 0}}}
    slas = {"values": [
        {"name": "Time to first response", "ongoingCycle": {
            "breachTime": {"iso8601": "2026-11-20T13:00:00+0400"}, "breached": False,
            "paused": False, "goalDuration": {"millis": 14400000}}},
        {"name": "Time to resolution", "ongoingCycle": {
            "breachTime": {"iso8601": "2026-11-21T09:00:00+0000"}, "breached": False,
            "paused": True, "goalDuration": {"millis": 86400000}}},
        {"name": "Time to close", "completedCycles": [{"breached": False}]}]}
    with responses.RequestsMock() as mock:
        mock.get(f"{JIRA}/rest/api/3/myself", json={"accountId": "bot"})
        mock.get(f"{JIRA}/rest/api/3/issue/SUP-1", json=issue)
        mock.get(f"{JIRA}/rest/servicedeskapi/request/SUP-1/sla", json=slas)
        t = connector.fetch("SUP-1", needs=frozenset({"platform_sla"}))
    assert t.platform_deadlines == (
        PlatformDeadline("Time to first response", datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
                         goal_seconds=14400),
        PlatformDeadline("Time to resolution", None, goal_seconds=86400),
    )


def evaluate(deadlines, now, **options):
    t = replace(ticket(comment(1, "Help")), platform_deadlines=tuple(deadlines),
                priority=Priority.NORMAL)
    ctx = PolicyContext(policy="sla", options=sla.Options(source="helpdesk", **options),
                        now=now, tiers=LADDER)
    return sla.tierlift_evaluate(ticket=t, ctx=ctx), ctx


DUE = T0 + timedelta(hours=4)
FIRST = PlatformDeadline("first_reply_time", DUE, goal_seconds=4 * 3600)


def test_helpdesk_deadlines_wake_then_warn_then_escalate():
    proposals, ctx = evaluate([FIRST], T0 + timedelta(hours=1))
    assert proposals == [] and ctx.wakes == [T0 + timedelta(hours=3)]  # 75 % of 4 h
    [at_risk], ctx = evaluate([FIRST], T0 + timedelta(hours=3, minutes=30))
    assert (at_risk.priority, at_risk.add_tags, at_risk.steps_up) == \
        (Priority.HIGH, ("tierlift_sla_at_risk",), 0)
    assert ctx.wakes == [DUE]
    [breach], _ = evaluate([FIRST], DUE + timedelta(minutes=1))
    assert breach.steps_up == 1 and breach.evidence[0].at == DUE
    assert breach.evidence[0].key == "helpdesk:first_reply_time:2026-11-20T13:00:00+00:00:breached"


def test_paused_and_breached_helpdesk_slas():
    proposals, ctx = evaluate([PlatformDeadline("requester_wait_time", None)], DUE)
    assert proposals == [] and ctx.wakes == []
    flagged = PlatformDeadline("Time to resolution", None, breached=True)
    [breach], _ = evaluate([flagged], T0)
    assert breach.steps_up == 1


def test_the_helpdesk_sla_read_happens_only_when_configured():
    host = PolicyHost(load_entry_points=False)
    own = host.configure({"sla": {"enabled": True, "first_reply_minutes": {"normal": 60}}})
    assert "platform_sla" not in own.needs
    helpdesk = host.configure({"sla": {"enabled": True, "source": "helpdesk"}})
    assert "platform_sla" in helpdesk.needs
