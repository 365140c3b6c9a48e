"""Retention: what Store.prune deletes and keeps, ``tierlift prune``, the workers applying it."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from builders import ticket
from click.testing import CliRunner
from conftest import postgres_store

from plugins.manager import ConfigError
from webhook_app.cli import main
from webhook_app.settings import Settings, load_retention, load_settings
from webhook_app.store import (
    AuditRecord,
    Delivery,
    Retention,
    Store,
    audit,
    backfills,
    inbox,
    ticket_index,
)
from webhook_app.worker import Pruner, Worker

T0 = 1_800_000_000.0
DAY = 86400.0
HOUR = 3600.0
NOTHING = {"inbox": 0, "inbox.payload": 0, "audit": 0, "notifications": 0, "ticket_index": 0,
           "backfills": 0}


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db(tmp_path, clock):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}", clock=clock)
    store.create_schema()
    yield store
    store.close()


def delivery(key: str, ref: str = "42", *, body_hash: str | None = None) -> Delivery:
    return Delivery("zendesk", key, ref, "ticket.comment_added", f'{{"comment": "{key}"}}',
                    body_hash=body_hash)


def done(store: Store, key: str, ref: str = "42", **kw) -> None:
    """Receive a delivery and finish it now."""
    assert store.receive(delivery(key, ref, **kw))
    store.finish(store.claim("w", 30), AuditRecord("no_change"))


def rows(store: Store, table: sa.Table, *columns: sa.Column) -> list[tuple]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(*columns).order_by(*columns))]


def keys(store: Store) -> list[tuple]:
    return rows(store, inbox, inbox.c.dedupe_key, inbox.c.status)


def test_finished_deliveries_and_audit_go_after_retention_pending_ones_never(db, clock):
    done(db, "event:1", "42")                                       # done at T0
    assert db.receive(delivery("event:2", "43"))
    db.retry_later(db.claim("w", 30), AuditRecord("failed"), delay=1, max_attempts=1)  # failed
    assert db.receive(delivery("event:3", "44"), delay=1000 * DAY)  # pending, not due yet
    clock.now = T0 + DAY
    done(db, "event:4", "42")                                       # done at T0 + 1 day
    retention = Retention(5)

    clock.now = T0 + 5 * DAY - 1
    assert db.prune(retention) == NOTHING
    clock.now = T0 + 5 * DAY + 1
    assert db.prune(retention) == {**NOTHING, "inbox": 2, "audit": 2}
    assert keys(db) == [("event:3", "pending"), ("event:4", "done")]
    assert rows(db, audit, audit.c.at) == [(T0 + DAY,)]

    clock.now = T0 + 100 * DAY  # the newest audit entry stays (SQLite would reuse its id)
    assert db.prune(retention) == {**NOTHING, "inbox": 1}
    assert keys(db) == [("event:3", "pending")]
    assert rows(db, audit, audit.c.at) == [(T0 + DAY,)]
    assert db.prune(retention) == NOTHING


def test_claimed_and_retrying_deliveries_are_never_pruned(db, clock):
    assert db.receive(delivery("event:1", "42"))
    assert db.receive(delivery("event:2", "43"))
    db.retry_later(db.claim("w", 30), AuditRecord("retry"), delay=10 * 365 * DAY,
                   max_attempts=10)                                 # waits to retry
    assert db.claim("w", 30).ticket_ref == "43"                     # claimed, never finished
    clock.now = T0 + 20 * 365 * DAY
    assert db.prune(Retention(1))["inbox"] == 0
    assert keys(db) == [("event:1", "pending"), ("event:2", "pending")]


def test_a_pruned_payload_keeps_its_dedupe_keys_for_72_hours(db, clock):
    done(db, "event:1", body_hash="ab" * 32)
    retention = Retention(1)  # shorter than the helpdesks' retries

    clock.now = T0 + DAY + 1
    assert db.prune(retention) == {**NOTHING, "inbox.payload": 1}
    assert rows(db, inbox, inbox.c.dedupe_key, inbox.c.payload) == [("event:1", "")]
    assert not db.receive(delivery("event:1"))                      # a late retry
    assert not db.receive(delivery("event:9", body_hash="ab" * 32))  # a replay, new identifier
    assert db.prune(retention) == NOTHING

    clock.now = T0 + 72 * HOUR - 1
    assert db.prune(retention) == NOTHING
    clock.now = T0 + 72 * HOUR + 1
    assert db.prune(retention) == {**NOTHING, "inbox": 1}
    assert keys(db) == []


def test_the_ticket_index_outlives_the_policies_look_back(db, clock):
    base = ticket(ref="1")
    created = base.created_at.timestamp()
    for ref, age in (("old", 200), ("edge", 120), ("recent", 100)):
        db.index(replace(base, ref=ref, created_at=base.created_at - timedelta(days=age)))
    clock.now = created
    db.backfill("zendesk", "requester", "1", [], since=created - 130 * DAY)
    db.backfill("zendesk", "requester", "2", [], since=created - 110 * DAY)
    retention = Retention(30, history_days=120)  # e.g. repeat_issue looks back 120 days

    assert db.prune(retention) == {**NOTHING, "ticket_index": 1, "backfills": 1}
    assert rows(db, ticket_index, ticket_index.c.ticket_ref) == [("edge",), ("recent",)]
    assert rows(db, backfills, backfills.c.ident) == [("2",)]
    clock.now = created + 5 * DAY
    db.backfill("zendesk", "requester", "3", [], since=created - 200 * DAY)
    assert db.prune(retention) == {**NOTHING, "ticket_index": 1, "backfills": 1}
    assert rows(db, ticket_index, ticket_index.c.ticket_ref) == [("recent",)]
    db.backfill("zendesk", "requester", "4", [], since=created - 300 * DAY)
    assert db.prune(retention) == NOTHING  # no index row went: every search still holds
    assert rows(db, backfills, backfills.c.ident) == [("2",), ("4",)]


def test_notifications_go_after_retention_evidence_and_ticket_facts_stay(db, clock):
    assert db.receive(delivery("event:1"))
    db.finish(db.claim("w", 30), AuditRecord("escalated", "L1", "L2"),
              used=[("customer_request", "comment:1", "escalated")])
    assert db.claim_notification("zendesk", "42", "escalated", "k1", "slack", "customer_request")
    clock.now = T0 + 10 * DAY
    assert db.claim_notification("zendesk", "42", "breached", "k2", "slack", "sla")
    clock.now = T0 + 95 * DAY
    assert db.prune(Retention(90)) == {**NOTHING, "inbox": 1, "notifications": 1}
    assert [n["event_key"] for n in db.notification_log()] == ["k2"]
    assert db.used_evidence("zendesk", "42") == {("customer_request", "comment:1")}
    assert db.last_escalation("zendesk", "42") == T0
    assert len(db.audit_log()) == 1  # the newest


def test_retention_zero_keeps_everything(db, clock):
    done(db, "event:1")
    db.index(ticket())
    clock.now = T0 + 10_000 * DAY
    assert db.prune(Retention(0, history_days=90)) == NOTHING
    assert len(keys(db)) == 1 and len(db.indexed()) == 1


def test_pruning_is_batched_and_a_dry_run_changes_nothing(db, clock):
    for n in range(5):
        done(db, f"event:{n}", str(n))
    clock.now = T0 + 10 * DAY
    assert db.prune(Retention(5), dry_run=True) == {**NOTHING, "inbox": 5, "audit": 4}
    assert len(keys(db)) == 5
    deletes = []
    sa.event.listen(db.engine, "before_cursor_execute",
                    lambda _c, _cur, statement, *_: deletes.append(statement.split()[:3]))
    assert db.prune(Retention(5), batch=2) == {**NOTHING, "inbox": 5, "audit": 4}
    assert [" ".join(d) for d in deletes if d[0] == "DELETE"] == \
        ["DELETE FROM inbox"] * 3 + ["DELETE FROM audit"] * 3 + ["DELETE FROM notifications"]


def test_prune_on_postgresql():
    clock = Clock()
    with postgres_store(clock=clock) as store:
        done(store, "event:1", "42")
        assert store.receive(delivery("event:2", "43"), delay=1000 * DAY)
        store.index(replace(ticket(ref="42"), created_at=datetime.fromtimestamp(T0 - 100 * DAY,
                                                                                 UTC)))
        assert store.claim_notification("zendesk", "42", "escalated", "k", "slack", "x")
        clock.now = T0 + DAY
        done(store, "event:3", "44")
        clock.now = T0 + DAY + 1
        assert store.prune(Retention(1, history_days=90), batch=1) == {
            "inbox": 0, "inbox.payload": 1, "audit": 1, "notifications": 1, "ticket_index": 1,
            "backfills": 0}
        assert not store.receive(delivery("event:1", "42"))
        assert keys(store) == [("event:1", "done"), ("event:2", "pending"), ("event:3", "done")]
        assert [e["at"] for e in store.audit_log()] == [T0 + DAY]


# -- settings and the command ----------------------------------------------------------------


def test_retention_days_is_one_top_level_key_and_the_index_follows_repeat_issue():
    assert Settings().retention == Retention(90, 90)
    assert Settings(retention_days=7, policies={"repeat_issue": {"days": 200}}).retention == \
        Retention(7, 200)


def test_retention_days_out_of_bounds_is_a_config_error(tmp_path, monkeypatch):
    config = tmp_path / "t.toml"
    config.write_text("retention_days = 4000\n")
    with pytest.raises(ConfigError) as bad:
        load_settings(config)
    assert "retention_days: Input should be less than or equal to 3650 (got 4000)" in \
        bad.value.problems
    monkeypatch.setenv("TIERLIFT_RETENTION_DAYS", "-1")
    with pytest.raises(ConfigError) as env:
        load_retention(config)
    assert env.value.problems == ["retention_days: Input should be greater than or equal to 0 "
                                  "(got '-1')"]


def test_load_retention_reads_the_file_and_the_environment(tmp_path, monkeypatch):
    config = tmp_path / "t.toml"
    config.write_text('retention_days = 30\n[zendesk]\nwebhook_secret = ""\n'
                      "[policies.repeat_issue]\nenabled = false\ndays = 150\n")
    assert load_retention(config) == Retention(30, 150)
    monkeypatch.setenv("TIERLIFT_RETENTION_DAYS", "0")
    monkeypatch.setenv("TIERLIFT_POLICIES__REPEAT_ISSUE__DAYS", "40")
    assert load_retention(config) == Retention(0, 90)


def test_prune_command_dry_run_prints_the_counts_per_table(tmp_path):
    db = tmp_path / "store.db"
    now = time.time()
    store = Store(f"sqlite:///{db}", clock=Clock(now - 10 * DAY))
    store.create_schema()
    done(store, "event:1", "42")
    done(store, "event:2", "43")
    store.clock.now = now
    assert store.receive(delivery("event:3", "44"))
    store.close()
    config = tmp_path / "t.toml"
    config.write_text(f'database_url = "sqlite:///{db}"\nretention_days = 5\n')

    result = CliRunner().invoke(main, ["prune", "--config", str(config), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "kept: text 5 days, ticket index 90 days, dedupe keys 5 days (dry run: nothing changed)",
        "inbox: 2 would be deleted",
        "inbox.payload: 0 would be emptied",
        "audit: 1 would be deleted",
        "notifications: 0 would be deleted",
        "ticket_index: 0 would be deleted",
        "backfills: 0 would be deleted",
    ]
    assert len(Store(f"sqlite:///{db}").inbox_entries()) == 3

    result = CliRunner().invoke(main, ["prune", "--database-url", f"sqlite:///{db}"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:2] == [
        "kept: text 90 days, ticket index 90 days, dedupe keys 90 days", "inbox: 0 deleted"]


def test_prune_command_with_retention_zero_touches_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_RETENTION_DAYS", "0")
    result = CliRunner().invoke(main, ["prune", "--database-url",
                                       f"sqlite:///{tmp_path / 'none.db'}"])
    assert (result.exit_code, result.output) == (0, "retention_days = 0: everything is kept\n")


# -- the workers -------------------------------------------------------------------------------


def test_the_worker_prunes_at_most_once_an_hour_and_survives_a_failure(db, clock, caplog):
    done(db, "event:1")
    clock.now = T0 + 91 * DAY
    done(db, "event:2")
    calls = []
    prune = db.prune
    db.prune = lambda retention: calls.append(retention) or prune(retention)
    worker = Worker(db, None, Settings().worker, pruner=Pruner(db, Retention(90)))

    assert worker.run_once() is False
    assert keys(db) == [("event:2", "done")]
    clock.now += HOUR - 1
    worker.run_once()
    assert len(calls) == 1
    clock.now += 1

    def broken(retention):
        raise sa.exc.OperationalError("DELETE FROM inbox", {}, Exception("database is locked"))

    db.prune = broken
    with caplog.at_level(logging.WARNING, "webhook_app.worker"):
        assert worker.run_once() is False
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "retention: pruning the store failed (OperationalError: (builtins.Exception) database "
        "is locked); next try in 3600 s"]
