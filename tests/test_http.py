"""connector.http: Retry-After parsing, the rate-limit budget, and ApiSession's retry policy."""

from __future__ import annotations

import base64
import email.utils
import random
from datetime import UTC, datetime, timedelta

import pytest
import requests
import responses
from conftest import ZENDESK_URL, recorded

from connector.errors import AmbiguousWrite, AuthError, Unavailable
from connector.http import ApiSession, BearerAuth, RateBudget, parse_retry_after

URL = f"{ZENDESK_URL}/api/v2/tickets/1.json"
PATH = "/api/v2/tickets/1.json"
AUTH = ("bot@acme.example/token", "abc")
SEED = 1234
NOW = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# parse_retry_after


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7.0), (" 120 ", 120.0), ("1.5", 1.5), ("0", 0.0), ("-3", 0.0)],
)
def test_retry_after_delta_seconds(value, expected):
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "Infinity"])
def test_a_retry_after_that_is_no_number_of_seconds_is_ignored(value):
    assert parse_retry_after(value, now=NOW) is None


def test_retry_after_http_date_is_relative_to_now():
    assert parse_retry_after("Mon, 01 Jan 2024 12:00:30 GMT", now=NOW) == 30.0
    # Another zone: 13:00:45 +0100 is 12:00:45 UTC.
    assert parse_retry_after("Mon, 01 Jan 2024 13:00:45 +0100", now=NOW) == 45.0
    # The same header read a little later means a shorter wait.
    later = NOW + timedelta(seconds=10)
    assert parse_retry_after("Mon, 01 Jan 2024 12:00:30 GMT", now=later) == 20.0


def test_retry_after_http_date_in_the_past_is_zero():
    assert parse_retry_after("Mon, 01 Jan 2024 11:59:00 GMT", now=NOW) == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "   ", "soon", "7 seconds", "Mon, 32 Foo 2024"])
def test_retry_after_garbage_is_none(value):
    assert parse_retry_after(value, now=NOW) is None


# --------------------------------------------------------------------------------------------
# RateBudget


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def window(remaining: int, *, reset: int, limit: int = 700) -> dict[str, str]:
    """The documented Ticketing API account headers."""
    return {"ratelimit-limit": str(limit), "ratelimit-remaining": str(remaining),
            "ratelimit-reset": str(reset)}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def budget(clock) -> RateBudget:
    return RateBudget(monotonic=clock)


def test_budget_without_observations_never_delays(budget):
    assert budget.delay(write=False) == 0.0
    assert budget.delay(write=True) == 0.0


def test_budget_plenty_remaining_real_headers_no_delay(budget):
    # ticket-show.json: 650 of 700 left.
    budget.observe(recorded("zendesk-api/ticket-show")["response"]["headers"])
    assert budget.delay(write=False) == 0.0
    assert budget.delay(write=True) == 0.0


@pytest.mark.parametrize(
    ("remaining", "expected"),
    [
        (71, 0.0),  # reserve is 10% of 700 = 70: one above it, no slowing down yet
        # at the reserve: the 70 left are spread over the 41 s left, plus 1 s because the
        # header counts whole seconds
        (70, 42 / 71),
        (10, 42 / 11),
        (1, 42 / 2),
    ],
)
def test_budget_spreads_the_reserve_over_the_window(budget, remaining, expected):
    budget.observe(window(remaining, reset=41))
    assert budget.delay(write=False) == pytest.approx(expected, rel=1e-12)
    assert budget.delay(write=True) == pytest.approx(expected, rel=1e-12)


def test_budget_spread_shrinks_as_the_window_runs_out(budget, clock):
    budget.observe(window(10, reset=41))
    clock.advance(19)
    assert budget.delay(write=False) == pytest.approx(23 / 11, rel=1e-12)


def test_budget_reads_capitalised_x_rate_limit_headers_and_default_window(budget):
    # No limit header: the reserve is min_reserve=2; no reset header: a 60 s window.
    budget.observe({"X-Rate-Limit-Remaining": "2"})
    assert budget.delay(write=False) == pytest.approx(60 / 3, rel=1e-12)
    budget.observe({"X-Rate-Limit-Remaining": "3"})
    assert budget.delay(write=False) == 0.0


def test_budget_zero_remaining_waits_until_reset(budget, clock):
    budget.observe(window(0, reset=41))
    assert budget.delay(write=False) == 42.0
    clock.advance(11)
    assert budget.delay(write=False) == 31.0
    assert budget.delay(write=True) == 31.0


def test_budget_delay_returns_to_zero_after_the_window_resets(budget, clock):
    budget.observe(window(0, reset=41))
    clock.advance(41)
    assert budget.delay(write=False) == 1.0
    clock.advance(1)
    assert budget.delay(write=False) == 0.0
    assert budget.delay(write=True) == 0.0
    clock.advance(100)
    assert budget.delay(write=False) == 0.0


def test_budget_a_fresh_observation_replaces_the_window(budget):
    budget.observe(window(0, reset=41))
    assert budget.delay(write=False) == 42.0
    budget.observe(window(699, reset=59))
    assert budget.delay(write=False) == 0.0


def _ticket_update_headers(value: str | None = None) -> dict[str, str]:
    headers = dict(recorded("zendesk-api/ticket-update")["response"]["headers"])
    assert headers["zendesk-rate-limit-tickets-update"] == "total=20; remaining=19; resets=59"
    if value is not None:
        headers["zendesk-rate-limit-tickets-update"] = value
    return headers


def test_budget_real_ticket_update_headers_leave_room(budget):
    budget.observe(_ticket_update_headers())  # 19 of 20 updates left, 696 of 700 requests
    assert budget.delay(write=True) == 0.0
    assert budget.delay(write=False) == 0.0


def test_budget_ticket_update_window_slows_writes_only(budget, clock):
    budget.observe(_ticket_update_headers("total=20; remaining=1; resets=59"))
    assert budget.delay(write=True) == pytest.approx(60 / 2, rel=1e-12)
    assert budget.delay(write=False) == 0.0  # the account window still has 696 of 700
    clock.advance(60)
    assert budget.delay(write=True) == 0.0


def test_budget_ticket_update_window_exhausted_waits_until_its_reset(budget, clock):
    budget.observe(_ticket_update_headers("total=20; remaining=0; resets=59"))
    assert budget.delay(write=True) == 60.0
    assert budget.delay(write=False) == 0.0
    clock.advance(9)
    assert budget.delay(write=True) == 51.0


def test_budget_takes_the_larger_of_account_and_ticket_update_delays(budget):
    headers = _ticket_update_headers("total=20; remaining=1; resets=59")
    headers.update(window(0, reset=41))
    budget.observe(headers)
    assert budget.delay(write=False) == 42.0
    assert budget.delay(write=True) == 42.0  # max(42/1, 60/2)


def test_budget_uses_the_reset_of_the_real_zendesk_headers(budget):
    headers = dict(recorded("zendesk-api/ticket-show")["response"]["headers"])
    assert headers["rate-limit-reset"] == "37"
    headers["rate-limit-remaining"] = headers["x-rate-limit-remaining"] = "9"
    budget.observe(headers)
    assert budget.delay(write=False) == pytest.approx(38 / 10, rel=1e-12)


# --------------------------------------------------------------------------------------------
# ApiSession


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def api(sleeps) -> ApiSession:
    return ApiSession(ZENDESK_URL, AUTH, sleep=sleeps.append, rng=random.Random(SEED))


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


def http_date(delta_seconds: int) -> str:
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=delta_seconds)
    return email.utils.format_datetime(when, usegmt=True)


def test_429_with_retry_after_sleeps_exactly_that_long(api, rsps, sleeps):
    rsps.get(URL, status=429, headers={"Retry-After": "7"})
    rsps.get(URL, json={"ticket": {"id": 1}})
    response = api.get(PATH)
    assert response.status_code == 200
    assert response.json() == {"ticket": {"id": 1}}
    assert sleeps == [7.0]
    assert len(rsps.calls) == 2


def test_503_with_http_date_retry_after(api, rsps, sleeps):
    rsps.get(URL, status=503, headers={"Retry-After": http_date(30)})
    rsps.get(URL, json={"ok": True})
    assert api.get(PATH).status_code == 200
    assert len(sleeps) == 1
    assert 25.0 < sleeps[0] <= 30.0  # not a jittered backoff (at most 0.5 s)
    assert len(rsps.calls) == 2


def test_429_without_retry_after_backs_off_with_full_jitter(api, rsps, sleeps):
    rsps.get(URL, status=429)
    rsps.get(URL, status=429)
    rsps.get(URL, json={})
    assert api.get(PATH).status_code == 200
    assert len(rsps.calls) == 3
    # backoff_base=0.5: ceilings 0.5 then 1.0, drawn from the injected, seeded generator.
    expected_rng = random.Random(SEED)
    assert sleeps == [expected_rng.uniform(0, 0.5), expected_rng.uniform(0, 1.0)]
    assert 0.0 <= sleeps[0] <= 0.5
    assert 0.0 <= sleeps[1] <= 1.0


def test_backoff_is_capped(rsps, sleeps):
    api = ApiSession(ZENDESK_URL, AUTH, sleep=sleeps.append, rng=random.Random(SEED),
                     backoff_base=10.0, backoff_cap=15.0, max_attempts=4)
    for _ in range(3):
        rsps.get(URL, status=503)
    rsps.get(URL, json={})
    assert api.get(PATH).status_code == 200
    expected_rng = random.Random(SEED)
    assert sleeps == [expected_rng.uniform(0, 10.0), expected_rng.uniform(0, 15.0),
                      expected_rng.uniform(0, 15.0)]
    assert all(0.0 <= s <= 15.0 for s in sleeps)


def test_retry_after_beyond_max_wait_raises_without_sleeping(rsps, sleeps):
    api = ApiSession(ZENDESK_URL, AUTH, sleep=sleeps.append, rng=random.Random(SEED),
                     max_wait=60.0)
    rsps.get(URL, status=429, headers={"Retry-After": "120"})
    with pytest.raises(Unavailable) as caught:
        api.get(PATH)
    assert caught.value.retry_after == 120.0
    assert caught.value.status == 429
    assert caught.value.transient is True
    assert sleeps == []
    assert len(rsps.calls) == 1


def test_exhausting_max_attempts_raises_unavailable(rsps, sleeps):
    api = ApiSession(ZENDESK_URL, AUTH, sleep=sleeps.append, rng=random.Random(SEED),
                     max_attempts=3)
    rsps.get(URL, status=503, headers={"Retry-After": "2"})
    with pytest.raises(Unavailable) as caught:
        api.get(PATH)
    assert caught.value.status == 503
    assert caught.value.retry_after == 2.0
    assert len(rsps.calls) == 3
    assert sleeps == [2.0, 2.0]  # no sleep after the last attempt


@pytest.mark.parametrize(
    "error",
    [requests.ConnectionError("connection reset by peer"), requests.ReadTimeout("read timed out")],
)
def test_get_is_retried_after_a_connection_error_or_timeout(api, rsps, sleeps, error):
    rsps.get(URL, body=error)
    rsps.get(URL, json={"ticket": {"id": 1}})
    assert api.get(PATH).json() == {"ticket": {"id": 1}}
    assert len(rsps.calls) == 2
    assert sleeps == [random.Random(SEED).uniform(0, 0.5)]


def test_get_with_5xx_is_retried(api, rsps, sleeps):
    rsps.get(URL, status=502)
    rsps.get(URL, status=500)
    rsps.get(URL, json={})
    assert api.get(PATH).status_code == 200
    assert len(rsps.calls) == 3
    assert len(sleeps) == 2


def test_get_connection_errors_until_the_last_attempt_raise_unavailable(rsps, sleeps):
    api = ApiSession(ZENDESK_URL, AUTH, sleep=sleeps.append, rng=random.Random(SEED),
                     max_attempts=2)
    rsps.get(URL, body=requests.ConnectionError("refused"))
    with pytest.raises(Unavailable) as caught:
        api.get(PATH)
    assert caught.value.status is None
    assert len(rsps.calls) == 2
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    "error",
    [requests.ReadTimeout("read timed out"), requests.ConnectionError("connection reset")],
)
def test_put_timeout_or_dropped_connection_is_ambiguous_and_never_repeated(
    api, rsps, sleeps, error
):
    rsps.put(URL, body=error)
    with pytest.raises(AmbiguousWrite):
        api.request("PUT", PATH, json={"ticket": {"priority": "high"}})
    assert len(rsps.calls) == 1
    assert sleeps == []


def test_put_connect_timeout_is_retried_because_nothing_was_sent(api, rsps, sleeps):
    rsps.put(URL, body=requests.ConnectTimeout("connect timed out"))
    rsps.put(URL, json={"ticket": {"id": 1}})
    assert api.request("PUT", PATH, json={"ticket": {}}).status_code == 200
    assert len(rsps.calls) == 2
    assert len(sleeps) == 1


@pytest.mark.parametrize("status", [500, 502, 504])
def test_put_answered_by_a_gateway_error_is_ambiguous(api, rsps, sleeps, status):
    rsps.put(URL, status=status)
    with pytest.raises(AmbiguousWrite) as caught:
        api.request("PUT", PATH, json={"ticket": {}})
    assert caught.value.status == status
    assert len(rsps.calls) == 1
    assert sleeps == []


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_raise_auth_error_without_retrying(api, rsps, sleeps, status):
    rsps.get(URL, status=status, json={"error": "Couldn't authenticate you"})
    with pytest.raises(AuthError) as caught:
        api.get(PATH)
    assert caught.value.status == status
    assert len(rsps.calls) == 1
    assert sleeps == []


def test_other_client_errors_are_returned_to_the_caller(api, rsps, sleeps):
    rsps.put(URL, status=422, json={"error": "RecordInvalid"})
    response = api.request("PUT", PATH, json={"ticket": {}})
    assert response.status_code == 422
    assert len(rsps.calls) == 1
    assert sleeps == []


def test_every_request_carries_the_timeout(rsps, sleeps):
    api = ApiSession(ZENDESK_URL, AUTH, sleep=sleeps.append, rng=random.Random(SEED),
                     timeout=(3.0, 20.0))
    rsps.get(URL, status=429, headers={"Retry-After": "1"})
    rsps.get(URL, json={})
    rsps.put(URL, json={})
    api.get(PATH)
    api.request("PUT", PATH, json={"ticket": {}})
    assert len(rsps.calls) == 3
    assert [c.request.req_kwargs["timeout"] for c in rsps.calls] == [(3.0, 20.0)] * 3


def test_default_timeout(api, rsps):
    rsps.get(URL, json={})
    api.get(PATH)
    assert rsps.calls[0].request.req_kwargs["timeout"] == (5.0, 30.0)


def test_user_agent_and_accept_headers(api, rsps):
    rsps.get(URL, json={})
    api.get(PATH)
    headers = rsps.calls[0].request.headers
    assert headers["User-Agent"].startswith("tierlift")
    assert headers["Accept"] == "application/json"


def test_params_and_absolute_urls(api, rsps):
    rsps.get(URL, json={})
    rsps.get(f"{ZENDESK_URL}/api/v2/other.json", json={})
    api.get(PATH, include="users")
    api.get(f"{ZENDESK_URL}/api/v2/other.json")
    assert rsps.calls[0].request.url == f"{URL}?include=users"
    assert rsps.calls[1].request.url == f"{ZENDESK_URL}/api/v2/other.json"


def test_json_body_is_sent(api, rsps):
    rsps.put(URL, json={})
    api.request("PUT", PATH, json={"ticket": {"priority": "high"}})
    assert rsps.calls[0].request.body == b'{"ticket": {"priority": "high"}}'
    assert rsps.calls[0].request.headers["Content-Type"] == "application/json"


def test_bearer_auth(rsps):
    api = ApiSession(ZENDESK_URL, BearerAuth("oauth-tok-123"), sleep=lambda s: None)
    rsps.get(URL, json={})
    api.get(PATH)
    assert rsps.calls[0].request.headers["Authorization"] == "Bearer oauth-tok-123"


def test_api_token_tuple_auth_is_basic(api, rsps):
    rsps.get(URL, json={})
    api.get(PATH)
    expected = "Basic " + base64.b64encode(b"bot@acme.example/token:abc").decode()
    assert expected == "Basic Ym90QGFjbWUuZXhhbXBsZS90b2tlbjphYmM="
    assert rsps.calls[0].request.headers["Authorization"] == expected


def test_session_waits_for_the_rate_budget_before_the_next_request(rsps, sleeps):
    clock = FakeClock()
    api = ApiSession(ZENDESK_URL, AUTH, sleep=sleeps.append, rng=random.Random(SEED),
                     budget=RateBudget(monotonic=clock))
    rsps.get(URL, json={}, headers=window(0, reset=10))
    rsps.get(URL, json={}, headers=window(699, reset=60))
    api.get(PATH)
    assert sleeps == []
    api.get(PATH)
    assert sleeps == [11.0]  # the 10 s left, plus 1 s: the header counts whole seconds
    api.get(PATH)
    assert sleeps == [11.0]
