"""ZendeskConnector against the recorded Zendesk API traffic, served by ``responses``."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from conftest import TIER_GROUPS, ZENDESK_URL, recorded
from responses import matchers

from connector.errors import Conflict, Misdirected, NotFound, Rejected
from connector.http import ApiSession
from connector.ticket import (
    AuthorRole,
    Priority,
    SentRequest,
    TierChange,
    TierLadder,
    TierWrite,
    WriteResult,
)
from connector.zendesk import ZendeskConnector

LADDER = TierLadder(("L1", "L2", "L3"), "L1")
TICKET_PATH = "/api/v2/tickets/1.json"
TICKET_URL = f"{ZENDESK_URL}{TICKET_PATH}"
AUDITS_URL = f"{ZENDESK_URL}/api/v2/tickets/1/audits.json"
ME_URL = f"{ZENDESK_URL}/api/v2/users/me.json"
BOT_ID = 7000000000001
REQUESTER_ID = 6130869168922  # ticket-show.json requester_id
FIXTURE_GROUP = 6130852536346  # ticket-show.json group_id, not in TIER_GROUPS
FIXTURE_AUTHOR = 26155588908179  # author of the one comment in ticket-comments.json
FIXTURE_COMMENT = 6130852545306  # the Comment event of ticket-audits.json's creation audit
CREATED = datetime(2023, 9, 9, 23, 52, 5, tzinfo=UTC)
NOTE = "tierlift escalated this ticket from L1 to L2."
ASSIGNEE_422 = {
    "error": "RecordInvalid",
    "description": "Record validation errors",
    "details": {
        "assignee": [
            {"description": "Assignee is not a member of the group", "error": "InvalidValue"}
        ]
    },
}
AUDITS_QUERY = {"include": "users"}


def fixture(name: str) -> dict:
    return recorded(f"zendesk-api/{name}")


def show_body() -> dict:
    return fixture("ticket-show")["response"]["body"]


def serve(mock, method, url, name=None, *, body=None, status=None, headers=None, match=()):
    """Register a response; by default the recorded status, headers and body of ``name``."""
    recorded_response = fixture(name)["response"] if name else {"status": 200, "headers": {}}
    all_headers = dict(recorded_response["headers"])
    all_headers.update(headers or {})
    content_type = all_headers.pop("content-type", "application/json; charset=utf-8")
    payload = body if body is not None else recorded_response["body"]
    mock.add(method, url, body=json.dumps(payload), status=status or recorded_response["status"],
             headers=all_headers, content_type=content_type, match=match)


def query_of(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def calls_to(mock, url: str) -> list:
    return [c for c in mock.calls if c.request.url.split("?")[0] == url]


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


def make_connector(sleeps: list[float], tier_groups=TIER_GROUPS) -> ZendeskConnector:
    api = ApiSession(ZENDESK_URL, ("bot@acme.example/token", "t"), sleep=sleeps.append)
    return ZendeskConnector(api, tier_groups, LADDER)


@pytest.fixture
def connector(sleeps) -> ZendeskConnector:
    return make_connector(sleeps)


def serve_me(mock) -> None:
    serve(mock, responses.GET, ME_URL, body={"user": {"id": BOT_ID, "role": "admin"}})


def audits_body(*audits: dict) -> dict:
    """A ticket audits page in the shape of ticket-audits.json, with no further page."""
    body = copy.deepcopy(fixture("ticket-audits")["response"]["body"])
    body["audits"] = list(audits)
    body["meta"]["has_more"] = False
    body["links"] = {"prev": None, "next": None}
    return body


def create_audit(group: str | None = str(FIXTURE_GROUP)) -> dict:
    """The fixture's creation audit (with its Create group_id event), optionally regrouped."""
    audit = copy.deepcopy(fixture("ticket-audits")["response"]["body"]["audits"][0])
    for event in audit["events"]:
        if event.get("field_name") == "group_id":
            event["value"] = group
    return audit


def change_audit(at: str, previous: str, value: str, audit_id: int = 2) -> dict:
    return {
        "id": audit_id,
        "ticket_id": 1,
        "created_at": at,
        "author_id": 6130907993114,
        "metadata": {"system": {}, "custom": {}},
        "events": [
            {"id": audit_id * 10, "type": "Change", "value": "urgent", "field_name": "priority",
             "previous_value": "normal"},
            {"id": audit_id * 10 + 1, "type": "Change", "value": value, "field_name": "group_id",
             "previous_value": previous},
        ],
        "via": {"channel": "web", "source": {"from": {}, "to": {}, "rel": None}},
    }


# --------------------------------------------------------------------------------------------
# fetch: the ticket itself


def test_fetch_parses_the_recorded_ticket(connector, rsps):
    serve(rsps, responses.GET, TICKET_URL, "ticket-show")
    ticket = connector.fetch("1", needs=frozenset())
    assert ticket.platform == "zendesk"
    assert ticket.ref == "1"
    assert ticket.subject == "Sample ticket: Meet the ticket"
    assert ticket.status == "open"
    assert ticket.priority is Priority.NORMAL
    assert ticket.tags == ("sample", "support", "zendesk")
    assert ticket.requester_id == "6130869168922"
    assert ticket.assignee_id == "6130907993114"
    assert ticket.organization_id is None
    assert ticket.channel == "sample_ticket"
    assert ticket.created_at == CREATED
    assert ticket.updated_at == CREATED
    assert ticket.version == "2023-09-09T23:52:05Z"
    assert ticket.custom_fields == {}
    assert ticket.tier == "L1"  # group 6130852536346 is not a tier group: the default tier


def test_fetch_maps_the_group_to_its_tier(sleeps, rsps):
    connector = make_connector(sleeps, {"L1": 101, "L2": FIXTURE_GROUP, "L3": 103})
    serve(rsps, responses.GET, TICKET_URL, "ticket-show")
    assert connector.fetch("1", needs=frozenset()).tier == "L2"


def test_fetch_without_needs_makes_only_the_ticket_request(connector, rsps):
    serve(rsps, responses.GET, TICKET_URL, "ticket-show")
    ticket = connector.fetch("1", needs=frozenset())
    assert [c.request.url for c in rsps.calls] == [TICKET_URL]
    assert rsps.calls[0].request.method == "GET"
    assert ticket.comments == ()
    assert ticket.tier_history == ()


def test_fetch_of_a_missing_ticket_raises_not_found(connector, rsps):
    serve(rsps, responses.GET, TICKET_URL, "ticket-update-not-found")
    with pytest.raises(NotFound) as caught:
        connector.fetch("1")
    assert caught.value.status == 404
    assert len(rsps.calls) == 1


def test_an_answer_about_another_ticket_is_refused_before_any_other_request(connector, rsps):
    body = show_body()
    body["ticket"]["id"] = 2
    serve(rsps, responses.GET, TICKET_URL, "ticket-show", body=body)
    with pytest.raises(Misdirected) as caught:
        connector.fetch("1")
    assert str(caught.value) == ("ticket 1: the helpdesk answered for ticket 2 when ticket 1 "
                                 "was asked; nothing written")
    assert isinstance(caught.value, Rejected) and caught.value.status is None
    assert [c.request.url for c in rsps.calls] == [TICKET_URL]


@pytest.mark.parametrize("ref", ["1/../../users/me", "1.json?x=", "", "\u00b2"])
def test_a_ref_that_is_not_a_ticket_id_is_refused_without_a_request(connector, rsps, ref):
    with pytest.raises(Misdirected, match="is not a Zendesk ticket id"):
        connector.fetch(ref)
    assert len(rsps.calls) == 0


def test_an_organization_id_that_is_not_an_id_is_never_put_in_a_url(connector, rsps):
    body = show_body()
    body["ticket"]["organization_id"] = "1/../../users/me"
    serve(rsps, responses.GET, TICKET_URL, "ticket-show", body=body)
    with pytest.raises(Misdirected, match="is not a Zendesk organization id"):
        connector.fetch("1", needs=frozenset({"organization"}))
    assert [c.request.url for c in rsps.calls] == [TICKET_URL]


# --------------------------------------------------------------------------------------------
# fetch: comments


def test_fetch_comments_reads_them_from_the_audits_in_one_request(connector, rsps):
    body = audits_body(create_audit())
    body["links"]["next"] = f"{AUDITS_URL}?page%5Bafter%5D=CURSOR1"  # set, never followed
    serve(rsps, responses.GET, TICKET_URL, "ticket-show")
    serve_me(rsps)
    serve(rsps, responses.GET, AUDITS_URL, "ticket-audits", body=body,
          match=[matchers.query_param_matcher(AUDITS_QUERY)])
    ticket = connector.fetch("1", needs=frozenset({"comments"}))
    assert [c.request.url.split("?")[0] for c in rsps.calls] == [TICKET_URL, ME_URL, AUDITS_URL]
    assert len(ticket.comments) == 1
    comment = ticket.comments[0]
    assert comment.id == str(FIXTURE_COMMENT)
    assert comment.author_id == str(REQUESTER_ID)
    assert comment.author_role is AuthorRole.CUSTOMER  # not side-loaded, but the requester
    assert comment.public is True
    assert comment.body.startswith("Hi there, \n\n I\u2019m sending an email because")
    assert comment.created_at == CREATED  # its audit's time
    assert ticket.tier_history == ()


def _comments_by(*authors: int) -> dict:
    """An audits page: the creation audit, then one audit per author, each with a copy of the
    creation's comment (comment ids 1, 2, ..., an hour apart)."""
    creation = create_audit()
    template = next(e for e in creation["events"] if e["type"] == "Comment")
    creation["events"] = [e for e in creation["events"] if e["type"] != "Comment"]
    audits = [creation]
    for n, author in enumerate(authors, start=1):
        comment = copy.deepcopy(template)
        comment.update(id=n, author_id=author, plain_body=f"comment {n}")
        audits.append({"id": 100 + n, "ticket_id": 1, "author_id": author,
                       "created_at": f"2023-09-10T{n:02d}:00:00Z", "events": [comment]})
    return audits_body(*audits)


def test_author_roles_from_side_loaded_users(connector, rsps):
    body = _comments_by(FIXTURE_AUTHOR, 501, 502, BOT_ID)
    body["users"] = [
        {"id": FIXTURE_AUTHOR, "name": "A Customer", "role": "end-user"},
        {"id": 501, "name": "An Agent", "role": "agent"},
        {"id": 502, "name": "An Admin", "role": "admin"},
        {"id": BOT_ID, "name": "tierlift", "role": "admin"},
    ]
    serve(rsps, responses.GET, TICKET_URL, "ticket-show")
    serve_me(rsps)
    serve(rsps, responses.GET, AUDITS_URL, "ticket-audits", body=body,
          match=[matchers.query_param_matcher(AUDITS_QUERY)])
    ticket = connector.fetch("1", needs=frozenset({"comments"}))
    assert [(c.id, c.author_role) for c in ticket.comments] == [
        ("1", AuthorRole.CUSTOMER),
        ("2", AuthorRole.AGENT),
        ("3", AuthorRole.AGENT),
        ("4", AuthorRole.SELF),
    ]
    assert [c.body for c in ticket.comments] == ["comment 1", "comment 2", "comment 3",
                                                 "comment 4"]
    assert ticket.comments[0].from_customer is True


def test_author_roles_without_side_loaded_users(connector, rsps):
    body = _comments_by(REQUESTER_ID, FIXTURE_AUTHOR, BOT_ID)
    assert "users" not in body
    serve(rsps, responses.GET, TICKET_URL, "ticket-show")
    serve_me(rsps)
    serve(rsps, responses.GET, AUDITS_URL, "ticket-audits", body=body)
    ticket = connector.fetch("1", needs=frozenset({"comments"}))
    assert [c.author_role for c in ticket.comments] == [
        AuthorRole.CUSTOMER, AuthorRole.AGENT, AuthorRole.SELF
    ]


def test_a_comment_made_private_later_is_private(connector, rsps):
    body = _comments_by(REQUESTER_ID, 501)
    body["audits"].append({"id": 200, "ticket_id": 1, "author_id": 501,
                           "created_at": "2023-09-11T00:00:00Z", "events": [
                               {"id": 201, "type": "CommentPrivacyChange", "comment_id": 1,
                                "public": False}]})
    serve(rsps, responses.GET, TICKET_URL, "ticket-show")
    serve_me(rsps)
    serve(rsps, responses.GET, AUDITS_URL, "ticket-audits", body=body)
    ticket = connector.fetch("1", needs=frozenset({"comments"}))
    assert [(c.id, c.public) for c in ticket.comments] == [("1", False), ("2", True)]


def test_whoami_is_asked_once(connector, rsps):
    serve(rsps, responses.GET, TICKET_URL, "ticket-show")
    serve_me(rsps)
    serve(rsps, responses.GET, AUDITS_URL, "ticket-audits", body=audits_body(create_audit()))
    connector.fetch("1", needs=frozenset({"comments"}))
    connector.fetch("1", needs=frozenset({"comments"}))
    assert len(calls_to(rsps, ME_URL)) == 1
    assert len(calls_to(rsps, AUDITS_URL)) == 2
    assert connector.whoami() == str(BOT_ID)


def test_comments_follow_the_audits_pages_in_order(connector, rsps):
    next_url = f"{AUDITS_URL}?include=users&page=2"
    audits = _comments_by(REQUESTER_ID, 501, 501, REQUESTER_ID)["audits"]
    first = {"audits": audits[:3], "next_page": next_url, "previous_page": None, "count": 5}
    second = {"audits": audits[3:], "next_page": None, "previous_page": None, "count": 5}
    serve(rsps, responses.GET, TICKET_URL, "ticket-show")
    serve_me(rsps)
    serve(rsps, responses.GET, AUDITS_URL, "ticket-audits", body=first,
          match=[matchers.query_param_matcher(AUDITS_QUERY)])
    serve(rsps, responses.GET, AUDITS_URL, "ticket-audits", body=second,
          match=[matchers.query_param_matcher({"include": "users", "page": "2"})])
    ticket = connector.fetch("1", needs=frozenset({"comments"}))
    assert [c.id for c in ticket.comments] == ["1", "2", "3", "4"]
    assert [c.body for c in ticket.comments] == ["comment 1", "comment 2", "comment 3",
                                                 "comment 4"]
    assert [c.author_role for c in ticket.comments] == [
        AuthorRole.CUSTOMER, AuthorRole.AGENT, AuthorRole.AGENT, AuthorRole.CUSTOMER
    ]
    assert len(calls_to(rsps, AUDITS_URL)) == 2
    assert calls_to(rsps, AUDITS_URL)[1].request.url == next_url


@pytest.mark.parametrize("next_url", [
    "https://elsewhere.example/api/v2/tickets/1/audits.json?include=users&page=2",
    f"{ZENDESK_URL}/api/v2/tickets/2/audits.json?include=users&page=2",
    f"{ZENDESK_URL}/api/v2/users.json?page=2",
    "http://acme.zendesk.com/api/v2/tickets/1/audits.json?include=users&page=2",
    "/api/v2/tickets/1/audits.json?include=users&page=2",
])
def test_a_next_link_off_the_listing_on_our_helpdesk_is_refused(connector, rsps, next_url):
    first = {"audits": _comments_by(REQUESTER_ID, 501)["audits"], "next_page": next_url,
             "previous_page": None, "count": 6}
    serve(rsps, responses.GET, TICKET_URL, "ticket-show")
    serve_me(rsps)
    serve(rsps, responses.GET, AUDITS_URL, "ticket-audits", body=first,
          match=[matchers.query_param_matcher(AUDITS_QUERY)])
    with pytest.raises(Misdirected) as caught:
        connector.fetch("1", needs=frozenset({"comments"}))
    assert str(caught.value) == (f"audits of ticket 1: next page {next_url!r} is not on "
                                 f"{AUDITS_URL}; not followed")
    assert [c.request.url.split("?")[0] for c in rsps.calls] == [TICKET_URL, ME_URL,
                                                                 AUDITS_URL]


def test_an_audits_next_page_of_another_ticket_is_refused(connector, rsps):
    first = {"audits": [create_audit("101")], "next_page":
             f"{ZENDESK_URL}/api/v2/tickets/2/audits.json?page=2", "previous_page": None,
             "count": 2}
    serve(rsps, responses.GET, TICKET_URL, "ticket-show")
    serve(rsps, responses.GET, AUDITS_URL, "ticket-audits", body=first)
    with pytest.raises(Misdirected, match="audits of ticket 1: next page"):
        connector.fetch("1", needs=frozenset({"history"}))
    assert [c.request.url for c in rsps.calls] == [TICKET_URL, f"{AUDITS_URL}?include=users"]


# --------------------------------------------------------------------------------------------
# fetch: tier history from audits


def test_tier_history_from_audits(connector, rsps):
    change_at = "2023-09-10T08:00:00Z"
    body = audits_body(create_audit(), change_audit(change_at, str(FIXTURE_GROUP), "102"))
    serve(rsps, responses.GET, TICKET_URL, "ticket-show")
    serve(rsps, responses.GET, AUDITS_URL, "ticket-audits", body=body)
    ticket = connector.fetch("1", needs=frozenset({"history"}))
    changed = datetime(2023, 9, 10, 8, 0, tzinfo=UTC)
    assert ticket.tier_history == (TierChange(CREATED, "L1"), TierChange(changed, "L2"))
    assert ticket.tier_at(CREATED - timedelta(days=1)) == "L1"
    assert ticket.tier_at(CREATED + timedelta(hours=1)) == "L1"
    assert ticket.tier_at(changed - timedelta(seconds=1)) == "L1"
    assert ticket.tier_at(changed) == "L2"
    assert ticket.tier_at(changed + timedelta(days=3)) == "L2"
    assert [c.request.url for c in rsps.calls] == [TICKET_URL, f"{AUDITS_URL}?include=users"]
    assert ticket.comments == ()


def test_tier_history_starts_in_the_default_tier_when_the_first_group_event_is_later(
    connector, rsps
):
    creation = create_audit()
    creation["events"] = [e for e in creation["events"] if e.get("field_name") != "group_id"]
    body = audits_body(creation, change_audit("2023-09-11T10:00:00Z", "", "103"))
    serve(rsps, responses.GET, TICKET_URL, "ticket-show")
    serve(rsps, responses.GET, AUDITS_URL, "ticket-audits", body=body)
    ticket = connector.fetch("1", needs=frozenset({"history"}))
    changed = datetime(2023, 9, 11, 10, 0, tzinfo=UTC)
    assert ticket.tier_history == (TierChange(CREATED, "L1"), TierChange(changed, "L3"))
    assert ticket.tier_at(changed - timedelta(minutes=1)) == "L1"
    assert ticket.tier_at(changed) == "L3"


def test_tier_history_without_group_events_is_the_current_tier(sleeps, rsps):
    connector = make_connector(sleeps, {"L1": 101, "L2": 102, "L3": FIXTURE_GROUP})
    creation = create_audit()
    creation["events"] = [e for e in creation["events"] if e.get("field_name") != "group_id"]
    serve(rsps, responses.GET, TICKET_URL, "ticket-show")
    serve(rsps, responses.GET, AUDITS_URL, "ticket-audits", body=audits_body(creation))
    ticket = connector.fetch("1", needs=frozenset({"history"}))
    assert ticket.tier_history == (TierChange(CREATED, "L3"),)
    assert ticket.tier_at(CREATED + timedelta(days=1)) == "L3"


def test_tier_history_follows_offset_pagination(connector, rsps):
    next_page = f"{AUDITS_URL}?include=users&page=2"
    first = {"audits": [create_audit("101")], "next_page": next_page, "previous_page": None,
             "count": 2}
    second = {"audits": [change_audit("2023-09-12T00:00:00Z", "101", "102")], "next_page": None,
              "previous_page": f"{AUDITS_URL}?page=1", "count": 2}
    serve(rsps, responses.GET, TICKET_URL, "ticket-show")
    serve(rsps, responses.GET, AUDITS_URL, "ticket-audits", body=first,
          match=[matchers.query_param_matcher(AUDITS_QUERY)])
    serve(rsps, responses.GET, AUDITS_URL, "ticket-audits", body=second,
          match=[matchers.query_param_matcher({"include": "users", "page": "2"})])
    ticket = connector.fetch("1", needs=frozenset({"history"}))
    assert ticket.tier_history == (
        TierChange(CREATED, "L1"),
        TierChange(datetime(2023, 9, 12, tzinfo=UTC), "L2"),
    )
    assert len(calls_to(rsps, AUDITS_URL)) == 2


def test_default_fetch_reads_the_ticket_and_its_audits(connector, rsps):
    serve(rsps, responses.GET, TICKET_URL, "ticket-show")
    serve_me(rsps)
    serve(rsps, responses.GET, AUDITS_URL, "ticket-audits", body=audits_body(create_audit()))
    ticket = connector.fetch("1")
    assert [c.request.url.split("?")[0] for c in rsps.calls] == [TICKET_URL, ME_URL, AUDITS_URL]
    assert [c.id for c in ticket.comments] == [str(FIXTURE_COMMENT)]
    assert ticket.tier_history == (TierChange(CREATED, "L1"),)


# --------------------------------------------------------------------------------------------
# escalate


@pytest.fixture
def ticket(connector):
    return connector.parse_ticket(show_body()["ticket"])


def expected_fields(**changes) -> dict:
    fields = {
        "tags": ["sample", "support", "zendesk", "tierlift_escalated",
                 "tierlift_customer_request"],
        "group_id": 102,
        "priority": "high",
        "comment": {"body": NOTE, "public": False},
        "safe_update": True,
        "updated_stamp": "2023-09-09T23:52:05Z",
    }
    fields.update(changes)
    return fields


WRITE = TierWrite(
    tier="L2",
    add_tags=("tierlift_escalated", "support", "tierlift_customer_request"),
    internal_note=NOTE,
    priority=Priority.HIGH,
)


def put_bodies(mock) -> list[dict]:
    return [json.loads(c.request.body) for c in mock.calls if c.request.method == "PUT"]


def test_escalate_sends_one_safe_update_put(connector, rsps, ticket):
    serve(rsps, responses.PUT, TICKET_URL, "ticket-update")
    result = connector.escalate(ticket, WRITE)
    assert len(rsps.calls) == 1
    call = rsps.calls[-1]
    assert call.request.method == "PUT"
    assert call.request.url == TICKET_URL
    assert json.loads(call.request.body) == {"ticket": expected_fields()}
    assert result == WriteResult(
        (SentRequest("PUT", TICKET_PATH, {"ticket": expected_fields()}, 200),))
    assert result.assignee_cleared is False


def test_escalate_without_priority_sends_no_priority(connector, rsps, ticket):
    serve(rsps, responses.PUT, TICKET_URL, "ticket-update")
    write = TierWrite(tier="L3", add_tags=("tierlift_escalated",), internal_note=NOTE)
    connector.escalate(ticket, write)
    assert json.loads(rsps.calls[-1].request.body) == {"ticket": {
        "tags": ["sample", "support", "zendesk", "tierlift_escalated"],
        "group_id": 103,
        "comment": {"body": NOTE, "public": False},
        "safe_update": True,
        "updated_stamp": "2023-09-09T23:52:05Z",
    }}


def test_escalate_without_tier_sends_no_group(connector, rsps, ticket):
    serve(rsps, responses.PUT, TICKET_URL, "ticket-update")
    write = TierWrite(tier=None, add_tags=("tierlift_escalated",), internal_note=NOTE,
                      priority=Priority.URGENT)
    result = connector.escalate(ticket, write)
    body = json.loads(rsps.calls[-1].request.body)
    assert "group_id" not in body["ticket"]
    assert body == {"ticket": {
        "tags": ["sample", "support", "zendesk", "tierlift_escalated"],
        "priority": "urgent",
        "comment": {"body": NOTE, "public": False},
        "safe_update": True,
        "updated_stamp": "2023-09-09T23:52:05Z",
    }}
    assert result.requests[-1].body == body


def test_escalate_never_sends_a_tag_twice(connector, rsps, ticket):
    serve(rsps, responses.PUT, TICKET_URL, "ticket-update")
    write = TierWrite(tier="L2", add_tags=("tierlift_escalated", "tierlift_escalated"),
                      internal_note=NOTE)
    connector.escalate(ticket, write)
    tags = json.loads(rsps.calls[-1].request.body)["ticket"]["tags"]
    assert tags == ["sample", "support", "zendesk", "tierlift_escalated"]


def test_escalate_conflict(connector, rsps, ticket):
    serve(rsps, responses.PUT, TICKET_URL, status=409, body={
        "error": "UpdateConflict",
        "description": "Safe Update prevented the update due to outdated ticket data.",
    })
    with pytest.raises(Conflict) as caught:
        connector.escalate(ticket, WRITE)
    assert caught.value.status == 409
    assert len(rsps.calls) == 1


def test_escalate_of_a_missing_ticket_raises_not_found(connector, rsps, ticket):
    serve(rsps, responses.PUT, TICKET_URL, "ticket-update-not-found")
    with pytest.raises(NotFound) as caught:
        connector.escalate(ticket, WRITE)
    assert caught.value.status == 404
    assert len(rsps.calls) == 1


def test_escalate_clears_an_assignee_outside_the_target_group(connector, rsps, ticket):
    serve(rsps, responses.PUT, TICKET_URL, status=422, body=ASSIGNEE_422)
    serve(rsps, responses.PUT, TICKET_URL, "ticket-update")
    result = connector.escalate(ticket, WRITE)
    bodies = put_bodies(rsps)
    assert len(bodies) == 2
    assert bodies[0] == {"ticket": expected_fields()}
    assert bodies[1] == {"ticket": {**expected_fields(), "assignee_id": None}}
    assert [c.request.url for c in rsps.calls] == [TICKET_URL, TICKET_URL]
    assert result == WriteResult((SentRequest("PUT", TICKET_PATH, bodies[0], 422),
                                  SentRequest("PUT", TICKET_PATH, bodies[1], 200)),
                                 assignee_cleared=True)


def test_escalate_rejected_twice_gives_up_after_two_puts(connector, rsps, ticket):
    serve(rsps, responses.PUT, TICKET_URL, status=422, body=ASSIGNEE_422)
    serve(rsps, responses.PUT, TICKET_URL, status=422, body=ASSIGNEE_422)
    with pytest.raises(Rejected) as caught:
        connector.escalate(ticket, WRITE)
    assert caught.value.status == 422
    assert caught.value.details == ASSIGNEE_422
    assert len(put_bodies(rsps)) == 2


def test_escalate_rejected_for_another_reason_is_not_retried(connector, rsps, ticket):
    other = {
        "error": "RecordInvalid",
        "description": "Record validation errors",
        "details": {"priority": [{"description": "Priority: cannot be blank",
                                  "error": "BlankValue"}]},
    }
    serve(rsps, responses.PUT, TICKET_URL, status=422, body=other)
    with pytest.raises(Rejected) as caught:
        connector.escalate(ticket, WRITE)
    assert caught.value.details == other
    assert put_bodies(rsps) == [{"ticket": expected_fields()}]


def test_escalate_unassigned_ticket_rejected_about_assignee_is_not_retried(connector, rsps):
    raw = {**show_body()["ticket"], "assignee_id": None}
    unassigned = connector.parse_ticket(raw)
    serve(rsps, responses.PUT, TICKET_URL, status=422, body=ASSIGNEE_422)
    with pytest.raises(Rejected):
        connector.escalate(unassigned, WRITE)
    assert len(put_bodies(rsps)) == 1


def test_escalate_adds_followers_in_the_same_put(connector, rsps, ticket):
    serve(rsps, responses.PUT, TICKET_URL, "ticket-update")
    write = TierWrite(tier=None, add_tags=("tierlift_escalated",), internal_note=NOTE,
                      add_followers=("7001", "7002"))
    connector.escalate(ticket, write)
    body = json.loads(rsps.calls[-1].request.body)["ticket"]
    assert body["followers"] == [{"user_id": 7001, "action": "put"},
                                 {"user_id": 7002, "action": "put"}]
    assert "group_id" not in body
