"""Deadlines: stored per ticket by ``finish``, fired once by the scheduler, across restarts."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from webhook_app.scheduler import Scheduler
from webhook_app.store import AuditRecord, Delivery, Store, inbox

T0 = 1_800_000_000.0
LEASE = 30.0


class FakeClock:
    """Seconds since the epoch that only move when a test says so."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 't.db'}"


@pytest.fixture
def db(url, clock):
    store = Store(url, clock=clock)
    store.create_schema()
    yield store
    store.close()


def evaluate(store: Store, ref: str = "42", *, next_due: float | None, key: str | None = None):
    """A webhook for ``ref``, claimed and finished with ``next_due`` (one evaluation)."""
    store.receive(Delivery("zendesk", key or f"event:{ref}:{store.clock()}", ref,
                           "ticket.comment_added", "{}"))
    claim = store.claim("w1", LEASE)
    assert claim is not None and claim.ticket_ref == ref
    store.finish(claim, AuditRecord("no_change"), next_due=next_due)


def deliveries(store: Store, kind: str = "deadline") -> list[dict]:
    with store.engine.connect() as conn:
        result = conn.execute(sa.select(inbox).where(inbox.c.kind == kind).order_by(inbox.c.id))
        return [dict(row) for row in result.mappings()]


# -- storing ---------------------------------------------------------------------------------


def test_finish_stores_the_deadline(db):
    assert db.next_deadline() is None
    evaluate(db, next_due=T0 + 60)
    assert db.next_deadline() == T0 + 60


def test_the_earliest_deadline_of_all_tickets_is_next(db):
    evaluate(db, "1", next_due=T0 + 60)
    evaluate(db, "2", next_due=T0 + 30)
    evaluate(db, "3", next_due=None)
    assert db.next_deadline() == T0 + 30


def test_a_later_evaluation_replaces_the_deadline_or_clears_it(db, clock):
    evaluate(db, next_due=T0 + 60)
    clock.advance(1)
    evaluate(db, next_due=T0 + 120)
    assert db.next_deadline() == T0 + 120
    clock.advance(1)
    evaluate(db, next_due=T0 + 30)  # earlier too
    assert db.next_deadline() == T0 + 30
    clock.advance(1)
    evaluate(db, next_due=None)
    assert db.next_deadline() is None
    clock.advance(200)
    assert db.fire_due() == 0 and deliveries(db) == []


# -- firing ----------------------------------------------------------------------------------


def test_nothing_fires_before_the_deadline(db, clock):
    evaluate(db, next_due=T0 + 60)
    clock.advance(59.999)
    assert db.fire_due() == 0
    assert deliveries(db) == []
    assert db.next_deadline() == T0 + 60


@pytest.mark.parametrize("after", [60.0, 61.5])
def test_a_due_deadline_fires_exactly_once(db, clock, after):
    evaluate(db, next_due=T0 + 60.25)
    assert db.inbox_counts() == {"done": 1}
    clock.advance(after + 0.25)
    assert db.fire_due() == 1
    [row] = deliveries(db)
    assert row["dedupe_key"] == f"deadline:42:{T0 + 60.25:.3f}"
    assert row["dedupe_key"] == "deadline:42:1800000060.250"
    assert (row["platform"], row["ticket_ref"], row["kind"], row["status"]) == (
        "zendesk", "42", "deadline", "pending")
    assert row["available_at"] == clock.now
    assert db.next_deadline() is None
    assert db.fire_due() == 0
    clock.advance(1000)
    assert db.fire_due() == 0
    assert len(deliveries(db)) == 1
    assert db.inbox_counts() == {"done": 1, "pending": 1}


def test_a_fired_deadline_is_claimed_like_any_delivery(db, clock):
    evaluate(db, next_due=T0 + 60)
    clock.advance(60)
    db.fire_due()
    claim = db.claim("w2", LEASE)
    assert claim is not None and claim.ticket_ref == "42"
    assert [(e.kind, e.dedupe_key) for e in claim.entries] == [
        ("deadline", f"deadline:42:{T0 + 60:.3f}")]
    db.finish(claim, AuditRecord("no_change"), next_due=T0 + 600)  # the next clock
    assert db.next_deadline() == T0 + 600
    assert db.inbox_counts() == {"done": 2}


def test_only_due_tickets_fire(db, clock):
    evaluate(db, "1", next_due=T0 + 10)
    evaluate(db, "2", next_due=T0 + 20)
    evaluate(db, "3", next_due=T0 + 300)
    clock.advance(20)
    assert db.fire_due() == 2
    assert sorted(r["ticket_ref"] for r in deliveries(db)) == ["1", "2"]
    assert db.next_deadline() == T0 + 300


def test_a_new_deadline_after_firing_fires_again_with_its_own_key(db, clock):
    evaluate(db, next_due=T0 + 60)
    clock.advance(60)
    assert db.fire_due() == 1
    evaluate(db, next_due=T0 + 120)
    clock.advance(60)
    assert db.fire_due() == 1
    assert [r["dedupe_key"] for r in deliveries(db)] == [
        f"deadline:42:{T0 + 60:.3f}", f"deadline:42:{T0 + 120:.3f}"]


def test_the_same_deadline_stored_again_is_not_counted_as_enqueued(db, clock):
    # A worker that evaluated before the deadline fired finishes after it, storing the same
    # (now past) deadline again: the dedupe key keeps it to one delivery, and fire_due
    # should say it enqueued nothing.
    evaluate(db, next_due=T0 + 60)
    clock.advance(60)
    assert db.fire_due() == 1
    evaluate(db, next_due=T0 + 60)
    assert len(deliveries(db)) == 1
    assert db.fire_due() == 0


def test_the_same_deadline_stored_again_is_not_enqueued_twice(db, clock):
    evaluate(db, next_due=T0 + 60)
    clock.advance(60)
    db.fire_due()
    evaluate(db, next_due=T0 + 60)
    db.fire_due()
    assert len(deliveries(db)) == 1  # the dedupe key holds
    assert db.next_deadline() is None


# -- restarts and several schedulers ---------------------------------------------------------


def test_a_restarted_store_sees_the_deadline_and_fires_it_once(url, db, clock):
    evaluate(db, next_due=T0 + 60)
    db.close()  # the process stops
    clock.advance(120)  # and comes back after the deadline
    restarted = Store(url, clock=clock)
    try:
        restarted.create_schema()  # idempotent at start
        assert restarted.next_deadline() == T0 + 60
        assert restarted.fire_due() == 1
        assert restarted.fire_due() == 0
        assert [r["dedupe_key"] for r in deliveries(restarted)] == [f"deadline:42:{T0 + 60:.3f}"]
    finally:
        restarted.close()


def test_a_deadline_fired_before_the_restart_does_not_fire_again(url, db, clock):
    evaluate(db, next_due=T0 + 60)
    clock.advance(60)
    assert db.fire_due() == 1
    restarted = Store(url, clock=clock)
    try:
        assert restarted.next_deadline() is None
        assert restarted.fire_due() == 0
        assert len(deliveries(restarted)) == 1
    finally:
        restarted.close()


def test_two_stores_firing_concurrently_enqueue_once(url, db, clock):
    other = Store(url, clock=clock)
    try:
        evaluate(db, next_due=T0 + 60)
        clock.advance(61)
        start = threading.Barrier(2)
        fired: list[int] = []

        def fire(store: Store) -> None:
            start.wait(timeout=5)
            fired.append(store.fire_due())

        threads = [threading.Thread(target=fire, args=(s,)) for s in (db, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=5)
        assert sorted(fired) == [0, 1]
        assert len(deliveries(db)) == 1
        assert db.next_deadline() is None and other.next_deadline() is None
        # one after the other, too
        assert db.fire_due() == 0 and other.fire_due() == 0
    finally:
        other.close()


# -- the scheduler ---------------------------------------------------------------------------


def test_run_once_sets_the_event_only_when_something_was_enqueued(db, clock):
    event = threading.Event()
    scheduler = Scheduler(db, on_due=event)
    assert scheduler.run_once() == 0 and not event.is_set()
    evaluate(db, next_due=T0 + 60)
    clock.advance(30)
    assert scheduler.run_once() == 0 and not event.is_set()
    clock.advance(30)
    assert scheduler.run_once() == 1 and event.is_set()
    event.clear()
    assert scheduler.run_once() == 0 and not event.is_set()


def test_run_wakes_at_a_real_deadline_and_stops(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'real.db'}")  # the real clock
    store.create_schema()
    try:
        event, stop = threading.Event(), threading.Event()
        scheduler = Scheduler(store, on_due=event, poll_seconds=1.0)
        due = time.time() + 0.2
        evaluate(store, next_due=due)
        began = time.monotonic()
        thread = threading.Thread(target=scheduler.run, args=(stop,), daemon=True)
        thread.start()
        try:
            # the loop sleeps until the deadline (0.2 s), not a whole poll interval
            assert event.wait(timeout=1.5)
            assert time.monotonic() - began < 0.9
        finally:
            stop.set()
            scheduler.changed.set()  # cut the current wait short
            thread.join(timeout=2)
        assert not thread.is_alive()
        assert time.time() >= due
        assert [r["dedupe_key"] for r in deliveries(store)] == [f"deadline:42:{due:.3f}"]
        assert store.next_deadline() is None
    finally:
        store.close()


def test_run_keeps_going_when_the_store_fails(db, clock, caplog):
    calls = []

    class Flaky:
        def __init__(self, store: Store) -> None:
            self.store = store
            self.clock = store.clock

        def fire_due(self) -> int:
            calls.append(1)
            if len(calls) == 1:
                raise sa.exc.OperationalError("select", {}, Exception("database is locked"))
            stop.set()
            return self.store.fire_due()

        def next_deadline(self):
            return self.store.next_deadline()

    stop = threading.Event()
    evaluate(db, next_due=T0)
    event = threading.Event()
    Scheduler(Flaky(db), on_due=event, poll_seconds=0.01).run(stop)
    assert len(calls) == 2 and event.is_set()
    assert "scheduler: store error" in caplog.text
