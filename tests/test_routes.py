"""The receiver over HTTP: verify -> parse -> dedupe -> inbox -> answer; no helpdesk call inside."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import pytest
import responses
import sqlalchemy as sa
from conftest import SECRET, make_settings, recorded, sign
from sqlalchemy.exc import OperationalError

from webhook_app import MAX_BODY, create_app
from webhook_app.store import Store, inbox

EVENT_ID = "2b24ef10-19d4-4740-93cf-8f98ec4776c0"
INVOCATION_ID = "01HANA2B5D5W9XSJS3NE5SQA1J"
TRIGGER = {"ticket_id": "123", "updated_at": "2026-11-22T10:00:00Z", "actor": "555"}


def ticket_event(event_id: str = EVENT_ID, ticket: str = "35436", *,
                 kind: str = "comment_added") -> dict:
    """An event-subscribed webhook body shaped like zendesk.md 1.4."""
    return {
        "type": f"zen:event-type:ticket.{kind}",
        "account_id": 12514403,
        "id": event_id,
        "time": "2026-11-22T10:00:00Z",
        "zendesk_event_version": "2022-11-06",
        "subject": f"zen:ticket:{ticket}",
        "detail": {"actor_id": "555", "assignee_id": "501", "group_id": "101", "id": ticket,
                   "requester_id": "1", "status": "OPEN", "subject": "Printer on fire",
                   "updated_at": "2026-11-22T10:00:00Z"},
        "event": {"comment": {"id": "9001", "body": "Please escalate this", "is_public": True}},
    }


def encode(data: object) -> bytes:
    return json.dumps(data).encode()


def recorded_delivery() -> tuple[dict[str, str], bytes]:
    """Headers and raw payload of the real Zendesk delivery (a user.deleted event)."""
    request = recorded("zendesk-api/webhook-invocation-attempts")["response"]["body"][
        "attempts"][0]["request"]
    return ({h["key"]: h["value"] for h in request["headers"]}, request["payload"].encode())


@pytest.fixture
def wake() -> threading.Event:
    return threading.Event()


@pytest.fixture
def client(settings, store, wake):
    return create_app(settings, store=store, wake=wake).test_client()


@pytest.fixture
def helpdesk():
    """Every outgoing ``requests`` call is intercepted (and would be recorded in ``calls``)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def post(client, helpdesk, body: bytes, headers: dict[str, str]):
    response = client.post("/webhooks/zendesk", data=body, headers=headers)
    assert len(helpdesk.calls) == 0, "the receiver must not call the helpdesk inside a request"
    return response


def inbox_rows(store: Store) -> list[dict]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(inbox).order_by(inbox.c.id)).mappings().all()
    return [dict(row) for row in rows]


def assert_stored_once(store: Store, body: bytes, **expected: str | None) -> None:
    rows = inbox_rows(store)
    assert len(rows) == 1
    row = rows[0]
    assert {key: row[key] for key in expected} == expected
    assert row["platform"] == "zendesk"
    assert row["status"] == "pending"
    assert row["attempts"] == 0
    assert row["payload"] == body.decode()


# -- Zendesk event webhooks -----------------------------------------------------------------


def test_ticket_event_is_accepted_with_202(client, helpdesk, store, wake):
    body = encode(ticket_event())
    response = post(client, helpdesk, body, sign(body))
    assert response.status_code == 202
    assert response.json == {"status": "accepted", "delivery": f"event:{EVENT_ID}",
                             "ticket": "35436"}
    assert_stored_once(store, body, dedupe_key=f"event:{EVENT_ID}", ticket_ref="35436",
                       kind="ticket.comment_added", actor="555")
    assert wake.is_set()


def test_ticket_id_falls_back_to_the_subject(client, helpdesk, store):
    event = ticket_event(ticket="35436")
    del event["detail"]["id"]
    body = encode(event)
    assert post(client, helpdesk, body, sign(body)).status_code == 202
    assert_stored_once(store, body, ticket_ref="35436")


def test_redelivered_event_answers_200_duplicate_and_does_not_wake(client, helpdesk, store,
                                                                   wake):
    body = encode(ticket_event())
    assert post(client, helpdesk, body, sign(body)).status_code == 202
    wake.clear()
    response = post(client, helpdesk, body, sign(body))
    assert response.status_code == 200
    assert response.json == {"status": "duplicate", "delivery": f"event:{EVENT_ID}"}
    assert len(inbox_rows(store)) == 1
    assert not wake.is_set()


def test_recorded_user_event_resigned_is_ignored_with_200(client, helpdesk, store, wake):
    _, body = recorded_delivery()
    response = post(client, helpdesk, body, sign(body))
    assert response.status_code == 200
    assert response.json["status"] == "ignored"
    assert "zen:event-type:user.deleted" in response.json["reason"]
    assert inbox_rows(store) == []
    assert not wake.is_set()


# -- refused: signature ---------------------------------------------------------------------


def test_recorded_delivery_with_its_original_signature_is_refused(client, helpdesk, store):
    headers, body = recorded_delivery()
    response = post(client, helpdesk, body, headers)
    assert response.status_code == 401
    assert "does not match" in response.json["error"]
    assert inbox_rows(store) == []


def test_missing_signature_is_refused(client, helpdesk, store):
    body = encode(ticket_event())
    headers = sign(body)
    del headers["X-Zendesk-Webhook-Signature"]
    response = post(client, helpdesk, body, headers)
    assert response.status_code == 401
    assert "missing" in response.json["error"]
    assert inbox_rows(store) == []


def test_signature_by_another_secret_is_refused(client, helpdesk, store):
    body = encode(ticket_event())
    response = post(client, helpdesk, body, sign(body, secret=SECRET + "-old"))
    assert response.status_code == 401
    assert inbox_rows(store) == []


@pytest.mark.parametrize("age", [timedelta(minutes=6), -timedelta(minutes=6)],
                         ids=["stale", "future"])
def test_timestamp_outside_five_minutes_is_refused(client, helpdesk, store, age):
    body = encode(ticket_event())
    response = post(client, helpdesk, body, sign(body, at=datetime.now(UTC) - age))
    assert response.status_code == 401
    assert "away from now" in response.json["error"]
    assert inbox_rows(store) == []


def test_tampered_body_is_refused(client, helpdesk, store):
    body = encode(ticket_event())
    tampered = body.replace(b'"555"', b'"556"', 1)
    assert len(tampered) == len(body) and tampered != body
    response = post(client, helpdesk, tampered, sign(body))
    assert response.status_code == 401
    assert "does not match" in response.json["error"]
    assert inbox_rows(store) == []


# -- refused: not the JSON expected ---------------------------------------------------------


def _without(data: dict, key: str) -> dict:
    return {k: v for k, v in data.items() if k != key}


@pytest.mark.parametrize(("body", "error"), [
    (b"ticket 35436 was updated", "body is not JSON"),
    (b"\xff\xfe\x00garbage", "body is not UTF-8"),
    (encode([ticket_event()]), "not an object"),
    (encode(_without(ticket_event(), "id")), 'event has no "id"'),
    (encode({**ticket_event(), "id": ""}), 'event has no "id"'),
    (encode(_without(ticket_event(), "detail")), 'no "detail" object'),
    (encode(ticket_event(ticket="abc")), "is not a number"),
    (encode(ticket_event(ticket="-1")), "is not a number"),
    (encode({**ticket_event(), "type": "ticket.comment_added"}), "unknown event type"),
    (encode({**TRIGGER, "ticket_id": "12a"}), "is not a number"),
    (encode({**TRIGGER, "ticket_id": None}), "is not a number"),
    (encode({"updated_at": "2026-11-22T10:00:00Z", "actor": "555"}), "neither"),
    (encode(_without(TRIGGER, "updated_at")), 'no "updated_at"'),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"id": ' + b"9" * 5000 + b"}", "number too long"),
    (encode({**ticket_event(), "id": "e" * 300}), "dedupe key longer than 255"),
    (encode(ticket_event(ticket="9" * 100)), "ticket ref longer than 64"),
], ids=["not-json", "not-utf8", "json-array", "event-without-id", "event-empty-id",
        "event-without-detail", "event-ticket-not-numeric", "event-ticket-negative",
        "type-not-zendesk", "trigger-ticket-not-numeric", "trigger-ticket-null",
        "neither-type-nor-ticket-id", "trigger-without-updated-at-or-invocation",
        "nested-100000-deep", "integer-of-5000-digits", "event-id-of-300-characters",
        "ticket-id-of-100-digits"])
def test_body_that_is_not_the_json_expected_is_refused_with_400(client, helpdesk, store, wake,
                                                                body, error):
    response = post(client, helpdesk, body, sign(body))
    assert response.status_code == 400
    assert error in response.json["error"]
    assert inbox_rows(store) == []
    assert not wake.is_set()


def test_utf16_json_body_is_refused_with_400(client, helpdesk, store):
    body = json.dumps(ticket_event()).encode("utf-16")
    response = post(client, helpdesk, body, sign(body))
    assert response.status_code == 400
    assert inbox_rows(store) == []


@pytest.mark.parametrize("body", [
    encode({**TRIGGER, "ticket_id": "²"}),
    encode(ticket_event(ticket="٣٥٤٣٦")),
], ids=["trigger-superscript-two", "event-arabic-indic-digits"])
def test_non_ascii_digit_ticket_id_is_refused_with_400(client, helpdesk, store, body):
    response = post(client, helpdesk, body, sign(body))
    assert response.status_code == 400
    assert inbox_rows(store) == []


# -- size -----------------------------------------------------------------------------------


def padded(size: int) -> bytes:
    """A valid signed event of exactly ``size`` bytes (JSON allows trailing whitespace)."""
    body = encode(ticket_event())
    return body + b" " * (size - len(body))


def test_body_above_1_mib_is_refused_with_413(client, helpdesk, store, wake):
    body = padded(MAX_BODY + 1)
    response = post(client, helpdesk, body, sign(body))
    assert response.status_code == 413
    assert "error" in response.json
    assert inbox_rows(store) == []
    assert not wake.is_set()


def test_body_of_exactly_1_mib_is_accepted(client, helpdesk, store):
    body = padded(MAX_BODY)
    assert post(client, helpdesk, body, sign(body)).status_code == 202
    assert_stored_once(store, body, dedupe_key=f"event:{EVENT_ID}")


# -- trigger / automation webhooks ----------------------------------------------------------


def test_trigger_with_invocation_id_is_stored_under_it(client, helpdesk, store, wake):
    body = encode(TRIGGER)
    headers = {**sign(body), "X-Zendesk-Webhook-Invocation-Id": INVOCATION_ID}
    response = post(client, helpdesk, body, headers)
    assert response.status_code == 202
    assert response.json == {"status": "accepted", "delivery": f"invocation:{INVOCATION_ID}",
                             "ticket": "123"}
    assert_stored_once(store, body, dedupe_key=f"invocation:{INVOCATION_ID}", ticket_ref="123",
                       kind="trigger", actor="555")
    assert wake.is_set()


def test_trigger_without_invocation_id_is_stored_under_ticket_and_updated_at(client, helpdesk,
                                                                            store):
    body = encode(TRIGGER)
    response = post(client, helpdesk, body, sign(body))
    assert response.status_code == 202
    assert response.json == {"status": "accepted", "delivery": "ticket:123:2026-11-22T10:00:00Z",
                             "ticket": "123"}
    assert_stored_once(store, body, dedupe_key="ticket:123:2026-11-22T10:00:00Z",
                       ticket_ref="123", kind="trigger", actor="555")


def test_trigger_retried_under_the_same_invocation_is_stored_once(client, helpdesk, store):
    body = encode(TRIGGER)
    headers = {**sign(body), "X-Zendesk-Webhook-Invocation-Id": INVOCATION_ID}
    assert post(client, helpdesk, body, headers).status_code == 202
    assert post(client, helpdesk, body, headers).status_code == 200
    assert len(inbox_rows(store)) == 1


# -- the store failing ----------------------------------------------------------------------


def _store_error() -> OperationalError:
    return OperationalError("INSERT INTO inbox ...", {}, sqlite3.OperationalError("disk I/O error"))


def test_store_failure_on_receive_answers_503_with_retry_after(client, helpdesk, store, wake,
                                                               monkeypatch):
    def broken_receive(delivery, *, delay=0.0):
        raise _store_error()

    monkeypatch.setattr(store, "receive", broken_receive)
    body = encode(ticket_event())
    response = post(client, helpdesk, body, sign(body))
    assert response.status_code == 503
    assert "error" in response.json
    # Zendesk retries a 503 only when Retry-After is under 60 seconds (zendesk.md 1.6).
    assert 0 < int(response.headers["Retry-After"]) < 60
    assert not wake.is_set()


def test_a_delivery_the_store_refuses_is_logged_in_one_line(client, helpdesk, store, caplog,
                                                            monkeypatch):
    def broken_receive(delivery, *, delay=0.0):
        raise _store_error()

    monkeypatch.setattr(store, "receive", broken_receive)
    body = encode(ticket_event())
    assert post(client, helpdesk, body, sign(body)).status_code == 503
    [record] = [r for r in caplog.records if r.name == "webhook_app.routes"]
    assert record.getMessage() == (
        f"could not store zendesk delivery event:{EVENT_ID}: OperationalError: "
        "(sqlite3.OperationalError) disk I/O error")
    assert record.exc_info is None


def test_real_store_failure_on_receive_answers_503(client, helpdesk, store):
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE inbox")
    body = encode(ticket_event())
    response = post(client, helpdesk, body, sign(body))
    assert response.status_code == 503
    assert "Retry-After" in response.headers


def test_zendesk_route_is_404_when_zendesk_is_not_configured(tmp_path, helpdesk, store):
    client = create_app(make_settings(tmp_path, zendesk=None), store=store).test_client()
    body = encode(ticket_event())
    assert post(client, helpdesk, body, sign(body)).status_code == 404


# -- health ---------------------------------------------------------------------------------


def test_healthz_answers_200(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_answers_200_when_the_store_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready"}


@pytest.fixture
def broken_store(tmp_path):
    """A store whose database cannot even be opened (its directory does not exist)."""
    broken = Store(f"sqlite:///{tmp_path / 'missing-directory' / 'tierlift.db'}")
    yield broken
    broken.close()


def test_broken_store_really_fails_to_ping(broken_store):
    with pytest.raises(OperationalError):
        broken_store.ping()


def test_readyz_answers_503_when_the_store_is_broken(settings, broken_store):
    client = create_app(settings, store=broken_store).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "store unavailable", "error": "OperationalError"}


def test_readyz_answers_503_when_ping_raises(client, store, monkeypatch):
    def broken_ping():
        raise _store_error()

    monkeypatch.setattr(store, "ping", broken_ping)
    assert client.get("/readyz").status_code == 503


def test_healthz_does_not_depend_on_the_store(settings, broken_store):
    assert create_app(settings, store=broken_store).test_client().get("/healthz").status_code == 200
