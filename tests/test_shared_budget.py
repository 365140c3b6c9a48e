"""The rate budget shared by the workers of one helpdesk account, through the store (issue 12).

Zendesk's account window counts every client of the account ("account-wide rate limit
information" in the response headers,
https://developer.zendesk.com/documentation/api-basics/best-practices/best-practices-for-avoiding-rate-limiting/;
/work/shared/reference/zendesk.md, section 3): workers that each spread the remaining requests
alone send N times the spread. The arithmetic (:func:`book`, :func:`merge`) on an injected clock;
two workers as threads on a virtual clock against a mocked Zendesk, on SQLite and PostgreSQL;
a store outage.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import math
import threading
from collections.abc import Callable

import pytest
import responses
import sqlalchemy as sa
from conftest import ZENDESK_URL, postgres_store
from prometheus_client import CollectorRegistry

from connector.http import ACCOUNT, ApiSession, RateBudget, Window, book, merge
from connector.telemetry import ApiCounters
from webhook_app.metrics import Metrics
from webhook_app.rate_budget import StoreWindows, account_key
from webhook_app.service import build_connectors
from webhook_app.store import Store, rate_windows

URL = f"{ZENDESK_URL}/api/v2/tickets/1.json"
PATH = "/api/v2/tickets/1.json"
AUTH = ("bot@acme.example/token", "abc")
ACME = "zendesk:acme.zendesk.com"
T0 = 1000.0


def low(remaining: int = 10, *, reset: int = 41, limit: int = 700) -> dict[str, str]:
    """The documented Ticketing API account headers (reserve: 10 % of 700 = 70)."""
    return {"ratelimit-limit": str(limit), "ratelimit-remaining": str(remaining),
            "ratelimit-reset": str(reset)}


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class MemoryWindows:
    """Shared windows in a dict, on ``clock``; counts the transactions."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock, self.windows, self.transactions = clock, {}, 0

    def transact(self, change):
        self.transactions += 1
        return change(self.windows, self.clock())


# --------------------------------------------------------------------------------------------
# book and merge


def test_book_at_once_while_more_than_the_reserve_remain():
    window = Window(700, 71, resets_at=T0 + 42, next_at=T0 - 5)
    assert book(window, T0, 70) == (T0, Window(700, 70, T0 + 42, T0 - 5))


def test_book_spreads_what_remains_from_now_as_a_process_alone_did():
    slot, after = book(Window(700, 10, resets_at=T0 + 42, next_at=T0 - 5), T0, 70)
    assert slot == T0 + 42 / 11  # left / (remaining + 1)
    assert after == Window(700, 9, T0 + 42, slot)


def test_book_queues_behind_the_latest_slot_booked():
    slot, after = book(Window(700, 10, resets_at=T0 + 42, next_at=T0 + 9), T0, 70)
    assert slot == T0 + 9 + 33 / 11  # from the booked slot, the 33 s after it over 11
    assert after == Window(700, 9, T0 + 42, T0 + 12)


def test_book_with_nothing_left_waits_for_the_reset_and_stays_at_zero():
    slot, after = book(Window(700, 0, resets_at=T0 + 42, next_at=T0), T0, 70)
    assert (slot, after) == (T0 + 42, Window(700, 0, T0 + 42, T0 + 42))
    assert book(after, T0 + 1, 70) == (T0 + 42, after)  # the next one too


def test_book_in_a_window_that_is_over_books_nothing():
    window = Window(700, 0, resets_at=T0, next_at=T0)
    assert book(window, T0, 70) == (T0, window)


def test_merge_a_first_answer_is_the_window():
    assert merge(None, Window(700, 9, T0 + 42), T0) == Window(700, 9, T0 + 42, T0)


def test_merge_keeps_the_lower_count_within_the_window():
    kept = Window(700, 5, resets_at=T0 + 42, next_at=T0 + 8)
    # Other clients spent more: the platform's count (and the latest answer's reset).
    assert merge(kept, Window(700, 3, T0 + 42.5), T0 + 2) == Window(700, 3, T0 + 42.5, T0 + 8)
    # An answer that does not count the slots booked since (or was overtaken): ours.
    assert merge(kept, Window(None, 8, T0 + 41.5), T0 + 2) == Window(700, 5, T0 + 41.5, T0 + 8)


def test_merge_a_new_window_replaces_the_count_and_keeps_the_slots_booked():
    kept = Window(700, 0, resets_at=T0 + 42, next_at=T0 + 42)
    later = Window(700, 699, T0 + 43.5)  # resets more than the 1 s rounding later
    assert merge(kept, later, T0 + 2) == Window(700, 699, T0 + 43.5, T0 + 42)
    # The kept window is over: whatever the answer says.
    assert merge(kept, Window(None, 650, T0 + 50), T0 + 42) == Window(None, 650, T0 + 50,
                                                                     T0 + 42)


# --------------------------------------------------------------------------------------------
# RateBudget with shared windows


def test_two_budgets_sharing_windows_queue_behind_each_other():
    clock = Clock()
    shared = MemoryWindows(clock)
    first, second = (RateBudget(monotonic=clock, shared=shared) for _ in range(2))
    first.observe(low(10))
    second.observe(low(10))
    assert first.delay(write=False) == pytest.approx(42 / 11, rel=1e-12)
    # Alone it would also wait 42/11 s; sharing, it takes the next slot: 42/11 s after that one
    # (the 42 - 42/11 s left then, over the 10 remaining).
    assert second.delay(write=False) == pytest.approx(84 / 11, rel=1e-12)
    assert shared.windows == {ACCOUNT: Window(700, 8, T0 + 42, pytest.approx(T0 + 84 / 11))}
    alone = RateBudget(monotonic=clock)
    alone.observe(low(10))
    assert alone.delay(write=False) == pytest.approx(42 / 11, rel=1e-12)


def test_plentiful_windows_leave_the_shared_windows_alone():
    clock = Clock()
    shared = MemoryWindows(clock)
    budget = RateBudget(monotonic=clock, shared=shared)
    assert budget.delay(write=False) == 0.0  # nothing known yet: asks
    assert shared.transactions == 1
    budget.observe(low(500))  # unknown before: tells
    assert shared.transactions == 2
    for _ in range(3):
        assert budget.delay(write=True) == 0.0
        budget.observe(low(499))
    assert shared.transactions == 2
    clock.advance(42)  # the window is over: asks again
    assert budget.delay(write=False) == 0.0
    assert shared.transactions == 3


def test_answers_without_rate_limit_headers_leave_the_shared_windows_alone():
    clock = Clock()
    shared = MemoryWindows(clock)
    budget = RateBudget(monotonic=clock, shared=shared)
    budget.observe({"Content-Type": "application/json"})
    assert budget.delay(write=False) == 0.0
    assert shared.transactions == 0


def test_a_write_books_in_the_ticket_update_windows_too():
    clock = Clock()
    shared = MemoryWindows(clock)
    budget = RateBudget(monotonic=clock, shared=shared)
    budget.observe({**low(500), "zendesk-ratelimit-tickets-update":
                    "total=100; remaining=1; resets=59"})
    assert budget.delay(write=False) == 0.0  # a read: the account window, plentiful
    assert shared.transactions == 1  # the answer (its windows were unknown here)
    assert budget.delay(write=True) == pytest.approx(60 / 2, rel=1e-12)
    assert shared.transactions == 2
    assert shared.windows == {
        ACCOUNT: Window(700, 499, T0 + 42, T0),
        "zendesk-ratelimit-tickets-update": Window(100, 0, T0 + 60, T0 + 30)}


# --------------------------------------------------------------------------------------------
# Two workers on one store against Zendesk


class VirtualTime:
    """A clock for threads that moves only when all of them sleep: to the earliest wake-up
    (ties in the order they fell asleep), waking that thread alone. One thread runs at a time,
    so a run is deterministic and its waits exact."""

    def __init__(self, start: float = T0) -> None:
        self.now = start
        self._cond = threading.Condition()
        self._sleepers: list[list] = []  # [wake at, order, woken]
        self._order = itertools.count()
        self._running = 0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._cond:
            entry = self._queue(self.now + seconds)
            self._running -= 1
            self._advance()
            self._cond.wait_for(lambda: entry[2])

    def run(self, *targets: Callable[[], None]) -> None:
        errors: list[BaseException] = []

        def body(entry: list, target: Callable[[], None]) -> None:
            with self._cond:
                self._cond.wait_for(lambda: entry[2])
            try:
                target()
            except BaseException as exc:
                errors.append(exc)
            finally:
                with self._cond:
                    self._running -= 1
                    self._advance()

        with self._cond:
            threads = [threading.Thread(target=body, args=(self._queue(self.now), target))
                       for target in targets]
        for thread in threads:
            thread.start()
        with self._cond:
            self._advance()
        for thread in threads:
            thread.join(timeout=60)
            assert not thread.is_alive(), "a worker never finished"
        if errors:
            raise errors[0]

    def _queue(self, at: float) -> list:
        entry = [at, next(self._order), False]
        heapq.heappush(self._sleepers, entry)
        return entry

    def _advance(self) -> None:
        if self._running == 0 and self._sleepers:
            entry = heapq.heappop(self._sleepers)
            self.now, entry[2] = entry[0], True
            self._running += 1
            self._cond.notify_all()


class ZendeskWindow:
    """Zendesk's account window: ``limit`` requests a minute for all clients of the account,
    ``remaining`` of them left until ``ends_at``; each answer carries the documented headers
    (``ratelimit-reset`` in whole seconds), and 429 with ``Retry-After`` once none remain."""

    def __init__(self, clock: Callable[[], float], *, limit: int, remaining: int,
                 ends_at: float) -> None:
        self.clock, self.limit, self.remaining, self.ends_at = clock, limit, remaining, ends_at
        self.log: list[tuple[float, int]] = []  # (when, status)

    def __call__(self, request):
        now = self.clock()
        while now >= self.ends_at:
            self.ends_at += 60
            self.remaining = self.limit
        if self.remaining == 0:
            self.log.append((now, 429))
            return 429, {"Retry-After": str(math.ceil(self.ends_at - now))}, ""
        self.remaining -= 1
        self.log.append((now, 200))
        headers = low(self.remaining, reset=int(self.ends_at - now), limit=self.limit)
        return 200, headers, json.dumps({"ticket": {"id": 1}})


@pytest.fixture
def vt() -> VirtualTime:
    return VirtualTime()


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_store(request, tmp_path, vt):
    """One store on ``vt``'s clock, of each kind; PostgreSQL skipped where none answers."""
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'store.db'}", clock=vt)
        store.create_schema()
        yield store
        store.close()
        return
    with postgres_store(clock=vt) as store:
        yield store


def zendesk_with_6_left(vt: VirtualTime) -> ZendeskWindow:
    """694 of the minute's 700 spent by other clients, the minute ending 12 s from now."""
    window = ZendeskWindow(vt, limit=700, remaining=6, ends_at=T0 + 12)
    responses.add_callback(responses.GET, URL, callback=window)
    return window


def worker(api: ApiSession, requests: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(requests):
            assert api.get(PATH).status_code == 200
    return run


def session(vt: VirtualTime, budget: RateBudget, sleeps: list[float]) -> ApiSession:
    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        vt.sleep(seconds)
    return ApiSession(ZENDESK_URL, AUTH, budget=budget, sleep=sleep)


@responses.activate
def test_two_workers_sharing_the_store_keep_to_the_accounts_remaining_budget(vt, shared_store):
    zendesk = zendesk_with_6_left(vt)
    sleeps = {"a": [], "b": []}
    apis = {name: session(vt, RateBudget(monotonic=vt, shared=StoreWindows(shared_store, ACME)),
                          sleeps[name]) for name in sleeps}
    vt.run(worker(apis["a"], 4), worker(apis["b"], 4))
    # Worker a's first answer (5 left, reset 12 s: the window ends at +13) goes to the store.
    # From then on each request books the slot after the latest one booked, the time from that
    # slot to the reset the latest answer gave spread over what remains + 1: a at 13/6 (of the
    # 13 s, over 6), b's first request at 13/6 + (13 - 13/6) / 5 = 13/3; a's answer at 13/6 (4
    # left, reset 9 s: +73/6) leaves 3 beyond b's slot, so a's next is 13/3 + (73/6 - 13/3) / 4
    # = 151/24; and so on. Six requests go before the minute ends at +12; the seventh waits for
    # the end of the window (the reset b's answer at 299/36 gave: 3 s + 1, 443/36), where a new
    # minute has begun.
    assert zendesk.log == [(pytest.approx(T0 + s), 200) for s in
                           (0, 13 / 6, 13 / 3, 151 / 24, 299 / 36, 1483 / 144, 443 / 36,
                            443 / 36)]
    assert sleeps["a"] == pytest.approx([13 / 6, 33 / 8, 577 / 144])
    assert sleeps["b"] == pytest.approx([13 / 3, 143 / 36, 4])
    # b's answer then (699 left, reset 59 s) starts the new window: it replaces the count; the
    # last answer, 698 left, is plentiful and stays with b.
    with shared_store.engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(sa.select(rate_windows)).mappings()]
    assert rows == [{"account": ACME, "name": ACCOUNT, "total": 700, "remaining": 699,
                     "resets_at": pytest.approx(T0 + 443 / 36 + 60),
                     "next_at": pytest.approx(T0 + 443 / 36),
                     "updated_at": pytest.approx(T0 + 443 / 36)}]


def test_one_worker_sharing_the_store_waits_as_it_did_alone(vt, shared_store):
    def run(clock: VirtualTime, budget: RateBudget) -> tuple[list[float], list]:
        with responses.RequestsMock() as mock:
            zendesk = ZendeskWindow(clock, limit=700, remaining=6, ends_at=T0 + 12)
            mock.add_callback(responses.GET, URL, callback=zendesk)
            sleeps = []
            clock.run(worker(session(clock, budget, sleeps), 7))
        return sleeps, zendesk.log

    sleeps, log = run(vt, RateBudget(monotonic=vt, shared=StoreWindows(shared_store, ACME)))
    alone_clock = VirtualTime()
    alone_sleeps, alone_log = run(alone_clock, RateBudget(monotonic=alone_clock))
    # 13/6 (the 13 s to the reset over 6), then each answer's reset over what remains + 1: at
    # +13/6, 4 left and 9 s + 1: 10/5; at +25/6, 3 left and 7 s + 1: 8/4; ... The seventh
    # request goes at +73/6, in the next minute.
    assert sleeps == pytest.approx(alone_sleeps)
    assert sleeps == pytest.approx([13 / 6, 2, 2, 2, 2, 2])
    sent = [(pytest.approx(T0 + t), 200) for t in
            (0, 13 / 6, 25 / 6, 37 / 6, 49 / 6, 61 / 6, 73 / 6)]
    assert (log, alone_log) == (sent, sent)


@responses.activate
def test_two_workers_pacing_alone_overrun_the_account(vt):
    zendesk = zendesk_with_6_left(vt)
    sleeps = {"a": [], "b": []}
    apis = {name: session(vt, RateBudget(monotonic=vt), sleeps[name]) for name in sleeps}
    vt.run(worker(apis["a"], 4), worker(apis["b"], 4))
    # Each spreads what its own last answer said over the time left, so together they send
    # twice the spread: the seventh request comes at +8 2/3, with none left until +12.
    assert [status for _, status in zendesk.log] == [200] * 6 + [429, 200, 200]
    assert zendesk.log[6] == (pytest.approx(T0 + 26 / 3), 429)


def test_workers_booking_at_once_each_get_their_own_slot(shared_store, vt):
    """Real threads at once on one row (the virtual clock stands still: no one sleeps): the
    store serializes them, so the slots follow each other 42/11 s apart and none is lost."""
    windows = StoreWindows(shared_store, ACME)
    windows.transact(lambda kept, now: kept.update({ACCOUNT: Window(700, 10, now + 42, now)}))
    start = threading.Barrier(8)
    slots = []

    def take(kept: dict[str, Window], now: float) -> float:
        slot, kept[ACCOUNT] = book(kept[ACCOUNT], now, 70)
        return slot

    def booker() -> None:
        start.wait()
        slots.append(windows.transact(take))

    threads = [threading.Thread(target=booker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(slots) == pytest.approx([T0 + k * 42 / 11 for k in range(1, 9)])
    assert windows.transact(lambda kept, now: kept[ACCOUNT].remaining) == 2


# --------------------------------------------------------------------------------------------
# A store outage


@responses.activate
def test_a_store_outage_falls_back_to_pacing_alone_in_one_log_line(tmp_path, caplog):
    clock = Clock()
    broken = Store(f"sqlite:///{tmp_path / 'missing' / 'store.db'}")  # no such directory
    windows = StoreWindows(broken, ACME)
    registry = CollectorRegistry()
    counters = ApiCounters(registry)
    budget = RateBudget(monotonic=clock, shared=windows, telemetry=counters.session("zendesk"))
    sleeps = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)

    api = ApiSession(ZENDESK_URL, AUTH, budget=budget, sleep=sleep)
    responses.get(URL, json={}, headers=low(10))
    caplog.set_level(logging.INFO, logger="connector.http")
    for _ in range(3):
        assert api.get(PATH).status_code == 200
    assert sleeps == pytest.approx([42 / 11, 42 / 11])  # this process's own spread
    clock.advance(30)  # the store is tried again: still down, said once
    assert api.get(PATH).status_code == 200
    def said() -> list[str]:
        return [r.getMessage() for r in caplog.records
                if r.name == "connector.http" and "shared" in r.getMessage()]

    assert said() == [
        "shared rate budget unavailable (OperationalError: (sqlite3.OperationalError) unable "
        "to open database file); this process paces itself alone, trying again every 30 s"]

    def booked(via: str) -> float | None:
        return registry.get_sample_value("tierlift_api_shared_budget_total",
                                         {"platform": "zendesk", "via": via})

    assert (booked("local"), booked("store")) == (4, None)
    windows.store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    windows.store.create_schema()
    clock.advance(30)
    assert api.get(PATH).status_code == 200
    assert said()[1:] == ["shared rate budget available again"]
    assert (booked("local"), booked("store")) == (4, 1)
    broken.close()
    windows.store.close()


# --------------------------------------------------------------------------------------------
# Wiring


def test_account_key_is_the_platform_and_the_host():
    assert account_key("zendesk", "https://acme.zendesk.com") == ACME
    assert account_key("jira", "https://Jira.Example.com:8443/jira/") == \
        "jira:jira.example.com:8443"


@responses.activate
def test_the_services_connectors_share_their_budget_through_the_store(settings, store):
    metrics = Metrics()
    connectors = build_connectors(settings, metrics, store)
    responses.get(URL, json={}, headers=low(9))
    assert connectors["zendesk"].api.get(PATH).status_code == 200
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(rate_windows.c.account, rate_windows.c.name,
                                      rate_windows.c.remaining)).all()
    assert rows == [(ACME, ACCOUNT, 9)]
    assert metrics.registry.get_sample_value(
        "tierlift_api_shared_budget_total", {"platform": "zendesk", "via": "store"}) == 1
