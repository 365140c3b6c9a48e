"""Followers (Zendesk) and watchers (Jira) written by the connectors in the documented shape,
served and recorded by the emulators, which refuse any other shape with 400."""

from __future__ import annotations

import pytest
from builders import LADDER
from emulated import served

from connector.errors import NotFound
from connector.http import ApiSession, BearerAuth
from connector.jira import JiraConnector
from connector.ticket import TierWrite
from connector.zendesk import ZendeskConnector
from webhook_app.emulator.jira import JiraEmulator
from webhook_app.emulator.zendesk import ZendeskEmulator

NOTE = "Moved to tier 2.\nevidence: test"


@pytest.fixture
def zendesk():
    emulator = ZendeskEmulator()
    with served(emulator):
        yield emulator


@pytest.fixture(params=["cloud", "dc"])
def jira(request):
    emulator = JiraEmulator(cloud=request.param == "cloud")
    with served(emulator):
        yield emulator


def test_zendesk_followers_are_put_and_read_back(zendesk):
    zendesk.user(501, "Cy")
    zendesk.user(601, "Ari", role="agent")
    zendesk.user(602, "Bo Head", role="admin")
    zendesk.group(101, 601)
    zendesk.group(102, 601)
    ticket = zendesk.create_ticket(subject="s", description="d", requester_id=501,
                                   group_id=101, notify=False)
    connector = ZendeskConnector(ApiSession(zendesk.url, (f"{zendesk.email}/token",
                                                          zendesk.api_token)),
                                 {"L1": 101, "L2": 102}, LADDER)
    before = connector.fetch(str(ticket), needs=frozenset())
    assert before.followers == ()
    connector.escalate(before, TierWrite("L2", (), NOTE,
                                         add_followers=("601", "bo.head@example.com")))
    [write] = zendesk.writes(ticket)
    assert write.body["ticket"]["followers"] == [
        {"user_id": 601, "action": "put"}, {"user_email": "bo.head@example.com",
                                            "action": "put"}]
    assert connector.fetch(str(ticket), needs=frozenset()).followers == ("601", "602")


@pytest.mark.parametrize("followers", [
    [601],  # ids alone
    [{"user_id": 601}],  # no action
    [{"user_id": 601, "action": "add"}],
    [{"name": "Ari", "action": "put"}],
    {"user_id": 601, "action": "put"},  # not a list
])
def test_zendesk_refuses_followers_of_another_shape(zendesk, followers):
    zendesk.user(501, "Cy")
    ticket = zendesk.create_ticket(subject="s", description="d", requester_id=501,
                                   group_id=None, notify=False)
    api = ApiSession(zendesk.url, (f"{zendesk.email}/token", zendesk.api_token))
    response = api.request("PUT", f"/api/v2/tickets/{ticket}.json",
                           json={"ticket": {"followers": followers}})
    assert response.status_code == 400
    assert response.json()["error"] == "InvalidValue"
    assert zendesk.tickets[ticket]["follower_ids"] == []


def jira_connector(jira: JiraEmulator) -> JiraConnector:
    auth = (jira.email, jira.api_token) if jira.cloud else BearerAuth(jira.pat)
    return JiraConnector(ApiSession(jira.url, auth), cloud=jira.cloud,
                         tier_field=jira.tier_field,
                         tier_values={"L1": "Tier 1", "L2": "Tier 2", "L3": "Tier 3"},
                         ladder=LADDER, priorities={})


def test_jira_watchers_are_posted_as_a_json_string(jira):
    boss = jira.user("557058:boss" if jira.cloud else "boss", "Bo Head")
    jira.user("qm:c", "Cy", customer=True)
    key = jira.create_issue("s", "d", "qm:c", notify=False)
    connector = jira_connector(jira)
    connector.escalate(connector.fetch(key), TierWrite("L2", (), NOTE, add_followers=(boss,)))
    rest = "/rest/api/3" if jira.cloud else "/rest/api/2"
    [post] = [r for r in jira.requests if r.path.endswith("/watchers")]
    assert (post.method, post.path, post.body, post.status) == \
        ("POST", f"{rest}/issue/{key}/watchers", boss, 204)
    listed = connector.api.get(f"{rest}/issue/{key}/watchers").json()
    assert (listed["watchCount"], listed["isWatching"]) == (1, False)
    assert [w.get("accountId") or w.get("name") for w in listed["watchers"]] == [boss]


def test_jira_refuses_a_watcher_of_another_shape(jira):
    jira.user("qm:c", "Cy", customer=True)
    key = jira.create_issue("s", "d", "qm:c", notify=False)
    connector = jira_connector(jira)
    rest = "/rest/api/3" if jira.cloud else "/rest/api/2"
    for body, status in (({"accountId": "qm:c"}, 400), (["qm:c"], 400), ("nobody", 404)):
        response = connector.api.request("POST", f"{rest}/issue/{key}/watchers", json=body)
        assert response.status_code == status, body
    assert jira.issues[key].watchers == []
    with pytest.raises(NotFound):  # the connector's own write of an unknown user
        connector.escalate(connector.fetch(key), TierWrite(None, (), NOTE,
                                                           add_followers=("nobody",)))
