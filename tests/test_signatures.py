"""Zendesk webhook signatures: base64(HMAC-SHA256(secret, timestamp + body)), 5-minute window."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from conftest import SECRET, recorded
from werkzeug.datastructures import Headers

from webhook_app.signatures import (
    ZENDESK_SIGNATURE,
    ZENDESK_TIMESTAMP,
    SignatureError,
    verify_zendesk,
    zendesk_signature,
)

SIGNED_AT = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
TIMESTAMP = "2026-11-22T10:00:00Z"
BODY = (b'{"type":"zen:event-type:ticket.comment_added",'
        b'"id":"2b24ef10-19d4-4740-93cf-8f98ec4776c0","subject":"zen:ticket:35436","detail":{"id":"35436","actor_id":"555"}}')


def headers(body: bytes = BODY, *, secret: str = SECRET, timestamp: str = TIMESTAMP) -> dict:
    return {ZENDESK_TIMESTAMP: timestamp,
            ZENDESK_SIGNATURE: zendesk_signature(secret, timestamp, body)}


def fixture_request() -> tuple[dict[str, str], bytes]:
    """The exact headers and raw body of the recorded real Zendesk delivery."""
    request = recorded("zendesk-api/webhook-invocation-attempts")["response"]["body"][
        "attempts"][0]["request"]
    return ({h["key"]: h["value"] for h in request["headers"]}, request["payload"].encode())


def test_good_signature_verifies():
    assert verify_zendesk(SECRET, headers(), BODY, now=SIGNED_AT) is None


def test_header_names_are_case_insensitive_with_framework_headers():
    lower = Headers({k.lower(): v for k, v in headers().items()})
    verify_zendesk(SECRET, lower, BODY, now=SIGNED_AT)


def test_wrong_secret_is_refused():
    with pytest.raises(SignatureError, match="does not match"):
        verify_zendesk(SECRET, headers(secret="another-secret"), BODY, now=SIGNED_AT)


@pytest.mark.parametrize("missing", [ZENDESK_SIGNATURE, ZENDESK_TIMESTAMP])
def test_missing_header_is_refused(missing):
    incomplete = {k: v for k, v in headers().items() if k != missing}
    with pytest.raises(SignatureError, match="missing"):
        verify_zendesk(SECRET, incomplete, BODY, now=SIGNED_AT)


@pytest.mark.parametrize("empty", [ZENDESK_SIGNATURE, ZENDESK_TIMESTAMP])
def test_empty_header_is_refused(empty):
    with pytest.raises(SignatureError, match="missing"):
        verify_zendesk(SECRET, {**headers(), empty: ""}, BODY, now=SIGNED_AT)


@pytest.mark.parametrize("offset", [
    timedelta(minutes=5, seconds=1),
    timedelta(minutes=6),
    timedelta(hours=3),
    -timedelta(minutes=5, seconds=1),
    -timedelta(minutes=6),
], ids=["stale-5m01s", "stale-6m", "stale-3h", "future-5m01s", "future-6m"])
def test_timestamp_outside_five_minutes_is_refused(offset):
    with pytest.raises(SignatureError, match="away from now"):
        verify_zendesk(SECRET, headers(), BODY, now=SIGNED_AT + offset)


@pytest.mark.parametrize("offset", [
    timedelta(0),
    timedelta(minutes=4, seconds=59),
    -timedelta(minutes=4, seconds=59),
], ids=["now", "past-4m59s", "future-4m59s"])
def test_timestamp_just_inside_the_window_is_accepted(offset):
    verify_zendesk(SECRET, headers(), BODY, now=SIGNED_AT + offset)


def test_timestamp_with_offset_is_compared_in_utc():
    timestamp = "2026-11-22T11:00:00+01:00"  # the same instant as SIGNED_AT
    verify_zendesk(SECRET, headers(timestamp=timestamp), BODY, now=SIGNED_AT)


def test_tampered_body_is_refused():
    index = BODY.index(b"35436")
    tampered = BODY[:index] + b"9" + BODY[index + 1:]  # one byte changed: ticket 95436
    assert len(tampered) == len(BODY) and tampered != BODY
    with pytest.raises(SignatureError, match="does not match"):
        verify_zendesk(SECRET, headers(), tampered, now=SIGNED_AT)


def test_signature_of_another_timestamp_is_refused():
    moved = {**headers(), ZENDESK_TIMESTAMP: "2026-11-22T10:00:01Z"}
    with pytest.raises(SignatureError, match="does not match"):
        verify_zendesk(SECRET, moved, BODY, now=SIGNED_AT)


def test_unreadable_timestamp_is_refused_even_when_correctly_signed():
    with pytest.raises(SignatureError, match="unreadable signature timestamp 'yesterday'"):
        verify_zendesk(SECRET, headers(timestamp="yesterday"), BODY, now=SIGNED_AT)


def test_recorded_delivery_is_not_signed_with_our_secret():
    recorded_headers, body = fixture_request()
    signed_at = datetime.fromisoformat(recorded_headers[ZENDESK_TIMESTAMP])
    with pytest.raises(SignatureError, match="does not match"):
        verify_zendesk(SECRET, recorded_headers, body, now=signed_at)


def test_recorded_delivery_resigned_with_a_known_secret_verifies():
    recorded_headers, body = fixture_request()
    timestamp = recorded_headers[ZENDESK_TIMESTAMP]
    assert timestamp == "2023-09-18T23:38:13Z"
    resigned = {**recorded_headers, ZENDESK_SIGNATURE: zendesk_signature(SECRET, timestamp, body)}
    verify_zendesk(SECRET, resigned, body,
                   now=datetime(2023, 9, 18, 23, 39, 0, tzinfo=UTC))
    with pytest.raises(SignatureError, match="away from now"):
        verify_zendesk(SECRET, resigned, body, now=datetime(2023, 9, 18, 23, 44, 0, tzinfo=UTC))


def test_signature_is_base64_hmac_sha256_of_timestamp_then_body():
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), TIMESTAMP.encode() + BODY, hashlib.sha256).digest()
    ).decode()
    assert zendesk_signature(SECRET, TIMESTAMP, BODY) == expected
    reversed_order = base64.b64encode(
        hmac.new(SECRET.encode(), BODY + TIMESTAMP.encode(), hashlib.sha256).digest()
    ).decode()
    assert zendesk_signature(SECRET, TIMESTAMP, BODY) != reversed_order


def test_signature_of_an_empty_body_signs_the_timestamp_alone():
    expected = base64.b64encode(
        hmac.new(b"s3cret", TIMESTAMP.encode(), hashlib.sha256).digest()
    ).decode()
    assert zendesk_signature("s3cret", TIMESTAMP, b"") == expected
