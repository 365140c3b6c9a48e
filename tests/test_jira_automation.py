"""Jira Automation's "Send web request" into POST /webhooks/jira: unsigned bodies without
``webhookEvent``, accepted only with the ``webhook_token`` (tests/fixtures/jira-automation/ holds
the documented shapes, hand-built)."""

from __future__ import annotations

import hashlib
import json

import pytest
import responses
import sqlalchemy as sa
from conftest import FIXTURES, make_settings
from test_escalation_jira import (
    BOT,
    CUSTOMER,
    EDITMETA,
    ISSUE,
    MYSELF,
    NOTE,
    NOTE_URL,
    NOW,
    PUT_BODY,
    TIER_FIELD,
    URL,
    issue,
    sent,
)

from connector.http import ApiSession
from connector.jira import JiraConnector
from plugins.manager import PolicyHost
from webhook_app import create_app
from webhook_app.escalation import Escalator
from webhook_app.settings import JiraSettings
from webhook_app.signatures import JIRA_SIGNATURE, JIRA_TOKEN_HEADER, jira_signature
from webhook_app.store import Store, inbox
from webhook_app.worker import Worker

AUTOMATION = FIXTURES / "jira-automation"
TOKEN = "automation-token-7f3e"
SECRET = "jira-webhook-secret-5c2d"
TIERS = {"L1": "Tier 1", "L2": "Tier 2", "L3": "Tier 3"}


def jira_settings(**auth: str) -> JiraSettings:
    return JiraSettings(base_url=URL, email="bot@acme.example", api_token="tok",
                        tier_field=TIER_FIELD, tier_values=TIERS, **auth)


@pytest.fixture
def settings(tmp_path):
    """Signed admin webhooks and Automation's token, both configured."""
    return make_settings(tmp_path, zendesk=None,
                         jira=jira_settings(webhook_secret=SECRET, webhook_token=TOKEN))


class Clock:
    def __init__(self) -> None:
        self.now = NOW.timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(settings, clock):
    store = Store(settings.database_url, clock=clock)
    store.create_schema()
    yield store
    store.close()


@pytest.fixture
def client(settings, store):
    return create_app(settings, store=store).test_client()


def body_of(name: str) -> bytes:
    return (AUTOMATION / name).read_bytes()


def with_token(token: str = TOKEN) -> dict[str, str]:
    return {"Content-Type": "application/json", JIRA_TOKEN_HEADER: token}


def rows(store: Store) -> list[dict]:
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(
            sa.select(inbox.c.platform, inbox.c.dedupe_key, inbox.c.ticket_ref, inbox.c.kind,
                      inbox.c.actor, inbox.c.body_hash)).mappings()]


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


@pytest.mark.parametrize(("name", "kind", "actor"), [
    ("jira-format.json", "automation", None),
    ("automation-format.json", "automation", None),
    ("custom-data.json", "automation:issue_commented", CUSTOMER),
])
def test_each_documented_body_is_stored_once(client, store, name, kind, actor):
    body = body_of(name)
    key = f"automation:SUP-7:{digest(body)}"
    response = client.post("/webhooks/jira", data=body, headers=with_token())
    assert (response.status_code, response.json) == (
        202, {"status": "accepted", "delivery": key, "ticket": "SUP-7"})
    again = client.post("/webhooks/jira", data=body, headers=with_token())
    assert (again.status_code, again.json) == (200, {"status": "duplicate", "delivery": key})
    assert rows(store) == [{"platform": "jira", "dedupe_key": key, "ticket_ref": "SUP-7",
                            "kind": kind, "actor": actor, "body_hash": digest(body)}]


def test_an_issue_known_only_by_its_id_and_a_timestamp_in_milliseconds(client, store):
    body = json.dumps({"issue": {"id": 10007}, "timestamp": int(NOW.timestamp() * 1000)}).encode()
    assert client.post("/webhooks/jira", data=body, headers=with_token()).status_code == 202
    assert [(r["ticket_ref"], r["dedupe_key"]) for r in rows(store)] == [
        ("10007", f"automation:10007:{digest(body)}")]


@pytest.mark.parametrize("headers", [
    {"Content-Type": "application/json"},
    with_token("not-the-token"),
])
def test_without_the_token_it_is_refused(client, store, headers):
    response = client.post("/webhooks/jira", data=body_of("custom-data.json"), headers=headers)
    assert (response.status_code, response.json) == (401, {
        "error": f"missing or wrong token ({JIRA_TOKEN_HEADER} header or ?token=)"})
    assert rows(store) == []


def test_with_only_a_signing_secret_configured_it_is_refused(tmp_path, store):
    settings = make_settings(tmp_path, zendesk=None, jira=jira_settings(webhook_secret=SECRET))
    client = create_app(settings, store=store).test_client()
    response = client.post("/webhooks/jira", data=body_of("custom-data.json"),
                           headers=with_token())
    assert (response.status_code, response.json) == (
        401, {"error": f"missing {JIRA_SIGNATURE}"})
    assert rows(store) == []


def test_a_signed_delivery_is_never_read_as_an_automation_body(client, store):
    body = body_of("jira-format.json")
    response = client.post("/webhooks/jira", data=body, headers={
        **with_token(), JIRA_SIGNATURE: jira_signature(SECRET, body)})
    assert (response.status_code, response.json) == (
        400, {"error": 'no "webhookEvent": not a Jira webhook'})


@pytest.mark.parametrize(("minutes", "code"), [(4, 202), (-4, 202), (6, 401), (-6, 401)])
def test_a_timestamp_outside_the_freshness_window_is_refused(client, store, clock, minutes,
                                                              code):
    clock.now += minutes * 60
    response = client.post("/webhooks/jira", data=body_of("custom-data.json"),
                           headers=with_token())
    assert response.status_code == code
    if code == 401:
        assert "is refused as a replay" in response.json["error"]
        assert rows(store) == []


TIMESTAMP_ERROR = ('"timestamp" is neither milliseconds nor a date and time with a UTC offset '
                   '(use "{{now}}")')
TRIGGER_ERROR = ('"automation" names the rule\'s trigger in up to 64 letters, digits and '
                 '_ . : - (e.g. "issue_commented")')


@pytest.mark.parametrize(("data", "error"), [
    ({}, 'no "webhookEvent", "issue" or issue "key"/"id": neither a Jira webhook nor a Jira '
         "Automation issue body"),
    ({"fields": {"summary": "x"}}, 'no "webhookEvent", "issue" or issue "key"/"id": neither a '
                                   "Jira webhook nor a Jira Automation issue body"),
    ({"issue": "SUP-7"}, '"issue" is not an object'),
    ({"issue": {"key": "", "id": ""}}, "issue id '' / key '' unusable"),
    ({"issue": {"key": "sup-7"}}, "issue id None / key 'sup-7' unusable"),
    ({"key": "SUP-7", "id": "12a"}, "issue id '12a' / key 'SUP-7' unusable"),
    ({"issue": {"key": "SUP-" + "7" * 70}}, "ticket ref longer than 64 characters"),
    ({"issue": {"key": "SUP-7"}, "timestamp": "yesterday"}, TIMESTAMP_ERROR),
    ({"issue": {"key": "SUP-7"}, "timestamp": "2026-11-20T10:00:00"}, TIMESTAMP_ERROR),
    ({"issue": {"key": "SUP-7"}, "timestamp": ""}, TIMESTAMP_ERROR),
    ({"issue": {"key": "SUP-7"}, "timestamp": True}, TIMESTAMP_ERROR),
    ({"issue": {"key": "SUP-7"}, "timestamp": 2**60},
     '"timestamp" is out of range for a time in milliseconds'),
    ({"issue": {"key": "SUP-7"}, "automation": "issue commented"}, TRIGGER_ERROR),
    ({"issue": {"key": "SUP-7"}, "automation": 5}, TRIGGER_ERROR),
    ({"issue": {"key": "SUP-7"}, "user": {"accountId": "a\u0000b"}},
     "actor holds a NUL or an unpaired surrogate (a JSON escape like \\u0000 or \\ud800), which "
     "no database stores"),
])
def test_malformed_bodies_are_refused_with_the_reason(client, store, data, error):
    response = client.post("/webhooks/jira", data=json.dumps(data), headers=with_token())
    assert (response.status_code, response.json) == (400, {"error": error})
    assert rows(store) == []


def test_the_worker_escalates_from_an_automation_delivery(settings, store, client):
    """Received over HTTP like any delivery, then the same read, note and PUT as a webhook's."""
    assert client.post("/webhooks/jira", data=body_of("custom-data.json"),
                       headers=with_token()).status_code == 202
    connector = JiraConnector(ApiSession(URL, ("bot@acme.example", "tok"), sleep=lambda s: None),
                              cloud=True, tier_field=TIER_FIELD, tier_values=TIERS,
                              ladder=settings.ladder, priorities=settings.jira.priorities)
    policies = PolicyHost(load_entry_points=False).configure(
        {"customer_request": {"enabled": True}})
    worker = Worker(store, Escalator(store, {"jira": connector}, policies, settings.ladder,
                                     now=lambda: NOW), settings.worker)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as jira:
        jira.get(MYSELF, json={"accountId": BOT, "accountType": "atlassian"})
        jira.get(EDITMETA, json={"fields": {TIER_FIELD: {
            "operations": ["set"], "allowedValues": [{"id": str(n), "value": f"Tier {n}"}
                                                     for n in (1, 2, 3)]}}})
        jira.get(ISSUE, json=issue())
        jira.post(NOTE_URL, status=201, json={"id": "20002", "public": False})
        jira.put(ISSUE, status=204)
        worker.run_once()
        assert sent(jira) == [("POST", NOTE_URL, {"body": NOTE, "public": False}),
                              ("PUT", ISSUE, PUT_BODY)]
    [entry] = store.audit_log()
    assert (entry["platform"], entry["ticket_ref"], entry["outcome"], entry["to_tier"]) == \
        ("jira", "SUP-7", "escalated", "L2")
