"""Zendesk as it is documented and observed: rate-limit header spellings, and a sweep that works
for an agent bot (the incremental export is admin-only, the Search API is not)."""

from __future__ import annotations

import logging
import random
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from builders import LADDER
from conftest import TIER_GROUPS, ZENDESK_URL
from emulated import served

from connector.errors import AuthError
from connector.http import ApiSession, RateBudget
from connector.zendesk import ZendeskConnector

PATH = "/api/v2/tickets/1.json"
URL = f"{ZENDESK_URL}{PATH}"
AUTH = ("bot@acme.example/token", "abc")


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def api(sleeps) -> ApiSession:
    return ApiSession(ZENDESK_URL, AUTH, sleep=sleeps.append, rng=random.Random(7),
                      budget=RateBudget(monotonic=FakeClock()))


# --------------------------------------------------------------------------------------------
# Rate-limit headers


@pytest.mark.parametrize("name", [
    "Zendesk-RateLimit-tickets-update",  # documented on Update Ticket
    "zendesk-ratelimit-per-ticket-updates",  # sent today
    "zendesk-rate-limit-tickets-update",  # sent once (tests/fixtures/zendesk-api/ticket-update)
])
def test_every_ticket_update_header_spelling_slows_the_next_write(api, rsps, sleeps, name):
    rsps.put(URL, json={}, headers={name: "total=30; remaining=1; resets=59"})
    rsps.put(URL, json={})
    rsps.get(URL, json={})
    api.request("PUT", PATH, json={})
    api.get(PATH)
    assert sleeps == []  # reads are not ticket updates
    api.request("PUT", PATH, json={})
    assert sleeps == [pytest.approx(60 / 2)]  # 1 left over the 59 s (+1) until the reset


def test_a_ticket_update_header_with_room_left_does_not_slow_writes(api, rsps, sleeps):
    rsps.put(URL, json={}, headers={"zendesk-ratelimit-per-ticket-updates":
                                    "total=30; remaining=29; resets=600"})
    rsps.put(URL, json={})
    api.request("PUT", PATH, json={})
    api.request("PUT", PATH, json={})
    assert sleeps == []


def test_the_tightest_of_several_ticket_update_windows_wins(api, rsps, sleeps):
    rsps.put(URL, json={}, headers={
        "Zendesk-RateLimit-tickets-update": "total=100; remaining=50; resets=30",
        "zendesk-ratelimit-per-ticket-updates": "total=30; remaining=0; resets=299"})
    rsps.put(URL, json={})
    api.request("PUT", PATH, json={})
    api.request("PUT", PATH, json={})
    assert sleeps == [300.0]


@pytest.mark.parametrize("headers", [
    {"X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "1"},  # every response
    {"ratelimit-limit": "700", "ratelimit-remaining": "1", "ratelimit-reset": "59"},  # Ticketing
    {"x-rate-limit": "700", "ratelimit-limit": "700", "x-rate-limit-remaining": "1",
     "ratelimit-remaining": "1", "ratelimit-reset": "59"},  # the documented list example
])
def test_the_account_headers_slow_every_request(api, rsps, sleeps, headers):
    rsps.get(URL, json={}, headers=headers)
    rsps.get(URL, json={})
    api.get(PATH)
    api.get(PATH)
    assert sleeps == [pytest.approx(60 / 2)]  # no reset header: a 60 s window


# --------------------------------------------------------------------------------------------
# The sweep of an agent bot: the incremental export is for admins, the Search API is not

EXPORT_PATH = "/api/v2/incremental/tickets/cursor.json"


@pytest.fixture
def emulator(request):
    from webhook_app.emulator.zendesk import ZendeskEmulator

    emulator = ZendeskEmulator(role=getattr(request, "param", "agent"))
    emulator.user(501, "Maya Lind")
    with served(emulator):
        yield emulator


def connect(emulator) -> tuple[ZendeskConnector, list[str]]:
    """A connector to the emulator, and the URLs it asks, in order."""
    api = ApiSession(emulator.url, (f"{emulator.email}/token", emulator.api_token))
    urls: list[str] = []
    api.session.hooks["response"].append(lambda r, *_, **__: urls.append(r.request.url))
    return ZendeskConnector(api, TIER_GROUPS, LADDER), urls


def asked(urls: list[str]) -> list[tuple[str, dict[str, str]]]:
    return [(urlsplit(u).path, dict(parse_qsl(urlsplit(u).query))) for u in urls]


def tickets(emulator, now: datetime) -> dict[int, str]:
    """Seven open tickets updated a minute apart from 10 minutes ago, a solved one, one
    updated before the sweep's start; the open ones' ``updated_at``."""
    expected = {}
    for n in range(7):
        at = now - timedelta(minutes=10 - n)
        ticket = emulator.create_ticket(subject=f"t{n}", description="d", requester_id=501,
                                        group_id=None, status="open", at=at, notify=False)
        expected[ticket] = emulator.tickets[ticket]["updated_at"]
    emulator.create_ticket(subject="done", description="d", requester_id=501, group_id=None,
                           status="solved", at=now - timedelta(minutes=5), notify=False)
    emulator.create_ticket(subject="old", description="d", requester_id=501, group_id=None,
                           status="open", at=now - timedelta(hours=2), notify=False)
    return expected


def test_an_agent_bot_sweeps_through_the_search_api_in_windows_and_pages(emulator, caplog):
    emulator.search_limit = 4
    now = datetime.now(UTC).replace(microsecond=0)
    expected = tickets(emulator, now)
    connector, urls = connect(emulator)
    connector.search_page_size, connector.search_limit = 2, 4
    found = list(connector.recently_updated(now - timedelta(minutes=15)))
    assert sorted(found) == sorted((str(t), at) for t, at in expected.items())
    assert [at for _, at in found] == sorted(at for _, at in found)  # oldest first
    requests = asked(urls)
    assert requests[0][0] == EXPORT_PATH
    assert [r.status for r in emulator.requests[:1]] == [403]
    searches = [params for path, params in requests[1:]]
    assert all(path == "/api/v2/search.json" for path, _ in requests[1:])
    assert all(p["sort_by"] == "updated_at" and p["sort_order"] == "asc" and
               p["per_page"] == "2" for p in searches)
    assert all(re.fullmatch(r"type:ticket updated>\S+Z updated<\S+Z status<solved", p["query"])
               for p in searches)
    assert len({p["query"] for p in searches}) > 2  # the full window was split
    assert any(p.get("page") == "2" for p in searches)  # and windows were paged
    assert all(r.status == 200 for r in emulator.requests[1:])  # never past the limit (422)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "\n" not in warnings[0].getMessage()
    assert "403" in warnings[0].getMessage()

    urls.clear()
    assert list(connector.recently_updated(now - timedelta(minutes=15))) == found
    assert EXPORT_PATH not in [path for path, _ in asked(urls)]  # the choice is remembered
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_the_search_reads_solved_tickets_too_for_the_backtest(emulator):
    now = datetime.now(UTC).replace(microsecond=0)
    expected = tickets(emulator, now)
    connector, urls = connect(emulator)
    found = dict(connector.recently_updated(now - timedelta(minutes=15), open_only=False))
    assert len(found) == len(expected) + 1
    assert all("status" not in p["query"] for _, p in asked(urls)[1:])


@pytest.mark.parametrize("emulator", ["admin"], indirect=True)
def test_an_admin_bot_sweeps_through_the_incremental_export(emulator, caplog):
    now = datetime.now(UTC).replace(microsecond=0)
    expected = tickets(emulator, now)
    connector, urls = connect(emulator)
    found = list(connector.recently_updated(now - timedelta(minutes=15)))
    assert sorted(found) == sorted((str(t), at) for t, at in expected.items())
    assert [path for path, _ in asked(urls)] == [EXPORT_PATH]
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_a_401_on_the_export_is_not_taken_for_an_agent(rsps):
    rsps.get(f"{ZENDESK_URL}{EXPORT_PATH}", status=401, json={"error": "Couldn't authenticate"})
    connector = ZendeskConnector(ApiSession(ZENDESK_URL, AUTH), TIER_GROUPS, LADDER)
    with pytest.raises(AuthError):
        list(connector.recently_updated(datetime.now(UTC)))
    assert not connector._export_refused
