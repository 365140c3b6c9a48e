"""Webhook signature checks: plain functions over (secret, headers, raw body), no framework."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

ZENDESK_SIGNATURE = "X-Zendesk-Webhook-Signature"
ZENDESK_TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"
ZENDESK_TOLERANCE = timedelta(minutes=5)


class SignatureError(Exception):
    """The delivery is not provably from the helpdesk: answer 401 and drop it."""


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, timestamp + body)), as Zendesk signs its webhooks."""
    digest = hmac.digest(secret.encode(), timestamp.encode() + body, "sha256")
    return base64.b64encode(digest).decode()


def verify_zendesk(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: datetime | None = None
) -> None:
    """Raise :class:`SignatureError` unless the delivery is signed with ``secret`` and fresh."""
    signature = headers.get(ZENDESK_SIGNATURE)
    timestamp = headers.get(ZENDESK_TIMESTAMP)
    if not signature or not timestamp:
        raise SignatureError(f"missing {ZENDESK_SIGNATURE} or {ZENDESK_TIMESTAMP}")
    expected = zendesk_signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise SignatureError("signature does not match the signing secret")
    try:
        signed_at = datetime.fromisoformat(timestamp.strip())
    except ValueError:
        raise SignatureError(f"unreadable signature timestamp {timestamp!r}") from None
    if signed_at.tzinfo is None:
        signed_at = signed_at.replace(tzinfo=UTC)
    skew = abs((now or datetime.now(UTC)) - signed_at)
    if skew > ZENDESK_TOLERANCE:
        raise SignatureError(f"signature timestamp {timestamp} is {skew} away from now")


JIRA_SIGNATURE = "X-Hub-Signature"
JIRA_TOKEN_HEADER = "X-Tierlift-Token"
# WebSub's "method=signature"; Jira sends sha256. SHA-1 is refused as too weak.
JIRA_METHODS = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}


JIRA_RETRY_HEADER = "X-Atlassian-Webhook-Retry"
# Jira Cloud retries a failed delivery "up to 30 minutes late" (its retry policy): a retry may
# be that much older than a first attempt.
JIRA_RETRY_LATENESS = timedelta(minutes=30)


def verify_jira_freshness(headers: Mapping[str, str], sent_at: float, *, now: float,
                          max_age: timedelta) -> None:
    """Raise :class:`SignatureError` unless the body's ``timestamp`` (``sent_at``, seconds) is
    within ``max_age`` of ``now`` (plus Jira's retry lateness for a retry). Jira's identifier
    header is not signed, so this window, with the body-hash deduplication, is what keeps a
    captured delivery from being accepted again later."""
    window = max_age + (JIRA_RETRY_LATENESS if headers.get(JIRA_RETRY_HEADER) else timedelta())
    skew = timedelta(seconds=now - sent_at)
    if abs(skew) > window:
        sent = datetime.fromtimestamp(sent_at, UTC).isoformat(timespec="seconds") \
            if abs(sent_at) < 1e11 else "out of range"
        raise SignatureError(f"delivery timestamp ({sent}) is {abs(skew)} "
                             f"{'old' if skew > timedelta() else 'ahead'}; more than {window} "
                             "is refused as a replay")


def jira_signature(secret: str, body: bytes, method: str = "sha256") -> str:
    """``method=<hex HMAC of the raw body>``, as Jira signs webhooks that have a secret."""
    return f"{method}={hmac.new(secret.encode(), body, JIRA_METHODS[method]).hexdigest()}"


def jira_signed(headers: Mapping[str, str], secret: str | None) -> bool:
    """Whether :func:`verify_jira` checks this delivery's signature (else it needs the token)."""
    return bool(secret and headers.get(JIRA_SIGNATURE))


def verify_jira(
    headers: Mapping[str, str],
    body: bytes,
    *,
    secret: str | None,
    token: str | None,
    query_token: str | None = None,
) -> None:
    """Raise :class:`SignatureError` unless the delivery is signed with ``secret`` or, for Data
    Center webhooks that cannot sign, carries ``token`` (header or ``?token=``).

    A signature that is present is always checked: a wrong one is refused even with a token.
    """
    if jira_signed(headers, secret):
        method, _, digest = headers[JIRA_SIGNATURE].strip().partition("=")
        algorithm = JIRA_METHODS.get(method.lower())
        if algorithm is None or not digest:
            raise SignatureError(f"unsupported {JIRA_SIGNATURE} method {method!r}; expected "
                                 f"one of {sorted(JIRA_METHODS)}")
        expected = hmac.new(secret.encode(), body, algorithm).hexdigest()
        if not hmac.compare_digest(expected.encode(), digest.lower().encode()):
            raise SignatureError("signature does not match the webhook secret")
        return
    if token:
        given = headers.get(JIRA_TOKEN_HEADER) or query_token
        if given and hmac.compare_digest(given.encode(), token.encode()):
            return
        raise SignatureError(f"missing or wrong token ({JIRA_TOKEN_HEADER} header or ?token=)")
    raise SignatureError(f"missing {JIRA_SIGNATURE}")
