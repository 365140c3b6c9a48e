"""The receiver: a Flask application factory for the helpdesk webhooks, health checks and
metrics."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from plugins.manager import ConfigError
from webhook_app.metrics import Metrics
from webhook_app.settings import Settings, load_settings
from webhook_app.store import Store

MAX_BODY = 1024 * 1024  # 1 MiB


@dataclass
class AppContext:
    """What the views need, attached to the app once: no module-level globals."""

    settings: Settings
    store: Store
    wake: threading.Event = field(default_factory=threading.Event)
    metrics: Metrics = field(default_factory=Metrics)
    loops: Callable[[], list[str]] | None = None  # the background loops not running now


def create_app(settings: Settings | None = None, *, store: Store | None = None,
               wake: threading.Event | None = None, metrics: Metrics | None = None,
               host: str | None = None, loops: Callable[[], list[str]] | None = None) -> Flask:
    """Build the receiver. ``settings`` defaults to :func:`load_settings` (``$TIERLIFT_CONFIG``
    and the ``TIERLIFT_*`` environment): ``gunicorn 'webhook_app:create_app()'``, a receiver
    only (workers run as ``tierlift worker``); a bad configuration raises :class:`ConfigError`
    with all its problems on one line. ``wake`` is set after each stored delivery (the
    in-process worker waits on it); ``store`` defaults to one on ``settings.database_url``;
    ``metrics`` (served at ``/metrics``) to this app's own, with the store's inbox gauges;
    ``loops`` names the in-process background loops that are not running (``/readyz``)."""
    from webhook_app.admin import OPEN, admin, check_access
    from webhook_app.metrics import metrics_routes
    from webhook_app.routes import health, webhooks

    if settings is None:
        try:
            settings = load_settings()
        except ConfigError as exc:  # a WSGI server prints str(exc): one line, not one per problem
            raise ConfigError(["; ".join(exc.problems)]) from None
    # ``host``: where the server listens. /admin without [admin] token is open on
    # loopback, refused (ConfigError) anywhere else, closed when host is not known.
    admin_open = check_access(settings, host)
    app = Flask(__name__)
    app.config[OPEN] = admin_open
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    if store is None:
        store = Store(settings.database_url)
        store.create_schema()
    if metrics is None:
        metrics = Metrics(store, platforms=settings.platforms)
    app.extensions["tierlift"] = AppContext(settings, store, wake or threading.Event(), metrics,
                                            loops)
    app.register_blueprint(webhooks)
    app.register_blueprint(health)
    app.register_blueprint(admin)
    app.register_blueprint(metrics_routes)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        return jsonify(error=exc.description), exc.code

    return app
