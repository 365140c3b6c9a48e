"""Independent client libraries drive the loopback emulators: zenpy the Zendesk one, the jira
library (pycontribs/jira) the Jira one, Cloud and Data Center. Their basic calls must work and
leave the emulator's state changed as the real helpdesk's would be, so an emulator that drifts
from the published API shows up here and not only against tierlift's own client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from emulated import ANA, CHEN, L1, L2, MAYA
from jira import JIRA, JIRAError
from zenpy import Zenpy

from webhook_app.emulator.jira import BOT_ACCOUNT_ID, BOT_NAME, JiraEmulator

TIER = "customfield_10050"
NOT_FOUND = {"errorMessages": ["Issue does not exist or you do not have permission to see it."],
             "errors": {}}


# -- Zendesk: zenpy ---------------------------------------------------------------------------


@pytest.fixture
def zenpy_client(zendesk, monkeypatch) -> Zenpy:
    """zenpy logged in with the emulator's API token. zenpy builds https://{subdomain}.{domain};
    its own ZENPY_FORCE_SCHEME/ZENPY_FORCE_NETLOC overrides point it at the loopback port."""
    monkeypatch.setenv("ZENPY_FORCE_SCHEME", "http")
    monkeypatch.setenv("ZENPY_FORCE_NETLOC", zendesk.url.removeprefix("http://"))
    return Zenpy(subdomain="acme", email=zendesk.email, token=zendesk.api_token,
                 disable_cache=True)


def test_zenpy_reads_a_ticket_and_moves_it(zendesk, zenpy_client):
    ticket_id = zendesk.create_ticket(subject="Charged twice", description="I was charged twice.",
                                      requester_id=MAYA, group_id=L1, assignee_id=ANA,
                                      notify=False)
    zendesk.customer_comment(ticket_id, "Still waiting", notify=False)

    me = zenpy_client.users.me()
    assert (me.id, me.email) == (zendesk.users[me.id]["id"], zendesk.email)

    ticket = zenpy_client.tickets(id=ticket_id)
    assert (ticket.subject, ticket.group_id, ticket.requester_id) == ("Charged twice", L1, MAYA)
    comments = list(zenpy_client.tickets.comments(ticket=ticket_id))
    assert [c.body for c in comments] == ["I was charged twice.", "Still waiting"]
    assert all(c.author_id == MAYA for c in comments)
    audits = list(zenpy_client.tickets.audits(ticket=ticket_id))
    assert len(audits) == 2 and all(a.ticket_id == ticket_id for a in audits)

    ticket.group_id, ticket.assignee_id, ticket.tags = L2, CHEN, ["tier_2"]
    zenpy_client.tickets.update(ticket)
    stored = zendesk.tickets[ticket_id]
    assert (stored["group_id"], stored["assignee_id"], stored["tags"]) == (L2, CHEN, ["tier_2"])
    assert [r.body for r in zendesk.writes(ticket_id)] == [
        {"ticket": {"id": ticket_id, "group_id": L2, "assignee_id": CHEN, "tags": ["tier_2"]}}]
    assert len(list(zenpy_client.tickets.audits(ticket=ticket_id))) == 3

    since = datetime.now(UTC) - timedelta(hours=1)
    found = zenpy_client.search(type="ticket", requester_id=MAYA, status_less_than="solved",
                                updated_greater_than=since)
    assert [t.id for t in found] == [ticket_id]
    assert [t.group_id for t in zenpy_client.search(type="ticket", requester_id=ANA)] == []


# -- Jira: the jira library -------------------------------------------------------------------


@pytest.fixture(params=["cloud", "dc"])
def jira_site(request) -> Iterator[tuple[JiraEmulator, str]]:
    """A served Jira emulator (Cloud or Data Center) with a customer, an agent and one issue;
    its base URL is the loopback address, as a site's configured base URL is its own."""
    emulator = JiraEmulator(cloud=request.param == "cloud")
    emulator.user("ana", "Ana")
    emulator.user("maya", "Maya Lind", customer=True)
    server = emulator.serve()
    emulator.site = server.url  # the library follows the "self" links the emulator writes
    yield emulator, server.url
    emulator.close()
    server.stop()


def connect(emulator: JiraEmulator, url: str, **options) -> JIRA:
    auth = ({"basic_auth": (emulator.email, emulator.api_token)} if emulator.cloud
            else {"token_auth": emulator.pat})
    return JIRA(server=url, max_retries=0, **auth, **options)


def test_jira_library_basic_calls(jira_site):
    emulator, url = jira_site
    key = emulator.create_issue("Printer on fire", "It burns", "maya", notify=False)
    emulator.customer_comment(key, "Still burning", notify=False)
    emulator.agent_sets_tier(key, "ana", "Tier 1", notify=False)  # unchanged: no history
    client = connect(emulator, url)

    info = client.server_info()
    assert info["deploymentType"] == ("Cloud" if emulator.cloud else "Server")
    assert info["baseUrl"] == url and all(isinstance(n, int) for n in info["versionNumbers"])
    assert client._is_cloud == emulator.cloud
    me = client.myself()
    assert me["accountId" if emulator.cloud else "name"] == (
        BOT_ACCOUNT_ID if emulator.cloud else BOT_NAME)

    issue = client.issue(key, expand="changelog")
    assert (issue.key, issue.fields.summary, issue.fields.description) == (
        key, "Printer on fire", "It burns")
    assert [c.body for c in issue.fields.comment.comments] == ["Still burning"]
    assert getattr(issue.fields, TIER).value == "Tier 1"
    assert issue.changelog.histories == []

    assert [i.key for i in client.search_issues('reporter = "maya"')] == [key]
    assert [i.key for i in client.search_issues("statusCategory != Done ORDER BY created DESC",
                                                fields="summary")] == [key]

    comment = client.add_comment(key, "On it")
    assert comment.body == "On it"
    assert [c.body for c in emulator.issues[key].comments] == ["Still burning", "On it"]

    issue.update(fields={TIER: {"value": "Tier 2"}})
    assert emulator.issues[key].tier == "Tier 2"
    assert getattr(issue.fields, TIER).value == "Tier 2"  # the library reloads the issue
    history = client.issue(key, expand="changelog").changelog.histories[-1]
    assert [(i.field, i.fromString, i.toString) for i in history.items] == [
        ("Support Tier", "Tier 1", "Tier 2")]

    names = {t["id"]: t["name"] for t in client.transitions(issue)}
    assert names == {"31": "Escalate", "41": "Resolve"}
    client.transition_issue(issue, "31")
    assert emulator.issues[key].status == "Escalated"
    assert client.issue(key).fields.status.name == "Escalated"

    fields = {f["id"]: f for f in client.fields()}
    assert fields[TIER]["name"] == "Support Tier" and fields[TIER]["custom"] is True

    with pytest.raises(JIRAError) as missing:
        client.issue("SUP-99")
    assert missing.value.status_code == 404
    assert missing.value.response.json() == NOT_FOUND


def test_jira_library_on_cloud_rest_v3_reads_atlassian_documents(jira_site):
    emulator, url = jira_site
    if not emulator.cloud:
        pytest.skip("REST v3 is Cloud's")
    key = emulator.create_issue("Printer on fire", "It burns\nfast", "maya", notify=False)
    client = connect(emulator, url, options={"rest_api_version": "3"})
    found = client.search_issues("statusCategory != Done")
    assert [i.key for i in found] == [key]
    assert [r.path for r in emulator.requests if "search" in r.path] == [
        "/rest/api/3/search/jql"]
    description = client.issue(key).raw["fields"]["description"]
    assert description["type"] == "doc" and [p["content"][0]["text"]
                                             for p in description["content"]] == ["It burns",
                                                                                  "fast"]


def test_jira_errors_are_json(jira_site):
    """Unknown paths and methods, and an edit body Jira cannot read, answer Jira's error
    collection, not an HTML page or a 500."""
    emulator, url = jira_site
    key = emulator.create_issue("Printer on fire", None, "maya", notify=False)
    http = requests.Session()
    if emulator.cloud:
        http.auth = (emulator.email, emulator.api_token)
    else:
        http.headers["Authorization"] = f"Bearer {emulator.pat}"
    with http:
        for method, path in [("GET", "/rest/api/2/nothing/here"),
                             ("DELETE", f"/rest/api/2/issue/{key}/transitions")]:
            answer = http.request(method, url + path)
            assert answer.status_code == (404 if method == "GET" else 405)
            assert answer.headers["Content-Type"] == "application/json"
            body = answer.json()
            assert body["errors"] == {} and len(body["errorMessages"]) == 1
        for bad in [{"fields": "Tier 2"}, {"update": {"labels": "vip"}},
                    {"update": {"labels": ["vip"]}}, ["fields"]]:
            answer = http.put(f"{url}/rest/api/2/issue/{key}", json=bad)
            assert answer.status_code == 400, bad
            assert set(answer.json()) == {"errorMessages", "errors"}
        assert emulator.issues[key].labels == [] and emulator.writes() == []
