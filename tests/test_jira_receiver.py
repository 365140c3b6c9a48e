"""The Jira side of the receiver: X-Hub-Signature / token checks, POST /webhooks/jira over HTTP
with every recorded Jira webhook, and the [jira] configuration section."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import textwrap
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import responses
import sqlalchemy as sa
from conftest import FIXTURES, make_settings
from werkzeug.datastructures import Headers

from plugins.manager import ConfigError
from webhook_app import MAX_BODY, create_app
from webhook_app.settings import JiraSettings, load_settings
from webhook_app.signatures import (
    JIRA_SIGNATURE,
    JIRA_TOKEN_HEADER,
    SignatureError,
    jira_signature,
    verify_jira,
)
from webhook_app.store import Store, inbox

JIRA_FIXTURES = FIXTURES / "jira-webhooks"
FIXTURE_NAMES = sorted(path.name for path in JIRA_FIXTURES.glob("*.json"))
JIRA_SECRET = "jira-webhook-secret-5c2d"
DC_TOKEN = "dc-shared-token-91ab"
IDENTIFIER = "3b1e6a0c-7f42-4d5e-9a61-2c8f0d9b7e15"
IDENTIFIER_HEADER = "X-Atlassian-Webhook-Identifier"
TIER_VALUES = {"L1": "Tier 1", "L2": "Tier 2", "L3": "Tier 3"}
CLOUD_USER = "712020:f1ad7cfd-7f82-4dc0-85e4-8bc47bcc08e4"  # user of cloud-issue-*.json

# Atlassian's published test vector (jira.md 1.3).
VECTOR_SECRET = "It's a Secret to Everybody"
VECTOR_BODY = b"Hello World!"
VECTOR_SIGNATURE = "sha256=a4771c39fbe90f317c7824e83ddef3caae9cb3d976c214ace1f2937e133263c9"


def fixture_body(name: str) -> bytes:
    """The raw bytes of a recorded Jira webhook, exactly as stored on disk."""
    return (JIRA_FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict:
    return json.loads(fixture_body(name))


def encode(data: object) -> bytes:
    return json.dumps(data).encode()


def signed(body: bytes, *, secret: str = JIRA_SECRET, identifier: str | None = IDENTIFIER,
           **extra: str) -> dict[str, str]:
    """Headers of a Jira Cloud delivery signed with ``secret``."""
    headers = {"Content-Type": "application/json", JIRA_SIGNATURE: jira_signature(secret, body)}
    if identifier is not None:
        headers[IDENTIFIER_HEADER] = identifier
    headers.update(extra)
    return headers


# ------------------------------------------------------------------------------------------
# (a) verify_jira


def test_published_test_vector_verifies():
    headers = {JIRA_SIGNATURE: VECTOR_SIGNATURE}
    assert verify_jira(headers, VECTOR_BODY, secret=VECTOR_SECRET, token=None) is None


def test_jira_signature_reproduces_the_published_test_vector():
    assert jira_signature(VECTOR_SECRET, VECTOR_BODY) == VECTOR_SIGNATURE


def test_wrong_secret_is_refused():
    with pytest.raises(SignatureError, match="does not match"):
        verify_jira({JIRA_SIGNATURE: VECTOR_SIGNATURE}, VECTOR_BODY,
                    secret="It's a Secret to Nobody", token=None)


def test_tampered_body_is_refused():
    with pytest.raises(SignatureError, match="does not match"):
        verify_jira({JIRA_SIGNATURE: VECTOR_SIGNATURE}, b"Hello World?",
                    secret=VECTOR_SECRET, token=None)


def test_missing_signature_with_only_a_secret_is_refused():
    with pytest.raises(SignatureError, match="missing X-Hub-Signature"):
        verify_jira({"Content-Type": "application/json"}, VECTOR_BODY, secret=VECTOR_SECRET,
                    token=None)


def _hmac(method: str) -> str:
    return hmac.new(VECTOR_SECRET.encode(), VECTOR_BODY, method).hexdigest()


@pytest.mark.parametrize("signature", [
    f"md5={_hmac('md5')}",
    f"sha1={_hmac('sha1')}",
    _hmac("sha256"),  # the right digest, but no "method="
    "sha256=",
], ids=["md5", "sha1", "no-method", "empty-digest"])
def test_unknown_or_weak_method_is_refused(signature):
    with pytest.raises(SignatureError, match="unsupported X-Hub-Signature method"):
        verify_jira({JIRA_SIGNATURE: signature}, VECTOR_BODY, secret=VECTOR_SECRET, token=None)


def test_header_name_is_case_insensitive_with_framework_headers():
    headers = Headers({"x-hub-signature": VECTOR_SIGNATURE})
    verify_jira(headers, VECTOR_BODY, secret=VECTOR_SECRET, token=None)


def test_sha512_is_accepted():
    signature = f"sha512={_hmac('sha512')}"
    assert jira_signature(VECTOR_SECRET, VECTOR_BODY, "sha512") == signature
    verify_jira({JIRA_SIGNATURE: signature}, VECTOR_BODY, secret=VECTOR_SECRET, token=None)


def test_sha512_digest_under_the_sha256_label_is_refused():
    with pytest.raises(SignatureError, match="does not match"):
        verify_jira({JIRA_SIGNATURE: f"sha256={_hmac('sha512')}"}, VECTOR_BODY,
                    secret=VECTOR_SECRET, token=None)


def test_uppercase_hex_digest_and_method_are_accepted():
    method, digest = VECTOR_SIGNATURE.split("=")
    verify_jira({JIRA_SIGNATURE: f"{method}={digest.upper()}"}, VECTOR_BODY,
                secret=VECTOR_SECRET, token=None)
    verify_jira({JIRA_SIGNATURE: f"SHA256={digest}"}, VECTOR_BODY, secret=VECTOR_SECRET,
                token=None)


def test_data_center_token_in_the_header_is_accepted():
    verify_jira({JIRA_TOKEN_HEADER: DC_TOKEN}, VECTOR_BODY, secret=None, token=DC_TOKEN)


def test_data_center_token_in_the_query_is_accepted():
    verify_jira({}, VECTOR_BODY, secret=None, token=DC_TOKEN, query_token=DC_TOKEN)


@pytest.mark.parametrize(("headers", "query"), [
    ({JIRA_TOKEN_HEADER: DC_TOKEN + "x"}, None),
    ({}, DC_TOKEN[:-1]),
    ({}, None),
    ({JIRA_TOKEN_HEADER: ""}, ""),
    ({JIRA_TOKEN_HEADER: "wrong"}, DC_TOKEN),  # a header that is present is the one checked
], ids=["wrong-header", "wrong-query", "missing", "empty", "wrong-header-right-query"])
def test_wrong_or_missing_data_center_token_is_refused(headers, query):
    with pytest.raises(SignatureError, match="missing or wrong token"):
        verify_jira(headers, VECTOR_BODY, secret=None, token=DC_TOKEN, query_token=query)


def test_present_but_wrong_signature_is_refused_even_with_the_right_token():
    headers = {JIRA_SIGNATURE: jira_signature("another-secret", VECTOR_BODY),
               JIRA_TOKEN_HEADER: DC_TOKEN}
    with pytest.raises(SignatureError, match="does not match"):
        verify_jira(headers, VECTOR_BODY, secret=VECTOR_SECRET, token=DC_TOKEN,
                    query_token=DC_TOKEN)


def test_with_secret_and_token_an_unsigned_delivery_needs_the_token():
    verify_jira({JIRA_TOKEN_HEADER: DC_TOKEN}, VECTOR_BODY, secret=VECTOR_SECRET, token=DC_TOKEN)
    with pytest.raises(SignatureError):
        verify_jira({}, VECTOR_BODY, secret=VECTOR_SECRET, token=DC_TOKEN)


def test_nothing_configured_refuses_everything():
    with pytest.raises(SignatureError):
        verify_jira({JIRA_SIGNATURE: VECTOR_SIGNATURE, JIRA_TOKEN_HEADER: DC_TOKEN},
                    VECTOR_BODY, secret=None, token=None, query_token=DC_TOKEN)


# ------------------------------------------------------------------------------------------
# (b) POST /webhooks/jira


def cloud_jira(**changes) -> JiraSettings:
    values = {"base_url": "https://acme.atlassian.net", "email": "bot@acme.example",
              "api_token": "jira-api-token", "webhook_secret": JIRA_SECRET,
              "tier_field": "customfield_10050", "tier_values": TIER_VALUES}
    values.update(changes)
    return JiraSettings(**values)


def dc_jira() -> JiraSettings:
    return JiraSettings(base_url="https://jira.acme.example", pat="dc-personal-access-token",
                        webhook_token=DC_TOKEN, tier_field="customfield_10050",
                        tier_values=TIER_VALUES)


@pytest.fixture
def settings(tmp_path):
    """Overrides conftest's: Jira Cloud only (the ``store`` fixture opens this database)."""
    return make_settings(tmp_path, zendesk=None, jira=cloud_jira())


@pytest.fixture
def wake() -> threading.Event:
    return threading.Event()


class ArrivalClock:
    """The receiver's clock: a recorded delivery arrives a second after its body's timestamp
    (the recordings are years old; the freshness check would refuse them at today's time)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def arrive(self, body: bytes) -> None:
        try:
            timestamp = json.loads(body)["timestamp"]
        except (ValueError, TypeError, KeyError):
            return
        if isinstance(timestamp, int):
            self.now = timestamp / 1000 + 1


@pytest.fixture
def clock() -> ArrivalClock:
    return ArrivalClock()


@pytest.fixture
def store(settings, clock):
    """Overrides conftest's: the receiver's time follows the deliveries (see ArrivalClock)."""
    store = Store(settings.database_url, clock=clock)
    store.create_schema()
    yield store
    store.close()


@pytest.fixture
def client(settings, store, wake):
    return create_app(settings, store=store, wake=wake).test_client()


@pytest.fixture
def helpdesk():
    """Intercepts every outgoing ``requests`` call: the receiver must make none."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def post(client, helpdesk, body: bytes, headers: dict[str, str], *, query: str = ""):
    clock = client.application.extensions["tierlift"].store.clock
    if isinstance(clock, ArrivalClock):
        clock.arrive(body)
    response = client.post(f"/webhooks/jira{query}", data=body, headers=headers)
    assert len(helpdesk.calls) == 0, "the receiver must not call the helpdesk inside a request"
    return response


def inbox_rows(store: Store) -> list[dict]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(inbox).order_by(inbox.c.id)).mappings().all()
    return [dict(row) for row in rows]


def stored_row(store: Store) -> dict:
    rows = inbox_rows(store)
    assert len(rows) == 1
    row = rows[0]
    assert row["status"] == "pending"
    assert row["attempts"] == 0
    return {key: row[key] for key in ("platform", "dedupe_key", "ticket_ref", "kind", "actor",
                                      "payload")}


def expected_actor(data: dict) -> str:
    user = data["user"]
    return user.get("accountId") or user.get("key") or user["name"]


# What the recorded webhooks say, read off the files by hand.
KNOWN = {
    "cloud-issue-created.json": ("10021", "KAN-22", "jira:issue_created", CLOUD_USER,
                                 1735441883659),
    "cloud-issue-updated-description.json": ("10021", "KAN-22", "jira:issue_updated",
                                             CLOUD_USER, 1735442025214),
    "cloud-issue-updated-minimal.json": ("77256", "JIRATEST1-14", "jira:issue_updated",
                                         "557058:18cf44bb-bc9b-4e8d-b1b7-882969ddc8e5",
                                         1727087443918),
    "server-issue-created.json": ("86228", "VRF-803", "jira:issue_created", "crystal.johnston",
                                  1569283177226),
    "server-issue-updated-sprint.json": ("86228", "VRF-803", "jira:issue_updated",
                                         "crystal.johnston", 1569283571979),
    "server-issue-updated-status.json": ("86215", "VRF-799", "jira:issue_updated",
                                         "crystal.johnston", 1569291498011),
}


def test_every_recorded_fixture_is_known():
    assert len(FIXTURE_NAMES) >= 6
    assert set(KNOWN) <= set(FIXTURE_NAMES)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_recorded_webhook_with_identifier_is_stored_under_it(client, helpdesk, store, wake,
                                                              name):
    body = fixture_body(name)
    data = fixture_json(name)
    response = post(client, helpdesk, body, signed(body))
    assert response.status_code == 202
    assert response.json == {"status": "accepted", "delivery": f"webhook:{IDENTIFIER}",
                             "ticket": data["issue"]["key"]}
    assert stored_row(store) == {
        "platform": "jira",
        "dedupe_key": f"webhook:{IDENTIFIER}",
        "ticket_ref": data["issue"]["key"],
        "kind": data["webhookEvent"],
        "actor": expected_actor(data),
        "payload": body.decode(),
    }
    assert wake.is_set()
    if name in KNOWN:
        _, key, kind, actor, _ = KNOWN[name]
        assert stored_row(store)["ticket_ref"] == key
        assert stored_row(store)["kind"] == kind
        assert stored_row(store)["actor"] == actor


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_recorded_webhook_without_identifier_is_stored_under_issue_and_timestamp(
    client, helpdesk, store, name
):
    body = fixture_body(name)
    data = fixture_json(name)
    key = f"issue:{data['issue']['id']}:{data['timestamp']}"
    response = post(client, helpdesk, body, signed(body, identifier=None))
    assert response.status_code == 202
    assert response.json == {"status": "accepted", "delivery": key,
                             "ticket": data["issue"]["key"]}
    row = stored_row(store)
    assert row["dedupe_key"] == key
    assert row["payload"] == body.decode()
    if name in KNOWN:
        issue_id, _, _, _, timestamp = KNOWN[name]
        assert row["dedupe_key"] == f"issue:{issue_id}:{timestamp}"


def test_minimal_delivery_with_only_issue_id_and_key_is_accepted(client, helpdesk, store):
    body = fixture_body("cloud-issue-updated-minimal.json")
    assert set(json.loads(body)["issue"]) == {"id", "self", "key"}
    response = post(client, helpdesk, body, signed(body))
    assert response.status_code == 202
    assert stored_row(store) == {
        "platform": "jira", "dedupe_key": f"webhook:{IDENTIFIER}", "ticket_ref": "JIRATEST1-14",
        "kind": "jira:issue_updated", "actor": "557058:18cf44bb-bc9b-4e8d-b1b7-882969ddc8e5",
        "payload": body.decode(),
    }


def test_server_fixture_actor_is_the_user_key(client, helpdesk, store):
    body = fixture_body("server-issue-updated-status.json")
    assert post(client, helpdesk, body, signed(body)).status_code == 202
    row = stored_row(store)
    assert (row["ticket_ref"], row["actor"]) == ("VRF-799", "crystal.johnston")


def test_redelivery_with_the_same_identifier_is_a_duplicate(client, helpdesk, store, wake):
    body = fixture_body("cloud-issue-created.json")
    assert post(client, helpdesk, body, signed(body)).status_code == 202
    wake.clear()
    retry = signed(body, **{"X-Atlassian-Webhook-Retry": "1"})
    response = post(client, helpdesk, body, retry)
    assert response.status_code == 200
    assert response.json == {"status": "duplicate", "delivery": f"webhook:{IDENTIFIER}"}
    assert len(inbox_rows(store)) == 1
    assert not wake.is_set()


def test_another_event_of_the_same_issue_is_a_new_delivery(client, helpdesk, store):
    body = fixture_body("cloud-issue-created.json")
    assert post(client, helpdesk, body, signed(body)).status_code == 202
    later = encode({**fixture_json("cloud-issue-created.json"), "timestamp": 1735441890000})
    other = "9c0d7e4a-1b2f-4a6e-8d3c-5e7f9a1b2c3d"
    assert post(client, helpdesk, later, signed(later, identifier=other)).status_code == 202
    assert [row["dedupe_key"] for row in inbox_rows(store)] == [
        f"webhook:{IDENTIFIER}", f"webhook:{other}"]


def test_the_same_body_under_a_new_identifier_is_a_replay(client, helpdesk, store, wake):
    """The identifier header is not signed: a captured delivery sent again under a new one is
    recognised by its signed body."""
    body = fixture_body("cloud-issue-created.json")
    assert post(client, helpdesk, body, signed(body)).status_code == 202
    wake.clear()
    forged = "9c0d7e4a-1b2f-4a6e-8d3c-5e7f9a1b2c3d"
    response = post(client, helpdesk, body, signed(body, identifier=forged))
    assert (response.status_code, response.json) == (
        200, {"status": "duplicate", "delivery": f"webhook:{forged}"})
    assert [row["dedupe_key"] for row in inbox_rows(store)] == [f"webhook:{IDENTIFIER}"]
    assert inbox_rows(store)[0]["body_hash"] == hashlib.sha256(body).hexdigest()
    assert not wake.is_set()


@pytest.mark.parametrize(("age", "retry", "status"), [
    (299, None, 202), (301, None, 401), (-301, None, 401),
    (35 * 60 - 1, "1", 202), (35 * 60 + 1, "3", 401),
], ids=["fresh", "stale", "from-the-future", "late-retry", "too-late-retry"])
def test_a_delivery_older_than_the_freshness_window_is_refused(client, helpdesk, store, clock,
                                                               age, retry, status):
    body = fixture_body("cloud-issue-created.json")
    extra = {"X-Atlassian-Webhook-Retry": retry} if retry else {}
    clock.arrive(body)
    clock.now += age - 1  # arrive() puts the clock 1 s after the body's timestamp
    sent_at = clock.now - age
    response = client.post("/webhooks/jira", data=body, headers=signed(body, **extra))
    assert response.status_code == status
    if status == 401:
        window = "0:35:00" if retry else "0:05:00"
        sent = datetime.fromtimestamp(sent_at, UTC).isoformat(timespec="seconds")
        assert response.json["error"].startswith(f"delivery timestamp ({sent}) is ")
        assert response.json["error"].endswith(f"; more than {window} is refused as a replay")
        assert inbox_rows(store) == []
    else:
        assert stored_row(store)["dedupe_key"] == f"webhook:{IDENTIFIER}"


def test_the_freshness_window_is_configurable(tmp_path, helpdesk):
    settings = make_settings(tmp_path, zendesk=None, jira=cloud_jira(freshness_minutes=60))
    clock = ArrivalClock()
    store = Store(settings.database_url, clock=clock)
    store.create_schema()
    client = create_app(settings, store=store, wake=threading.Event()).test_client()
    body = fixture_body("cloud-issue-created.json")
    clock.arrive(body)
    clock.now += 59 * 60
    assert client.post("/webhooks/jira", data=body, headers=signed(body)).status_code == 202
    clock.now += 2 * 60
    other = encode({**fixture_json("cloud-issue-created.json"), "webhookEvent":
                    "jira:issue_updated"})
    assert client.post("/webhooks/jira", data=other, headers=signed(other)).status_code == 401
    store.close()


def test_redelivery_without_identifier_is_a_duplicate_by_issue_and_timestamp(client, helpdesk,
                                                                            store):
    body = fixture_body("server-issue-created.json")
    assert post(client, helpdesk, body, signed(body, identifier=None)).status_code == 202
    response = post(client, helpdesk, body, signed(body, identifier=None))
    assert response.status_code == 200
    assert response.json == {"status": "duplicate", "delivery": "issue:86228:1569283177226"}
    assert len(inbox_rows(store)) == 1


CUSTOMER = {
    "self": "https://acme.atlassian.net/rest/api/2/user?accountId=qm%3A7c1d2e3f",
    "accountId": "qm:7c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f:5e0f1a2b3c4d5e6f7a8b9c0d",
    "displayName": "Dana Customer",
    "active": True,
    "timeZone": "Europe/Berlin",
    "accountType": "customer",
}
AGENT = {
    "self": "https://acme.atlassian.net/rest/api/2/user?accountId=5b10ac8d82e05b22cc7d4ef5",
    "accountId": "5b10ac8d82e05b22cc7d4ef5",
    "displayName": "Ari Agent",
    "active": True,
    "timeZone": "Europe/Berlin",
    "accountType": "atlassian",
}


def comment_event(kind: str = "comment_created", *, author: dict = CUSTOMER,
                  update_author: dict | None = None) -> dict:
    """A comment webhook shaped like jira.md 1.2: ``comment`` plus a top-level ``issue``."""
    return {
        "timestamp": 1735442400123,
        "webhookEvent": kind,
        "comment": {
            "self": "https://acme.atlassian.net/rest/api/2/issue/10021/comment/10100",
            "id": "10100",
            "author": author,
            "body": "Please escalate this, our checkout is down.",
            "updateAuthor": update_author or author,
            "created": "2024-12-29T09:00:00.123+0530",
            "updated": "2024-12-29T09:00:00.123+0530",
            "jsdPublic": True,
            "jsdAuthorCanSeeRequest": True,
        },
        "issue": {
            "id": "10021",
            "self": "https://acme.atlassian.net/rest/api/2/10021",
            "key": "KAN-22",
            "fields": {"summary": "Add back button to pages",
                       "issuetype": {"id": "10001", "name": "Task"},
                       "project": {"id": "10000", "key": "KAN", "name": "My Kanban Project"}},
        },
    }


def test_comment_created_is_accepted_with_the_comment_author_as_actor(client, helpdesk, store,
                                                                       wake):
    body = encode(comment_event())
    response = post(client, helpdesk, body, signed(body))
    assert response.status_code == 202
    assert response.json == {"status": "accepted", "delivery": f"webhook:{IDENTIFIER}",
                             "ticket": "KAN-22"}
    assert stored_row(store) == {
        "platform": "jira", "dedupe_key": f"webhook:{IDENTIFIER}", "ticket_ref": "KAN-22",
        "kind": "comment_created", "actor": CUSTOMER["accountId"], "payload": body.decode(),
    }
    assert wake.is_set()


@pytest.mark.parametrize("kind", ["comment_created", "comment_updated"])
def test_comment_actor_is_the_update_author_when_there_is_no_user(client, helpdesk, store,
                                                                  kind):
    event = comment_event(kind, author=CUSTOMER, update_author=AGENT)
    assert "user" not in event
    body = encode(event)
    assert post(client, helpdesk, body, signed(body)).status_code == 202
    row = stored_row(store)
    assert (row["kind"], row["actor"], row["ticket_ref"]) == (kind, AGENT["accountId"],
                                                             "KAN-22")


def test_comment_updated_without_identifier_is_keyed_by_issue_and_timestamp(client, helpdesk,
                                                                           store):
    body = encode(comment_event("comment_updated"))
    response = post(client, helpdesk, body, signed(body, identifier=None))
    assert response.status_code == 202
    assert stored_row(store)["dedupe_key"] == "issue:10021:1735442400123"


@pytest.mark.parametrize("kind", ["jira:issue_deleted", "sprint_started", "comment_deleted",
                                  "worklog_created"])
def test_other_event_types_are_ignored_with_200(client, helpdesk, store, wake, kind):
    data = fixture_json("cloud-issue-created.json")
    data["webhookEvent"] = kind
    body = encode(data)
    response = post(client, helpdesk, body, signed(body))
    assert response.status_code == 200
    assert response.json["status"] == "ignored"
    assert kind in response.json["reason"]
    assert inbox_rows(store) == []
    assert not wake.is_set()


def test_sprint_event_without_an_issue_is_ignored(client, helpdesk, store):
    body = encode({"timestamp": 1735442400123, "webhookEvent": "sprint_started",
                   "sprint": {"id": 12, "state": "active", "name": "KAN Sprint 3"}})
    response = post(client, helpdesk, body, signed(body))
    assert response.status_code == 200
    assert response.json["status"] == "ignored"
    assert inbox_rows(store) == []


# -- refused: signature ---------------------------------------------------------------------


def test_unsigned_delivery_is_refused_with_401(client, helpdesk, store, wake):
    body = fixture_body("cloud-issue-created.json")
    headers = signed(body)
    del headers[JIRA_SIGNATURE]
    response = post(client, helpdesk, body, headers)
    assert response.status_code == 401
    assert "missing X-Hub-Signature" in response.json["error"]
    assert inbox_rows(store) == []
    assert not wake.is_set()


def test_forged_delivery_is_refused_with_401(client, helpdesk, store, wake):
    body = fixture_body("cloud-issue-created.json")
    response = post(client, helpdesk, body, signed(body, secret="guessed-secret"))
    assert response.status_code == 401
    assert "does not match" in response.json["error"]
    assert inbox_rows(store) == []
    assert not wake.is_set()


def test_tampered_delivery_is_refused_with_401(client, helpdesk, store):
    body = fixture_body("cloud-issue-created.json")
    tampered = body.replace(b'"KAN-22"', b'"KAN-23"', 1)
    assert tampered != body and len(tampered) == len(body)
    assert post(client, helpdesk, tampered, signed(body)).status_code == 401
    assert inbox_rows(store) == []


def test_token_does_not_replace_the_signature_when_only_a_secret_is_configured(client,
                                                                               helpdesk, store):
    body = fixture_body("cloud-issue-created.json")
    headers = {"Content-Type": "application/json", JIRA_TOKEN_HEADER: JIRA_SECRET}
    response = post(client, helpdesk, body, headers, query=f"?token={JIRA_SECRET}")
    assert response.status_code == 401
    assert inbox_rows(store) == []


def test_lowercase_signature_header_is_accepted_through_flask(client, helpdesk, store):
    body = fixture_body("cloud-issue-created.json")
    headers = {"content-type": "application/json",
               "x-hub-signature": jira_signature(JIRA_SECRET, body),
               "x-atlassian-webhook-identifier": IDENTIFIER}
    assert post(client, helpdesk, body, headers).status_code == 202
    assert stored_row(store)["dedupe_key"] == f"webhook:{IDENTIFIER}"


def test_sha512_signed_delivery_is_accepted(client, helpdesk, store):
    body = fixture_body("cloud-issue-created.json")
    headers = {**signed(body), JIRA_SIGNATURE: jira_signature(JIRA_SECRET, body, "sha512")}
    assert post(client, helpdesk, body, headers).status_code == 202


def test_sha1_signed_delivery_is_refused(client, helpdesk, store):
    body = fixture_body("cloud-issue-created.json")
    digest = hmac.new(JIRA_SECRET.encode(), body, hashlib.sha1).hexdigest()
    headers = {**signed(body), JIRA_SIGNATURE: f"sha1={digest}"}
    assert post(client, helpdesk, body, headers).status_code == 401
    assert inbox_rows(store) == []


# -- refused: not the JSON expected ---------------------------------------------------------


def _without(data: dict, key: str) -> dict:
    return {k: v for k, v in data.items() if k != key}


CREATED = fixture_json("cloud-issue-created.json")


def _with_issue(issue: object) -> dict:
    data = copy.deepcopy(CREATED)
    data["issue"] = issue
    return data


@pytest.mark.parametrize(("body", "error"), [
    (b"issue KAN-22 was updated", "body is not JSON"),
    (b"\xff\xfe\x00garbage", "body is not UTF-8"),
    (encode([CREATED]), "not an object"),
    (encode(_without(CREATED, "webhookEvent")), 'no "webhookEvent"'),
    (encode({**CREATED, "webhookEvent": ""}), 'no "webhookEvent"'),
    (encode({**CREATED, "webhookEvent": 7}), 'no "webhookEvent"'),
    (encode(_without(CREATED, "issue")), 'has no "issue" object'),
    (encode(_with_issue("KAN-22")), 'has no "issue" object'),
    (encode(_without(comment_event(), "issue")), 'has no "issue" object'),
    (encode(_with_issue({"self": "https://x.example/rest/api/2/10021"})), "unusable"),
    (encode(_with_issue({"id": "abc", "key": "not a key"})), "unusable"),
    (encode(_with_issue({"id": "10021", "key": "SEC/../../../../secret/PATH-1"})), "unusable"),
    (encode(_with_issue({"id": "../10021", "key": "KAN-22"})), "unusable"),
    (encode(_with_issue({"key": "kan-22"})), "unusable"),
    (encode(_with_issue({"key": "K" * 70 + "-1"})), "ticket ref longer than 64"),
], ids=["not-json", "not-utf8", "json-array", "no-webhook-event", "empty-webhook-event",
        "numeric-webhook-event", "no-issue", "issue-not-an-object", "comment-without-issue",
        "issue-without-id-or-key", "issue-id-and-key-unusable", "key-with-a-path",
        "id-with-a-path", "key-in-lower-case", "key-of-72-characters"])
def test_body_that_is_not_the_json_expected_is_refused_with_400(client, helpdesk, store, wake,
                                                                body, error):
    response = post(client, helpdesk, body, signed(body))
    assert response.status_code == 400
    assert error in response.json["error"]
    assert inbox_rows(store) == []
    assert not wake.is_set()


@pytest.mark.parametrize("timestamp", [None, "1735441883659", 1735441883659.5, True],
                         ids=["absent", "string", "float", "boolean"])
@pytest.mark.parametrize("identifier", [None, IDENTIFIER], ids=["no-identifier", "identifier"])
def test_a_delivery_without_an_integer_timestamp_is_refused_with_400(client, helpdesk, store,
                                                                     timestamp, identifier):
    """Every Jira webhook carries its timestamp; without one its age (replay) is unknowable."""
    data = _without(CREATED, "timestamp")
    if timestamp is not None:
        data["timestamp"] = timestamp
    body = encode(data)
    response = post(client, helpdesk, body, signed(body, identifier=identifier))
    assert (response.status_code, response.json) == (400, {
        "error": 'no "timestamp" (milliseconds): cannot tell a fresh delivery from a replayed '
                 "one"})
    assert inbox_rows(store) == []


def test_issue_with_only_a_numeric_id_is_stored_under_the_id(client, helpdesk, store):
    body = encode(_with_issue({"id": "10021"}))
    assert post(client, helpdesk, body, signed(body, identifier=None)).status_code == 202
    row = stored_row(store)
    assert (row["ticket_ref"], row["dedupe_key"]) == ("10021", "issue:10021:1735441883659")


# -- size -----------------------------------------------------------------------------------


def padded(size: int) -> bytes:
    body = fixture_body("cloud-issue-created.json")
    return body + b" " * (size - len(body))


def test_body_above_1_mib_is_refused_with_413(client, helpdesk, store, wake):
    body = padded(MAX_BODY + 1)
    response = post(client, helpdesk, body, signed(body))
    assert response.status_code == 413
    assert "error" in response.json
    assert inbox_rows(store) == []
    assert not wake.is_set()


def test_body_of_exactly_1_mib_is_accepted(client, helpdesk, store):
    body = padded(MAX_BODY)
    assert post(client, helpdesk, body, signed(body)).status_code == 202
    assert stored_row(store)["payload"] == body.decode()


# -- configuration of the route -------------------------------------------------------------


def test_jira_route_is_404_when_only_zendesk_is_configured(tmp_path, helpdesk, store):
    zendesk_only = make_settings(tmp_path)
    assert zendesk_only.jira is None and zendesk_only.zendesk is not None
    client = create_app(zendesk_only, store=store).test_client()
    body = fixture_body("cloud-issue-created.json")
    response = post(client, helpdesk, body, signed(body))
    assert response.status_code == 404
    assert "Jira is not configured" in response.json["error"]
    assert inbox_rows(store) == []


def test_zendesk_route_is_404_when_only_jira_is_configured(client, helpdesk, store):
    response = client.post("/webhooks/zendesk", data=b"{}",
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 404
    assert inbox_rows(store) == []


@pytest.fixture
def dc_client(tmp_path, store, wake):
    settings = make_settings(tmp_path, zendesk=None, jira=dc_jira())
    assert settings.jira.webhook_secret is None and settings.jira.cloud is False
    return create_app(settings, store=store, wake=wake).test_client()


def test_data_center_delivery_with_the_query_token_is_accepted(dc_client, helpdesk, store):
    body = fixture_body("server-issue-updated-status.json")
    response = post(dc_client, helpdesk, body, {"Content-Type": "application/json"},
                    query=f"?token={DC_TOKEN}")
    assert response.status_code == 202
    assert stored_row(store) == {
        "platform": "jira", "dedupe_key": "issue:86215:1569291498011", "ticket_ref": "VRF-799",
        "kind": "jira:issue_updated", "actor": "crystal.johnston", "payload": body.decode(),
    }


def test_data_center_delivery_with_the_token_header_is_accepted(dc_client, helpdesk, store):
    body = fixture_body("server-issue-created.json")
    headers = {"Content-Type": "application/json", JIRA_TOKEN_HEADER: DC_TOKEN}
    assert post(dc_client, helpdesk, body, headers).status_code == 202
    assert stored_row(store)["dedupe_key"] == "issue:86228:1569283177226"


@pytest.mark.parametrize("query", ["", "?token=", f"?token={DC_TOKEN}x", f"?secret={DC_TOKEN}"],
                         ids=["no-token", "empty-token", "wrong-token", "other-parameter"])
def test_data_center_delivery_without_the_token_is_refused(dc_client, helpdesk, store, wake,
                                                           query):
    body = fixture_body("server-issue-created.json")
    response = post(dc_client, helpdesk, body, {"Content-Type": "application/json"},
                    query=query)
    assert response.status_code == 401
    assert "token" in response.json["error"]
    assert inbox_rows(store) == []
    assert not wake.is_set()


def test_data_center_signature_with_no_secret_configured_does_not_replace_the_token(
    dc_client, helpdesk, store
):
    body = fixture_body("server-issue-created.json")
    response = post(dc_client, helpdesk, body, signed(body, secret=DC_TOKEN))
    assert response.status_code == 401
    assert inbox_rows(store) == []


# ------------------------------------------------------------------------------------------
# (c) [jira] configuration

JIRA_API_TOKEN = "jira-api-token-3e8d1f"
JIRA_WEBHOOK_SECRET = "jira-signing-secret-77c0"
JIRA_PAT = "jira-dc-pat-0a9b8c"

ONLY_JIRA = f"""
tiers = ["L1", "L2", "L3"]
default_tier = "L1"

[jira]
base_url = "https://acme.atlassian.net"
email = "bot@acme.example"
api_token = "{JIRA_API_TOKEN}"
webhook_secret = "{JIRA_WEBHOOK_SECRET}"
tier_field = "customfield_10050"
[jira.tier_values]
L1 = "Tier 1"
L2 = "Tier 2"
L3 = "Tier 3"
"""
CLOUD_AUTH = f'email = "bot@acme.example"\napi_token = "{JIRA_API_TOKEN}"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tierlift.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def test_a_file_with_only_jira_loads_as_cloud(tmp_path):
    settings = load_settings(write(tmp_path, ONLY_JIRA))
    assert settings.zendesk is None
    jira = settings.jira
    assert jira.cloud is True
    assert jira.url == "https://acme.atlassian.net"
    assert jira.email == "bot@acme.example"
    assert jira.api_token.get_secret_value() == JIRA_API_TOKEN
    assert jira.webhook_secret.get_secret_value() == JIRA_WEBHOOK_SECRET
    assert jira.webhook_token is None
    assert jira.pat is None
    assert jira.tier_field == "customfield_10050"
    assert jira.tier_values == TIER_VALUES
    assert jira.transition is None
    assert jira.priorities == {"low": "Low", "normal": "Medium", "high": "High",
                               "urgent": "Highest"}


def test_a_file_with_only_jira_and_a_pat_loads_as_data_center(tmp_path):
    text = ONLY_JIRA.replace(CLOUD_AUTH, f'pat = "{JIRA_PAT}"\n').replace(
        f'webhook_secret = "{JIRA_WEBHOOK_SECRET}"', f'webhook_token = "{DC_TOKEN}"')
    settings = load_settings(write(tmp_path, text))
    assert settings.jira.cloud is False
    assert settings.jira.pat.get_secret_value() == JIRA_PAT
    assert settings.jira.webhook_token.get_secret_value() == DC_TOKEN
    assert settings.jira.webhook_secret is None
    assert settings.jira.email is None and settings.jira.api_token is None


def test_jira_secrets_never_appear_in_str_or_repr(tmp_path):
    settings = load_settings(write(tmp_path, ONLY_JIRA))
    for text in (str(settings), repr(settings), str(settings.jira), repr(settings.jira),
                 str(settings.model_dump())):
        assert JIRA_API_TOKEN not in text
        assert JIRA_WEBHOOK_SECRET not in text


def test_environment_overrides_the_jira_webhook_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_JIRA__WEBHOOK_SECRET", "from-the-environment")
    settings = load_settings(write(tmp_path, ONLY_JIRA))
    assert settings.jira.webhook_secret.get_secret_value() == "from-the-environment"
    assert settings.jira.api_token.get_secret_value() == JIRA_API_TOKEN


def test_both_cloud_and_data_center_credentials_give_one_line(tmp_path):
    text = ONLY_JIRA.replace(CLOUD_AUTH, CLOUD_AUTH + f'pat = "{JIRA_PAT}"\n')
    [line] = problems(tmp_path, text)
    assert line == "jira: set email + api_token (Cloud) or pat (Data Center), not both"
    assert JIRA_PAT not in line and JIRA_API_TOKEN not in line


def test_email_without_api_token_gives_one_line(tmp_path):
    text = ONLY_JIRA.replace(f'api_token = "{JIRA_API_TOKEN}"\n', "")
    [line] = problems(tmp_path, text)
    assert line == "jira: set email together with api_token (Cloud), or pat (Data Center)"


def test_neither_webhook_secret_nor_webhook_token(tmp_path):
    text = ONLY_JIRA.replace(f'webhook_secret = "{JIRA_WEBHOOK_SECRET}"\n', "")
    [line] = problems(tmp_path, text)
    assert line.startswith("jira: set webhook_secret")
    assert "webhook_token" in line


@pytest.mark.parametrize("text", [
    ONLY_JIRA.replace(JIRA_WEBHOOK_SECRET, ""),
    ONLY_JIRA.replace(CLOUD_AUTH, f'pat = "{JIRA_PAT}"\n').replace(
        f'webhook_secret = "{JIRA_WEBHOOK_SECRET}"', 'webhook_token = ""'),
], ids=["empty-webhook-secret", "empty-webhook-token"])
def test_an_empty_webhook_secret_or_token_is_a_config_error(tmp_path, text):
    [line] = problems(tmp_path, text)
    assert line.startswith("jira")


def test_tier_values_missing_a_tier_from_default_tier_up(tmp_path):
    [line] = problems(tmp_path, ONLY_JIRA.replace('L3 = "Tier 3"\n', ""))
    assert line.startswith("jira.tier_values.L3: missing")
    assert "customfield_10050" in line


def test_tier_values_below_default_tier_may_be_missing(tmp_path):
    text = ONLY_JIRA.replace('default_tier = "L1"', 'default_tier = "L2"').replace(
        'L1 = "Tier 1"\n', "")
    settings = load_settings(write(tmp_path, text))
    assert settings.jira.tier_values == {"L2": "Tier 2", "L3": "Tier 3"}


def test_tier_values_key_that_is_not_a_tier(tmp_path):
    [line] = problems(tmp_path, ONLY_JIRA.replace('L3 = "Tier 3"', 'L3 = "Tier 3"\nL4 = "T4"'))
    assert line.startswith("jira.tier_values.L4: not one of tiers")


def test_unknown_key_inside_jira(tmp_path):
    text = ONLY_JIRA.replace('tier_field = "customfield_10050"',
                             'tier_field = "customfield_10050"\ntier_feild = "customfield_1"')
    assert problems(tmp_path, text) == ["jira.tier_feild: unknown key"]


def test_missing_tier_field(tmp_path):
    text = ONLY_JIRA.replace('tier_field = "customfield_10050"\n', "")
    assert problems(tmp_path, text) == ["jira.tier_field: required"]


def test_duplicate_option_values(tmp_path):
    [line] = problems(tmp_path, ONLY_JIRA.replace('L3 = "Tier 3"', 'L3 = "Tier 2"'))
    assert line == "jira.tier_values: Tier 2 used for more than one tier"


def test_unknown_tierlift_priority(tmp_path):
    text = ONLY_JIRA + '[jira.priorities]\nhigh = "High"\nblocker = "Blocker"\n'
    [line] = problems(tmp_path, text)
    assert line.startswith("jira: priorities: unknown tierlift priority ['blocker']")


def test_base_url_without_scheme(tmp_path):
    text = ONLY_JIRA.replace("https://acme.atlassian.net", "acme.atlassian.net")
    [line] = problems(tmp_path, text)
    assert line.startswith("jira: base_url must start with https://")


def test_a_mistyped_pat_is_not_echoed_in_the_error(tmp_path):
    text = ONLY_JIRA.replace(CLOUD_AUTH, "pat = 918273645\n")
    [line] = problems(tmp_path, text)
    assert line.startswith("jira.pat: ")
    assert "918273645" not in line


def test_a_mistyped_webhook_secret_is_not_echoed_in_the_error(tmp_path):
    text = ONLY_JIRA.replace(f'"{JIRA_WEBHOOK_SECRET}"', "5550123987")
    [line] = problems(tmp_path, text)
    assert line.startswith("jira.webhook_secret: ")
    assert "5550123987" not in line


def test_no_zendesk_and_no_jira(tmp_path):
    assert problems(tmp_path, 'tiers = ["L1", "L2"]\n') == [
        "config: no helpdesk configured; add a [zendesk] or [jira] section"]
