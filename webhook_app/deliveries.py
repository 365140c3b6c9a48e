"""Turn a verified webhook body into a :class:`Delivery` (or say why it is not one)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime

from webhook_app.store import Delivery, inbox

ZENDESK_TICKET_EVENT = "zen:event-type:ticket."
ZENDESK_INVOCATION = "X-Zendesk-Webhook-Invocation-Id"
JIRA_EVENTS = frozenset({"jira:issue_created", "jira:issue_updated", "comment_created",
                         "comment_updated"})
JIRA_IDENTIFIER = "X-Atlassian-Webhook-Identifier"
JIRA_MAX_TIMESTAMP = 2**53  # milliseconds: the largest integer a JSON number holds exactly


class Malformed(Exception):
    """The body is not the JSON we expect: answer 400."""


# The length limit of each inbox column that has one.
_LIMITS = {column.name: column.type.length for column in inbox.c
           if getattr(column.type, "length", None) is not None}


def _stored_as(**fields: str | float | None) -> Delivery:
    """The delivery, if each of its values fits its inbox column: an over-long id is bad input
    (400), never a database error that the sender would retry for ever."""
    for name, value in fields.items():
        if not isinstance(value, str):
            continue
        limit = _LIMITS.get(name)
        if limit is not None and len(value) > limit:
            raise Malformed(f"{name.replace('_', ' ')} longer than {limit} characters")
        if not _storable(value):
            raise Malformed(f"{name.replace('_', ' ')} holds a NUL or an unpaired surrogate "
                            "(a JSON escape like \\u0000 or \\ud800), which no database stores")
    return Delivery(**fields)


def _storable(text: str) -> bool:
    """No NUL (PostgreSQL's text refuses it) and no lone surrogate (not UTF-8 encodable)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Ignored(Exception):
    """A well-formed delivery we have no use for (not about a ticket): answer 200."""


def _json_object(body: bytes) -> tuple[dict, str]:
    """The body's JSON object, and the body as text (decoded once, stored as the payload)."""
    try:
        text = body.decode("utf-8")
        data = json.loads(text)
    except UnicodeDecodeError:
        raise Malformed("body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise Malformed(f"body is not JSON: {exc}") from None
    except RecursionError:
        raise Malformed("body is nested too deeply") from None
    except ValueError:  # an integer too long to convert (Python's 4,300-digit limit)
        raise Malformed("body holds a number too long to read") from None
    if not isinstance(data, dict):
        raise Malformed("body is JSON but not an object")
    return data, text


def parse_zendesk(headers: Mapping[str, str], body: bytes) -> Delivery:
    """An event-subscribed webhook (``zen:event-type:ticket.*``) or a trigger/automation webhook
    whose JSON body carries ``ticket_id``."""
    data, text = _json_object(body)
    invocation = headers.get(ZENDESK_INVOCATION)
    if "type" in data:
        return _zendesk_event(data, text)
    if "ticket_id" in data:
        return _zendesk_trigger(data, text, invocation)
    raise Malformed("neither a Zendesk event (\"type\") nor a trigger body (\"ticket_id\")")


def _zendesk_event(data: dict, text: str) -> Delivery:
    kind = data["type"]
    if not isinstance(kind, str) or not kind.startswith("zen:event-type:"):
        raise Malformed(f"unknown event type {kind!r}")
    if not kind.startswith(ZENDESK_TICKET_EVENT):
        raise Ignored(f"{kind} is not a ticket event")
    event_id = data.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise Malformed("event has no \"id\"")
    detail = data.get("detail")
    if not isinstance(detail, dict):
        raise Malformed("event has no \"detail\" object")
    ticket_id = detail.get("id") or str(data.get("subject", "")).removeprefix("zen:ticket:")
    return _stored_as(
        platform="zendesk",
        dedupe_key=f"event:{event_id}",
        ticket_ref=_ticket_ref(ticket_id),
        kind=kind.removeprefix("zen:event-type:"),
        payload=text,
        actor=_optional_id(detail.get("actor_id")),
    )


def _zendesk_trigger(data: dict, text: str, invocation: str | None) -> Delivery:
    ref = _ticket_ref(data["ticket_id"])
    if invocation:
        key = f"invocation:{invocation}"
    elif data.get("updated_at"):
        key = f"ticket:{ref}:{data['updated_at']}"
    else:
        raise Malformed("trigger body has no \"updated_at\" and no invocation id header to "
                        "deduplicate on; use the template from the README")
    return _stored_as(
        platform="zendesk",
        dedupe_key=key,
        ticket_ref=ref,
        kind="trigger",
        payload=text,
        actor=_optional_id(data.get("actor")),
    )


def _ticket_ref(value: object) -> str:
    ref = str(value).strip() if isinstance(value, int | str) else ""
    if not _ascii_digits(ref):
        raise Malformed(f"ticket id {value!r} is not a number")
    return ref


def _optional_id(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text if _ascii_digits(text) else None


def _ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def parse_jira(headers: Mapping[str, str], body: bytes, *, by_token: bool = False) -> Delivery:
    """A Jira Cloud or Data Center admin webhook about an issue or one of its comments; with
    ``by_token`` (authenticated by ``webhook_token``, not a signature) also a Jira Automation
    "Send web request" body, which has no ``webhookEvent`` (:func:`_automation`)."""
    data, text = _json_object(body)
    if by_token and "webhookEvent" not in data:
        return _automation(data, body, text)
    kind = data.get("webhookEvent")
    if not isinstance(kind, str) or not kind:
        raise Malformed('no "webhookEvent": not a Jira webhook')
    if kind not in JIRA_EVENTS:
        raise Ignored(f"{kind} is not an issue or comment event")
    issue = data.get("issue")
    if not isinstance(issue, dict):
        raise Malformed(f'{kind} has no "issue" object')
    key, issue_id = _jira_issue(issue)
    timestamp = data.get("timestamp")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        raise Malformed('no "timestamp" (milliseconds): cannot tell a fresh delivery from a '
                        "replayed one")
    _check_millis(timestamp)
    identifier = headers.get(JIRA_IDENTIFIER)
    return _stored_as(
        platform="jira",
        dedupe_key=f"webhook:{identifier}" if identifier else
        f"issue:{issue_id or key}:{timestamp}",
        ticket_ref=key or issue_id,
        kind=kind,
        payload=text,
        actor=_jira_actor(data),
        # The identifier header is not signed: the signed body identifies the delivery too.
        body_hash=hashlib.sha256(body).hexdigest(),
        sent_at=timestamp / 1000,
    )


def _jira_issue(issue: dict) -> tuple[str, str]:
    """The issue's key and numeric id (either may be empty, not both)."""
    issue_id = str(issue.get("id") or "").strip()
    key = str(issue.get("key") or "").strip()
    if (key and not _jira_key(key)) or (issue_id and not _ascii_digits(issue_id)) or \
            not (key or issue_id):
        raise Malformed(f"issue id {issue.get('id')!r} / key {issue.get('key')!r} unusable")
    return key, issue_id


def _check_millis(timestamp: int) -> None:
    if abs(timestamp) > JIRA_MAX_TIMESTAMP:  # would overflow a float or a timedelta (a 500)
        raise Malformed('"timestamp" is out of range for a time in milliseconds')


AUTOMATION_TRIGGER = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def _automation(data: dict, body: bytes, text: str) -> Delivery:
    """A Jira Automation "Send web request" body. Atlassian documents the web request body
    options "Issue data (Jira format)", ``{"issue": {"id", "key", "fields", ...}}``, and "Issue
    data (Automation format)", the issue itself (support.atlassian.com/cloud-automation/docs/
    issue-data-jira-format-payload-for-send-web-request-action and .../issue-data-automation-
    format-payload-for-send-web-request); "Custom data" is the README's body, which adds
    ``automation`` (the rule's trigger), ``timestamp`` (``{{now}}``) and ``user``.

    Automation signs nothing and sends no identifier header: the body names the delivery (its
    hash), and a ``timestamp``, when there is one, gets the freshness check."""
    if "issue" in data:
        issue = data["issue"]
        if not isinstance(issue, dict):
            raise Malformed('"issue" is not an object')
    elif "key" in data or "id" in data:
        issue = data
    else:
        raise Malformed('no "webhookEvent", "issue" or issue "key"/"id": neither a Jira webhook '
                        "nor a Jira Automation issue body")
    key, issue_id = _jira_issue(issue)
    trigger = data.get("automation")
    if trigger is not None and not (isinstance(trigger, str) and
                                    AUTOMATION_TRIGGER.fullmatch(trigger)):
        raise Malformed('"automation" names the rule\'s trigger in up to 64 letters, digits and '
                        '_ . : - (e.g. "issue_commented")')
    sent = _automation_millis(data)
    digest = hashlib.sha256(body).hexdigest()
    return _stored_as(
        platform="jira",
        dedupe_key=f"automation:{key or issue_id}:{digest}",
        ticket_ref=key or issue_id,
        kind=f"automation:{trigger}" if trigger else "automation",
        payload=text,
        actor=_jira_actor(data),
        body_hash=digest,
        sent_at=None if sent is None else sent / 1000,
    )


def _automation_millis(data: dict) -> int | None:
    """The body's ``timestamp`` in milliseconds: an integer (or its digits), or a date and
    time with a UTC offset as ``{{now}}`` renders it (``2020-08-18T02:40:37.0+0000``)."""
    if "timestamp" not in data:
        return None
    value = data["timestamp"]
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and \
            len(value.strip()) <= 20:
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        _check_millis(value)
        return value
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            when = None
        if when is not None and when.tzinfo is not None:
            return round(when.timestamp() * 1000)
    raise Malformed('"timestamp" is neither milliseconds nor a date and time with a UTC offset '
                    '(use "{{now}}")')


JIRA_KEY = re.compile(r"[A-Z][A-Z0-9_]*-[0-9]+")


def _jira_key(key: str) -> bool:
    """A Jira issue key: a project key (capital letters, digits, "_") and a number."""
    return JIRA_KEY.fullmatch(key) is not None


def _jira_actor(data: dict) -> str | None:
    """Who made the change: Cloud ``accountId``, Data Center user ``key`` or ``name``."""
    comment = data.get("comment") if isinstance(data.get("comment"), dict) else {}
    for user in (data.get("user"), comment.get("updateAuthor"), comment.get("author")):
        if isinstance(user, dict):
            ident = user.get("accountId") or user.get("key") or user.get("name")
            if ident:
                return str(ident)
    return None
