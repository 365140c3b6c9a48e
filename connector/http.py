"""One HTTP session per helpdesk: auth, timeouts, polite retries and a rate-limit budget."""

from __future__ import annotations

import email.utils
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import NamedTuple, Protocol, TypeVar

import requests

from connector.errors import AmbiguousWrite, AuthError, Unavailable, one_line
from connector.telemetry import NO_TELEMETRY, ApiTelemetry

log = logging.getLogger(__name__)
T = TypeVar("T")

try:
    USER_AGENT = f"tierlift/{version('tierlift')}"
except PackageNotFoundError:  # running from a source tree that was never installed
    USER_AGENT = "tierlift"

RETRY_STATUSES = frozenset({429, 503})
# A write answered by one of these may or may not have been applied behind a gateway.
AMBIGUOUS_WRITE_STATUSES = frozenset({500, 502, 504})
# The account's window: Zendesk documents "X-Rate-Limit"/"X-Rate-Limit-Remaining" on every
# response and, on Ticketing APIs, "ratelimit-limit"/"ratelimit-remaining"/"ratelimit-reset"
# (seconds), https://developer.zendesk.com/api-reference/introduction/rate-limits/ and
# https://developer.zendesk.com/documentation/api-basics/best-practices/best-practices-for-avoiding-rate-limiting/;
# recorded responses carry "rate-limit-*"; Jira sends "X-RateLimit-*". All are read.
LIMIT_HEADERS = ("ratelimit-limit", "rate-limit", "x-rate-limit", "x-ratelimit-limit")
REMAINING_HEADERS = ("ratelimit-remaining", "rate-limit-remaining", "x-rate-limit-remaining",
                     "x-ratelimit-remaining")
RESET_HEADERS = ("ratelimit-reset", "rate-limit-reset")
# Zendesk's own windows for ticket updates, each "total=30; remaining=29; resets=59" (resets in
# seconds). Update Ticket documents "Zendesk-RateLimit-tickets-update" (account, per minute, and
# per user and ticket, per 10 minutes),
# https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#update-ticket; accounts
# send "zendesk-ratelimit-per-ticket-updates" today and once sent
# "zendesk-rate-limit-tickets-update" (tests/fixtures/zendesk-api/ticket-update.json).
TICKET_UPDATE_HEADERS = ("zendesk-ratelimit-tickets-update",
                         "zendesk-ratelimit-per-ticket-updates",
                         "zendesk-rate-limit-tickets-update")


class BearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer`` (Zendesk OAuth tokens, Jira Data Center personal access tokens)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:  # "inf" and "nan" are floats too, and no wait at all
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


ACCOUNT = "account"  # the account's window; Zendesk's ticket-update windows go by their header


@dataclass(frozen=True)
class Window:
    """One rate-limit window: what the platform last said of it and, in a shared budget, the
    latest slot booked in it. Times are on the clock of whoever keeps the window."""

    limit: int | None
    remaining: int
    resets_at: float
    next_at: float = 0.0


class Observed(NamedTuple):
    """A window as one response's headers describe it."""

    limit: int | None
    remaining: int
    resets_in: float  # seconds from the answer


def book(window: Window, now: float, reserve: int) -> tuple[float, Window]:
    """When the next request may go in ``window``, and the window with that slot booked.

    While more than ``reserve`` requests remain, at once. Below, the remaining requests are spread
    evenly from the latest slot booked (or now) to the reset: a process alone waits
    ``left / (remaining + 1)``, and workers booking from one window queue behind each other's
    slots instead of each spending the spread. A window that is over books nothing.
    """
    if now >= window.resets_at:
        return now, window
    if window.remaining > reserve:
        return now, replace(window, remaining=window.remaining - 1)
    start = max(window.next_at, now)
    slot = start + max(0.0, window.resets_at - start) / (window.remaining + 1)
    return slot, replace(window, remaining=max(0, window.remaining - 1), next_at=slot)


def merge(kept: Window | None, seen: Window, now: float) -> Window:
    """``kept`` updated with what an answer's headers said (``seen``).

    The platform's count includes every client's requests: it replaces the kept one when it
    starts a new window (the kept one is over, or ``seen`` resets more than the headers' one
    second of rounding later). Within a window the lower count stays (an answer does not count
    the slots booked since its request, nor does an answer overtaken by a newer one), and the
    reset is the latest answer's, as a process alone reads it.
    """
    if kept is None:
        return replace(seen, next_at=now)
    if now >= kept.resets_at or seen.resets_at > kept.resets_at + 1:
        return replace(seen, next_at=kept.next_at)
    return replace(seen, limit=kept.limit if seen.limit is None else seen.limit,
                   remaining=min(kept.remaining, seen.remaining), next_at=kept.next_at)


class SharedWindows(Protocol):
    """Where the workers of one helpdesk account keep its rate-limit windows together (the
    store: webhook_app.rate_budget)."""

    def transact(self, change: Callable[[dict[str, Window], float], T]) -> T:
        """``change(windows by name, now)`` with no other worker in between; the windows it
        adds or replaces are kept. ``now`` is on the keeper's clock."""


class RateBudget:
    """Slows requests down as the platform's rate-limit window runs low, before it answers 429.

    Once fewer than ``reserve`` requests remain, the remaining ones are spread evenly over the
    time left until the window resets. The account's window counts every client of the account
    ("account-wide rate limit information", Zendesk's
    https://developer.zendesk.com/documentation/api-basics/best-practices/best-practices-for-avoiding-rate-limiting/),
    so N workers each spreading it alone would send N times the spread. With ``shared``, a
    request whose windows this process does not know to be plentiful (unknown, over, or low)
    books its slot from the windows kept there (:func:`book`), and an answer about a window that
    is low, or was not plentiful here, is merged in there (:func:`merge`); while windows are
    plentiful the shared windows are not touched. Should they fail, the process paces itself
    alone (one warning line) and tries them again after ``shared_retry`` seconds.
    """

    def __init__(
        self,
        *,
        reserve_fraction: float = 0.1,
        min_reserve: int = 2,
        default_window: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
        shared: SharedWindows | None = None,
        shared_retry: float = 30.0,
        telemetry: ApiTelemetry = NO_TELEMETRY,
    ) -> None:
        self._reserve_fraction = reserve_fraction
        self._min_reserve = min_reserve
        self._default_window = default_window
        self._monotonic = monotonic
        self._shared = shared
        self._shared_retry = shared_retry
        self._telemetry = telemetry
        self._lock = threading.Lock()
        self._windows: dict[str, Window] = {}  # this process's view, by name (ACCOUNT, headers)
        self._answered = False  # an answer came, with rate-limit headers or not
        self._shared_down = False
        self._shared_again_at = -math.inf  # monotonic

    def observe(self, headers: Mapping[str, str]) -> None:
        seen = self._read(headers)
        with self._lock:
            self._answered = True
            now = self._monotonic()
            share = {name: o for name, o in seen.items()
                     if o.remaining <= self._reserve(o.limit)
                     or not self._plenty(self._windows.get(name), now)}
            for name, o in seen.items():
                self._windows[name] = Window(o.limit, o.remaining, now + o.resets_in)
        if share and self._shared is not None:
            self._through_shared(lambda windows, now: _merge_all(windows, share, now))

    def delay(self, *, write: bool) -> float:
        """Seconds to wait before the next request (``write``: a ticket update, which every
        ticket-update window slows down, the per-ticket one too: the budget is not per ticket)."""
        with self._lock:
            now = self._monotonic()
            account = self._windows.get(ACCOUNT)
            windows = [account, *(w for name, w in self._windows.items()
                                  if write and name != ACCOUNT)]
            local = max((self._delay(w, now) for w in windows if w is not None), default=0.0)
            plenty = all(self._plenty(w, now) for w in windows if w is not None) and (
                account is not None or self._answered)
        if self._shared is None or plenty:
            return local
        names = (ACCOUNT, *TICKET_UPDATE_HEADERS) if write else (ACCOUNT,)
        wait = self._through_shared(lambda windows, now: _book(windows, names, now,
                                                               self._reserve))
        self._telemetry.paced("local" if wait is None else "store")
        return local if wait is None else wait

    def _read(self, headers: Mapping[str, str]) -> dict[str, Observed]:
        lowered = {k.lower(): v for k, v in headers.items()}
        seen = {}
        remaining = _first_int(lowered, REMAINING_HEADERS)
        if remaining is not None:
            reset = _first_int(lowered, RESET_HEADERS)
            # +1: the header counts whole seconds, so the window may end up to 1 s later
            seen[ACCOUNT] = Observed(_first_int(lowered, LIMIT_HEADERS), remaining,
                                     reset + 1 if reset is not None else self._default_window)
        for name in TICKET_UPDATE_HEADERS:
            updates = _parse_fields(lowered.get(name, ""))
            if "remaining" in updates:
                seen[name] = Observed(updates.get("total"), updates["remaining"],
                                      updates.get("resets", self._default_window - 1) + 1)
        return seen

    def _reserve(self, limit: int | None) -> int:
        return max(self._min_reserve, int((limit or 0) * self._reserve_fraction))

    def _plenty(self, window: Window | None, now: float) -> bool:
        return (window is not None and window.resets_at > now
                and window.remaining > self._reserve(window.limit))

    def _delay(self, window: Window, now: float) -> float:
        left = window.resets_at - now
        if left <= 0:
            return 0.0
        if window.remaining > self._reserve(window.limit):
            return 0.0
        return left / (window.remaining + 1)

    def _through_shared(self, change: Callable[[dict[str, Window], float], T]) -> T | None:
        """``change`` run on the shared windows; ``None`` when they failed (or failed less than
        ``shared_retry`` seconds ago)."""
        if self._monotonic() < self._shared_again_at:
            return None
        try:
            result = self._shared.transact(change)
        except Exception as exc:  # never stop an API call, nor the worker making it
            with self._lock:
                first, self._shared_down = not self._shared_down, True
                self._shared_again_at = self._monotonic() + self._shared_retry
            if first:
                log.warning("shared rate budget unavailable (%s); this process paces itself "
                            "alone, trying again every %.0f s", one_line(exc),
                            self._shared_retry)
            return None
        if self._shared_down:
            self._shared_down = False
            log.info("shared rate budget available again")
        return result


def _book(windows: dict[str, Window], names: tuple[str, ...], now: float,
          reserve: Callable[[int | None], int]) -> float:
    """Book one request in each window of ``names`` there is; seconds to its latest slot."""
    slot = now
    for name in names:
        if name in windows:
            at, windows[name] = book(windows[name], now, reserve(windows[name].limit))
            slot = max(slot, at)
    return slot - now


def _merge_all(windows: dict[str, Window], seen: Mapping[str, Observed], now: float) -> None:
    for name, o in seen.items():
        windows[name] = merge(windows.get(name), Window(o.limit, o.remaining, now + o.resets_in),
                              now)


def _first_int(headers: Mapping[str, str], names: tuple[str, ...]) -> int | None:
    for name in names:
        value = headers.get(name)
        if value is not None and value.strip().isdigit():
            return int(value)
    return None


def _parse_fields(value: str) -> dict[str, int]:
    return {k.lower(): int(v) for k, v in re.findall(r"(\w+)\s*=\s*(\d+)", value)}


class ApiSession:
    """A ``requests.Session`` bound to one helpdesk's base URL.

    Every call has a timeout. 429/503 are retried after ``Retry-After`` (else exponential backoff
    with full jitter); reads are also retried on connection errors and 5xx. A write that fails
    ambiguously raises :class:`AmbiguousWrite` instead of being repeated. Every attempt, 429,
    retry and rate-budget wait is reported to ``telemetry`` (for /metrics).
    """

    def __init__(
        self,
        base_url: str,
        auth: requests.auth.AuthBase | tuple[str, str],
        *,
        timeout: tuple[float, float] = (5.0, 30.0),
        max_attempts: int = 5,
        max_wait: float = 60.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        budget: RateBudget | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        telemetry: ApiTelemetry = NO_TELEMETRY,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.auth = auth
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.budget = budget or RateBudget()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.telemetry = telemetry

    def get(self, path: str, **params: object) -> requests.Response:
        return self.request("GET", path, params=params or None)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, object] | None = None,
        json: object = None,
    ) -> requests.Response:
        """Send one logical request; the response of any status the caller must judge."""
        write = method.upper() not in ("GET", "HEAD")
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        for attempt in range(1, self.max_attempts + 1):
            wait = self.budget.delay(write=write)
            if wait > 0:
                log.info("rate budget low: waiting %.2fs before %s %s", wait, method, path)
                self.telemetry.waited(wait)
                self._sleep(wait)
            last = attempt == self.max_attempts
            try:
                response = self.session.request(
                    method, url, params=params, json=json, timeout=self.timeout
                )
            except requests.ConnectTimeout as exc:  # nothing was sent: safe to retry any method
                self.telemetry.sent(method, None)
                self._retry_or_raise(last, attempt, None, f"{method} {path}: {exc}")
                continue
            except (requests.Timeout, requests.ConnectionError) as exc:
                self.telemetry.sent(method, None)
                if write:
                    raise AmbiguousWrite(f"{method} {path}: {exc}") from exc
                self._retry_or_raise(last, attempt, None, f"{method} {path}: {exc}")
                continue
            self.budget.observe(response.headers)
            status = response.status_code
            self.telemetry.sent(method, status)
            if status in (401, 403):
                raise AuthError(
                    f"{method} {path}: HTTP {status} — check the API credentials and the "
                    "bot user's permissions",
                    status=status,
                )
            if status in RETRY_STATUSES:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                self._retry_or_raise(
                    last, attempt, retry_after, f"{method} {path}: HTTP {status}", status
                )
                continue
            if status in AMBIGUOUS_WRITE_STATUSES or status >= 500:
                if write:
                    raise AmbiguousWrite(f"{method} {path}: HTTP {status}", status=status)
                self._retry_or_raise(last, attempt, None, f"{method} {path}: HTTP {status}", status)
                continue
            return response
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _retry_or_raise(
        self,
        last: bool,
        attempt: int,
        retry_after: float | None,
        what: str,
        status: int | None = None,
    ) -> None:
        if retry_after is not None and retry_after > self.max_wait:
            raise Unavailable(f"{what}; retry after {retry_after:.0f}s", status=status,
                              retry_after=retry_after)
        if last:
            raise Unavailable(f"{what}; gave up after {attempt} attempts", status=status,
                              retry_after=retry_after)
        if retry_after is None:
            ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
            retry_after = self._rng.uniform(0, ceiling)
        self.telemetry.retried(status)
        log.info("%s; retrying in %.2fs (attempt %d/%d)", what, retry_after, attempt,
                 self.max_attempts)
        self._sleep(retry_after)
