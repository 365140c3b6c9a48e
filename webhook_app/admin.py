"""The review dashboard at ``/admin``: the numbers of :mod:`webhook_app.review`, rendered on the
server, charts as inline SVG (no script, nothing fetched from elsewhere).

Behind ``[admin] token``, compared in constant time: ``Authorization: Bearer <token>``, basic
auth with the token as password, or ``?token=<token>`` from a browser, answered with a session
cookie and a redirect that drops the token from the address bar and history. Without a token
the dashboard is served only by a server listening on loopback (:func:`check_access`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request

from plugins.manager import ConfigError
from webhook_app.review import counts, review, seconds, ticket_stories, when
from webhook_app.settings import Settings

admin = Blueprint("admin", __name__, template_folder="templates")

COOKIE = "tierlift_admin"
OPEN = "TIERLIFT_ADMIN_OPEN"  # app.config key: no token, and the server listens on loopback
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_access(settings: Settings, host: str | None) -> bool:
    """Whether ``/admin`` is open without a token (no token, and a loopback-only server).

    Raises :class:`ConfigError` for a server on any other address without ``[admin] token``:
    the dashboard must not be open to the network. ``host`` None (the app served by some
    other WSGI server): without a token, ``/admin`` refuses every request."""
    if settings.admin.token is not None or host is None:
        return False
    if is_loopback(host):
        return True
    raise ConfigError([f"admin.token: required to serve on {host}, which is not loopback: set "
                       "[admin] token (or TIERLIFT_ADMIN__TOKEN) for the /admin dashboard, or "
                       "listen on 127.0.0.1"])


@admin.before_request
def _authorize():
    token = current_app.extensions["tierlift"].settings.admin.token
    if token is None:
        return None if current_app.config.get(OPEN) else _refused(
            "no [admin] token is configured: set one to open the dashboard")
    secret = token.get_secret_value()
    offered = request.args.get("token")
    if offered is not None:
        if not _same(offered, secret):
            return _refused()
        # a browser's first visit: a cookie from now on, and the token out of the address
        kept = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
        response = redirect(request.path + (f"?{urlencode(kept)}" if kept else ""), 303)
        response.set_cookie(COOKIE, _session(secret), httponly=True, samesite="Strict",
                            secure=request.is_secure, path="/admin")
        return response
    if _same(_presented(), secret) or _same(request.cookies.get(COOKIE, ""), _session(secret)):
        return None
    return _refused()


@admin.after_request
def _harden(response: Response) -> Response:
    response.headers.update(HEADERS)
    return response


def _same(offered: str, secret: str) -> bool:
    """Constant time, also in the length: digests of equal size are compared."""
    return hmac.compare_digest(hashlib.sha256(offered.encode()).digest(),
                               hashlib.sha256(secret.encode()).digest())


def _session(secret: str) -> str:
    """The cookie value: derived from the token, never the token itself."""
    return hmac.new(secret.encode(), b"tierlift admin session", hashlib.sha256).hexdigest()


def _presented() -> str:
    """The token in ``Authorization``: a bearer token, or the basic-auth password."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return ""
    return ""


def _refused(reason: str = "a valid token is required") -> Response:
    return Response(f"tierlift admin: {reason} (Authorization: Bearer <token>, basic auth with "
                    "the token as password, or ?token=<token>).\n", 401,
                    {"WWW-Authenticate": 'Basic realm="tierlift admin", charset="UTF-8"',
                     "Content-Type": "text/plain; charset=utf-8"})


def _window() -> tuple[float | None, float]:
    """``?days=`` (the review's window; default: everything) and ``?override_days=``."""
    days = request.args.get("days", type=float)
    override_days = request.args.get("override_days", default=7.0, type=float)
    if (days is not None and days <= 0) or override_days <= 0:
        abort(400, "days and override_days must be positive")
    return days, override_days


@admin.get("/admin")
def dashboard():
    ctx = current_app.extensions["tierlift"]
    days, override_days = _window()
    now = ctx.store.clock()
    result = review(ctx.store, ctx.settings.tiers, now=now, override_days=override_days,
                    since=None if days is None else now - days * 86400)
    return render_template("admin/dashboard.html", r=result, days=days, when=when,
                           seconds=seconds, counts=counts)


@admin.get("/admin/ticket/<platform>/<path:ref>")
def ticket(platform: str, ref: str):
    stories = ticket_stories(current_app.extensions["tierlift"].store, ref, platform)
    if not stories:
        abort(404, f"tierlift has nothing on {platform} ticket {ref}")
    return render_template("admin/ticket.html", story=stories[0], when=when)
