"""The same store on PostgreSQL, the scale-out database: leases, dedupe, ledger, deadlines.

Runs against the PostgreSQL on loopback (``TIERLIFT_TEST_POSTGRES``, default
``postgresql+psycopg://postgres@127.0.0.1/test``) and is skipped, saying why, where none answers.
"""

from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa
from builders import comment, ticket
from conftest import POSTGRES, postgres_store

from webhook_app.store import AuditRecord, Delivery, Store, StoreHistory

URL = POSTGRES


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def pg():
    clock = Clock()
    with postgres_store(clock=clock) as store:
        yield store, clock


def test_dedupe_lease_ledger_and_deadlines_on_postgresql(pg):
    store, clock = pg
    assert store.receive(Delivery("zendesk", "event:1", "42", "ticket.comment_added", "{}"))
    assert not store.receive(Delivery("zendesk", "event:1", "42", "ticket.comment_added", "{}"))
    assert store.receive(Delivery("zendesk", "event:2", "42", "ticket.comment_added", "{}"))
    claim = store.claim("w1", 30)
    assert [e.dedupe_key for e in claim.entries] == ["event:1", "event:2"]
    assert store.claim("w2", 30) is None  # leased
    store.finish(claim, AuditRecord("escalated", "L1", "L2"),
                 used=[("customer_request", "comment:1", "escalated")], version="v1",
                 next_due=clock.now + 60)
    assert store.used_evidence("zendesk", "42") == {("customer_request", "comment:1")}
    assert store.inbox_counts() == {"done": 2}
    assert store.next_deadline() == clock.now + 60
    clock.now += 61
    assert store.fire_due() == 1 and store.fire_due() == 0
    assert store.claim("w2", 30).entries[0].kind == "deadline"
    store.record_sweep("zendesk", clock.now)
    store.record_sweep("zendesk", clock.now + 1)
    assert store.last_sweep("zendesk") == clock.now + 1


def test_a_replayed_body_is_a_duplicate_on_postgresql(pg):
    store, _ = pg
    first = Delivery("jira", "webhook:a", "SUP-1", "jira:issue_updated", "{}", body_hash="ab" * 32)
    assert store.receive(first)
    assert not store.receive(Delivery("jira", "webhook:b", "SUP-1", "jira:issue_updated", "{}",
                                      body_hash="ab" * 32))
    assert store.receive(Delivery("jira", "webhook:c", "SUP-1", "jira:issue_updated", "{}"))
    assert store.receive(Delivery("jira", "webhook:d", "SUP-1", "jira:issue_updated", "{}"))
    assert store.inbox_counts() == {"pending": 3}


def test_concurrent_workers_never_claim_the_same_ticket_on_postgresql(pg):
    store, _ = pg
    for n in range(20):
        store.receive(Delivery("zendesk", f"event:{n}", str(n % 5), "ticket.created", "{}"))
    claimed: list[str] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        while (claim := store.claim(name, 30)) is not None:
            with lock:
                claimed.append(claim.ticket_ref)
            store.finish(claim, AuditRecord("no_change"))

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == ["0", "1", "2", "3", "4"]  # each ticket once, all deliveries in it
    assert store.inbox_counts() == {"done": 20}


def test_a_ticket_another_worker_finishes_while_it_is_claimed_is_not_claimed_empty(pg):
    store, _ = pg
    store.receive(Delivery("zendesk", "event:1", "7", "ticket.created", "{}"))
    other: dict = {}

    def meanwhile(conn, cursor, statement, *args) -> None:
        """Between w1's pick of ticket 7 and its lease, w2 claims and finishes ticket 7."""
        if statement.startswith("UPDATE tickets SET lease_owner") and not other:
            other["claim"] = None
            other["claim"] = store.claim("w2", 30)
            store.finish(other["claim"], AuditRecord("no_change"))

    sa.event.listen(store.engine, "before_cursor_execute", meanwhile)
    assert store.claim("w1", 30) is None  # its lease taken, nothing left in it: let go
    sa.event.remove(store.engine, "before_cursor_execute", meanwhile)
    assert [e.dedupe_key for e in other["claim"].entries] == ["event:1"]
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT lease_owner, lease_until FROM tickets WHERE "
                                    "ticket_ref = '7'").all() == [(None, None)]
    assert store.inbox_counts() == {"done": 1}


def test_an_older_ticket_index_gains_its_new_columns_on_postgresql():
    pytest.importorskip("psycopg")
    schema = f"tierlift_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(URL)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
            conn.exec_driver_sql(
                f"CREATE TABLE {schema}.ticket_index (platform VARCHAR(16), ticket_ref "
                "VARCHAR(64), subject TEXT NOT NULL, tags TEXT NOT NULL, form VARCHAR(64), "
                "requester_id VARCHAR(255), organization_id VARCHAR(255), created_at FLOAT "
                "NOT NULL, status VARCHAR(64) NOT NULL, PRIMARY KEY (platform, ticket_ref))")
    except sa.exc.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {URL}: {exc.orig}")
    store = Store(URL)
    store.engine = sa.create_engine(URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        store.create_schema()
        store.create_schema()
        moment = ticket(comment(1, "Dashboard is blank")).created_at
        store.index(ticket(comment(1, "Dashboard is blank")))
        store.index(ticket())  # read again without comments: the first message stays
        [past] = StoreHistory(store).created_between("zendesk", moment, moment)
        assert (past.ref, past.first_message) == ("42", "Dashboard is blank")
    finally:
        store.close()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()
