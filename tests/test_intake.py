"""The receiver's path into the store: deliveries written in groups by one writer on a
connection of its own, each caller answered only once its own delivery is committed; the insert
is the dedupe (on SQLite duplicates are found by a read, without the write lock)."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from conftest import postgres_store

from webhook_app.store import Delivery, GroupCommit, Store


def test_items_that_arrive_while_a_batch_is_written_are_written_together():
    first_started, release = threading.Event(), threading.Event()
    batches: list[list[int]] = []

    def write(batch: list[int], _release) -> list[int]:
        batches.append(list(batch))
        if batch == [0]:
            first_started.set()
            release.wait(5)
        return [n * 10 for n in batch]

    group = GroupCommit(write)
    results: dict[int, int] = {}

    def submit(n: int) -> None:
        results[n] = group.submit(n)

    first = threading.Thread(target=submit, args=(0,))
    first.start()
    assert first_started.wait(5)
    others = [threading.Thread(target=submit, args=(n,)) for n in range(1, 6)]
    for thread in others:
        thread.start()
    _until(lambda: len(group._queue) == 5)
    assert results == {}  # nobody is answered before its batch is written
    release.set()
    for thread in [first, *others]:
        thread.join(5)
    assert batches[0] == [0]
    assert sorted(batches[1]) == [1, 2, 3, 4, 5] and len(batches) == 2
    assert results == {n: n * 10 for n in range(6)}


def test_a_batch_that_fails_is_written_again_item_by_item_so_one_bad_item_fails_alone():
    started, release = threading.Event(), threading.Event()
    calls: list[list[str]] = []

    def write(batch: list[str], _release) -> list[str]:
        calls.append(sorted(batch))
        if batch == ["first"]:
            started.set()
            release.wait(5)
        if "bad" in batch:
            raise ValueError("refused")
        return [item.upper() for item in batch]

    group = GroupCommit(write)
    outcomes: dict[str, object] = {}

    def submit(item: str) -> None:
        try:
            outcomes[item] = group.submit(item)
        except ValueError as exc:
            outcomes[item] = exc

    threads = [threading.Thread(target=submit, args=(item,)) for item in ("first", "bad", "good")]
    threads[0].start()
    assert started.wait(5)
    for thread in threads[1:]:
        thread.start()
    _until(lambda: len(group._queue) == 2)  # both wait behind "first", for one batch
    release.set()
    for thread in threads:
        thread.join(5)
    assert outcomes["first"] == "FIRST" and outcomes["good"] == "GOOD"
    assert str(outcomes["bad"]) == "refused"
    assert calls[0] == ["first"] and calls[1] == ["bad", "good"]
    assert sorted(calls[2:]) == [["bad"], ["good"]]


def test_the_callers_of_a_batch_are_woken_by_the_next_writer_before_its_commit():
    started = {n: threading.Event() for n in (0, 1, 3)}
    go = {n: threading.Event() for n in (0, 1)}
    results: dict[int, int] = {}
    seen_by_third_batch: list[bool] = []

    def write(batch: list[int], release) -> list[int]:
        first = min(batch)
        started[first].set()
        if first in go:
            go[first].wait(5)
        if first == 3:  # 2 was written with 1 and is answered only now
            seen_by_third_batch.append(2 in results)
            release()
            _until(lambda: 2 in results)
        return batch

    def submit(n: int) -> None:
        results[n] = group.submit(n)

    group = GroupCommit(write)
    threads = {n: threading.Thread(target=submit, args=(n,)) for n in range(5)}
    threads[0].start()
    assert started[0].wait(5)
    threads[1].start()
    _until(lambda: len(group._queue) == 1)
    threads[2].start()
    _until(lambda: len(group._queue) == 2)
    go[0].set()
    assert started[1].wait(5)
    threads[3].start()
    _until(lambda: len(group._queue) == 1)
    threads[4].start()
    _until(lambda: len(group._queue) == 2)
    go[1].set()
    for thread in threads.values():
        thread.join(5)
    assert seen_by_third_batch == [False]
    assert results == {n: n for n in range(5)}


@pytest.fixture
def db(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.create_schema()
    yield store
    store.close()


def test_a_duplicate_is_answered_while_another_process_holds_the_write_lock(db):
    delivery = Delivery("zendesk", "event:a", "42", "ticket.comment_added", "{}")
    assert db.receive(delivery) is True
    other = Store(db.engine.url.render_as_string(hide_password=False))
    with other._writing():  # BEGIN IMMEDIATE: SQLite's one write lock, held
        started = time.monotonic()
        assert db.receive(delivery) is False
        assert time.monotonic() - started < 2  # not queued behind the lock (busy_timeout 10 s)
    other.close()


def test_a_replayed_body_hash_is_a_duplicate_found_without_the_write_lock(db):
    first = Delivery("jira", "webhook:a", "SUP-1", "jira:issue_updated", "{}", body_hash="a" * 64)
    assert db.receive(first) is True
    replay = Delivery("jira", "webhook:b", "SUP-1", "jira:issue_updated", "{}",
                      body_hash="a" * 64)
    other = Store(db.engine.url.render_as_string(hide_password=False))
    with other._writing():
        started = time.monotonic()
        assert db.receive(replay) is False
        assert time.monotonic() - started < 2
    other.close()
    assert db.receive(Delivery("jira", "webhook:c", "SUP-1", "x", "{}")) is True


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request, tmp_path):
    if request.param == "postgresql":
        with postgres_store() as store:
            yield store
        return
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.create_schema()
    yield store
    store.close()


def test_deliveries_written_together_are_deduplicated_as_if_one_after_another(any_db):
    def jira(key: str, digest: str) -> tuple[Delivery, float]:
        return Delivery("jira", key, "SUP-1", "jira:issue_updated", "{}",
                        body_hash=digest * 64), 0.0

    assert any_db.receive(jira("webhook:a", "a")[0]) is True
    assert any_db._receive_together([
        jira("webhook:a", "b"),  # the key of a stored delivery
        jira("webhook:c", "b"),  # the hash of the one before, which was not stored: new
        jira("webhook:d", "d"),
        jira("webhook:d", "e"),  # the key of the one before
        jira("webhook:f", "d"),  # the hash of the one two before
        jira("webhook:g", "g"),
    ], lambda: None) == [False, True, True, False, False, True]
    with any_db.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT dedupe_key, body_hash FROM inbox "
                                      "ORDER BY dedupe_key")).all()
        tickets = conn.execute(sa.text("SELECT platform, ticket_ref FROM tickets")).all()
    assert [(key, digest[0]) for key, digest in stored] == [
        ("webhook:a", "a"), ("webhook:c", "b"), ("webhook:d", "d"), ("webhook:g", "g")]
    assert tickets == [("jira", "SUP-1")]


def test_a_kept_connection_found_closed_is_replaced_and_the_delivery_written_once(any_db):
    assert any_db.receive(Delivery("zendesk", "event:a", "42", "ticket.created", "{}"))
    connection = any_db._intake_connection
    if any_db.engine.dialect.name == "postgresql":  # as a server restart would
        with any_db.engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"),
                         {"pid": connection.info.backend_pid})
    else:
        connection.close()
    assert any_db.receive(Delivery("zendesk", "event:b", "43", "ticket.created", "{}"))
    assert any_db._intake_connection is not connection
    assert any_db.receive(Delivery("zendesk", "event:b", "43", "ticket.created", "{}")) is False
    assert any_db.inbox_counts() == {"pending": 2}


def test_concurrent_receivers_store_each_delivery_once(db):
    keys = [f"event:{n % 40}" for n in range(200)]  # every key five times
    answers: list[bool] = []
    lock = threading.Lock()

    def receive(key: str) -> None:
        new = db.receive(Delivery("zendesk", key, key.rsplit(":", 1)[1], "ticket.created", "{}"))
        with lock:
            answers.append(new)

    threads = [threading.Thread(target=receive, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert answers.count(True) == 40 and answers.count(False) == 160
    assert db.inbox_counts() == {"pending": 40}


def _until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)
