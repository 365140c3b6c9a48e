"""JiraConnector (Cloud REST v3 + ADF, Data Center REST v2 + PAT) against issues built from the
recorded Jira webhooks, HTTP served by ``responses``; and connector.adf."""

from __future__ import annotations

import base64
import copy
import email.utils
import json
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from conftest import FIXTURES

from connector import adf
from connector import jira as jira_connector
from connector.errors import AmbiguousWrite, HelpdeskError, Misdirected, NotFound, Rejected
from connector.http import ApiSession, BearerAuth
from connector.jira import JiraConnector
from connector.ticket import (
    AuthorRole,
    Comment,
    Organization,
    Priority,
    SentRequest,
    TierChange,
    TierLadder,
    TierWrite,
    WriteResult,
)
from plugins.manager import ConfigError
from webhook_app.settings import load_settings

URL = "https://acme.atlassian.net"
DC_URL = "https://jira.acme.example"
TIER_FIELD = "customfield_10050"
TIER_VALUES = {"L1": "Tier 1", "L2": "Tier 2", "L3": "Tier 3"}
OPTION_IDS = {"Tier 1": "10200", "Tier 2": "10201", "Tier 3": "10202"}
LADDER = TierLadder(("L1", "L2", "L3"), "L1")
PRIORITIES = {"low": "Low", "normal": "Medium", "high": "High", "urgent": "Highest"}

CLOUD_KEY = "KAN-22"  # cloud-issue-created.json
DC_KEY = "VRF-803"  # server-issue-created.json
ISSUE_URL = f"{URL}/rest/api/3/issue/{CLOUD_KEY}"
COMMENT_URL = f"{ISSUE_URL}/comment"
TRANSITIONS_URL = f"{ISSUE_URL}/transitions"
MYSELF_URL = f"{URL}/rest/api/3/myself"
SD_COMMENT_URL = f"{URL}/rest/servicedeskapi/request/{CLOUD_KEY}/comment"
DC_ISSUE_URL = f"{DC_URL}/rest/api/2/issue/{DC_KEY}"
DC_MYSELF_URL = f"{DC_URL}/rest/api/2/myself"

REPORTER = "712020:f1ad7cfd-7f82-4dc0-85e4-8bc47bcc08e4"  # reporter of the cloud fixture
DC_REPORTER = "crystal.johnston"  # reporter key of the server fixture
BOT = "5f0c2a9e8b7d6c5e4f3a2b1c"
DC_BOT = "JIRAUSER10500"
CLOUD_CREATED = datetime(2024, 12, 29, 8, 41, 23, 303000,
                         tzinfo=timezone(timedelta(hours=5, minutes=30)))
DC_CREATED = datetime(2019, 9, 24, 11, 59, 37, 135000, tzinfo=timezone(timedelta(hours=12)))
FIXTURE_DESCRIPTION = ("Add back button navigation to all list pages. Now its making little "
                       "complex or making UX low.")

EVIDENCE_LINE = "Evidence: customer_request/comment:10101"
NOTE = ("tierlift escalated this ticket from L1 to L2.\n"
        "\n"
        "Why:\n"
        "- customer_request: the customer asked for a manager\n"
        '    "I want to speak to a manager"\n'
        "\n"
        f"{EVIDENCE_LINE}")
WRITE = TierWrite(tier="L2", add_tags=("tierlift_escalated", "tierlift_customer_request"),
                  internal_note=NOTE)
INTERNAL_PROPERTY = [{"key": "sd.public.comment", "value": {"internal": True}}]


# -- users, as Jira Cloud and Data Center serialise them ----------------------------------


def cloud_user(account_id: str, name: str, account_type: str = "atlassian") -> dict:
    return {"self": f"{URL}/rest/api/3/user?accountId={account_id}", "accountId": account_id,
            "displayName": name, "active": True, "timeZone": "Europe/Berlin",
            "accountType": account_type}


def dc_user(key: str, name: str) -> dict:
    return {"self": f"{DC_URL}/rest/api/2/user?username={name}", "name": name, "key": key,
            "emailAddress": f"{name}@acme.example", "displayName": name.title(), "active": True,
            "timeZone": "Pacific/Auckland"}


CUSTOMER = cloud_user("qm:7c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f:5e0f1a2b3c4d5e6f7a8b9c0d",
                      "Dana Customer", "customer")
AGENT = cloud_user("5b10ac8d82e05b22cc7d4ef5", "Ari Agent")
APP = cloud_user("557058:f58131cb-b67d-43c7-b30d-6b58d40bd077", "Automation for Jira", "app")
BOT_USER = cloud_user(BOT, "tierlift bot")
MYSELF = {**BOT_USER, "emailAddress": "bot@acme.example", "locale": "en_US"}
DC_AGENT = dc_user("JIRAUSER10200", "sam.agent")
DC_BOT_USER = dc_user(DC_BOT, "tierlift-bot")


# -- issues built from the recorded webhooks ----------------------------------------------


def fixture_issue(name: str) -> dict:
    return json.loads((FIXTURES / "jira-webhooks" / name).read_text())["issue"]


def option(value: str | None) -> dict | None:
    if value is None:
        return None
    return {"self": f"{URL}/rest/api/3/customFieldOption/{OPTION_IDS.get(value, '10299')}",
            "value": value, "id": OPTION_IDS.get(value, "10299")}


def comment_page(comments, total: int | None = None) -> dict:
    comments = list(comments)
    return {"comments": comments, "maxResults": len(comments),
            "total": len(comments) if total is None else total, "startAt": 0}


def cloud_issue(*, tier: str | None = "Tier 2", comments=(), total: int | None = None,
                labels=None, project_type: str | None = None, **fields) -> dict:
    """The issue of cloud-issue-created.json as GET /rest/api/3/issue returns it, plus the tier
    option and comments."""
    issue = copy.deepcopy(fixture_issue("cloud-issue-created.json"))
    issue["fields"][TIER_FIELD] = option(tier)
    issue["fields"]["comment"] = comment_page(comments, total)
    if labels is not None:
        issue["fields"]["labels"] = list(labels)
    if project_type is not None:
        issue["fields"]["project"]["projectTypeKey"] = project_type
    issue["fields"].update(fields)
    issue["names"] = {"summary": "Summary", "status": "Status", TIER_FIELD: "Support Tier"}
    return issue


def dc_issue(*, tier: str | None = "Tier 1", comments=(), total: int | None = None,
             **fields) -> dict:
    """The issue of server-issue-created.json as GET /rest/api/2/issue returns it."""
    issue = copy.deepcopy(fixture_issue("server-issue-created.json"))
    issue["fields"][TIER_FIELD] = option(tier)
    issue["fields"]["comment"] = comment_page(comments, total)
    issue["fields"].update(fields)
    issue["names"] = {"summary": "Summary", "status": "Status", TIER_FIELD: "Support Tier",
                      "customfield_10051": "Tier"}
    return issue


def cloud_comment(comment_id: str, author: dict, body, *, public: bool = True,
                  created: str = "2024-12-29T09:00:00.000+0530") -> dict:
    return {"self": f"{URL}/rest/api/3/issue/10021/comment/{comment_id}", "id": comment_id,
            "author": author, "body": body, "updateAuthor": author, "created": created,
            "updated": created, "jsdPublic": public}


def dc_comment(comment_id: str, author: dict, body: str, *,
               created: str = "2019-09-24T12:10:00.000+1200", **extra) -> dict:
    return {"self": f"{DC_URL}/rest/api/2/issue/86228/comment/{comment_id}", "id": comment_id,
            "author": author, "body": body, "updateAuthor": author, "created": created,
            "updated": created, **extra}


def paragraph(*content: dict) -> dict:
    return {"type": "paragraph", "content": list(content)}


def text(value: str, *marks: str) -> dict:
    node = {"type": "text", "text": value}
    if marks:
        node["marks"] = [{"type": mark} for mark in marks]
    return node


def doc(*content: dict) -> dict:
    return {"type": "doc", "version": 1, "content": list(content)}


def list_item(value: str) -> dict:
    return {"type": "listItem", "content": [paragraph(text(value))]}


# -- plumbing -----------------------------------------------------------------------------


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


def cloud_connector(sleeps: list[float], **options) -> JiraConnector:
    api = ApiSession(URL, ("bot@acme.example", "tok"), sleep=sleeps.append)
    return JiraConnector(api, cloud=True, tier_field=TIER_FIELD, tier_values=TIER_VALUES,
                         ladder=LADDER, priorities=PRIORITIES, **options)


def dc_connector(sleeps: list[float], **options) -> JiraConnector:
    api = ApiSession(DC_URL, BearerAuth("pat"), sleep=sleeps.append)
    return JiraConnector(api, cloud=False, tier_field=TIER_FIELD, tier_values=TIER_VALUES,
                         ladder=LADDER, priorities=PRIORITIES, **options)


@pytest.fixture
def cloud(sleeps) -> JiraConnector:
    return cloud_connector(sleeps)


@pytest.fixture
def dc(sleeps) -> JiraConnector:
    return dc_connector(sleeps)


def serve(mock, method: str, url: str, body: object = None, *, status: int = 200,
          headers: dict | None = None) -> None:
    mock.add(method, url, body=json.dumps(body) if body is not None else "", status=status,
             headers=headers or {}, content_type="application/json")


def serve_cloud(mock, issue: dict) -> None:
    serve(mock, responses.GET, ISSUE_URL, issue)
    serve(mock, responses.GET, MYSELF_URL, MYSELF)


def serve_dc(mock, issue: dict) -> None:
    serve(mock, responses.GET, DC_ISSUE_URL, issue)
    serve(mock, responses.GET, DC_MYSELF_URL, {**DC_BOT_USER, "locale": "en_NZ"})


def path_of(call) -> str:
    return urlsplit(call.request.url).path


def query_of(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def sent(calls) -> list[tuple[str, str, object]]:
    """(method, path, JSON body) of each call."""
    return [(c.request.method, path_of(c),
             json.loads(c.request.body) if c.request.body else None) for c in calls]


# ------------------------------------------------------------------------------------------
# fetch: the request


def test_cloud_fetch_sends_the_exact_issue_request(cloud, rsps):
    serve_cloud(rsps, cloud_issue())
    cloud.fetch(CLOUD_KEY)
    assert [(c.request.method, path_of(c)) for c in rsps.calls] == [
        ("GET", f"/rest/api/3/issue/{CLOUD_KEY}"), ("GET", "/rest/api/3/myself")]
    query = query_of(rsps.calls[0])
    assert set(query) == {"fields", "expand"}
    assert query["expand"] == ["names"]
    fields = query["fields"][0].split(",")
    assert TIER_FIELD in fields
    assert {"summary", "status", "priority", "labels", "reporter", "created", "updated",
            "project", "comment", "description"} <= set(fields)
    assert query_of(rsps.calls[1]) == {}


def test_fetch_with_history_expands_the_changelog(cloud, rsps):
    serve_cloud(rsps, cloud_issue())
    cloud.fetch(CLOUD_KEY, needs=frozenset({"history"}))
    assert query_of(rsps.calls[0])["expand"] == ["changelog,names"]
    assert TIER_FIELD in query_of(rsps.calls[0])["fields"][0].split(",")


def test_cloud_authenticates_with_basic_email_and_api_token(cloud, rsps):
    serve_cloud(rsps, cloud_issue())
    cloud.fetch(CLOUD_KEY)
    expected = "Basic " + base64.b64encode(b"bot@acme.example:tok").decode()
    assert [c.request.headers["Authorization"] for c in rsps.calls] == [expected, expected]


def test_data_center_uses_rest_v2_and_the_personal_access_token(dc, rsps):
    serve_dc(rsps, dc_issue())
    dc.fetch(DC_KEY, needs=frozenset({"history"}))
    assert [(c.request.method, path_of(c)) for c in rsps.calls] == [
        ("GET", f"/rest/api/2/issue/{DC_KEY}"), ("GET", "/rest/api/2/myself")]
    assert query_of(rsps.calls[0])["expand"] == ["changelog,names"]
    assert [c.request.headers["Authorization"] for c in rsps.calls] == ["Bearer pat"] * 2


def test_myself_is_asked_once(cloud, rsps):
    serve_cloud(rsps, cloud_issue())
    cloud.fetch(CLOUD_KEY)
    cloud.fetch(CLOUD_KEY, needs=frozenset({"history"}))
    assert cloud.whoami() == BOT
    assert [path_of(c) for c in rsps.calls] == [
        f"/rest/api/3/issue/{CLOUD_KEY}", "/rest/api/3/myself", f"/rest/api/3/issue/{CLOUD_KEY}"]


def test_missing_issue_raises_not_found(cloud, rsps):
    serve(rsps, responses.GET, ISSUE_URL, {
        "errorMessages": ["Issue does not exist or you do not have permission to see it."],
        "errors": {}}, status=404)
    with pytest.raises(NotFound) as caught:
        cloud.fetch(CLOUD_KEY)
    assert caught.value.status == 404
    assert len(rsps.calls) == 1


def test_429_with_retry_after_seconds_is_retried_after_sleeping(cloud, rsps, sleeps):
    serve(rsps, responses.GET, ISSUE_URL, {"errorMessages": ["Rate limit exceeded."]},
          status=429, headers={"Retry-After": "3", "RateLimit-Reason": "jira-burst-based"})
    serve_cloud(rsps, cloud_issue())
    ticket = cloud.fetch(CLOUD_KEY)
    assert ticket.ref == CLOUD_KEY
    assert sleeps == [3.0]
    assert [path_of(c) for c in rsps.calls] == [
        f"/rest/api/3/issue/{CLOUD_KEY}", f"/rest/api/3/issue/{CLOUD_KEY}", "/rest/api/3/myself"]


def test_429_with_an_http_date_retry_after_is_retried_after_sleeping(cloud, rsps, sleeps):
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    serve(rsps, responses.GET, ISSUE_URL, {"errorMessages": ["Rate limit exceeded."]},
          status=429, headers={"Retry-After": when})
    serve_cloud(rsps, cloud_issue())
    assert cloud.fetch(CLOUD_KEY).ref == CLOUD_KEY
    assert len(sleeps) == 1
    assert 17.0 < sleeps[0] <= 20.0
    assert len([c for c in rsps.calls if path_of(c).endswith(CLOUD_KEY)]) == 2


# ------------------------------------------------------------------------------------------
# fetch: parsing


def test_cloud_fixture_issue_is_parsed(cloud, rsps):
    serve_cloud(rsps, cloud_issue(labels=["checkout", "vip"]))
    ticket = cloud.fetch(CLOUD_KEY)
    assert ticket.platform == "jira"
    assert ticket.ref == "KAN-22"
    assert ticket.subject == "Add back button to pages"
    assert ticket.status == "To Do"
    assert ticket.priority is Priority.NORMAL  # "Medium"
    assert ticket.tier == "L2"
    assert ticket.tags == ("checkout", "vip")
    assert ticket.requester_id == REPORTER
    assert ticket.assignee_id == REPORTER
    assert ticket.organization_id is None
    assert ticket.channel is None
    assert ticket.created_at == CLOUD_CREATED
    assert ticket.updated_at == CLOUD_CREATED
    assert ticket.version == "2024-12-29T08:41:23.303+0530"
    assert ticket.custom_fields[TIER_FIELD] == "Tier 2"
    assert ticket.custom_fields["customfield_10019"] == "0|i0001r:"
    assert ticket.tier_history == ()


def test_data_center_fixture_issue_is_parsed(dc, rsps):
    serve_dc(rsps, dc_issue(tier="Tier 3"))
    ticket = dc.fetch(DC_KEY)
    assert ticket.ref == "VRF-803"
    assert ticket.subject == "task test"
    assert ticket.status == "Backlog"
    assert ticket.priority is Priority.HIGH  # "Major"
    assert ticket.tier == "L3"
    assert ticket.tags == ()
    assert ticket.requester_id == DC_REPORTER
    assert ticket.created_at == DC_CREATED
    assert ticket.version == "2019-09-24T11:59:37.135+1200"
    assert ticket.custom_fields["customfield_13427"] == "High"  # an option, simplified
    assert ticket.custom_fields["customfield_11317"] == "0%"
    assert ticket.comments == ()  # no description, no comments


@pytest.mark.parametrize(("name", "expected"), [
    ("Medium", Priority.NORMAL),
    ("Major", Priority.HIGH),
    ("Highest", Priority.URGENT),
    ("High", Priority.HIGH),
    ("Low", Priority.LOW),
    ("Minor", Priority.LOW),
    ("Blocker", Priority.URGENT),
    ("P9 - whenever", None),
])
def test_priority_names(cloud, rsps, name, expected):
    issue = cloud_issue()
    issue["fields"]["priority"] = {"self": f"{URL}/rest/api/3/priority/3", "name": name,
                                   "id": "3"}
    serve_cloud(rsps, issue)
    assert cloud.fetch(CLOUD_KEY).priority is expected


def test_no_priority(cloud, rsps):
    serve_cloud(rsps, cloud_issue(priority=None))
    assert cloud.fetch(CLOUD_KEY).priority is None


@pytest.mark.parametrize(("value", "tier"), [
    ("Tier 1", "L1"), ("Tier 2", "L2"), ("Tier 3", "L3"), (None, "L1"), ("Tier 9", "L1"),
], ids=["tier-1", "tier-2", "tier-3", "empty-is-default", "unknown-option-is-default"])
def test_tier_from_the_tier_field_option(cloud, rsps, value, tier):
    serve_cloud(rsps, cloud_issue(tier=value))
    assert cloud.fetch(CLOUD_KEY).tier == tier


def test_the_description_is_the_first_comment(cloud, rsps):
    serve_cloud(rsps, cloud_issue(comments=[cloud_comment("10100", AGENT, doc(
        paragraph(text("Looking into it."))))]))
    ticket = cloud.fetch(CLOUD_KEY)
    assert ticket.comments[0] == Comment(id="description", author_id=REPORTER,
                                         author_role=AuthorRole.CUSTOMER, public=True,
                                         body=FIXTURE_DESCRIPTION, created_at=CLOUD_CREATED)
    assert ticket.comments[0].from_customer is True
    assert [c.id for c in ticket.comments] == ["description", "10100"]


def test_an_adf_description_is_read_as_text(cloud, rsps):
    description = doc(paragraph(text("Checkout is "), text("down", "strong"), text(".")),
                      paragraph(text("Please escalate this.")))
    serve_cloud(rsps, cloud_issue(description=description))
    [first] = cloud.fetch(CLOUD_KEY).comments
    assert (first.id, first.body) == ("description", "Checkout is down.\nPlease escalate this.")


def test_adf_comment_bodies_are_read_as_plain_text_on_cloud(cloud, rsps):
    body = doc(
        paragraph({"type": "mention", "attrs": {"id": AGENT["accountId"], "text": "@Ari Agent",
                                                "accessLevel": ""}},
                  text(" we are "), text("losing orders", "strong"), text("."),
                  {"type": "hardBreak"}, text("Please escalate this.")),
        {"type": "bulletList", "content": [list_item("checkout returns 500"),
                                           list_item("since 09:00 CET")]},
    )
    serve_cloud(rsps, cloud_issue(comments=[cloud_comment("10100", CUSTOMER, body)],
                                  description=None))
    [comment] = cloud.fetch(CLOUD_KEY).comments
    assert comment.body == ("@Ari Agent we are losing orders.\nPlease escalate this.\n"
                            "- checkout returns 500\n- since 09:00 CET")
    assert comment.created_at == datetime(2024, 12, 29, 9, 0,
                                          tzinfo=timezone(timedelta(hours=5, minutes=30)))


def test_comment_bodies_are_plain_strings_on_data_center(dc, rsps):
    raw = "Please escalate this.\r\n*Checkout* is down since {{09:00}}."
    serve_dc(rsps, dc_issue(comments=[dc_comment("20100", dc_user("crystal.johnston",
                                                                  "crystal.johnston"), raw)]))
    [comment] = dc.fetch(DC_KEY).comments
    assert comment.body == raw
    assert comment.id == "20100"
    assert comment.author_id == DC_REPORTER
    assert comment.author_role is AuthorRole.CUSTOMER
    assert comment.public is True


def test_comment_author_roles_on_cloud(cloud, rsps):
    reporter = copy.deepcopy(fixture_issue("cloud-issue-created.json")["fields"]["reporter"])
    comments = [
        cloud_comment("1", CUSTOMER, "a customer"),
        cloud_comment("2", reporter, "the reporter (an atlassian account)"),
        cloud_comment("3", AGENT, "another atlassian user"),
        cloud_comment("4", APP, "an app"),
        cloud_comment("5", BOT_USER, "tierlift itself", public=False),
    ]
    serve_cloud(rsps, cloud_issue(comments=comments, description=None))
    ticket = cloud.fetch(CLOUD_KEY)
    assert [(c.id, c.author_id, c.author_role) for c in ticket.comments] == [
        ("1", CUSTOMER["accountId"], AuthorRole.CUSTOMER),
        ("2", REPORTER, AuthorRole.CUSTOMER),
        ("3", AGENT["accountId"], AuthorRole.AGENT),
        ("4", APP["accountId"], AuthorRole.AGENT),
        ("5", BOT, AuthorRole.SELF),
    ]


def test_comment_author_roles_on_data_center(dc, rsps):
    comments = [
        dc_comment("1", dc_user(DC_REPORTER, DC_REPORTER), "reporter"),
        dc_comment("2", DC_AGENT, "agent"),
        dc_comment("3", DC_BOT_USER, "bot"),
    ]
    serve_dc(rsps, dc_issue(comments=comments))
    assert [(c.author_id, c.author_role) for c in dc.fetch(DC_KEY).comments] == [
        (DC_REPORTER, AuthorRole.CUSTOMER),
        ("JIRAUSER10200", AuthorRole.AGENT),
        (DC_BOT, AuthorRole.SELF),
    ]


def test_jsd_public_false_is_not_public(cloud, rsps):
    comments = [cloud_comment("1", AGENT, "internal", public=False),
                cloud_comment("2", CUSTOMER, "public", public=True)]
    serve_cloud(rsps, cloud_issue(comments=comments, description=None))
    ticket = cloud.fetch(CLOUD_KEY)
    assert [(c.id, c.public) for c in ticket.comments] == [("1", False), ("2", True)]
    assert [c.from_customer for c in ticket.comments] == [False, True]


def test_data_center_comment_restricted_by_visibility_is_not_public(dc, rsps):
    comments = [dc_comment("1", DC_AGENT, "devs only",
                           visibility={"type": "role", "value": "Developers"}),
                dc_comment("2", DC_AGENT, "everyone")]
    serve_dc(rsps, dc_issue(comments=comments))
    assert [(c.id, c.public) for c in dc.fetch(DC_KEY).comments] == [("1", False), ("2", True)]


def test_comments_beyond_the_inline_page_are_fetched(cloud, rsps):
    """Which comments a capped inline page holds is not documented: all are read again."""
    inline = [cloud_comment("1", CUSTOMER, "one"), cloud_comment("2", AGENT, "two")]
    serve_cloud(rsps, cloud_issue(comments=inline, total=3, description=None))
    serve(rsps, responses.GET, COMMENT_URL, {
        "startAt": 0, "maxResults": 100, "total": 3,
        "comments": [*inline, cloud_comment("3", CUSTOMER, "three",
                                            created="2024-12-29T11:00:00.000+0530")]})
    ticket = cloud.fetch(CLOUD_KEY)
    assert [(c.id, c.body) for c in ticket.comments] == [("1", "one"), ("2", "two"),
                                                         ("3", "three")]
    [page] = [c for c in rsps.calls if path_of(c) == f"/rest/api/3/issue/{CLOUD_KEY}/comment"]
    assert page.request.method == "GET"
    assert query_of(page) == {"startAt": ["0"], "maxResults": ["100"], "orderBy": ["created"]}


def test_no_comment_request_when_the_inline_page_is_complete(cloud, rsps):
    serve_cloud(rsps, cloud_issue(comments=[cloud_comment("1", CUSTOMER, "one")]))
    cloud.fetch(CLOUD_KEY)
    assert [path_of(c) for c in rsps.calls] == [f"/rest/api/3/issue/{CLOUD_KEY}",
                                                "/rest/api/3/myself"]


# ------------------------------------------------------------------------------------------
# fetch: tier history


def history(history_id: str, created: str, *items: dict, author: dict = AGENT) -> dict:
    return {"id": history_id, "author": author, "created": created, "items": list(items)}


def tier_item(before: str | None, after: str | None, *, field: str = "Support Tier",
              field_id: str | None = TIER_FIELD) -> dict:
    item = {"field": field, "fieldtype": "custom",
            "from": OPTION_IDS.get(before), "fromString": before,
            "to": OPTION_IDS.get(after), "toString": after}
    if field_id is not None:
        item["fieldId"] = field_id
    return item


STATUS_ITEM = {"field": "status", "fieldtype": "jira", "fieldId": "status", "from": "10000",
               "fromString": "To Do", "to": "3", "toString": "In Progress"}
IST = timezone(timedelta(hours=5, minutes=30))


def test_tier_history_from_a_cloud_changelog(cloud, rsps):
    issue = cloud_issue(tier="Tier 3")
    histories = [  # newest first, as Jira may list them
        history("10040", "2024-12-30T09:15:00.000+0530", tier_item("Tier 2", "Tier 3")),
        history("10035", "2024-12-29T12:00:00.000+0530", STATUS_ITEM),
        history("10031", "2024-12-29T10:00:00.000+0530", tier_item(None, "Tier 2")),
        # another field with the same display name: names are not unique, fieldId decides
        history("10030", "2024-12-29T09:00:00.000+0530",
                tier_item("Tier 3", "Tier 1", field_id="customfield_10051")),
    ]
    issue["changelog"] = {"startAt": 0, "maxResults": 4, "total": 4, "histories": histories}
    serve_cloud(rsps, issue)
    ticket = cloud.fetch(CLOUD_KEY, needs=frozenset({"history"}))
    to_l2 = datetime(2024, 12, 29, 10, 0, tzinfo=IST)
    to_l3 = datetime(2024, 12, 30, 9, 15, tzinfo=IST)
    assert ticket.tier_history == (TierChange(CLOUD_CREATED, "L1"), TierChange(to_l2, "L2"),
                                   TierChange(to_l3, "L3"))
    assert ticket.tier_at(CLOUD_CREATED - timedelta(days=1)) == "L1"
    assert ticket.tier_at(CLOUD_CREATED + timedelta(minutes=30)) == "L1"
    assert ticket.tier_at(to_l2 - timedelta(seconds=1)) == "L1"
    assert ticket.tier_at(to_l2) == "L2"
    assert ticket.tier_at(to_l3 - timedelta(seconds=1)) == "L2"
    assert ticket.tier_at(to_l3 + timedelta(days=2)) == "L3"


def test_tier_history_from_a_data_center_changelog_by_display_name(dc, rsps):
    issue = dc_issue(tier="Tier 2")
    issue["changelog"] = {"startAt": 0, "maxResults": 3, "total": 3, "histories": [
        history("952600", "2019-09-24T12:05:00.000+1200",
                {"field": "status", "fieldtype": "jira", "from": "10125",
                 "fromString": "Backlog", "to": "10022", "toString": "To Do"},
                author=DC_AGENT),
        history("952601", "2019-09-24T13:00:00.000+1200",
                tier_item("Tier 1", "Tier 2", field_id=None), author=DC_AGENT),
        # "Tier" is customfield_10051 per names: not the tier field
        history("952602", "2019-09-24T14:00:00.000+1200",
                tier_item("Tier 2", "Tier 3", field="Tier", field_id=None), author=DC_AGENT),
    ]}
    serve_dc(rsps, issue)
    ticket = dc.fetch(DC_KEY, needs=frozenset({"history"}))
    changed = datetime(2019, 9, 24, 13, 0, tzinfo=timezone(timedelta(hours=12)))
    assert ticket.tier_history == (TierChange(DC_CREATED, "L1"), TierChange(changed, "L2"))
    assert ticket.tier_at(changed - timedelta(minutes=1)) == "L1"
    assert ticket.tier_at(changed + timedelta(hours=5)) == "L2"


def test_tier_history_without_tier_changes_is_the_current_tier(cloud, rsps):
    issue = cloud_issue(tier="Tier 2")
    issue["changelog"] = {"startAt": 0, "maxResults": 1, "total": 1, "histories": [
        history("10035", "2024-12-29T12:00:00.000+0530", STATUS_ITEM)]}
    serve_cloud(rsps, issue)
    ticket = cloud.fetch(CLOUD_KEY, needs=frozenset({"history"}))
    assert ticket.tier_history == (TierChange(CLOUD_CREATED, "L2"),)
    assert ticket.tier_at(CLOUD_CREATED + timedelta(days=3)) == "L2"


# ------------------------------------------------------------------------------------------
# escalate


EDITMETA = {"fields": {
    TIER_FIELD: {"name": "Support Tier", "key": TIER_FIELD, "operations": ["set"],
                 "allowedValues": [{"id": "10100", "value": "Tier 1"},
                                   {"id": "10101", "value": "Tier 2"},
                                   {"id": "10102", "value": "Tier 3"}]},
    "labels": {"name": "Labels", "key": "labels", "operations": ["add", "set", "remove"]}}}


def fetched(connector: JiraConnector, mock, issue: dict, *, dc: bool = False,
            editmeta: dict | None = EDITMETA):
    """Fetch ``issue`` through ``connector`` and serve its edit metadata (unless ``None``);
    returns the ticket and the calls made so far."""
    (serve_dc if dc else serve_cloud)(mock, issue)
    if editmeta is not None:
        serve(mock, responses.GET, f"{DC_ISSUE_URL if dc else ISSUE_URL}/editmeta", editmeta)
    ticket = connector.fetch(DC_KEY if dc else CLOUD_KEY)
    return ticket, len(mock.calls)


CLOUD_EDITMETA = ("GET", f"/rest/api/3/issue/{CLOUD_KEY}/editmeta", None)
DC_EDITMETA = ("GET", f"/rest/api/2/issue/{DC_KEY}/editmeta", None)


SD_REPLY = {"id": "10150", "body": NOTE, "public": False, "author": BOT_USER,
            "created": {"iso8601": "2024-12-29T10:30:00+0530", "epochMillis": 1735448400000}}
CLOUD_COMMENT_REPLY = cloud_comment("10151", BOT_USER, adf.from_text(NOTE), public=False)


def expected_put(fields: dict, *labels: str) -> dict:
    return {"fields": fields, "update": {"labels": [{"add": label} for label in labels]}}


def test_escalate_in_a_service_desk_project(cloud, rsps):
    ticket, before = fetched(cloud, rsps, cloud_issue(tier="Tier 1",
                                                      project_type="service_desk"))
    serve(rsps, responses.POST, SD_COMMENT_URL, SD_REPLY, status=201)
    serve(rsps, responses.PUT, ISSUE_URL, status=204)
    result = cloud.escalate(ticket, WRITE)
    comment_body = {"body": NOTE, "public": False}
    put_body = expected_put({TIER_FIELD: {"value": "Tier 2"}}, "tierlift_escalated",
                            "tierlift_customer_request")
    assert sent(rsps.calls[before:]) == [
        CLOUD_EDITMETA,
        ("POST", f"/rest/servicedeskapi/request/{CLOUD_KEY}/comment", comment_body),
        ("PUT", f"/rest/api/3/issue/{CLOUD_KEY}", put_body),
    ]
    assert result == WriteResult((
        SentRequest(*CLOUD_EDITMETA, 200),
        SentRequest("POST", f"/rest/servicedeskapi/request/{CLOUD_KEY}/comment", comment_body,
                    201),
        SentRequest("PUT", f"/rest/api/3/issue/{CLOUD_KEY}", put_body, 204),
    ))
    assert result.assignee_cleared is False


def test_escalate_does_not_add_labels_already_on_the_issue_and_sets_priority(cloud, rsps):
    ticket, before = fetched(cloud, rsps, cloud_issue(
        tier="Tier 1", project_type="service_desk", labels=["vip", "tierlift_escalated"]))
    serve(rsps, responses.POST, SD_COMMENT_URL, SD_REPLY, status=201)
    serve(rsps, responses.PUT, ISSUE_URL, status=204)
    write = TierWrite(tier="L3", add_tags=("tierlift_escalated", "tierlift_customer_request",
                                           "tierlift_customer_request"),
                      internal_note=NOTE, priority=Priority.HIGH)
    cloud.escalate(ticket, write)
    assert sent(rsps.calls[-1:]) == [("PUT", f"/rest/api/3/issue/{CLOUD_KEY}", expected_put(
        {TIER_FIELD: {"value": "Tier 3"}, "priority": {"name": "High"}},
        "tierlift_customer_request"))]
    assert len(rsps.calls) - before == 3


def test_escalate_without_a_tier_sends_no_tier_field(sleeps, rsps):
    connector = cloud_connector(sleeps, transition="Escalate")
    ticket, before = fetched(connector, rsps, cloud_issue(project_type="service_desk"),
                             editmeta=None)  # no tier to check
    serve(rsps, responses.POST, SD_COMMENT_URL, SD_REPLY, status=201)
    serve(rsps, responses.PUT, ISSUE_URL, status=204)
    write = TierWrite(tier=None, add_tags=("tierlift_escalated",), internal_note=NOTE,
                      priority=Priority.URGENT)
    result = connector.escalate(ticket, write)
    put_body = expected_put({"priority": {"name": "Highest"}}, "tierlift_escalated")
    assert sent(rsps.calls[before:]) == [
        ("POST", f"/rest/servicedeskapi/request/{CLOUD_KEY}/comment",
         {"body": NOTE, "public": False}),
        ("PUT", f"/rest/api/3/issue/{CLOUD_KEY}", put_body),
    ]  # and no transition: the tier did not move
    assert [r.method for r in result.requests] == ["POST", "PUT"]


def test_escalate_in_a_cloud_software_project_posts_an_internal_adf_comment(cloud, rsps):
    ticket, before = fetched(cloud, rsps, cloud_issue(tier="Tier 1"))  # projectTypeKey software
    serve(rsps, responses.POST, COMMENT_URL, CLOUD_COMMENT_REPLY, status=201)
    serve(rsps, responses.PUT, ISSUE_URL, status=204)
    result = cloud.escalate(ticket, WRITE)
    adf_note = {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [
            {"type": "text", "text": "tierlift escalated this ticket from L1 to L2."}]},
        {"type": "paragraph", "content": []},
        {"type": "paragraph", "content": [{"type": "text", "text": "Why:"}]},
        {"type": "paragraph", "content": [
            {"type": "text", "text": "- customer_request: the customer asked for a manager"}]},
        {"type": "paragraph", "content": [
            {"type": "text", "text": '    "I want to speak to a manager"'}]},
        {"type": "paragraph", "content": []},
        {"type": "paragraph", "content": [{"type": "text", "text": EVIDENCE_LINE}]},
    ]}
    comment_body = {"body": adf_note, "properties": INTERNAL_PROPERTY}
    put_body = expected_put({TIER_FIELD: {"value": "Tier 2"}}, "tierlift_escalated",
                            "tierlift_customer_request")
    assert sent(rsps.calls[before:]) == [
        CLOUD_EDITMETA,
        ("POST", f"/rest/api/3/issue/{CLOUD_KEY}/comment", comment_body),
        ("PUT", f"/rest/api/3/issue/{CLOUD_KEY}", put_body),
    ]
    assert result == WriteResult((
        SentRequest(*CLOUD_EDITMETA, 200),
        SentRequest("POST", f"/rest/api/3/issue/{CLOUD_KEY}/comment", comment_body, 201),
        SentRequest("PUT", f"/rest/api/3/issue/{CLOUD_KEY}", put_body, 204),
    ))


def test_escalate_on_data_center_posts_a_plain_internal_comment(dc, rsps):
    ticket, before = fetched(dc, rsps, dc_issue(tier="Tier 1"), dc=True)
    serve(rsps, responses.POST, f"{DC_ISSUE_URL}/comment",
          dc_comment("20150", DC_BOT_USER, NOTE), status=201)
    serve(rsps, responses.PUT, DC_ISSUE_URL, status=204)
    result = dc.escalate(ticket, WRITE)
    comment_body = {"body": NOTE, "properties": INTERNAL_PROPERTY}
    put_body = expected_put({TIER_FIELD: {"value": "Tier 2"}}, "tierlift_escalated",
                            "tierlift_customer_request")
    assert sent(rsps.calls[before:]) == [
        DC_EDITMETA,
        ("POST", f"/rest/api/2/issue/{DC_KEY}/comment", comment_body),
        ("PUT", f"/rest/api/2/issue/{DC_KEY}", put_body),
    ]
    assert [c.request.headers["Authorization"] for c in rsps.calls[before:]] == \
        ["Bearer pat"] * 3
    assert result == WriteResult((
        SentRequest(*DC_EDITMETA, 200),
        SentRequest("POST", f"/rest/api/2/issue/{DC_KEY}/comment", comment_body, 201),
        SentRequest("PUT", f"/rest/api/2/issue/{DC_KEY}", put_body, 204),
    ))


def test_escalate_does_not_repeat_a_note_already_left_by_the_bot(cloud, rsps):
    earlier = cloud_comment("10151", BOT_USER, adf.from_text(NOTE), public=False)
    ticket, before = fetched(cloud, rsps, cloud_issue(tier="Tier 1", comments=[earlier]))
    assert ticket.comments[-1].author_role is AuthorRole.SELF
    serve(rsps, responses.PUT, ISSUE_URL, status=204)
    result = cloud.escalate(ticket, WRITE)
    put_body = expected_put({TIER_FIELD: {"value": "Tier 2"}}, "tierlift_escalated",
                            "tierlift_customer_request")
    assert sent(rsps.calls[before:]) == [CLOUD_EDITMETA,
                                         ("PUT", f"/rest/api/3/issue/{CLOUD_KEY}", put_body)]
    assert result == WriteResult((SentRequest(*CLOUD_EDITMETA, 200),
                                  SentRequest("PUT", f"/rest/api/3/issue/{CLOUD_KEY}",
                                              put_body, 204)))


def test_the_same_evidence_quoted_by_someone_else_does_not_suppress_the_note(cloud, rsps):
    quoted = cloud_comment("10152", AGENT, doc(paragraph(text(f"FYI {EVIDENCE_LINE}"))))
    ticket, before = fetched(cloud, rsps, cloud_issue(tier="Tier 1", comments=[quoted]))
    serve(rsps, responses.POST, COMMENT_URL, CLOUD_COMMENT_REPLY, status=201)
    serve(rsps, responses.PUT, ISSUE_URL, status=204)
    cloud.escalate(ticket, WRITE)
    assert [(m, p) for m, p, _ in sent(rsps.calls[before:])] == [
        CLOUD_EDITMETA[:2],
        ("POST", f"/rest/api/3/issue/{CLOUD_KEY}/comment"),
        ("PUT", f"/rest/api/3/issue/{CLOUD_KEY}")]


def test_a_400_on_the_put_is_rejected(cloud, rsps):
    ticket, before = fetched(cloud, rsps, cloud_issue(tier="Tier 1"))
    serve(rsps, responses.POST, COMMENT_URL, CLOUD_COMMENT_REPLY, status=201)
    answer = {"errorMessages": [],
              "errors": {TIER_FIELD: "Option value 'Tier 2' is not valid"}}
    serve(rsps, responses.PUT, ISSUE_URL, answer, status=400)
    with pytest.raises(Rejected) as caught:
        cloud.escalate(ticket, WRITE)
    assert caught.value.status == 400
    assert caught.value.details == answer
    assert [c.request.method for c in rsps.calls[before:]] == ["GET", "POST", "PUT"]


def test_a_put_timeout_is_an_ambiguous_write_and_is_not_repeated(cloud, rsps, sleeps):
    ticket, before = fetched(cloud, rsps, cloud_issue(tier="Tier 1"))
    serve(rsps, responses.POST, COMMENT_URL, CLOUD_COMMENT_REPLY, status=201)
    rsps.add(responses.PUT, ISSUE_URL, body=requests.ReadTimeout("read timed out (30 s)"))
    with pytest.raises(AmbiguousWrite):
        cloud.escalate(ticket, WRITE)
    assert [c.request.method for c in rsps.calls[before:]] == ["GET", "POST", "PUT"]
    assert sleeps == []


@pytest.mark.parametrize("editmeta, reason", [
    ({"fields": {"labels": EDITMETA["fields"]["labels"]}}, "cannot be edited"),
    ({"fields": {TIER_FIELD: {**EDITMETA["fields"][TIER_FIELD],
                              "allowedValues": [{"id": "1", "value": "T1"},
                                                {"id": "2", "value": "T2"}]}}},
     "'Tier 2' is not an option of customfield_10050 (options: ['T1', 'T2'])"),
])
def test_a_tier_jira_would_refuse_is_rejected_before_anything_is_written(cloud, rsps, editmeta,
                                                                         reason):
    ticket, before = fetched(cloud, rsps, cloud_issue(tier="Tier 1"), editmeta=editmeta)
    with pytest.raises(Rejected) as caught:
        cloud.escalate(ticket, WRITE)
    assert reason in str(caught.value)
    assert sent(rsps.calls[before:]) == [CLOUD_EDITMETA]


TRANSITIONS = {"expand": "transitions", "transitions": [
    {"id": "11", "name": "Start progress", "hasScreen": False,
     "to": {"id": "3", "name": "In Progress"}},
    {"id": "31", "name": "Escalate", "hasScreen": False,
     "to": {"id": "10100", "name": "Escalated to Tier 2"}},
]}


def test_escalate_runs_the_configured_transition(sleeps, rsps):
    connector = cloud_connector(sleeps, transition="Escalate")
    ticket, before = fetched(connector, rsps, cloud_issue(tier="Tier 1"))
    serve(rsps, responses.POST, COMMENT_URL, CLOUD_COMMENT_REPLY, status=201)
    serve(rsps, responses.PUT, ISSUE_URL, status=204)
    serve(rsps, responses.GET, TRANSITIONS_URL, TRANSITIONS)
    serve(rsps, responses.POST, TRANSITIONS_URL, status=204)
    result = connector.escalate(ticket, WRITE)
    transitions = f"/rest/api/3/issue/{CLOUD_KEY}/transitions"
    assert [(m, p) for m, p, _ in sent(rsps.calls[before:])] == [
        CLOUD_EDITMETA[:2],
        ("POST", f"/rest/api/3/issue/{CLOUD_KEY}/comment"),
        ("PUT", f"/rest/api/3/issue/{CLOUD_KEY}"),
        ("GET", transitions),
        ("POST", transitions),
    ]
    assert json.loads(rsps.calls[-1].request.body) == {"transition": {"id": "31"}}
    assert result.requests[3:] == (
        SentRequest("GET", transitions, None, 200),
        SentRequest("POST", transitions, {"transition": {"id": "31"}}, 204),
    )


def test_an_unavailable_transition_is_skipped_without_error(sleeps, rsps):
    connector = cloud_connector(sleeps, transition="Escalate")
    ticket, before = fetched(connector, rsps, cloud_issue(tier="Tier 1"))
    serve(rsps, responses.POST, COMMENT_URL, CLOUD_COMMENT_REPLY, status=201)
    serve(rsps, responses.PUT, ISSUE_URL, status=204)
    serve(rsps, responses.GET, TRANSITIONS_URL,
          {"expand": "transitions", "transitions": TRANSITIONS["transitions"][:1]})
    result = connector.escalate(ticket, WRITE)
    transitions = f"/rest/api/3/issue/{CLOUD_KEY}/transitions"
    assert [(m, p) for m, p, _ in sent(rsps.calls[before:])] == [
        CLOUD_EDITMETA[:2],
        ("POST", f"/rest/api/3/issue/{CLOUD_KEY}/comment"),
        ("PUT", f"/rest/api/3/issue/{CLOUD_KEY}"),
        ("GET", transitions),
    ]
    assert [(r.method, r.status) for r in result.requests] == [
        ("GET", 200), ("POST", 201), ("PUT", 204), ("GET", 200)]


# ------------------------------------------------------------------------------------------
# connector.adf

REALISTIC = doc(
    paragraph(text("Hi "),
              {"type": "mention", "attrs": {"id": "5b10ac8d82e05b22cc7d4ef5",
                                            "text": "@Ari Agent", "accessLevel": ""}},
              text(", this is "), text("urgent", "strong", "em"), text(" "),
              {"type": "emoji", "attrs": {"shortName": ":fire:", "id": "1f525", "text": "🔥"}}),
    paragraph(text("Line one"), {"type": "hardBreak"}, text("Line two")),
    {"type": "bulletList", "content": [list_item("checkout fails"),
                                       list_item("since 09:00")]},
    {"type": "orderedList", "attrs": {"order": 1}, "content": [list_item("open the app"),
                                                               list_item("tap Pay")]},
    {"type": "codeBlock", "attrs": {"language": "text"},
     "content": [text("HTTP 500 POST /pay")]},
    paragraph(text("See "),
              {"type": "inlineCard", "attrs": {"url": "https://status.acme.example/i/42"}}),
)


def test_to_text_reads_a_realistic_document():
    assert adf.to_text(REALISTIC) == (
        "Hi @Ari Agent, this is urgent 🔥\n"
        "Line one\n"
        "Line two\n"
        "- checkout fails\n"
        "- since 09:00\n"
        "1. open the app\n"
        "2. tap Pay\n"
        "HTTP 500 POST /pay\n"
        "See https://status.acme.example/i/42"
    )


def test_to_text_numbers_an_ordered_list_from_its_order():
    document = doc({"type": "orderedList", "attrs": {"order": 3},
                    "content": [list_item("third"), list_item("fourth")]})
    assert adf.to_text(document) == "3. third\n4. fourth"


def test_to_text_of_an_emoji_without_text_uses_its_short_name():
    document = doc(paragraph(text("ok "), {"type": "emoji", "attrs": {"shortName": ":+1:"}}))
    assert adf.to_text(document) == "ok :+1:"


def test_to_text_of_none_is_empty_and_a_string_passes_through():
    assert adf.to_text(None) == ""
    assert adf.to_text("h*ello*\r\n  world  ") == "h*ello*\r\n  world  "
    assert adf.to_text("") == ""


def test_from_text_makes_one_paragraph_per_line():
    assert adf.from_text("first\n\nlast") == {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "first"}]},
        {"type": "paragraph", "content": []},
        {"type": "paragraph", "content": [{"type": "text", "text": "last"}]},
    ]}


@pytest.mark.parametrize("note", [
    NOTE,
    "one line",
    "tierlift kept this ticket in L3. Priority: normal → urgent.\n\nEvidence: sla/breach:42",
])
def test_from_text_round_trips_through_to_text(note):
    assert adf.to_text(adf.from_text(note)) == note


# ------------------------------------------------------------------------------------------
# configuration -> connector


PARTIAL_PRIORITIES = """
[jira]
base_url = "https://acme.atlassian.net"
email = "bot@acme.example"
api_token = "tok"
webhook_secret = "jira-webhook-secret"
tier_field = "customfield_10050"
[jira.tier_values]
L1 = "Tier 1"
L2 = "Tier 2"
L3 = "Tier 3"
[jira.priorities]
urgent = "Blocker"
"""


def test_a_partial_priorities_table_fails_at_start_or_keeps_the_other_defaults(tmp_path,
                                                                                sleeps):
    path = tmp_path / "tierlift.toml"
    path.write_text(PARTIAL_PRIORITIES, encoding="utf-8")
    try:
        settings = load_settings(path)
    except ConfigError as caught:  # acceptable: refused at start, naming the key
        assert any(line.startswith("jira") and "priorities" in line
                   for line in caught.problems)
        return
    jira = settings.jira
    api = ApiSession(jira.url, (jira.email, jira.api_token.get_secret_value()),
                     sleep=sleeps.append)
    connector = JiraConnector(api, cloud=jira.cloud, tier_field=jira.tier_field,
                              tier_values=jira.tier_values, ladder=settings.ladder,
                              priorities=jira.priorities, transition=jira.transition)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        ticket, before = fetched(connector, mock, cloud_issue(tier="Tier 1",
                                                              project_type="service_desk"))
        serve(mock, responses.POST, SD_COMMENT_URL, SD_REPLY, status=201)
        serve(mock, responses.PUT, ISSUE_URL, status=204)
        connector.escalate(ticket, TierWrite(tier="L2", add_tags=("tierlift_escalated",),
                                             internal_note=NOTE, priority=Priority.HIGH))
        [put] = [c for c in mock.calls[before:] if c.request.method == "PUT"]
    assert json.loads(put.request.body)["fields"]["priority"] == {"name": "High"}


def test_escalate_adds_watchers_one_request_each(cloud, rsps):
    ticket, before = fetched(cloud, rsps, cloud_issue(tier="Tier 2"), editmeta=None)
    serve(rsps, responses.POST, COMMENT_URL, CLOUD_COMMENT_REPLY, status=201)
    serve(rsps, responses.PUT, ISSUE_URL, status=204)
    rsps.add(responses.POST, f"{ISSUE_URL}/watchers", status=204)
    write = TierWrite(tier=None, add_tags=("tierlift_escalated",), internal_note=NOTE,
                      add_followers=("5b10:head-of-support", "5b10:cto"))
    result = cloud.escalate(ticket, write)
    watchers = [(c.request.method, path_of(c), json.loads(c.request.body))
                for c in rsps.calls[before:] if c.request.url.endswith("/watchers")]
    assert watchers == [("POST", f"/rest/api/3/issue/{CLOUD_KEY}/watchers", "5b10:head-of-support"),
                        ("POST", f"/rest/api/3/issue/{CLOUD_KEY}/watchers", "5b10:cto")]
    assert [r.status for r in result.requests][-2:] == [204, 204]


# ------------------------------------------------------------------------------------------
# JSM organizations: the Organizations field, GET /rest/servicedeskapi/organization/{id}

ORG_FIELD = "customfield_10002"
ORG_TYPE = "com.atlassian.servicedesk:sd-customer-organizations"
ORGANIZATION_NEED = frozenset({"organization"})


def field_list(org_field: str | None = ORG_FIELD, name: str = "Organizations") -> list[dict]:
    """GET /rest/api/3/field: system fields, the tier field and (on a JSM site) Organizations."""
    fields = [
        {"id": "summary", "key": "summary", "name": "Summary", "custom": False,
         "orderable": True, "navigable": True, "searchable": True, "clauseNames": ["summary"],
         "schema": {"type": "string", "system": "summary"}},
        {"id": TIER_FIELD, "key": TIER_FIELD, "name": "Support Tier", "custom": True,
         "orderable": True, "navigable": True, "searchable": True,
         "clauseNames": ["cf[10050]", "Support Tier"],
         "schema": {"type": "option", "customId": 10050,
                    "custom": "com.atlassian.jira.plugin.system.customfieldtypes:select"}}]
    if org_field is not None:
        fields.append({"id": org_field, "key": org_field, "name": name,
                       "untranslatedName": "Organizations", "custom": True, "orderable": True,
                       "navigable": True, "searchable": True,
                       "clauseNames": [f"cf[{org_field[12:]}]", name],
                       "schema": {"type": "array", "items": "sd-customerorganization",
                                  "custom": ORG_TYPE, "customId": int(org_field[12:])}})
    return fields


def org_json(org_id, name: str, site: str = URL) -> dict:
    return {"id": org_id, "name": name,
            "_links": {"self": f"{site}/rest/servicedeskapi/organization/{org_id}"}}


NORTHWIND = org_json("27", "Northwind Freight Ltd")
LUMIERE = org_json("31", "Groupe Lumière SA")


def jsm_issue(*organizations: dict, project_type: str = "service_desk") -> dict:
    return cloud_issue(project_type=project_type, **{ORG_FIELD: list(organizations)})


def test_a_jsm_issue_s_first_organization_is_looked_up_once_and_cached(cloud, rsps):
    serve(rsps, responses.GET, f"{URL}/rest/api/3/field", field_list())
    serve_cloud(rsps, jsm_issue(NORTHWIND, LUMIERE))
    serve(rsps, responses.GET, f"{URL}/rest/servicedeskapi/organization/27",
          {**NORTHWIND, "name": "Northwind Freight Ltd.", "scimManaged": False})
    ticket = cloud.fetch(CLOUD_KEY, needs=ORGANIZATION_NEED)
    again = cloud.fetch(CLOUD_KEY, needs=ORGANIZATION_NEED)
    assert [(c.request.method, path_of(c), c.response.status_code) for c in rsps.calls] == [
        ("GET", "/rest/api/3/field", 200),
        ("GET", f"/rest/api/3/issue/{CLOUD_KEY}", 200),
        ("GET", "/rest/api/3/myself", 200),
        ("GET", "/rest/servicedeskapi/organization/27", 200),
        ("GET", f"/rest/api/3/issue/{CLOUD_KEY}", 200),  # field id, bot and organization kept
    ]
    assert query_of(rsps.calls[0]) == {}
    assert query_of(rsps.calls[3]) == {}
    assert query_of(rsps.calls[1])["fields"][0].split(",")[-2:] == [TIER_FIELD, ORG_FIELD]
    for fetched_ticket in (ticket, again):
        assert fetched_ticket.organization_id == "27"
        assert fetched_ticket.organization == Organization("27", "Northwind Freight Ltd.")
        assert fetched_ticket.custom_fields[ORG_FIELD] == [NORTHWIND, LUMIERE]


def test_the_organizations_field_is_found_by_its_type_whatever_its_name(cloud, rsps):
    serve(rsps, responses.GET, f"{URL}/rest/api/3/field",
          field_list("customfield_10410", name="Organisationen"))
    issue = cloud_issue(project_type="service_desk",
                        customfield_10410=[org_json(4, "Helvetia Messtechnik AG")])
    serve_cloud(rsps, issue)
    serve(rsps, responses.GET, f"{URL}/rest/servicedeskapi/organization/4",
          org_json("4", "Helvetia Messtechnik AG"))
    ticket = cloud.fetch(CLOUD_KEY, needs=ORGANIZATION_NEED)
    assert (ticket.organization_id, ticket.organization) == (
        "4", Organization("4", "Helvetia Messtechnik AG"))  # a numeric id, as text
    assert "customfield_10410" in query_of(rsps.calls[1])["fields"][0].split(",")


def test_an_organization_is_looked_up_again_after_its_time_to_live(cloud, rsps, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(jira_connector, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    serve(rsps, responses.GET, f"{URL}/rest/api/3/field", field_list())
    serve_cloud(rsps, jsm_issue(NORTHWIND))
    serve(rsps, responses.GET, f"{URL}/rest/servicedeskapi/organization/27", NORTHWIND)
    serve(rsps, responses.GET, f"{URL}/rest/servicedeskapi/organization/27",
          {**NORTHWIND, "name": "Northwind Logistics Ltd"})
    assert cloud.fetch(CLOUD_KEY, needs=ORGANIZATION_NEED).organization.name == \
        "Northwind Freight Ltd"
    clock[0] += jira_connector.ORGANIZATION_TTL - 1
    assert cloud.fetch(CLOUD_KEY, needs=ORGANIZATION_NEED).organization.name == \
        "Northwind Freight Ltd"
    clock[0] += 2
    assert cloud.fetch(CLOUD_KEY, needs=ORGANIZATION_NEED).organization.name == \
        "Northwind Logistics Ltd"
    assert [path_of(c) for c in rsps.calls if "servicedeskapi" in path_of(c)] == [
        "/rest/servicedeskapi/organization/27", "/rest/servicedeskapi/organization/27"]
    assert [path_of(c) for c in rsps.calls].count("/rest/api/3/field") == 1


def test_an_organization_that_is_gone_keeps_the_id_and_name_the_issue_shows(cloud, rsps):
    serve(rsps, responses.GET, f"{URL}/rest/api/3/field", field_list())
    serve_cloud(rsps, jsm_issue(NORTHWIND))
    serve(rsps, responses.GET, f"{URL}/rest/servicedeskapi/organization/27",
          {"errorMessage": "Organization 27 does not exist."}, status=404)
    ticket = cloud.fetch(CLOUD_KEY, needs=ORGANIZATION_NEED)
    assert ticket.organization == Organization("27", "Northwind Freight Ltd")
    assert rsps.calls[-1].response.status_code == 404


def test_an_organization_lookup_failure_is_an_error(cloud, rsps):
    serve(rsps, responses.GET, f"{URL}/rest/api/3/field", field_list())
    serve_cloud(rsps, jsm_issue(NORTHWIND))
    serve(rsps, responses.GET, f"{URL}/rest/servicedeskapi/organization/27",
          {"errorMessage": "You do not have permission."}, status=403)
    with pytest.raises(HelpdeskError, match="GET /rest/servicedeskapi/organization/27: HTTP 403"):
        cloud.fetch(CLOUD_KEY, needs=ORGANIZATION_NEED)


@pytest.mark.parametrize("issue", [
    jsm_issue(),  # a request shared with no organization
    jsm_issue(NORTHWIND, project_type="software"),  # not a service desk project
], ids=["no-organization", "software-project"])
def test_no_organization_means_no_lookup(cloud, rsps, issue):
    serve(rsps, responses.GET, f"{URL}/rest/api/3/field", field_list())
    serve_cloud(rsps, issue)
    ticket = cloud.fetch(CLOUD_KEY, needs=ORGANIZATION_NEED)
    assert (ticket.organization_id, ticket.organization) == (None, None)
    assert not any("servicedeskapi" in path_of(c) for c in rsps.calls)


def test_a_site_without_service_management_is_asked_for_its_fields_again_only_later(
        cloud, rsps, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(jira_connector, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    serve(rsps, responses.GET, f"{URL}/rest/api/3/field", field_list(None))
    serve_cloud(rsps, cloud_issue())
    for _ in range(2):
        assert cloud.fetch(CLOUD_KEY, needs=ORGANIZATION_NEED).organization is None
    clock[0] += jira_connector.ORGANIZATION_TTL
    cloud.fetch(CLOUD_KEY, needs=ORGANIZATION_NEED)
    assert [path_of(c) for c in rsps.calls].count("/rest/api/3/field") == 2
    assert all(ORG_FIELD not in query_of(c).get("fields", [""])[0] for c in rsps.calls)


def test_a_configured_organizations_field_is_used_without_asking_on_data_center(sleeps, rsps):
    dc = dc_connector(sleeps, organizations_field="customfield_10300")
    issue = dc_issue(customfield_10300=[org_json("27", "Northwind Freight Ltd", DC_URL)])
    issue["fields"]["project"]["projectTypeKey"] = "service_desk"
    serve_dc(rsps, issue)
    serve(rsps, responses.GET, f"{DC_URL}/rest/servicedeskapi/organization/27",
          org_json("27", "Northwind Freight Ltd", DC_URL))
    ticket = dc.fetch(DC_KEY, needs=frozenset({"organization", "history"}))
    assert [(c.request.method, path_of(c)) for c in rsps.calls] == [
        ("GET", f"/rest/api/2/issue/{DC_KEY}"), ("GET", "/rest/api/2/myself"),
        ("GET", "/rest/servicedeskapi/organization/27")]
    assert "customfield_10300" in query_of(rsps.calls[0])["fields"][0].split(",")
    assert ticket.organization == Organization("27", "Northwind Freight Ltd")


def test_without_the_organization_need_no_organization_is_read(cloud, rsps):
    serve_cloud(rsps, jsm_issue(NORTHWIND))
    ticket = cloud.fetch(CLOUD_KEY, needs=frozenset({"history"}))
    assert (ticket.organization_id, ticket.organization) == (None, None)
    assert [path_of(c) for c in rsps.calls] == [f"/rest/api/3/issue/{CLOUD_KEY}",
                                               "/rest/api/3/myself"]


@pytest.mark.parametrize("ref", ["SEC/../../../../secret/PATH-1", "../10021", "KAN-22?x=1",
                                 "kan-22", ""])
def test_no_url_is_built_from_a_ref_that_is_neither_a_key_nor_an_id(cloud, rsps, ref):
    """A signed delivery once made the worker GET /rest/secret/PATH-1 with the bot's
    credentials; now nothing is sent (rsps fails on any request)."""
    with pytest.raises(Rejected, match="neither an issue key nor an issue id"):
        cloud.fetch(ref)
    assert len(rsps.calls) == 0


# ------------------------------------------------------------------------------------------
# an answer about another issue than the one asked for


@pytest.mark.parametrize(("key", "issue_id"), [("KAN-23", "10022"), ("NEW-5", "10021")])
def test_an_answer_for_another_issue_key_is_refused(cloud, rsps, key, issue_id):
    """Another issue, or this one moved to a new key: nothing asked for ties them (a moved
    issue is refused too; its new key's deliveries are evaluated)."""
    serve(rsps, responses.GET, ISSUE_URL, {**cloud_issue(), "key": key, "id": issue_id})
    with pytest.raises(Misdirected) as caught:
        cloud.fetch(CLOUD_KEY)
    assert str(caught.value) == (f"issue {CLOUD_KEY}: the helpdesk answered for issue {key} "
                                 f"(id {issue_id}) when {CLOUD_KEY} was asked; nothing written")
    assert isinstance(caught.value, Rejected) and caught.value.status is None
    assert [(c.request.method, path_of(c)) for c in rsps.calls] == [
        ("GET", f"/rest/api/3/issue/{CLOUD_KEY}")]


def test_an_answer_for_another_issue_id_is_refused(cloud, rsps):
    serve(rsps, responses.GET, f"{URL}/rest/api/3/issue/10021",
          {**cloud_issue(), "key": CLOUD_KEY, "id": "10099"})
    with pytest.raises(Misdirected, match="answered for issue KAN-22 \\(id 10099\\) when 10021"):
        cloud.fetch("10021")
    assert [path_of(c) for c in rsps.calls] == ["/rest/api/3/issue/10021"]


def test_an_issue_asked_for_by_id_is_read_and_written_by_that_id(cloud, rsps):
    """Its key comes from the answer: every later request names the id asked for."""
    by_id = f"{URL}/rest/api/3/issue/10021"
    issue = cloud_issue(tier="Tier 1", project_type="service_desk", total=2,
                        comments=[cloud_comment("10100", AGENT, doc(paragraph(text("hi"))))])
    serve(rsps, responses.GET, by_id, {**issue, "key": "OTHER-9", "id": "10021"})
    serve(rsps, responses.GET, MYSELF_URL, MYSELF)
    serve(rsps, responses.GET, f"{by_id}/comment", comment_page([]))
    serve(rsps, responses.GET, f"{by_id}/editmeta", EDITMETA)
    serve(rsps, responses.POST, f"{URL}/rest/servicedeskapi/request/10021/comment", SD_REPLY,
          status=201)
    serve(rsps, responses.PUT, by_id, status=204)
    ticket = cloud.fetch("10021")
    assert ticket.ref == "10021"
    cloud.escalate(ticket, WRITE)
    assert [(c.request.method, path_of(c)) for c in rsps.calls] == [
        ("GET", "/rest/api/3/issue/10021"), ("GET", "/rest/api/3/myself"),
        ("GET", "/rest/api/3/issue/10021/comment"), ("GET", "/rest/api/3/issue/10021/editmeta"),
        ("POST", "/rest/servicedeskapi/request/10021/comment"),
        ("PUT", "/rest/api/3/issue/10021")]


def test_an_organization_id_is_one_path_segment_whatever_it_holds(cloud, rsps):
    serve(rsps, responses.GET, f"{URL}/rest/api/3/field", field_list())
    serve_cloud(rsps, jsm_issue(org_json("1/../../api/3/myself", "Odd")))
    serve(rsps, responses.GET,
          f"{URL}/rest/servicedeskapi/organization/1%2F..%2F..%2Fapi%2F3%2Fmyself",
          status=404)
    cloud.fetch(CLOUD_KEY, needs=ORGANIZATION_NEED)
    assert rsps.calls[-1].request.url == \
        f"{URL}/rest/servicedeskapi/organization/1%2F..%2F..%2Fapi%2F3%2Fmyself"
