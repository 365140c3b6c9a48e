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
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
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
