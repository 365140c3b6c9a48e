"""Black box: ``tierlift serve`` with only ``[jira]``, against the loopback Jira emulator."""

from __future__ import annotations

import json
import time

import pytest
import requests
from emulated import Tierlift, served, wait_for, write_jira_config

from webhook_app.emulator.jira import JiraEmulator
from webhook_app.signatures import jira_signature

SECRET = "jira-webhook-secret"
TOKEN = "a-long-random-data-center-token"
CUSTOMER, AGENT = "557058:customer-maya", "557058:agent-chen"


@pytest.fixture(params=["cloud", "datacenter"])
def jira(request):
    emulator = JiraEmulator(cloud=request.param == "cloud")
    emulator.user(CUSTOMER, "Maya Lind", customer=True)
    emulator.user(AGENT, "Chen")
    with served(emulator):
        yield emulator


@pytest.fixture
def tierlift(tmp_path, jira):
    # Cloud signs its webhooks; this Data Center authenticates them with a token instead.
    secret, token = (SECRET, None) if jira.cloud else (None, TOKEN)
    config = write_jira_config(tmp_path / "tierlift.toml", jira, tmp_path / "tierlift.db",
                               secret=secret, token=token)
    instance = Tierlift(tmp_path, config).start()
    yield instance
    instance.stop()


def asking_issue(jira: JiraEmulator) -> str:
    key = jira.create_issue("Invoices export fails", "Export gives error 500.", CUSTOMER,
                            tier="Tier 1", notify=False)
    jira.customer_comment(key, "Nothing works. I want to speak to a manager.", notify=False)
    return key


def comment_created(jira: JiraEmulator, key: str) -> bytes:
    issue = jira.issues[key]
    comment = {"id": "90001", "body": "Nothing works. I want to speak to a manager.",
               "author": {"accountId": CUSTOMER, "accountType": "customer"},
               "updateAuthor": {"accountId": CUSTOMER, "accountType": "customer"},
               "created": "2026-11-22T10:00:00.000+0000", "jsdPublic": True}
    return json.dumps({"timestamp": int(time.time() * 1000), "webhookEvent": "comment_created",
                       "comment": comment,
                       "issue": {"id": issue.id, "key": key,
                                 "fields": {"summary": issue.summary}}}).encode()


def deliver(tl: Tierlift, jira: JiraEmulator, body: bytes, identifier: str, *,
            forge: bool = False, unsigned: bool = False) -> requests.Response:
    headers = {"Content-Type": "application/json", "X-Atlassian-Webhook-Identifier": identifier}
    url = f"{tl.url}/webhooks/jira"
    if not unsigned and jira.cloud:
        headers["X-Hub-Signature"] = jira_signature("forged" if forge else SECRET, body)
    elif not unsigned:
        url += f"?token={'forged' if forge else TOKEN}"
    return requests.post(url, data=body, headers=headers, timeout=5)


def test_a_customer_asking_for_a_manager_moves_the_issue_to_tier_2_once(jira, tierlift):
    key = asking_issue(jira)
    jira.send_webhooks_to(f"{tierlift.url}/webhooks/jira", secret=SECRET if jira.cloud else None,
                          token=None if jira.cloud else TOKEN)  # our own writes come back
    body = comment_created(jira, key)
    started = time.monotonic()
    assert deliver(tierlift, jira, body, "wh-1").status_code == 202
    assert time.monotonic() - started < 1.0
    assert deliver(tierlift, jira, body, "wh-1").status_code == 200  # a retry

    wait_for(lambda: jira.writes(key), what="the tier update")
    jira.sender.drain()
    wait_for(lambda: tierlift.pending() == 0, what="the echoes to be processed")
    [put] = jira.writes(key)
    assert put.body["fields"] == {jira.tier_field: {"value": "Tier 2"}}
    assert put.body["update"] == {"labels": [{"add": "tierlift_escalated"},
                                             {"add": "tierlift_customer_request"}]}
    [note] = jira.comments_posted(key)
    assert note.path == f"/rest/servicedeskapi/request/{key}/comment"
    assert note.body["public"] is False
    assert "customer_request" in note.body["body"]
    assert jira.issues[key].tier == "Tier 2"
    outcomes = [e["outcome"] for e in tierlift.audit()]
    assert outcomes[0] == "escalated" and set(outcomes[1:]) == {"own_change"}


def test_forged_and_unsigned_deliveries_get_401_and_cause_no_api_call(jira, tierlift):
    key = asking_issue(jira)
    wait_for(lambda: jira.requests, what="the worker to identify its API user")
    before = list(jira.requests)
    body = comment_created(jira, key)
    assert deliver(tierlift, jira, body, "wh-forged", forge=True).status_code == 401
    assert deliver(tierlift, jira, body, "wh-unsigned", unsigned=True).status_code == 401
    time.sleep(1.0)  # longer than the coalescing window
    assert jira.requests == before
    assert [r.path.rsplit("/", 1)[-1] for r in before] == ["myself"]


def test_the_sweep_finds_an_issue_whose_webhook_never_arrived(jira, tmp_path):
    key = asking_issue(jira)  # created and commented without any webhook
    secret, token = (SECRET, None) if jira.cloud else (None, TOKEN)
    config = write_jira_config(tmp_path / "tierlift.toml", jira, tmp_path / "tierlift.db",
                               secret=secret, token=token, sweep_minutes=10)
    tl = Tierlift(tmp_path, config).start()  # sweeps on start
    try:
        wait_for(lambda: jira.writes(key), what="the sweep to find the issue")
        [put] = jira.writes(key)
        assert put.body["fields"] == {jira.tier_field: {"value": "Tier 2"}}
        search = "/search/jql" if jira.cloud else "/rest/api/2/search"
        assert any(r.path.endswith(search) for r in jira.requests)
    finally:
        tl.stop()
