"""Helpdesk requests per evaluation (issue 12, item 2): the exact requests a new ticket, the
echo of our own write and the re-evaluation of an unchanged ticket cost, on both connectors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import responses
from builders import zendesk_audits, zendesk_ticket
from conftest import TIER_GROUPS, ZENDESK_URL, make_settings

from connector.http import ApiSession
from connector.jira import JiraConnector
from connector.zendesk import ZendeskConnector
from plugins.manager import PolicyHost
from webhook_app.escalation import Escalator
from webhook_app.settings import JiraSettings
from webhook_app.store import Delivery, Store
from webhook_app.worker import Worker

TICKET = f"{ZENDESK_URL}/api/v2/tickets/42.json"
AUDITS = f"{ZENDESK_URL}/api/v2/tickets/42/audits.json"
BOT = 900
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ASK = (11, 1, "Honestly, I want to speak to a manager.", True, "2026-11-20T09:05:00Z")
THANKS = (11, 1, "The printer works again, thanks.", True, "2026-11-20T09:05:00Z")
CREATED = ("2026-11-20T09:00:00Z", 101)

JIRA = "https://acme.atlassian.net"
ISSUE = f"{JIRA}/rest/api/3/issue/SUP-7"
NOTE_URL = f"{JIRA}/rest/servicedeskapi/request/SUP-7/comment"
TIER_FIELD = "customfield_10050"
CUSTOMER = "customer-account"
JIRA_BOT = "bot-account"


def policies():
    return PolicyHost(load_entry_points=False).configure({"customer_request": {"enabled": True}})


def requests_sent(mock, since: int = 0) -> list[tuple[str, str]]:
    return [(c.request.method, c.request.url.split("?")[0]) for c in mock.calls[since:]]


def deadline(platform: str, ref: str) -> Delivery:
    """What the scheduler enqueues when a ticket's deadline is due (see Store.fire_due)."""
    return Delivery(platform, f"deadline:{ref}:1000.000", ref, "deadline", "{}")


@pytest.fixture
def zd():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{ZENDESK_URL}/api/v2/users/me.json", json={"user": {"id": BOT}})
        yield mock


@pytest.fixture
def zendesk_worker(store, settings, zd) -> Worker:
    connector = ZendeskConnector(ApiSession(ZENDESK_URL, ("bot", "token"), sleep=lambda s: None),
                                 TIER_GROUPS, settings.ladder)
    escalator = Escalator(store, {"zendesk": connector}, policies(), settings.ladder,
                          now=lambda: NOW)
    escalator.warm_up()  # as the service does at start: whoami is asked once
    return Worker(store, escalator, settings.worker)


def test_zendesk_new_ticket_costs_two_reads_and_one_write(store, zendesk_worker, zd):
    zd.get(TICKET, json=zendesk_ticket())
    zd.get(AUDITS, json=zendesk_audits(CREATED, comments=(ASK,)))
    zd.put(TICKET, json=zendesk_ticket(group_id=102, updated_at="2026-11-20T12:00:01Z"))
    warm = len(zd.calls)
    assert store.receive(Delivery("zendesk", "event:ask", "42", "ticket.comment_added", "{}",
                                  "1"))
    zendesk_worker.run_once()
    assert store.audit_log()[-1]["outcome"] == "escalated"
    assert requests_sent(zd, warm) == [("GET", TICKET), ("GET", AUDITS), ("PUT", TICKET)]


def test_zendesk_echo_of_our_write_costs_no_request(store, zendesk_worker, zd):
    warm = len(zd.calls)
    assert store.receive(Delivery("zendesk", "event:echo", "42", "ticket.group_changed", "{}",
                                  str(BOT)))
    zendesk_worker.run_once()
    assert store.audit_log()[-1]["outcome"] == "own_change"
    assert requests_sent(zd, warm) == []


def test_zendesk_unchanged_ticket_costs_the_ticket_read_alone_and_decides_the_same(
        store, zendesk_worker, zd):
    zd.get(TICKET, json=zendesk_ticket())
    zd.get(AUDITS, json=zendesk_audits(CREATED, comments=(THANKS,)))
    assert store.receive(Delivery("zendesk", "event:thanks", "42", "ticket.comment_added", "{}",
                                  "1"))
    zendesk_worker.run_once()

    warm = len(zd.calls)
    assert store.receive(deadline("zendesk", "42"))
    zendesk_worker.run_once()
    assert requests_sent(zd, warm) == [("GET", TICKET)]

    # A delivery from the helpdesk reads everything afresh, and sees what the cache gave.
    warm = len(zd.calls)
    assert store.receive(Delivery("zendesk", "event:look", "42", "ticket.tags_changed", "{}",
                                  "501"))
    zendesk_worker.run_once()
    assert requests_sent(zd, warm) == [("GET", TICKET), ("GET", AUDITS)]
    first, cached, fresh = store.audit_log()
    assert cached["outcome"] == fresh["outcome"] == first["outcome"] == "no_change"
    assert cached["detail"]["rounds"] == fresh["detail"]["rounds"] == first["detail"]["rounds"]


def test_zendesk_a_new_version_is_read_in_full(store, zendesk_worker, zd):
    zd.get(TICKET, json=zendesk_ticket())
    zd.get(AUDITS, json=zendesk_audits(CREATED, comments=(THANKS,)))
    assert store.receive(Delivery("zendesk", "event:thanks", "42", "ticket.comment_added", "{}",
                                  "1"))
    zendesk_worker.run_once()
    zd.replace(responses.GET, TICKET, json=zendesk_ticket(updated_at="2026-11-20T11:00:00Z"))
    warm = len(zd.calls)
    assert store.receive(deadline("zendesk", "42"))
    zendesk_worker.run_once()
    assert requests_sent(zd, warm) == [("GET", TICKET), ("GET", AUDITS)]


def test_zendesk_a_version_read_within_its_second_is_not_kept(settings, zd):
    """A change in the same second as the read would not change ``updated_at``."""
    connector = ZendeskConnector(ApiSession(ZENDESK_URL, ("bot", "token")), TIER_GROUPS,
                                 settings.ladder)
    zd.get(TICKET, json=zendesk_ticket(), headers={"Date": "Fri, 20 Nov 2026 10:00:01 -0000"})
    zd.get(AUDITS, json=zendesk_audits(CREATED, comments=(THANKS,)))
    first = connector.fetch("42", reuse=True)
    again = connector.fetch("42", reuse=True)
    assert first == again
    assert [url for _, url in requests_sent(zd)].count(AUDITS) == 2

    zd.replace(responses.GET, TICKET, json=zendesk_ticket(),
               headers={"Date": "Fri, 20 Nov 2026 10:00:02 GMT"})
    settled = connector.fetch("42")  # read in full, and kept
    calls = len(zd.calls)
    assert connector.fetch("42", reuse=True) == settled == first
    assert requests_sent(zd, calls) == [("GET", TICKET)]


def jira_issue(*, tier: str = "Tier 1", body: str = "I want to speak to a manager.",
               updated: str = "2026-11-20T10:00:00.000+0000") -> dict:
    adf = {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": body}]}]}
    comment = {"id": "20001", "author": {"accountId": CUSTOMER}, "body": adf,
               "jsdPublic": True, "created": "2026-11-20T09:30:00.000+0000"}
    return {
        "id": "10007", "key": "SUP-7",
        "fields": {
            "summary": "Cannot export invoices", "status": {"name": "Waiting for support"},
            "priority": {"name": "Medium"}, "labels": [], "reporter": {"accountId": CUSTOMER},
            "assignee": None, "created": "2026-11-20T09:00:00.000+0000", "updated": updated,
            "project": {"key": "SUP", "projectTypeKey": "service_desk"},
            TIER_FIELD: {"value": tier},
            "comment": {"comments": [comment], "total": 1, "startAt": 0, "maxResults": 50},
        },
        "changelog": {"histories": [], "total": 0, "startAt": 0, "maxResults": 100},
    }


@pytest.fixture
def jira_settings(tmp_path):
    return make_settings(tmp_path, zendesk=None, jira=JiraSettings(
        base_url=JIRA, email="bot@acme.example", api_token="tok", webhook_secret="s",
        tier_field=TIER_FIELD, tier_values={"L1": "Tier 1", "L2": "Tier 2", "L3": "Tier 3"}))


@pytest.fixture
def jira_store(jira_settings) -> Store:
    store = Store(jira_settings.database_url)
    store.create_schema()
    yield store
    store.close()


@pytest.fixture
def jira_worker(jira_store, jira_settings, jr) -> Worker:
    jira = jira_settings.jira
    connector = JiraConnector(ApiSession(JIRA, ("bot", "tok"), sleep=lambda s: None),
                              cloud=True, tier_field=TIER_FIELD, tier_values=jira.tier_values,
                              ladder=jira_settings.ladder, priorities=jira.priorities)
    escalator = Escalator(jira_store, {"jira": connector}, policies(), jira_settings.ladder,
                          now=lambda: NOW)
    escalator.warm_up()
    return Worker(jira_store, escalator, jira_settings.worker)


@pytest.fixture
def jr():
    with responses.RequestsMock() as mock:
        mock.get(f"{JIRA}/rest/api/3/myself", json={"accountId": JIRA_BOT})
        yield mock


def test_jira_new_issue_costs_one_read_and_the_write(jira_store, jira_worker, jr):
    jr.get(ISSUE, json=jira_issue())
    jr.get(f"{ISSUE}/editmeta", json={"fields": {TIER_FIELD: {
        "allowedValues": [{"value": "Tier 1"}, {"value": "Tier 2"}, {"value": "Tier 3"}]}}})
    jr.post(NOTE_URL, json={"id": "20002"}, status=201)
    jr.put(ISSUE, status=204)
    warm = len(jr.calls)
    assert jira_store.receive(Delivery("jira", "webhook:ask", "SUP-7", "comment_created", "{}",
                                       CUSTOMER))
    jira_worker.run_once()
    assert jira_store.audit_log()[-1]["outcome"] == "escalated"
    # the edit-metadata GET is the write's own check that Jira accepts the tier option
    assert requests_sent(jr, warm) == [("GET", ISSUE), ("GET", f"{ISSUE}/editmeta"),
                                       ("POST", NOTE_URL), ("PUT", ISSUE)]


def test_jira_echo_of_our_write_costs_no_request(jira_store, jira_worker, jr):
    warm = len(jr.calls)
    assert jira_store.receive(Delivery("jira", "webhook:echo", "SUP-7", "issue_updated", "{}",
                                       JIRA_BOT))
    jira_worker.run_once()
    assert jira_store.audit_log()[-1]["outcome"] == "own_change"
    assert requests_sent(jr, warm) == []


def test_jira_unchanged_issue_costs_one_read(jira_store, jira_worker, jr):
    jr.get(ISSUE, json=jira_issue(body="Thanks, it works now."))
    assert jira_store.receive(Delivery("jira", "webhook:thanks", "SUP-7", "comment_created",
                                       "{}", CUSTOMER))
    jira_worker.run_once()
    warm = len(jr.calls)
    assert jira_store.receive(deadline("jira", "SUP-7"))
    jira_worker.run_once()
    assert requests_sent(jr, warm) == [("GET", ISSUE)]
    first, again = jira_store.audit_log()
    assert first["detail"]["rounds"] == again["detail"]["rounds"]
