"""Zendesk as it is documented and observed: rate-limit header spellings, and a sweep that works
for an agent bot (the incremental export is admin-only, the Search API is not)."""

from __future__ import annotations

import random

import pytest
import responses
from conftest import ZENDESK_URL

from connector.http import ApiSession, RateBudget

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
