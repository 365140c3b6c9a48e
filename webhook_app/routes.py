"""HTTP routes. Views stay thin: verify → parse → store → respond; no helpdesk call in here."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from webhook_app.deliveries import Ignored, Malformed, parse_jira, parse_zendesk
from webhook_app.signatures import SignatureError, verify_jira, verify_zendesk
from webhook_app.store import Delivery

log = logging.getLogger(__name__)

webhooks = Blueprint("webhooks", __name__)
health = Blueprint("health", __name__)


def _answer(code: int, /, **body: object):
    return jsonify(body), code


@webhooks.post("/webhooks/zendesk")
def zendesk():
    settings = current_app.extensions["tierlift"].settings.zendesk
    if settings is None:
        return _answer(404, error="Zendesk is not configured on this tierlift")
    secret = settings.webhook_secret.get_secret_value()
    return _receive(lambda body: verify_zendesk(secret, request.headers, body), parse_zendesk)


@webhooks.post("/webhooks/jira")
def jira():
    settings = current_app.extensions["tierlift"].settings.jira
    if settings is None:
        return _answer(404, error="Jira is not configured on this tierlift")
    secret, token = (s.get_secret_value() if s else None
                     for s in (settings.webhook_secret, settings.webhook_token))
    return _receive(lambda body: verify_jira(request.headers, body, secret=secret, token=token,
                                             query_token=request.args.get("token")),
                    parse_jira)


def _receive(verify: Callable[[bytes], None],
             parse: Callable[[Mapping[str, str], bytes], Delivery]):
    """Verify the raw body, parse it, store it durably, then answer; nothing else."""
    ctx = current_app.extensions["tierlift"]
    body = request.get_data(cache=False)  # 413 is raised here above MAX_CONTENT_LENGTH
    try:
        verify(body)
    except SignatureError as exc:
        log.warning("%s delivery refused: %s", request.path, exc)
        return _answer(401, error=str(exc))
    try:
        delivery = parse(request.headers, body)
    except Malformed as exc:
        return _answer(400, error=str(exc))
    except Ignored as exc:
        return _answer(200, status="ignored", reason=str(exc))
    try:
        new = ctx.store.receive(delivery, delay=ctx.settings.worker.coalesce_seconds)
    except SQLAlchemyError:
        log.exception("could not store %s delivery %s", delivery.platform, delivery.dedupe_key)
        response = _answer(503, error="the store is unavailable; retry")
        response[0].headers["Retry-After"] = "10"
        return response
    if not new:
        return _answer(200, status="duplicate", delivery=delivery.dedupe_key)
    ctx.wake.set()
    return _answer(202, status="accepted", delivery=delivery.dedupe_key,
                   ticket=delivery.ticket_ref)


@health.get("/healthz")
def healthz():
    return _answer(200, status="ok")


@health.get("/readyz")
def readyz():
    try:
        current_app.extensions["tierlift"].store.ping()
    except SQLAlchemyError as exc:
        return _answer(503, status="store unavailable", error=type(exc).__name__)
    return _answer(200, status="ready")
