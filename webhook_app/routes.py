"""HTTP routes. Views stay thin: verify → parse → store → respond; no helpdesk call in here."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta

from flask import Blueprint, Response, current_app, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge

from connector.errors import one_line
from webhook_app.deliveries import Ignored, Malformed, parse_jira, parse_zendesk
from webhook_app.logs import add_log_context, log_context
from webhook_app.signatures import (
    SignatureError,
    jira_signed,
    verify_jira,
    verify_jira_freshness,
    verify_zendesk,
)
from webhook_app.store import Delivery

log = logging.getLogger(__name__)

webhooks = Blueprint("webhooks", __name__)
health = Blueprint("health", __name__)


_json = json.JSONEncoder(separators=(",", ":")).encode


def _answer(code: int, /, **body: object) -> Response:
    """A JSON answer, built directly (``jsonify`` was a sizeable share of an intake's CPU)."""
    return Response(_json(body), status=code, mimetype="application/json")


@webhooks.post("/webhooks/zendesk")
def zendesk():
    settings = current_app.extensions["tierlift"].settings.zendesk
    if settings is None:
        return _answer(404, error="Zendesk is not configured on this tierlift")
    secret = settings.webhook_secret.get_secret_value()
    with log_context(platform="zendesk"):
        return _receive("zendesk", lambda body: verify_zendesk(secret, request.headers, body),
                        parse_zendesk)


@webhooks.post("/webhooks/jira")
def jira():
    ctx = current_app.extensions["tierlift"]
    settings = ctx.settings.jira
    if settings is None:
        return _answer(404, error="Jira is not configured on this tierlift")
    secret, token = (s.get_secret_value() if s else None
                     for s in (settings.webhook_secret, settings.webhook_token))
    max_age = timedelta(minutes=settings.freshness_minutes)
    # Past verification, an unsigned delivery carried the token: only then may it be a Jira
    # Automation "Send web request" body (which cannot be signed).
    by_token = not jira_signed(request.headers, secret)

    def fresh(delivery: Delivery) -> None:
        if delivery.sent_at is not None:  # an Automation body without a timestamp
            verify_jira_freshness(request.headers, delivery.sent_at, now=ctx.store.clock(),
                                  max_age=max_age)

    with log_context(platform="jira"):
        return _receive("jira", lambda body: verify_jira(
            request.headers, body, secret=secret, token=token,
            query_token=request.args.get("token")),
            lambda headers, body: parse_jira(headers, body, by_token=by_token), fresh)


def _receive(platform: str, verify: Callable[[bytes], None],
             parse: Callable[[Mapping[str, str], bytes], Delivery],
             fresh: Callable[[Delivery], None] | None = None):
    """Verify the raw body, parse it, check its age (``fresh``), store it durably, then answer;
    nothing else (but count the outcome for /metrics)."""
    ctx = current_app.extensions["tierlift"]
    counted = ctx.metrics.received
    try:
        body = request.get_data(cache=False)  # 413 is raised here above MAX_CONTENT_LENGTH
    except RequestEntityTooLarge:
        counted(platform, "too_large")
        raise
    try:
        verify(body)
    except SignatureError as exc:
        log.warning("%s delivery refused: %s", request.path, exc)
        counted(platform, "refused_signature")
        return _answer(401, error=str(exc))
    try:
        delivery = parse(request.headers, body)
    except Malformed as exc:
        counted(platform, "malformed")
        return _answer(400, error=str(exc))
    except Ignored as exc:
        counted(platform, "ignored")
        return _answer(200, status="ignored", reason=str(exc))
    if fresh is not None:
        try:
            fresh(delivery)
        except SignatureError as exc:
            log.warning("%s delivery refused: %s", request.path, exc)
            counted(platform, "refused_stale")
            return _answer(401, error=str(exc))
    add_log_context(delivery=delivery.dedupe_key, ticket=delivery.ticket_ref)
    try:
        new = ctx.store.receive(delivery, delay=ctx.settings.worker.coalesce_seconds)
    except SQLAlchemyError as exc:  # one line: an outage would print a traceback per request
        log.error("could not store %s delivery %s: %s", delivery.platform, delivery.dedupe_key,
                  one_line(exc))
        counted(platform, "store_unavailable")
        response = _answer(503, error="the store is unavailable; retry")
        response.headers["Retry-After"] = "10"
        return response
    if not new:
        counted(platform, "duplicate")
        return _answer(200, status="duplicate", delivery=delivery.dedupe_key)
    counted(platform, "accepted")
    ctx.wake.set()
    return _answer(202, status="accepted", delivery=delivery.dedupe_key,
                   ticket=delivery.ticket_ref)


@health.get("/healthz")
def healthz():
    return _answer(200, status="ok")


@health.get("/readyz")
def readyz():
    """200 when deliveries are stored and worked on: the store answers and takes writes, no
    background loop of this process has stopped, and nothing due waits longer than
    ``worker.stall_seconds`` (workers elsewhere dead or stuck)."""
    ctx = current_app.extensions["tierlift"]
    try:
        ctx.store.ping()
    except SQLAlchemyError as exc:
        return _answer(503, status="store unavailable", error=type(exc).__name__)
    try:
        ctx.store.probe_write()
    except SQLAlchemyError as exc:
        return _answer(503, status="store refuses writes", error=type(exc).__name__)
    stopped = ctx.loops() if ctx.loops is not None else []
    if stopped:
        return _answer(503, status="background loop stopped", loops=stopped)
    bound = ctx.settings.worker.stall_seconds
    if bound:
        try:
            waiting = ctx.store.longest_wait()
        except SQLAlchemyError as exc:
            return _answer(503, status="store unavailable", error=type(exc).__name__)
        if waiting > bound:
            return _answer(503, status="stalled", waiting_seconds=round(waiting),
                           bound_seconds=bound)
    return _answer(200, status="ready")
