"""The worker path on a Jira Service Management issue: the same policy, Jira's write-back."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest
import requests
import responses
from conftest import FIXTURES, make_settings

from connector.http import ApiSession
from connector.jira import JiraConnector
from plugins.manager import PolicyHost
from webhook_app import create_app
from webhook_app.escalation import Escalator
from webhook_app.settings import JiraSettings
from webhook_app.signatures import jira_signature
from webhook_app.store import Delivery, Store
from webhook_app.worker import Worker

URL = "https://acme.atlassian.net"
ISSUE = f"{URL}/rest/api/3/issue/SUP-7"
MYSELF = f"{URL}/rest/api/3/myself"
NOTE_URL = f"{URL}/rest/servicedeskapi/request/SUP-7/comment"
EDITMETA = f"{ISSUE}/editmeta"
BOT = "bot-account"
CUSTOMER = "customer-account"
TIER_FIELD = "customfield_10050"
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def adf(text: str) -> dict:
    return {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": text}]}]}


def issue(*, tier: str | None = "Tier 1", updated: str = "2026-11-20T10:00:00.000+0000",
          comments: list[dict] | None = None) -> dict:
    comments = comments if comments is not None else [ask()]
    return {
        "id": "10007", "key": "SUP-7",
        "fields": {
            "summary": "Cannot export invoices", "status": {"name": "Waiting for support"},
            "priority": {"name": "Medium"}, "labels": ["billing"],
            "reporter": {"accountId": CUSTOMER, "accountType": "customer"},
            "assignee": None, "created": "2026-11-20T09:00:00.000+0000", "updated": updated,
            "project": {"key": "SUP", "projectTypeKey": "service_desk"},
            "description": adf("Export fails with error 500."),
            TIER_FIELD: {"value": tier} if tier else None,
            "comment": {"comments": comments, "total": len(comments), "startAt": 0,
                        "maxResults": 50},
        },
        "names": {TIER_FIELD: "Support Tier"},
        "changelog": {"histories": [], "total": 0, "startAt": 0, "maxResults": 100},
    }


def ask() -> dict:
    return {"id": "20001", "author": {"accountId": CUSTOMER, "accountType": "customer"},
            "body": adf("This is urgent, I want to speak to a manager."), "jsdPublic": True,
            "created": "2026-11-20T09:30:00.000+0000"}


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, zendesk=None, jira=JiraSettings(
        base_url=URL, email="bot@acme.example", api_token="tok", webhook_secret="s",
        tier_field=TIER_FIELD, tier_values={"L1": "Tier 1", "L2": "Tier 2", "L3": "Tier 3"}))


@pytest.fixture
def store(settings):
    store = Store(settings.database_url)
    store.create_schema()
    yield store
    store.close()


@pytest.fixture
def worker(store, settings):
    jira = settings.jira
    connector = JiraConnector(ApiSession(URL, ("bot@acme.example", "tok"), sleep=lambda s: None),
                              cloud=True, tier_field=TIER_FIELD, tier_values=jira.tier_values,
                              ladder=settings.ladder, priorities=jira.priorities)
    policies = PolicyHost(load_entry_points=False).configure(
        {"customer_request": {"enabled": True}})
    return Worker(store, Escalator(store, {"jira": connector}, policies, settings.ladder,
                                   now=lambda: NOW), settings.worker)


@pytest.fixture
def jira():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(MYSELF, json={"accountId": BOT, "accountType": "atlassian"})
        mock.get(EDITMETA, json={"fields": {TIER_FIELD: {
            "operations": ["set"], "allowedValues": [{"id": "1", "value": "Tier 1"},
                                                     {"id": "2", "value": "Tier 2"},
                                                     {"id": "3", "value": "Tier 3"}]}}})
        yield mock


def deliver(store: Store, key: str, actor: str = CUSTOMER) -> None:
    assert store.receive(Delivery("jira", key, "SUP-7", "comment_created", "{}", actor))


def sent(mock) -> list[tuple[str, str, dict | None]]:
    return [(c.request.method, c.request.url.split("?")[0],
             json.loads(c.request.body) if c.request.body else None)
            for c in mock.calls if c.request.method != "GET"]


NOTE = (
    "tierlift escalated this ticket from L1 to L2.\n\nWhy:\n"
    '- customer_request: The customer asked: "speak to a manager" (2026-11-20 09:30 UTC)\n'
    '    "This is urgent, I want to speak to a manager."\n\n'
    "Ticket facts:\n"
    "- Age: 1 h 0 min (created 2026-11-20 09:00 UTC); in L1 since 2026-11-20 09:00 UTC\n"
    "- Agent replies in L1: 0; reopens: 0\n"
    "- Language: English (detected)\n\n"
    "Suggested next steps:\n- customer_request: Reply personally as the next tier, acknowledge "
    "the request, and own the ticket from here.\n\n"
    "Evidence: customer_request/comment:20001"
)
PUT_BODY = {"fields": {TIER_FIELD: {"value": "Tier 2"}},
            "update": {"labels": [{"add": "tierlift_escalated"},
                                  {"add": "tierlift_customer_request"}]}}


def our_note() -> dict:
    return {"id": "20002", "author": {"accountId": BOT, "accountType": "atlassian"},
            "body": adf(NOTE), "jsdPublic": False, "created": "2026-11-20T10:00:01.000+0000"}


def test_a_jsm_customer_asking_for_a_manager_gets_one_internal_note_and_one_put(store, worker,
                                                                              jira):
    jira.get(ISSUE, json=issue())
    jira.post(NOTE_URL, status=201, json={"id": "20002", "public": False})
    jira.put(ISSUE, status=204)
    deliver(store, "webhook:a")
    deliver(store, "webhook:b")
    worker.run_once()
    assert sent(jira) == [("POST", NOTE_URL, {"body": NOTE, "public": False}),
                          ("PUT", ISSUE, PUT_BODY)]
    [entry] = store.audit_log()
    assert (entry["platform"], entry["outcome"], entry["from_tier"], entry["to_tier"]) == \
        ("jira", "escalated", "L1", "L2")
    assert [(r["method"], r["path"].rsplit("/", 1)[-1], r["status"])
            for r in entry["detail"]["rounds"][0]["write"]["requests"]] == [
        ("GET", "editmeta", 200), ("POST", "comment", 201), ("PUT", "SUP-7", 204)]


def escalated_issue() -> dict:
    """SUP-7 after our escalation: in Tier 2 since 10:00:01, with our note."""
    body = issue(tier="Tier 2", comments=[ask(), our_note()],
                 updated="2026-11-20T10:00:01.000+0000")
    body["changelog"]["histories"] = [{
        "id": "30001", "author": {"accountId": BOT}, "created": "2026-11-20T10:00:01.000+0000",
        "items": [{"field": "Support Tier", "fieldtype": "custom", "fieldId": TIER_FIELD,
                   "from": "1", "fromString": "Tier 1", "to": "2", "toString": "Tier 2"}]}]
    body["changelog"]["total"] = 1
    return body


def test_the_echo_of_our_write_and_a_later_look_write_nothing(store, worker, jira):
    jira.get(ISSUE, json=escalated_issue())
    deliver(store, "webhook:echo-update", actor=BOT)
    deliver(store, "webhook:echo-comment", actor=BOT)
    worker.run_once()
    assert [e["outcome"] for e in store.audit_log()] == ["own_change"]
    deliver(store, "webhook:agent-looked", actor="agent-account")
    worker.run_once()
    assert sent(jira) == []
    assert store.audit_log()[-1]["outcome"] == "no_change"


def test_an_interrupted_escalation_is_finished_without_a_second_note(store, worker, jira):
    # The note was posted, then the PUT timed out and did not land.
    jira.get(ISSUE, json=issue())
    jira.get(ISSUE, json=issue(comments=[ask(), our_note()],
                               updated="2026-11-20T10:00:01.000+0000"))
    jira.post(NOTE_URL, status=201, json={"id": "20002"})
    jira.put(ISSUE, body=requests.ReadTimeout("timed out"))
    jira.put(ISSUE, status=204)
    deliver(store, "webhook:a")
    worker.run_once()
    assert sent(jira) == [("POST", NOTE_URL, {"body": NOTE, "public": False}),
                          ("PUT", ISSUE, PUT_BODY), ("PUT", ISSUE, PUT_BODY)]
    assert store.audit_log()[0]["outcome"] == "escalated"


def test_an_issue_without_a_tier_is_in_the_default_tier(store, worker, jira):
    body = issue(tier=None)
    jira.get(ISSUE, json=body)
    jira.post(NOTE_URL, status=201, json={})
    jira.put(ISSUE, status=204)
    deliver(store, "webhook:a")
    worker.run_once()
    assert sent(jira)[-1] == ("PUT", ISSUE, PUT_BODY)


def test_a_rejected_tier_option_is_recorded(store, worker, jira):
    jira.get(ISSUE, json=issue())
    jira.post(NOTE_URL, status=201, json={})
    jira.put(ISSUE, status=400, json={"errorMessages": [], "errors": {
        TIER_FIELD: "Option value 'Tier 2' is not valid"}})
    deliver(store, "webhook:a")
    worker.run_once()
    [entry] = store.audit_log()
    assert entry["outcome"] == "rejected"
    assert "Option value 'Tier 2' is not valid" in entry["detail"]["error"]
    assert store.used_evidence("jira", "SUP-7") == set()


def test_the_issue_description_counts_as_the_customers_first_message(store, worker, jira):
    body = copy.deepcopy(issue(comments=[]))
    body["fields"]["description"] = adf("Please escalate this, production is down.")
    jira.get(ISSUE, json=body)
    jira.post(NOTE_URL, status=201, json={})
    jira.put(ISSUE, status=204)
    deliver(store, "issue:10007:1")
    worker.run_once()
    note = sent(jira)[0][2]["body"]
    assert "Evidence: customer_request/comment:description" in note


def test_a_minimal_delivery_makes_the_worker_fetch_the_issue(store, settings, worker, jira):
    """The recorded Cloud delivery that carries only the issue id and key."""
    body = (FIXTURES / "jira-webhooks" / "cloud-issue-updated-minimal.json").read_bytes()
    sent_at = json.loads(body)["timestamp"] / 1000
    receiver = Store(settings.database_url, clock=lambda: sent_at + 1)  # recorded in 2024
    client = create_app(settings, store=receiver).test_client()
    response = client.post("/webhooks/jira", data=body, headers={
        "Content-Type": "application/json", "X-Hub-Signature": jira_signature("s", body)})
    assert response.status_code == 202
    minimal = f"{URL}/rest/api/3/issue/JIRATEST1-14"
    jira.get(minimal, status=404, json={"errorMessages": ["Issue does not exist"]})
    worker.run_once()
    assert [c.request.url.split("?")[0] for c in jira.calls if "JIRATEST1-14" in
            c.request.url] == [minimal]
    [entry] = store.audit_log()
    assert (entry["ticket_ref"], entry["outcome"]) == ("JIRATEST1-14", "not_found")


def test_an_answer_about_another_issue_is_refused_audited_and_counted(store, worker, jira):
    jira.get(ISSUE, json={**issue(), "key": "SUP-8", "id": "10008"})
    deliver(store, "webhook:a")
    worker.run_once()
    assert [(c.request.method, c.request.url.split("?")[0]) for c in jira.calls] == [
        ("GET", MYSELF), ("GET", ISSUE)]
    [entry] = store.audit_log()
    assert {k: v for k, v in entry.items() if k not in ("id", "at", "duration_ms")} == {
        "platform": "jira", "ticket_ref": "SUP-7", "outcome": "rejected", "from_tier": None,
        "to_tier": None, "route": None, "priority": None,
        "detail": {"deliveries": ["webhook:a"], "rounds": [], "error": (
            "issue SUP-7: the helpdesk answered for issue SUP-8 (id 10008) when SUP-7 was "
            "asked; nothing written")}}
    assert worker.escalator.metrics.registry.get_sample_value(
        "tierlift_misdirected_answers_total", {"platform": "jira"}) == 1


def test_a_put_applied_but_unanswered_is_audited_as_the_escalation_it_was(store, worker, jira):
    jira.get(ISSUE, json=issue())
    jira.get(ISSUE, json=escalated_issue())
    jira.post(NOTE_URL, status=201, json={"id": "20002"})
    jira.put(ISSUE, body=requests.ConnectionError("connection reset by peer"))
    deliver(store, "webhook:a")
    worker.run_once()
    assert sent(jira) == [("POST", NOTE_URL, {"body": NOTE, "public": False}),
                          ("PUT", ISSUE, PUT_BODY)]
    [entry] = store.audit_log()
    assert (entry["outcome"], entry["from_tier"], entry["to_tier"]) == ("escalated", "L1", "L2")
    assert entry["detail"]["confirmed_on_reread"] == {
        "audit_id": None, "policies": ["customer_request"],
        "error": "PUT /rest/api/3/issue/SUP-7: connection reset by peer"}
    assert store.used_evidence("jira", "SUP-7") == {("customer_request", "comment:20001")}
