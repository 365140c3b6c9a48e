"""GET /metrics (Prometheus text, one registry per instance) and JSON logs carrying the ticket."""

from __future__ import annotations

import io
import json
import logging

import pytest
import responses
import sqlalchemy as sa
from builders import zendesk_audits, zendesk_ticket
from conftest import TIER_GROUPS, ZENDESK_URL, make_settings, sign
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from connector.errors import Unavailable
from connector.http import ApiSession
from connector.zendesk import ZendeskConnector
from plugins.manager import PolicyHost
from webhook_app import create_app
from webhook_app.escalation import Escalator
from webhook_app.logs import JsonFormatter, configure_logging, log_context
from webhook_app.metrics import Metrics
from webhook_app.settings import Settings
from webhook_app.store import Delivery, Store, tickets
from webhook_app.worker import Worker

TICKET = f"{ZENDESK_URL}/api/v2/tickets/42.json"
AUDITS = f"{ZENDESK_URL}/api/v2/tickets/42/audits.json"
CREATED = ("2026-11-20T09:00:00Z", 101)
ME = f"{ZENDESK_URL}/api/v2/users/me.json"
ASK = (11, 1, "Honestly, I want to speak to a manager.", True, "2026-11-20T09:05:00Z")
TRIGGER = {"ticket_id": "42", "updated_at": "2026-11-20T10:00:00Z", "actor": "1"}
START = 1_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(settings, clock) -> Store:
    store = Store(settings.database_url, clock=clock)
    store.create_schema()
    yield store
    store.close()


@pytest.fixture
def metrics(store) -> Metrics:
    return Metrics(store, platforms=["zendesk"])


def make_escalator(store: Store, settings: Settings, metrics: Metrics, **kw) -> Escalator:
    api = ApiSession(ZENDESK_URL, ("bot@acme.example/token", "token"), sleep=lambda _: None,
                     telemetry=metrics.api_session("zendesk"))
    connector = ZendeskConnector(api, TIER_GROUPS, settings.ladder)
    policies = PolicyHost(load_entry_points=False).configure(
        {"customer_request": {"enabled": True}})
    return Escalator(store, {"zendesk": connector}, policies, settings.ladder, metrics=metrics,
                     **kw)


@pytest.fixture
def zd():
    with responses.RequestsMock() as mock:
        mock.get(ME, json={"user": {"id": 900, "role": "admin"}})
        mock.get(TICKET, json=zendesk_ticket())
        mock.get(AUDITS, json=zendesk_audits(CREATED, comments=(ASK,)))
        mock.put(TICKET, json=zendesk_ticket(group_id=102))
        yield mock


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a scrape, by name and labels (parsed by Prometheus' own parser)."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(scrape: dict, name: str, **labels: str) -> float | None:
    return scrape.get((name, frozenset(labels.items())))


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return samples(response.get_data(as_text=True))


def post(client, body: bytes, headers: dict[str, str]) -> int:
    return client.post("/webhooks/zendesk", data=body, headers=headers).status_code


def test_metrics_after_deliveries_and_one_evaluation(settings, store, clock, metrics, zd):
    client = create_app(settings, store=store, metrics=metrics).test_client()
    body = json.dumps(TRIGGER).encode()
    ignored = json.dumps({"type": "zen:event-type:user.deleted", "id": "u1",
                          "detail": {}, "event": {}}).encode()
    assert post(client, body, sign(body)) == 202
    assert post(client, body, sign(body)) == 200  # the same delivery again
    assert post(client, body, sign(body, secret="not the secret")) == 401
    assert post(client, b"{not json", sign(b"{not json")) == 400
    assert post(client, ignored, sign(ignored)) == 200

    clock.now += 42
    before = scrape(client)
    assert {outcome: value(before, "tierlift_deliveries_received_total", platform="zendesk",
                           outcome=outcome)
            for outcome in ("accepted", "duplicate", "refused_signature", "malformed",
                            "ignored")} == {"accepted": 1.0, "duplicate": 1.0,
                                            "refused_signature": 1.0, "malformed": 1.0,
                                            "ignored": 1.0}
    assert value(before, "tierlift_inbox_pending", platform="zendesk") == 1.0
    assert value(before, "tierlift_inbox_oldest_pending_age_seconds", platform="zendesk") == 42.0
    assert value(before, "tierlift_inbox_failed", platform="zendesk") == 0.0
    assert value(before, "tierlift_evaluation_duration_seconds_count", platform="zendesk",
                 outcome="escalated") is None

    worker = Worker(store, make_escalator(store, settings, metrics), settings.worker)
    assert worker.run_once() is True

    after = scrape(client)
    assert value(after, "tierlift_inbox_pending", platform="zendesk") == 0.0
    assert value(after, "tierlift_inbox_oldest_pending_age_seconds", platform="zendesk") == 0.0
    assert value(after, "tierlift_evaluation_duration_seconds_count", platform="zendesk",
                 outcome="escalated") == 1.0
    assert value(after, "tierlift_evaluation_duration_seconds_bucket", platform="zendesk",
                 outcome="escalated", le="+Inf") == 1.0
    assert value(after, "tierlift_writeback_duration_seconds_count", platform="zendesk",
                 result="ok") == 1.0
    assert value(after, "tierlift_decisions_total", outcome="escalated", mode="live") == 1.0
    assert value(after, "tierlift_decisions_total", outcome="escalated", mode="shadow") is None
    # whoami, the ticket, its audits (comments included), then the write
    assert value(after, "tierlift_api_requests_total", platform="zendesk", method="GET",
                 status="200") == 3.0
    assert value(after, "tierlift_api_requests_total", platform="zendesk", method="PUT",
                 status="200") == 1.0
    assert value(after, "tierlift_api_rate_limited_total", platform="zendesk") is None


def test_no_change_and_shadow_decisions_are_counted_by_mode(settings, store, metrics, zd):
    zd.replace(responses.GET, AUDITS, json=zendesk_audits(CREATED, comments=(
        (11, 1, "The printer works again, thanks.", True, "2026-11-20T09:05:00Z"),)))
    zd.remove(responses.PUT, TICKET)
    store.receive(Delivery("zendesk", "event:quiet", "42", "ticket.comment_added", "{}", "1"))
    Worker(store, make_escalator(store, settings, metrics), settings.worker).run_once()

    zd.replace(responses.GET, AUDITS, json=zendesk_audits(CREATED, comments=(ASK,)))
    store.receive(Delivery("zendesk", "event:ask", "42", "ticket.comment_added", "{}", "1"))
    Worker(store, make_escalator(store, settings, metrics, shadow=True),
           settings.worker).run_once()

    scraped = samples(metrics.exposition().decode())
    assert value(scraped, "tierlift_decisions_total", outcome="no_change", mode="live") == 1.0
    assert value(scraped, "tierlift_decisions_total", outcome="escalated", mode="shadow") == 1.0
    assert value(scraped, "tierlift_decisions_total", outcome="escalated", mode="live") is None
    assert value(scraped, "tierlift_writeback_duration_seconds_count", platform="zendesk",
                 result="ok") is None


def test_a_deadline_evaluated_late_is_measured(settings, store, clock, metrics, zd):
    zd.replace(responses.GET, AUDITS, json=zendesk_audits(CREATED))
    zd.remove(responses.PUT, TICKET)
    store.receive(Delivery("zendesk", "event:a", "42", "ticket.created", "{}", "1"))
    with store.engine.begin() as conn:
        conn.execute(sa.update(tickets).values(next_due_at=START - 7.5))
    assert store.fire_due() == 1
    worker = Worker(store, make_escalator(store, settings, metrics), settings.worker)
    assert worker.run_once() is True  # the delivery and the deadline, in one claim

    scraped = samples(metrics.exposition().decode())
    assert value(scraped, "tierlift_deadline_lateness_seconds_count", platform="zendesk") == 1.0
    assert value(scraped, "tierlift_deadline_lateness_seconds_sum", platform="zendesk") == 7.5
    assert value(scraped, "tierlift_deadline_lateness_seconds_bucket", platform="zendesk",
                 le="5.0") == 0.0
    assert value(scraped, "tierlift_deadline_lateness_seconds_bucket", platform="zendesk",
                 le="10.0") == 1.0


def test_api_calls_429s_and_retries_are_counted_per_platform():
    metrics = Metrics()
    api = ApiSession(ZENDESK_URL, ("u", "p"), sleep=lambda _: None, max_attempts=3,
                     telemetry=metrics.api_session("zendesk"))
    with responses.RequestsMock() as mock:
        mock.get(TICKET, status=429, headers={"Retry-After": "1"})
        mock.get(TICKET, status=503)
        mock.get(TICKET, json=zendesk_ticket())
        assert api.get("/api/v2/tickets/42.json").status_code == 200
        mock.replace(responses.GET, TICKET, status=429, headers={"Retry-After": "3600"})
        with pytest.raises(Unavailable):
            api.get("/api/v2/tickets/42.json")

    scraped = samples(metrics.exposition().decode())
    count = {status: value(scraped, "tierlift_api_requests_total", platform="zendesk",
                           method="GET", status=status) for status in ("429", "503", "200")}
    assert count == {"429": 2.0, "503": 1.0, "200": 1.0}
    assert value(scraped, "tierlift_api_rate_limited_total", platform="zendesk") == 2.0
    # the 429 asking for an hour is not waited for: it is no retry
    assert value(scraped, "tierlift_api_retries_total", platform="zendesk", reason="429") == 1.0
    assert value(scraped, "tierlift_api_retries_total", platform="zendesk", reason="503") == 1.0


def test_each_app_has_its_own_registry(settings, store):
    first = create_app(settings, store=store).test_client()
    second = create_app(settings, store=store).test_client()
    body = json.dumps(TRIGGER).encode()
    assert post(first, body, sign(body)) == 202
    assert value(scrape(first), "tierlift_deliveries_received_total", platform="zendesk",
                 outcome="accepted") == 1.0
    assert value(scrape(second), "tierlift_deliveries_received_total", platform="zendesk",
                 outcome="accepted") is None


# -- JSON logs ------------------------------------------------------------------------------


@pytest.fixture
def json_lines():
    """Everything logged during the test, as the JSON log format writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(level)


def test_json_log_lines_of_an_evaluation_carry_ticket_platform_and_delivery(
        settings, store, metrics, zd, json_lines):
    store.receive(Delivery("zendesk", "event:a", "42", "ticket.comment_added", "{}", "1"))
    store.receive(Delivery("zendesk", "event:b", "42", "ticket.comment_added", "{}", "1"))
    Worker(store, make_escalator(store, settings, metrics), settings.worker).run_once()

    [line] = [e for e in json_lines() if e["logger"] == "webhook_app.escalation"
              and "escalated" in e["message"]]
    assert set(line) == {"time", "level", "logger", "message", "platform", "ticket", "delivery"}
    assert (line["level"], line["message"], line["platform"], line["ticket"],
            line["delivery"]) == ("INFO", "zendesk ticket 42: escalated L1->L2", "zendesk", "42",
                                  "event:a,event:b")
    assert line["time"].endswith("Z") and line["time"][10] == "T"
    assert all(e.get("ticket") == "42" for e in json_lines() if e["logger"].startswith(
        "webhook_app"))


def test_json_log_lines_of_the_receiver_carry_the_platform(settings, store, json_lines):
    client = create_app(settings, store=store).test_client()
    body = json.dumps(TRIGGER).encode()
    assert post(client, body, sign(body, secret="wrong")) == 401
    [line] = [e for e in json_lines() if e["logger"] == "webhook_app.routes"]
    assert line["level"] == "WARNING" and line["platform"] == "zendesk"
    assert "ticket" not in line  # not known: the body was never trusted


def test_extra_fields_and_exceptions_are_kept_and_context_ends_with_its_block(json_lines):
    log = logging.getLogger("tierlift.test")
    with log_context(platform="jira", ticket="SUP-1"):
        log.info("inside", extra={"delivery": "hook-7"})
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    log.info("outside")
    inside, failed, outside = json_lines()
    assert inside == {**inside, "message": "inside", "platform": "jira", "ticket": "SUP-1",
                      "delivery": "hook-7"}
    assert failed["exception"].splitlines()[-1] == "ValueError: boom"
    assert "ticket" not in outside and outside["message"] == "outside"


def test_configure_logging_json_writes_one_object_per_line():
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    stream = io.StringIO()
    try:
        configure_logging("warning", "json", stream=stream)
        logging.getLogger("tierlift.test").info("not shown")
        logging.getLogger("tierlift.test").warning("shown %s", "here")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)
    [line] = stream.getvalue().splitlines()
    assert json.loads(line)["message"] == "shown here"


def test_log_format_is_text_by_default_and_json_or_text_only(tmp_path):
    assert make_settings(tmp_path).log_format == "text"
    assert make_settings(tmp_path, log_format="json").log_format == "json"
    with pytest.raises(ValidationError):
        make_settings(tmp_path, log_format="xml")
