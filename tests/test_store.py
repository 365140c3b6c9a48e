"""The durable store: dedupe, per-ticket leases with coalescing, ledger, audit, retries."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa
from builders import T0 as TICKET_T0
from builders import comment, ticket

from connector.ticket import AuthorRole, Comment, Ticket
from webhook_app.store import AuditRecord, Delivery, Store, StoreHistory, evidence, inbox, tickets

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
def db(tmp_path, clock):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}", clock=clock)
    store.create_schema()
    yield store
    store.close()


def delivery(key: str, ticket: str = "35436", *, kind: str = "ticket.comment_added",
             actor: str | None = "555") -> Delivery:
    return Delivery(platform="zendesk", dedupe_key=key, ticket_ref=ticket, kind=kind,
                    payload=f'{{"id": "{key}"}}', actor=actor)


def rows(store: Store, table: sa.Table) -> list[dict]:
    with store.engine.connect() as conn:
        result = conn.execute(sa.select(table).order_by(*table.primary_key.columns))
        return [dict(row) for row in result.mappings()]


def ticket_row(store: Store, ref: str) -> dict:
    return next(row for row in rows(store, tickets) if row["ticket_ref"] == ref)


# -- receiving ------------------------------------------------------------------------------


def test_receive_stores_once_per_dedupe_key(db, clock):
    assert db.receive(delivery("event:a")) is True
    clock.advance(5)
    assert db.receive(delivery("event:a")) is False
    [row] = rows(db, inbox)
    assert row["received_at"] == T0  # the duplicate did not touch the stored row
    assert (row["dedupe_key"], row["status"], row["attempts"]) == ("event:a", "pending", 0)
    assert [(t["platform"], t["ticket_ref"], t["lease_owner"]) for t in rows(db, tickets)] == [
        ("zendesk", "35436", None)]


def test_same_key_on_another_platform_is_another_delivery(db):
    assert db.receive(delivery("event:a")) is True
    other = Delivery(platform="jira", dedupe_key="event:a", ticket_ref="10001", kind="x",
                     payload="{}")
    assert db.receive(other) is True
    assert len(rows(db, inbox)) == 2


def test_a_body_hash_seen_before_is_a_duplicate_under_any_dedupe_key(db):
    def jira(key: str, body_hash: str | None) -> Delivery:
        return Delivery("jira", key, "SUP-1", "jira:issue_updated", "{}", body_hash=body_hash)

    assert db.receive(jira("webhook:a", "f" * 64)) is True
    assert db.receive(jira("webhook:b", "f" * 64)) is False  # a replay under a new identifier
    assert db.receive(jira("webhook:c", None)) is True  # no hash: the key alone decides
    assert db.receive(jira("webhook:d", None)) is True
    assert [(r["dedupe_key"], r["body_hash"]) for r in rows(db, inbox)] == [
        ("webhook:a", "f" * 64), ("webhook:c", None), ("webhook:d", None)]


def test_receive_with_delay_sets_available_at(db):
    db.receive(delivery("event:a"), delay=2.5)
    [row] = rows(db, inbox)
    assert (row["received_at"], row["available_at"]) == (T0, T0 + 2.5)


# -- claiming -------------------------------------------------------------------------------


def test_claim_returns_none_on_an_empty_inbox(db):
    assert db.claim("w1", LEASE) is None


def test_claim_waits_until_the_delivery_is_due(db, clock):
    db.receive(delivery("event:a"), delay=5)
    assert db.claim("w1", LEASE) is None
    clock.advance(4.9)
    assert db.claim("w1", LEASE) is None
    clock.advance(0.1)
    claim = db.claim("w1", LEASE)
    assert claim is not None
    assert [e.dedupe_key for e in claim.entries] == ["event:a"]


def test_claim_takes_every_pending_delivery_of_the_ticket_at_once(db, clock):
    for n, key in enumerate(["event:a", "event:b", "event:c"]):
        clock.now = T0 + n
        db.receive(delivery(key, actor=str(500 + n)))
    db.receive(delivery("event:other", ticket="777"))
    claim = db.claim("w1", LEASE)
    assert (claim.platform, claim.ticket_ref, claim.owner) == ("zendesk", "35436", "w1")
    assert [e.dedupe_key for e in claim.entries] == ["event:a", "event:b", "event:c"]
    ids = [e.id for e in claim.entries]
    assert ids == sorted(ids)
    assert [e.actor for e in claim.entries] == ["500", "501", "502"]
    assert [e.received_at for e in claim.entries] == [T0, T0 + 1, T0 + 2]
    assert {(e.kind, e.attempts) for e in claim.entries} == {("ticket.comment_added", 0)}
    lease = ticket_row(db, "35436")
    assert (lease["lease_owner"], lease["lease_until"]) == ("w1", T0 + 2 + LEASE)
    # claiming does not change the deliveries' status: they stay pending until finish
    assert db.inbox_counts() == {"pending": 4}


def test_claim_picks_the_ticket_whose_delivery_fell_due_first(db, clock):
    db.receive(delivery("event:slow", ticket="2"), delay=10)  # due at T0 + 10
    clock.advance(1)
    db.receive(delivery("event:quick", ticket="1"))  # received later, due at T0 + 1
    clock.advance(20)
    assert db.claim("w1", LEASE).ticket_ref == "1"
    assert db.claim("w2", LEASE).ticket_ref == "2"
    assert db.claim("w3", LEASE) is None


def test_a_leased_ticket_cannot_be_claimed_by_another_worker(db, clock):
    db.receive(delivery("event:a"))
    first = db.claim("w1", LEASE)
    assert first is not None
    assert db.claim("w2", LEASE) is None
    clock.advance(LEASE)  # the lease is valid up to and including lease_until
    assert db.claim("w2", LEASE) is None
    assert ticket_row(db, "35436")["lease_owner"] == "w1"


def test_an_expired_lease_of_a_crashed_worker_is_taken_over(db, clock):
    db.receive(delivery("event:a"))
    db.receive(delivery("event:b"))
    crashed = db.claim("w1", LEASE)
    clock.advance(LEASE + 0.001)
    takeover = db.claim("w2", LEASE)
    assert takeover is not None
    assert takeover.owner == "w2"
    assert [e.id for e in takeover.entries] == [e.id for e in crashed.entries]
    lease = ticket_row(db, "35436")
    assert (lease["lease_owner"], lease["lease_until"]) == ("w2", clock.now + LEASE)


def test_renew_extends_only_the_owners_lease(db, clock):
    db.receive(delivery("event:a"))
    claim = db.claim("w1", LEASE)
    clock.advance(LEASE - 1)
    db.renew(claim, LEASE)
    clock.advance(LEASE - 1)  # past the first lease, inside the renewed one
    assert db.claim("w2", LEASE) is None
    assert ticket_row(db, "35436")["lease_until"] == T0 + LEASE - 1 + LEASE


def test_other_tickets_are_claimable_while_one_is_leased(db):
    db.receive(delivery("event:a", ticket="1"))
    db.receive(delivery("event:b", ticket="2"))
    assert db.claim("w1", LEASE).ticket_ref == "1"
    assert db.claim("w2", LEASE).ticket_ref == "2"


def test_delivery_arriving_during_a_claim_waits_for_the_next_claim(db, clock):
    db.receive(delivery("event:a"))
    claim = db.claim("w1", LEASE)
    clock.advance(1)
    assert db.receive(delivery("event:b")) is True
    assert db.claim("w2", LEASE) is None  # the ticket is leased
    db.finish(claim, AuditRecord(outcome="no_change"))
    assert {r["dedupe_key"]: r["status"] for r in rows(db, inbox)} == {
        "event:a": "done", "event:b": "pending"}
    following = db.claim("w2", LEASE)
    assert [e.dedupe_key for e in following.entries] == ["event:b"]


# -- finishing ------------------------------------------------------------------------------


def test_finish_closes_the_claim_in_one_go(db, clock):
    db.receive(delivery("event:a"))
    db.receive(delivery("event:b"))
    claim = db.claim("w1", LEASE)
    clock.advance(2)
    record = AuditRecord(outcome="escalated", from_tier="L1", to_tier="L2", priority="high",
                         duration_ms=12.5, detail={"reasons": ["customer asked"], "round": 1})
    audit_id = db.finish(
        claim, record,
        used=[("customer_request", "comment:9001", "escalated"),
              ("sla", "deadline:first_reply", "suppressed")],
        version="2026-11-22T10:00:00Z",
    )

    [entry] = db.audit_log()
    assert entry == {
        "id": audit_id, "at": T0 + 2, "platform": "zendesk", "ticket_ref": "35436",
        "outcome": "escalated", "from_tier": "L1", "to_tier": "L2", "route": None,
        "priority": "high",
        "duration_ms": 12.5, "detail": {"reasons": ["customer asked"], "round": 1},
    }
    assert [(r["policy"], r["evidence_key"], r["outcome"], r["recorded_at"], r["audit_id"])
            for r in rows(db, evidence)] == [
        ("customer_request", "comment:9001", "escalated", T0 + 2, audit_id),
        ("sla", "deadline:first_reply", "suppressed", T0 + 2, audit_id),
    ]
    assert db.used_evidence("zendesk", "35436") == {
        ("customer_request", "comment:9001"), ("sla", "deadline:first_reply")}
    assert db.used_evidence("zendesk", "777") == set()
    assert db.used_evidence("jira", "35436") == set()
    assert [(r["status"], r["processed_at"], r["audit_id"]) for r in rows(db, inbox)] == [
        ("done", T0 + 2, audit_id), ("done", T0 + 2, audit_id)]
    lease = ticket_row(db, "35436")
    assert lease == {"platform": "zendesk", "ticket_ref": "35436", "lease_owner": None,
                     "lease_until": None, "last_evaluated_at": T0 + 2,
                     "last_version": "2026-11-22T10:00:00Z",
                     "last_escalated_at": T0 + 2,  # the record's outcome was "escalated"
                     "next_due_at": None}
    assert db.inbox_counts() == {"done": 2}
    assert db.claim("w2", LEASE) is None  # nothing left to do


def test_finish_keeps_the_first_outcome_of_the_same_evidence(db, clock):
    db.receive(delivery("event:a"))
    db.finish(db.claim("w1", LEASE), AuditRecord(outcome="escalated"),
              used=[("customer_request", "comment:9001", "escalated")])
    clock.advance(60)
    db.receive(delivery("event:b"))
    db.finish(db.claim("w1", LEASE), AuditRecord(outcome="no_change"),
              used=[("customer_request", "comment:9001", "suppressed")])
    [row] = rows(db, evidence)
    assert (row["outcome"], row["recorded_at"]) == ("escalated", T0)
    assert db.used_evidence("zendesk", "35436") == {("customer_request", "comment:9001")}


def test_audit_log_filters_by_ticket_and_keeps_order(db, clock):
    for n, ref in enumerate(["1", "2", "1"]):
        clock.now = T0 + n
        db.receive(delivery(f"event:{n}", ticket=ref))
        db.finish(db.claim("w1", LEASE), AuditRecord(outcome=f"outcome-{n}"))
    assert [e["outcome"] for e in db.audit_log()] == ["outcome-0", "outcome-1", "outcome-2"]
    assert [e["outcome"] for e in db.audit_log(ticket_ref="1")] == ["outcome-0", "outcome-2"]
    assert [e["outcome"] for e in db.audit_log(limit=2)] == ["outcome-1", "outcome-2"]


# -- retrying -------------------------------------------------------------------------------


def test_retry_later_backs_off_then_gives_up_after_max_attempts(db, clock):
    db.receive(delivery("event:a"))
    db.receive(delivery("event:b"))
    claim = db.claim("w1", LEASE)
    first = db.retry_later(claim, AuditRecord(outcome="error", detail={"error": "503"}),
                           delay=60, max_attempts=2)
    assert [(r["status"], r["attempts"], r["available_at"], r["audit_id"], r["processed_at"])
            for r in rows(db, inbox)] == [("pending", 1, T0 + 60, first, None)] * 2
    assert ticket_row(db, "35436")["lease_owner"] is None
    assert db.next_due() == T0 + 60

    assert db.claim("w1", LEASE) is None  # released, but not due yet
    clock.advance(60)
    claim = db.claim("w2", LEASE)
    assert [e.attempts for e in claim.entries] == [1, 1]
    second = db.retry_later(claim, AuditRecord(outcome="error"), delay=60, max_attempts=2)
    assert [(r["status"], r["attempts"], r["processed_at"], r["audit_id"])
            for r in rows(db, inbox)] == [("failed", 2, T0 + 60, second)] * 2
    assert db.inbox_counts() == {"failed": 2}
    assert db.next_due() is None
    clock.advance(3600)
    assert db.claim("w3", LEASE) is None
    assert [e["outcome"] for e in db.audit_log()] == ["error", "error"]
    assert db.audit_log()[0]["detail"] == {"error": "503"}


# -- reading back ---------------------------------------------------------------------------


def test_inbox_counts_by_status(db):
    assert db.inbox_counts() == {}
    for key in ["event:a", "event:b"]:
        db.receive(delivery(key, ticket="1"))
    db.receive(delivery("event:c", ticket="2"))
    db.receive(delivery("event:d", ticket="3"))
    db.finish(db.claim("w1", LEASE), AuditRecord(outcome="no_change"))
    db.retry_later(db.claim("w1", LEASE), AuditRecord(outcome="error"), delay=1,
                   max_attempts=1)
    assert db.inbox_counts() == {"done": 2, "failed": 1, "pending": 1}


def test_next_due_is_the_earliest_pending_available_at(db, clock):
    assert db.next_due() is None
    db.receive(delivery("event:a", ticket="1"), delay=30)
    db.receive(delivery("event:b", ticket="2"), delay=5)
    assert db.next_due() == T0 + 5
    clock.advance(5)
    db.finish(db.claim("w1", LEASE), AuditRecord(outcome="no_change"))
    assert db.next_due() == T0 + 30


# -- SQLite ---------------------------------------------------------------------------------


def test_sqlite_runs_in_wal_mode_with_full_sync(db):
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_deliveries_survive_reopening_the_database(tmp_path, clock):
    url = f"sqlite:///{tmp_path / 'durable.db'}"
    first = Store(url, clock=clock)
    first.create_schema()
    first.receive(delivery("event:a"))
    first.close()
    again = Store(url, clock=clock)
    try:
        again.create_schema()  # idempotent on an existing database
        assert again.receive(delivery("event:a")) is False
        assert again.inbox_counts() == {"pending": 1}
    finally:
        again.close()



# -- ticket index ---------------------------------------------------------------------------


def opened(ref: str, minute: int, *comments: Comment, **fields: object) -> Ticket:
    """A ticket created ``minute`` minutes after the builders' T0, with custom ``fields``."""
    return replace(ticket(*comments, ref=ref), created_at=TICKET_T0 + timedelta(minutes=minute),
                   custom_fields=fields)


def test_the_index_keeps_the_first_customer_message_and_short_field_values(db):
    db.index(opened("1", 0, comment(1, "Agent opened this", role=AuthorRole.AGENT),
                    comment(2, "x" * 1500),
                    **{"360012": "Storage", "360013": None, "360014": "long " * 60,
                       "360015": ["EU", "US"]}))
    db.index(opened("2", 5, comment(3, "Dashboard is blank")))
    db.index(opened("3", 11, comment(4, "Later")))
    history = StoreHistory(db)
    found = history.created_between("zendesk", TICKET_T0, TICKET_T0 + timedelta(minutes=5))
    assert [p.ref for p in found] == ["1", "2"]  # both ends included, oldest first
    assert found[0].first_message == "x" * 1000
    assert found[0].fields == {"360012": ("storage",), "360015": ("eu", "us")}
    assert (found[1].first_message, found[1].fields) == ("Dashboard is blank", {})
    assert history.created_between("jira", TICKET_T0, TICKET_T0 + timedelta(hours=1)) == []
    db.index(opened("2", 5))  # read again without its comments: the first message stays
    [again] = history.created_between("zendesk", found[1].created_at, found[1].created_at)
    assert again.first_message == "Dashboard is blank"


def test_create_schema_adds_the_columns_a_database_of_the_previous_version_lacks(
        tmp_path, clock):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = sa.create_engine(url)
    with old.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE ticket_index (platform VARCHAR(16) NOT NULL, ticket_ref VARCHAR(64) "
            "NOT NULL, subject TEXT NOT NULL, tags TEXT NOT NULL, form VARCHAR(64), "
            "requester_id VARCHAR(255), organization_id VARCHAR(255), created_at FLOAT NOT "
            "NULL, status VARCHAR(64) NOT NULL, PRIMARY KEY (platform, ticket_ref))")
        conn.exec_driver_sql("INSERT INTO ticket_index VALUES ('zendesk', '7', 'Old', '[]', "
                             f"NULL, '1', NULL, {TICKET_T0.timestamp()}, 'open')")
        conn.exec_driver_sql(
            "CREATE TABLE inbox (id INTEGER PRIMARY KEY, platform VARCHAR(16) NOT NULL, "
            "dedupe_key VARCHAR(255) NOT NULL, ticket_ref VARCHAR(64) NOT NULL, kind "
            "VARCHAR(128) NOT NULL, actor VARCHAR(255), payload TEXT NOT NULL, received_at "
            "FLOAT NOT NULL, available_at FLOAT NOT NULL, status VARCHAR(16) NOT NULL, "
            "attempts INTEGER NOT NULL, processed_at FLOAT, audit_id INTEGER, "
            "CONSTRAINT uq_inbox_dedupe UNIQUE (platform, dedupe_key))")
    old.dispose()
    store = Store(url, clock=clock)
    try:
        store.create_schema()
        store.create_schema()  # and again: nothing left to add
        replay = Delivery("jira", "webhook:b", "SUP-1", "x", "{}", body_hash="e" * 64)
        assert store.receive(replace(replay, dedupe_key="webhook:a")) is True
        assert store.receive(replay) is False
        store.index(opened("8", 1, comment(1, "New")))
        found = StoreHistory(store).created_between("zendesk", TICKET_T0,
                                                    TICKET_T0 + timedelta(minutes=1))
        assert [(p.ref, p.first_message, p.fields) for p in found] == \
            [("7", None, {}), ("8", "New", {})]
    finally:
        store.close()
