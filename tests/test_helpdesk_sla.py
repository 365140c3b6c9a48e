"""The sla policy driven by the helpdesk's own SLA, as the emulators serve it: Zendesk's
``include=slas`` and JSM's Get SLA information (paged), read by the connectors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from builders import LADDER
from emulated import jira_connector, served

from connector.http import ApiSession
from connector.ticket import PlatformDeadline, Priority
from connector.zendesk import ZendeskConnector
from plugins import sla
from plugins.proposal import PolicyContext
from webhook_app.emulator.jira import JiraEmulator
from webhook_app.emulator.zendesk import ZendeskEmulator

NEEDS = frozenset({"platform_sla"})


def evaluate(ticket, now: datetime):
    ctx = PolicyContext(policy="sla", options=sla.Options(source="helpdesk"), now=now,
                        tiers=LADDER)
    return sla.tierlift_evaluate(ticket=ticket, ctx=ctx), ctx


@pytest.fixture
def zendesk():
    emulator = ZendeskEmulator()
    with served(emulator):
        yield emulator


@pytest.fixture(params=["cloud", "dc"])
def jira(request):
    emulator = JiraEmulator(cloud=request.param == "cloud")
    emulator.sla_page = 1
    with served(emulator):
        yield emulator


def test_zendesk_sla_targets_drive_the_policy(zendesk):
    now = datetime.now(UTC).replace(microsecond=0)
    zendesk.user(501, "Cy")
    ticket = zendesk.create_ticket(subject="s", description="d", requester_id=501,
                                   group_id=None, at=now - timedelta(hours=2), notify=False)
    zendesk.sla_metric(ticket, "first_reply_time", breach_at=now - timedelta(minutes=5),
                       minutes=60)
    zendesk.sla_metric(ticket, "requester_wait_time", breach_at=None, stage="paused",
                       minutes=2880)
    zendesk.sla_metric(ticket, "next_reply_time", breach_at=now, stage="achieved", minutes=30)
    api = ApiSession(zendesk.url, (f"{zendesk.email}/token", zendesk.api_token))
    read = ZendeskConnector(api, {"L1": 101, "L2": 102}, LADDER).fetch(str(ticket),
                                                                       needs=NEEDS)
    assert read.platform_deadlines == (
        PlatformDeadline("first_reply_time", now - timedelta(minutes=5), goal_seconds=3600),
        PlatformDeadline("requester_wait_time", None, goal_seconds=2 * 86400))
    [breach], _ = evaluate(read, now)
    assert breach.steps_up == 1
    assert [r.path for r in zendesk.requests] == [f"/api/v2/tickets/{ticket}.json"]
    plain = api.get(f"/api/v2/tickets/{ticket}.json").json()["ticket"]
    assert "slas" not in plain  # side-loaded only when asked for


def test_jsm_slas_are_read_through_every_page_and_drive_the_policy(jira):
    now = datetime.now(UTC).replace(microsecond=0)
    jira.user("qm:c", "Cy", customer=True)
    key = jira.create_issue("s", "d", "qm:c", at=now - timedelta(hours=3), notify=False)
    jira.sla(key, "Time to first response", goal_minutes=240, started=now - timedelta(hours=3))
    jira.sla(key, "Time to resolution", goal_minutes=1440, started=now - timedelta(hours=3),
             paused=True)
    connector, urls = jira_connector(jira)
    read = connector.fetch(key, needs=NEEDS)
    due = now + timedelta(hours=1)
    assert read.platform_deadlines == (
        PlatformDeadline("Time to first response", due, goal_seconds=4 * 3600),
        PlatformDeadline("Time to resolution", None, goal_seconds=86400))
    assert [dict(parse_qsl(urlsplit(u).query)) for u in urls if u.split("?")[0].endswith(
        f"/request/{key}/sla")] == [{"start": "0", "limit": "50"}, {"start": "1", "limit": "50"}]
    [at_risk], ctx = evaluate(read, now)  # 3 of 4 hours used: at risk at 75 %
    assert (at_risk.steps_up, at_risk.priority) == (0, Priority.HIGH)
    assert ctx.wakes == [due]
