"""The loopback Jira emulator over real HTTP: each flavour's auth and body format, edits and their
changelog, internal comments, transitions, rate limit, faults and signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests
from flask import Flask, request

from webhook_app.emulator.jira import BOT_ACCOUNT_ID, BOT_NAME, JiraEmulator
from webhook_app.emulator.server import LoopbackServer

TIER = "customfield_10050"
ANA, MAYA = "ana", "maya"
SECRET = "It's a Secret to Everybody"
NOT_FOUND = {"errorMessages": ["Issue does not exist or you do not have permission to see it."],
             "errors": {}}


@dataclass
class Site:
    """A served emulator with an agent and a customer, and a session logged in as the bot."""

    jira: JiraEmulator
    url: str
    http: requests.Session

    @property
    def version(self) -> str:
        return "3" if self.jira.cloud else "2"

    @property
    def api(self) -> str:
        return f"{self.url}/rest/api/{self.version}"

    def issue(self, key: str, **params: str) -> dict:
        response = self.http.get(f"{self.api}/issue/{key}", params=params)
        assert response.status_code == 200
        return response.json()


@pytest.fixture(scope="module")
def servers() -> Iterator[list[LoopbackServer]]:
    """Loopback servers to stop at the end, all at once: each stop waits out a 0.5 s poll."""
    started: list[LoopbackServer] = []
    yield started
    with ThreadPoolExecutor() as pool:
        list(pool.map(LoopbackServer.stop, started))


@pytest.fixture
def serve(servers) -> Iterator[Callable[..., Site]]:
    """Start an emulator (``JiraEmulator`` options) with an agent and a customer."""
    sites: list[Site] = []

    def start(**options) -> Site:
        jira = JiraEmulator(**options)
        jira.user(ANA, "Ana")
        jira.user(MAYA, "Maya Lind", customer=True)
        server = jira.serve()
        servers.append(server)
        http = requests.Session()
        if jira.cloud:
            http.auth = ("bot@acme.example", "emulator-token")
        else:
            http.headers["Authorization"] = "Bearer emulator-pat"
        sites.append(Site(jira, server.url, http))
        return sites[-1]

    yield start
    for site in sites:
        site.http.close()
        site.jira.close()


@pytest.fixture(params=["cloud", "data-center"])
def site(request, serve) -> Site:
    return serve(cloud=request.param == "cloud")


@pytest.fixture
def cloud(serve) -> Site:
    return serve(cloud=True)


@pytest.fixture
def receiver(servers) -> tuple[str, list]:
    """A webhook receiver on loopback: its URL and what it received (body, headers, query)."""
    received: list[tuple[bytes, dict, dict]] = []
    app = Flask("receiver")

    @app.post("/hooks/jira")
    def hook():
        received.append((request.get_data(), dict(request.headers), request.args.to_dict()))
        return "", 204

    server = LoopbackServer(app).start()
    servers.append(server)
    return f"{server.url}/hooks/jira", received


def test_each_flavour_takes_its_own_credentials_and_knows_the_bot(site):
    me = site.http.get(f"{site.api}/myself").json()
    if site.jira.cloud:
        assert (me["accountId"], me["accountType"]) == (BOT_ACCOUNT_ID, "atlassian")
        wrong = {"headers": {"Authorization": "Bearer emulator-pat"}}  # the DC way
    else:
        assert (me["name"], me["key"]) == (BOT_NAME, BOT_NAME) and "accountId" not in me
        wrong = {"auth": ("bot@acme.example", "emulator-token")}  # the Cloud way
    for credentials in (wrong, {"auth": ("bot@acme.example", "guessed")}, {}):
        refused = requests.get(f"{site.api}/myself", timeout=5, **credentials)
        assert refused.status_code == 401
        assert refused.json()["errorMessages"]
    v3 = site.http.get(f"{site.url}/rest/api/3/myself").status_code
    assert v3 == (200 if site.jira.cloud else 404)  # Data Center has no REST v3


def test_bodies_are_adf_on_cloud_and_strings_on_data_center(site):
    key = site.jira.create_issue("Charged twice", "I was charged twice.\nPlease help.", MAYA)
    site.jira.customer_comment(key, "I want to speak to a manager")
    fields = site.issue(key)["fields"]
    [comment] = fields["comment"]["comments"]
    if site.jira.cloud:
        assert fields["description"] == {"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "I was charged twice."}]},
            {"type": "paragraph", "content": [{"type": "text", "text": "Please help."}]}]}
        assert comment["body"]["content"][0]["content"][0]["text"] == \
            "I want to speak to a manager"
        assert comment["author"]["accountType"] == "customer"
    else:
        assert fields["description"] == "I was charged twice.\nPlease help."
        assert comment["body"] == "I want to speak to a manager"
        assert comment["author"]["name"] == MAYA and "accountType" not in comment["author"]
    assert comment["jsdPublic"] is True
    assert fields["project"]["projectTypeKey"] == "service_desk"
    assert fields[TIER]["value"] == "Tier 1"


def test_tier_field_takes_an_option_and_rejects_anything_else(site):
    key = site.jira.create_issue("Outage", "Down", MAYA)
    moved = site.http.put(f"{site.api}/issue/{key}", json={"fields": {TIER: {"value": "Tier 2"}}})
    assert (moved.status_code, moved.content) == (204, b"")
    assert site.issue(key, fields=TIER)["fields"] == {TIER: {
        "self": f"{site.jira.site}/rest/api/{site.version}/customFieldOption/10101",
        "value": "Tier 2", "id": "10101"}}

    bad = site.http.put(f"{site.api}/issue/{key}", json={"fields": {TIER: {"value": "Tier 9"}}})
    assert bad.status_code == 400
    assert bad.json() == {"errorMessages": [],
                          "errors": {TIER: "Option value 'Tier 9' is not valid"}}
    cleared = site.http.put(f"{site.api}/issue/{key}", json={"fields": {TIER: None}})
    assert cleared.status_code == 204 and site.jira.issues[key].tier is None
    missing = site.http.put(f"{site.api}/issue/SUP-99", json={"fields": {TIER: None}})
    assert (missing.status_code, missing.json()) == (404, NOT_FOUND)
    assert len(site.jira.writes(key)) == 2 and site.jira.writes("SUP-99") == []


def test_labels_take_add_and_remove_operations_and_priority_a_name(cloud):
    key = cloud.jira.create_issue("Outage", "Down", MAYA, labels=("vip", "tier1"))
    body = {"fields": {"priority": {"name": "High"}},
            "update": {"labels": [{"add": "escalated"}, {"remove": "tier1"}, {"add": "vip"}]}}
    assert cloud.http.put(f"{cloud.api}/issue/{key}", json=body).status_code == 204
    fields = cloud.issue(key, fields="labels,priority")["fields"]
    assert fields["labels"] == ["vip", "escalated"]
    assert (fields["priority"]["name"], fields["priority"]["id"]) == ("High", "2")
    replaced = cloud.http.put(f"{cloud.api}/issue/{key}", json={"fields": {"labels": ["x"]}})
    assert replaced.status_code == 204 and cloud.jira.issues[key].labels == ["x"]


def test_changelog_records_each_change_with_field_id_on_cloud_only(site):
    key = site.jira.create_issue("Outage", "Down", MAYA)
    site.jira.agent_sets_tier(key, ANA, "Tier 3")
    site.http.put(f"{site.api}/issue/{key}", json={"fields": {TIER: {"value": "Tier 2"}}})
    raw = site.issue(key, fields=f"summary,{TIER}", expand="changelog,names")
    assert raw["names"] == {"summary": "Summary", TIER: "Support Tier"}
    changelog = raw["changelog"]
    assert (changelog["startAt"], changelog["total"]) == (0, 2)
    first, second = changelog["histories"]
    assert first["created"] < second["created"]
    authors = [h["author"].get("accountId", h["author"].get("name")) for h in (first, second)]
    assert authors == [ANA, site.jira.bot]
    item = {"field": "Support Tier", "fieldtype": "custom", "from": "10100",
            "fromString": "Tier 1", "to": "10102", "toString": "Tier 3"}
    if site.jira.cloud:
        item["fieldId"] = TIER
    assert first["items"] == [item]
    assert second["items"][0]["toString"] == "Tier 2"


def test_internal_comments_by_either_route_are_not_jsd_public(site):
    key = site.jira.create_issue("Outage", "Down", MAYA)
    note = "Escalated to tier 2\nreason: outage"
    adf_note = {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "Escalated to tier 2"}]},
        {"type": "paragraph", "content": [{"type": "text", "text": "reason: outage"}]}]}
    body = {"body": adf_note if site.jira.cloud else note,
            "properties": [{"key": "sd.public.comment", "value": {"internal": True}}]}
    platform = site.http.post(f"{site.api}/issue/{key}/comment", json=body)
    assert platform.status_code == 201
    assert platform.json()["jsdPublic"] is False
    assert platform.json()["body"] == body["body"]

    request_comment = site.http.post(f"{site.url}/rest/servicedeskapi/request/{key}/comment",
                                     json={"body": "second note", "public": False})
    assert request_comment.status_code == 201
    created = request_comment.json()
    assert (created["body"], created["public"]) == ("second note", False)
    assert set(created["created"]) == {"iso8601", "jira", "friendly", "epochMillis"}

    page = site.http.get(f"{site.api}/issue/{key}/comment",
                         params={"startAt": 1, "maxResults": 1}).json()
    assert (page["startAt"], page["maxResults"], page["total"]) == (1, 1, 2)
    assert page["comments"][0]["id"] == created["id"]
    assert page["comments"][0]["jsdPublic"] is False
    assert [c.body for c in site.jira.issues[key].comments] == [note, "second note"]
    assert len(site.jira.comments_posted(key)) == 2


def test_cloud_v3_wants_adf_comments_and_servicedesk_wants_a_service_desk(cloud):
    key = cloud.jira.create_issue("Build broken", "CI red", ANA, project="DEV",
                                  service_desk=False, tier=None)
    plain = cloud.http.post(f"{cloud.api}/issue/{key}/comment", json={"body": "plain"})
    assert plain.status_code == 400 and "comment" in plain.json()["errors"]
    sd = cloud.http.post(f"{cloud.url}/rest/servicedeskapi/request/{key}/comment",
                         json={"body": "note", "public": False})
    assert sd.status_code == 404
    v2 = cloud.http.post(f"{cloud.url}/rest/api/2/issue/{key}/comment", json={"body": "plain"})
    assert v2.status_code == 201 and "jsdPublic" not in v2.json()  # not a JSM project
    assert cloud.issue(key)["fields"]["project"]["projectTypeKey"] == "software"
    assert cloud.jira.comments_posted() == cloud.jira.comments_posted(key) != []


def test_transitions_change_the_status_once(site):
    key = site.jira.create_issue("Outage", "Down", MAYA)
    url = f"{site.api}/issue/{key}/transitions"
    names = [(t["id"], t["name"], t["to"]["name"]) for t in site.http.get(url).json()[
        "transitions"]]
    assert names == [("31", "Escalate", "Escalated"), ("41", "Resolve", "Resolved")]
    assert site.http.post(url, json={"transition": {"id": "31"}}).status_code == 204
    assert site.issue(key, fields="status")["fields"]["status"]["name"] == "Escalated"
    [history] = site.issue(key, expand="changelog")["changelog"]["histories"]
    assert [(i["field"], i["fromString"], i["toString"]) for i in history["items"]] == \
        [("status", "Waiting for support", "Escalated")]
    again = site.http.post(url, json={"transition": {"id": "31"}})
    unknown = site.http.post(url, json={"transition": {"id": "99"}})
    assert (again.status_code, unknown.status_code) == (400, 400)
    assert [t["id"] for t in site.http.get(url).json()["transitions"]] == ["41"]


def test_the_rate_limit_answers_429_with_retry_after(serve):
    cloud = serve(rate_limit=2)
    responses = [cloud.http.get(f"{cloud.api}/myself") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[0].headers["X-RateLimit-Limit"] == "2"
    assert responses[2].headers["X-RateLimit-Remaining"] == "0"
    assert 0 < int(responses[2].headers["Retry-After"]) <= 60


def test_an_injected_fault_answers_once(cloud):
    key = cloud.jira.create_issue("Outage", "Down", MAYA)
    issue_id = cloud.jira.issues[key].id
    cloud.jira.fail_next("PUT", rf"/issue/{issue_id}$", 503)
    body = {"fields": {TIER: {"value": "Tier 2"}}}
    failed = cloud.http.put(f"{cloud.api}/issue/{issue_id}", json=body)
    assert (failed.status_code, failed.json()["errorMessages"]) == (503, ["Emulated fault"])
    assert cloud.http.put(f"{cloud.api}/issue/{issue_id}", json=body).status_code == 204
    assert [r.status for r in cloud.jira.writes(key)] == [204]  # by id, counted for the key


def test_changes_send_signed_webhooks_in_order_our_own_included(cloud, receiver):
    url, received = receiver
    cloud.jira.send_webhooks_to(url, secret=SECRET)
    key = cloud.jira.create_issue("Outage", "Down\nfor everyone", MAYA)
    cloud.jira.customer_comment(key, "I want to speak to a manager")
    cloud.http.put(f"{cloud.api}/issue/{key}", json={"fields": {TIER: {"value": "Tier 2"}}})
    cloud.jira.sender.drain()

    events = []
    for body, headers, _ in received:
        digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Hub-Signature"] == f"sha256={digest}"
        assert headers["Content-Type"] == "application/json"
        events.append(json.loads(body))
    assert len({headers["X-Atlassian-Webhook-Identifier"] for _, headers, _ in received}) == 3
    created, commented, updated = events
    assert [e["webhookEvent"] for e in events] == \
        ["jira:issue_created", "comment_created", "jira:issue_updated"]
    assert created["user"]["accountType"] == "customer"
    assert created["issue"]["fields"]["description"] == "Down\nfor everyone"  # v2 shape
    assert commented["comment"]["body"] == "I want to speak to a manager"
    assert (commented["issue"]["key"], commented["issue"]["fields"]["summary"]) == (key, "Outage")
    assert updated["user"]["accountId"] == BOT_ACCOUNT_ID
    assert updated["issue_event_type_name"] == "issue_updated"
    assert updated["changelog"]["items"][0]["fieldId"] == TIER
    assert updated["issue"]["fields"][TIER]["value"] == "Tier 2"
    assert isinstance(updated["timestamp"], int)


def test_data_center_webhooks_carry_a_url_token_instead_of_a_signature(serve, receiver):
    url, received = receiver
    dc = serve(cloud=False)
    dc.jira.send_webhooks_to(url, token="s3cret")
    key = dc.jira.create_issue("Outage", "Down", MAYA, notify=False)
    dc.jira.agent_sets_tier(key, ANA, "Tier 2")
    dc.jira.sender.drain()
    [(body, headers, query)] = received
    assert query == {"token": "s3cret"} and "X-Hub-Signature" not in headers
    event = json.loads(body)
    assert event["user"]["name"] == ANA and "accountId" not in event["user"]
    assert "fieldId" not in event["changelog"]["items"][0]


ORGANIZATIONS = "customfield_10002"


def test_jsm_issues_carry_their_organizations_and_the_fields_list_names_the_field(site):
    northwind = site.jira.organization("Northwind Freight Ltd")
    lumiere = site.jira.organization("Groupe Lumière SA")
    key = site.jira.create_issue("Invoices do not export", "Error 500 on export.", MAYA,
                                 organizations=(northwind, lumiere))
    raw = site.issue(key, fields=f"summary,{ORGANIZATIONS}", expand="names")
    assert raw["fields"][ORGANIZATIONS] == [
        {"id": "1", "name": "Northwind Freight Ltd",
         "_links": {"self": f"{site.jira.site}/rest/servicedeskapi/organization/1"}},
        {"id": "2", "name": "Groupe Lumière SA",
         "_links": {"self": f"{site.jira.site}/rest/servicedeskapi/organization/2"}}]
    assert raw["names"] == {"summary": "Summary", ORGANIZATIONS: "Organizations"}
    alone = site.jira.create_issue("How do I add a user?", "Thanks", MAYA)
    assert site.issue(alone, fields=ORGANIZATIONS)["fields"] == {ORGANIZATIONS: []}
    software = site.jira.create_issue("Refactor exports", None, ANA, project="DEV",
                                      service_desk=False)
    assert ORGANIZATIONS not in site.issue(software)["fields"]

    listed = site.http.get(f"{site.api}/field")
    assert listed.status_code == 200
    by_id = {f["id"]: f for f in listed.json()}
    assert by_id[ORGANIZATIONS] == {
        "id": ORGANIZATIONS, "key": ORGANIZATIONS, "name": "Organizations", "custom": True,
        "orderable": True, "navigable": True, "searchable": True,
        "clauseNames": ["cf[10002]", "Organizations"],
        "schema": {"type": "array", "items": "sd-customerorganization",
                   "custom": "com.atlassian.servicedesk:sd-customer-organizations",
                   "customId": 10002}}
    assert by_id[TIER]["schema"]["custom"].endswith(":select")
    assert by_id["summary"]["schema"] == {"type": "string", "system": "summary"}


def test_servicedesk_organizations_are_served_by_id_with_json_errors(site):
    site.jira.organization("Northwind Freight Ltd")
    found = site.http.get(f"{site.url}/rest/servicedeskapi/organization/1")
    assert (found.status_code, found.json()) == (200, {
        "id": "1", "name": "Northwind Freight Ltd",
        "_links": {"self": f"{site.jira.site}/rest/servicedeskapi/organization/1"}})
    for unknown in ("99", "northwind"):
        missing = site.http.get(f"{site.url}/rest/servicedeskapi/organization/{unknown}")
        assert missing.status_code == 404
        assert missing.headers["Content-Type"] == "application/json"
        assert missing.json() == {"errorMessage": f"Organization {unknown} does not exist."}
    anonymous = requests.get(f"{site.url}/rest/servicedeskapi/organization/1", timeout=5)
    assert anonymous.status_code == 401


def test_an_issue_is_only_shared_with_known_organizations_in_a_service_desk(cloud):
    northwind = cloud.jira.organization("Northwind Freight Ltd")
    with pytest.raises(ValueError, match="unknown"):
        cloud.jira.create_issue("Export", "Error", MAYA, organizations=("7",))
    with pytest.raises(ValueError, match="not a service desk"):
        cloud.jira.create_issue("Export", "Error", MAYA, organizations=(northwind,),
                                project="DEV", service_desk=False)
    assert cloud.jira.issues == {}
