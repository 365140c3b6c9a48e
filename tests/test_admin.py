"""The /admin dashboard through Flask's test client: the token, and the review's numbers."""

from __future__ import annotations

import base64
import hmac
from dataclasses import asdict
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner
from conftest import make_settings
from test_operations import offline_config
from test_review import Clock, evaluate, fill, proposal, seen

from plugins.manager import ConfigError
from webhook_app import create_app
from webhook_app.cli import main
from webhook_app.review import review, seconds
from webhook_app.settings import load_settings
from webhook_app.store import Store

TOKEN = "s3cret-admin-token-for-tests"


class Metrics(HTMLParser):
    """The text of every element marked ``data-metric``, by metric name."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._open: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        self._open.append(dict(attrs).get("data-metric"))
        if self._open[-1] is not None:
            self.values[self._open[-1]] = ""

    def handle_endtag(self, tag):
        self._open.pop()

    def handle_data(self, data):
        for name in self._open:
            if name is not None:
                self.values[name] += data.strip()


def shown(html: str) -> dict[str, str]:
    parser = Metrics()
    parser.feed(html)
    return parser.values


def expected(r: dict) -> dict[str, str]:
    """What the dashboard must show for a review (as ``asdict`` or ``report --json`` give it),
    metric by metric."""
    late = r["lateness"]
    values = {"tickets": r["tickets"], "escalations": r["escalations"], "moves": r["moves"],
              "overrides": len(r["overrides"]), "write_failures": len(r["write_failures"]),
              "deadlines.median": seconds(late["median_seconds"]),
              "deadlines.p95": seconds(late["p95_seconds"]),
              "deadlines.max": seconds(late["max_seconds"]),
              **{f"deadlines.{n}": late[n] for n in ("ran", "failed", "pending", "overdue")}}
    if r["shadow"]:
        values["shadow"] = r["shadow"]
    for share in r["tier_mix"]:
        values[f"tier.{share['tier']}.tickets"] = share["tickets"]
        values[f"tier.{share['tier']}.percent"] = f"{share['percent']:.1f}"
    for p in r["policies"]:
        values |= {f"policy.{p['policy']}.{n}": p[n]
                   for n in ("escalations", "moves", "overridden")}
        values[f"policy.{p['policy']}.percent"] = f"{p['override_percent']:.1f}"
    for name in ("by_tier", "by_channel", "by_organization", "deliveries", "evaluations"):
        values |= {f"{name}.{key}": n for key, n in r[name].items()}
    return {name: str(value) for name, value in values.items()}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def filled(tmp_path, clock) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'tierlift.db'}", clock=clock)
    store.create_schema()
    fill(store, clock)
    yield store
    store.close()


@pytest.fixture
def client(tmp_path, filled):
    settings = make_settings(tmp_path, admin={"token": TOKEN})
    return create_app(settings, store=filled, host="0.0.0.0").test_client()


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize("headers, query", [
    ({}, ""),
    ({"Authorization": "Bearer wrong-token-of-some-length"}, ""),
    ({"Authorization": f"Bearer {TOKEN}x"}, ""),
    ({"Authorization": f"Bearer {TOKEN[:-1]}"}, ""),
    ({"Authorization": TOKEN}, ""),
    (basic("admin", "guess"), ""),
    (basic(TOKEN, ""), ""),  # the token as the user name is not the password
    ({}, "?token=guess"),
    ({"Cookie": f"tierlift_admin={TOKEN}"}, ""),  # the cookie holds a derived value, not this
])
def test_a_missing_or_wrong_token_gets_401_and_no_numbers(client, headers, query):
    for path in ("/admin", "/admin/ticket/zendesk/101"):
        response = client.get(path + query, headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
        body = response.get_data(as_text=True)
        assert "data-metric" not in body and "85.0" not in body and "#101" not in body


def test_the_token_opens_the_dashboard_with_the_reviews_numbers(client, filled, clock):
    response = client.get("/admin", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert shown(html) == expected(asdict(review(filled, now=clock.now)))
    assert shown(html)["tier.L1.percent"] == "85.0"
    assert shown(html)["policy.customer_request.overridden"] == "1"
    assert "<svg" in html and "<script" not in html and "http" not in html.split("<body>")[1]


def test_basic_auth_with_the_token_as_password(client):
    assert client.get("/admin", headers=basic("anyone", TOKEN)).status_code == 200


def test_a_browser_gives_the_token_once_and_keeps_a_cookie(client):
    first = client.get(f"/admin?days=30&token={TOKEN}&override_days=10")
    assert first.status_code == 303
    assert first.headers["Location"] == "/admin?days=30&override_days=10"  # token dropped
    cookie = first.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin" in cookie
    assert TOKEN not in cookie
    assert client.get("/admin?days=30&override_days=10").status_code == 200
    assert client.get("/admin/ticket/zendesk/101").status_code == 200


def test_the_window_and_override_days_come_from_the_query(client, filled, clock):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    longer = client.get("/admin?override_days=10", headers=auth)
    assert shown(longer.get_data(as_text=True)) == \
        expected(asdict(review(filled, now=clock.now, override_days=10)))
    assert shown(longer.get_data(as_text=True))["overrides"] == "3"
    recent = client.get("/admin?days=5", headers=auth)
    assert shown(recent.get_data(as_text=True))["tickets"] == "1"
    assert client.get("/admin?days=-1", headers=auth).status_code == 400


def test_the_token_is_compared_in_constant_time(client, monkeypatch):
    compared = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert client.get("/admin", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.get("/admin", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert len(compared) >= 2
    # digests of one length whatever was offered: the time does not tell the length either
    assert {len(a) for a, _ in compared} == {len(b) for _, b in compared} == {32}


def test_a_tickets_story_page(client, filled, clock):
    evaluate(filled, clock, "666", seen("L1", proposal(
        "customer_request", "held", held="cooldown: escalated less than 30 min ago",
        evidence=[{"key": "c", "summary": 'The customer asked: "<script>alert(1)</script>"'}])))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    page = client.get("/admin/ticket/zendesk/666", headers=auth).get_data(as_text=True)
    assert "cooldown: escalated less than 30 min ago" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    story = client.get("/admin/ticket/zendesk/109", headers=auth).get_data(as_text=True)
    assert "409: Safe Update prevented the update" in story
    assert "PUT /api/v2/tickets/1.json -&gt; 200" in story
    assert shown(story)["ticket.tier"] == "L2"
    assert client.get("/admin/ticket/jira/101", headers=auth).status_code == 404


def test_without_a_token_the_dashboard_is_open_only_on_loopback(tmp_path, filled):
    settings = make_settings(tmp_path)
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        client = create_app(settings, store=filled, host=host).test_client()
        assert client.get("/admin").status_code == 200
    for host in ("0.0.0.0", "::", "192.168.1.20", "tierlift.internal"):
        with pytest.raises(ConfigError) as refused:
            create_app(settings, store=filled, host=host)
        assert refused.value.problems == [
            f"admin.token: required to serve on {host}, which is not loopback: set [admin] "
            "token (or TIERLIFT_ADMIN__TOKEN) for the /admin dashboard, or listen on 127.0.0.1"]
    # served by another WSGI server (host unknown): closed without a token
    unknown = create_app(settings, store=filled).test_client()
    assert unknown.get("/admin").status_code == 401
    assert b"no [admin] token is configured" in unknown.get("/admin").data


def test_serve_refuses_to_start_on_the_network_without_a_token(tmp_path):
    _, config = offline_config(tmp_path)
    result = CliRunner().invoke(main, ["serve", "--config", str(config), "--host", "0.0.0.0",
                                       "--port", "0", "--log-level", "warning"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "config error: admin.token: required to serve on 0.0.0.0, which is not loopback: set "
        "[admin] token (or TIERLIFT_ADMIN__TOKEN) for the /admin dashboard, or listen on "
        "127.0.0.1"]


def test_the_admin_token_from_the_environment_is_a_secret(tmp_path, monkeypatch):
    _, config = offline_config(tmp_path)
    monkeypatch.setenv("TIERLIFT_ADMIN__TOKEN", TOKEN)
    settings = load_settings(config)
    assert settings.admin.token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.admin)
    monkeypatch.setenv("TIERLIFT_ADMIN__TOKEN", "short")
    with pytest.raises(ConfigError) as short:
        load_settings(config)
    [problem] = short.value.problems
    assert problem.startswith("admin.token: use at least 16 random characters")
    assert "'short'" not in problem
