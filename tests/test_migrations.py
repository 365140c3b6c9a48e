"""Schema migrations (webhook_app/migrations): from an empty database and from the schema of a
tierlift before migrations, on SQLite and PostgreSQL; ``tierlift migrate``; concurrent starts.

PostgreSQL runs in a throwaway schema (``search_path``) of ``TIERLIFT_TEST_POSTGRES`` and is
skipped, saying why, where none answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner

from webhook_app.cli import main
from webhook_app.migrations import Migration, head
from webhook_app.store import Delivery, Store, metadata

PG = os.environ.get("TIERLIFT_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1/test")

# The oldest schema before migrations, as its create_all wrote it: no inbox.body_hash, no
# ticket_index.first_message / custom_fields, no ix_inbox_processed / ix_audit_at, and no
# backfills, probes or notifications tables yet. {id} is the dialect's auto-increment key.
OLDEST = [
    "CREATE TABLE inbox (id {id}, platform VARCHAR(16) NOT NULL, dedupe_key VARCHAR(255) NOT "
    "NULL, ticket_ref VARCHAR(64) NOT NULL, kind VARCHAR(128) NOT NULL, actor VARCHAR(255), "
    "payload TEXT NOT NULL, received_at FLOAT NOT NULL, available_at FLOAT NOT NULL, status "
    "VARCHAR(16) NOT NULL, attempts INTEGER NOT NULL, processed_at FLOAT, audit_id INTEGER, "
    "CONSTRAINT uq_inbox_dedupe UNIQUE (platform, dedupe_key))",
    "CREATE INDEX ix_inbox_pending ON inbox (status, available_at)",
    "CREATE INDEX ix_inbox_ticket ON inbox (platform, ticket_ref, status)",
    "CREATE TABLE tickets (platform VARCHAR(16) NOT NULL, ticket_ref VARCHAR(64) NOT NULL, "
    "lease_owner VARCHAR(128), lease_until FLOAT, last_evaluated_at FLOAT, last_version "
    "VARCHAR(64), last_escalated_at FLOAT, next_due_at FLOAT, PRIMARY KEY (platform, "
    "ticket_ref))",
    "CREATE INDEX ix_tickets_due ON tickets (next_due_at)",
    "CREATE TABLE sweeps (platform VARCHAR(16) NOT NULL, swept_at FLOAT NOT NULL, "
    "PRIMARY KEY (platform))",
    "CREATE TABLE ticket_index (platform VARCHAR(16) NOT NULL, ticket_ref VARCHAR(64) NOT NULL, "
    "subject TEXT NOT NULL, tags TEXT NOT NULL, form VARCHAR(64), requester_id VARCHAR(255), "
    "organization_id VARCHAR(255), created_at FLOAT NOT NULL, status VARCHAR(64) NOT NULL, "
    "PRIMARY KEY (platform, ticket_ref))",
    "CREATE INDEX ix_index_requester ON ticket_index (platform, requester_id, created_at)",
    "CREATE INDEX ix_index_organization ON ticket_index (platform, organization_id, created_at)",
    "CREATE INDEX ix_index_created ON ticket_index (platform, created_at)",
    "CREATE TABLE evidence (platform VARCHAR(16) NOT NULL, ticket_ref VARCHAR(64) NOT NULL, "
    "policy VARCHAR(64) NOT NULL, evidence_key VARCHAR(255) NOT NULL, outcome VARCHAR(16) NOT "
    "NULL, recorded_at FLOAT NOT NULL, audit_id INTEGER, PRIMARY KEY (platform, ticket_ref, "
    "policy, evidence_key))",
    "CREATE TABLE audit (id {id}, at FLOAT NOT NULL, platform VARCHAR(16) NOT NULL, ticket_ref "
    "VARCHAR(64) NOT NULL, outcome VARCHAR(32) NOT NULL, from_tier VARCHAR(64), to_tier "
    "VARCHAR(64), route VARCHAR(64), priority VARCHAR(16), duration_ms FLOAT NOT NULL, detail "
    "TEXT NOT NULL)",
    "CREATE INDEX ix_audit_ticket ON audit (platform, ticket_ref)",
    "INSERT INTO inbox (platform, dedupe_key, ticket_ref, kind, payload, received_at, "
    "available_at, status, attempts) VALUES ('zendesk', 'event:old', '7', 'ticket.created', "
    "'{{}}', 1.0, 1.0, 'pending', 0)",
    "INSERT INTO tickets (platform, ticket_ref) VALUES ('zendesk', '7')",
    "INSERT INTO ticket_index VALUES ('zendesk', '7', 'Old', '[]', NULL, '1', NULL, 1.0, 'open')",
    "INSERT INTO audit (at, platform, ticket_ref, outcome, duration_ms, detail) VALUES "
    "(2.0, 'zendesk', '7', 'no_change', 1.5, '{{}}')",
]
# A database the earlier ALTER stopgap had brought forward: body_hash with a unique index (not
# a constraint), the later ticket_index columns and indexes.
STOPGAPPED = [
    *OLDEST,
    "ALTER TABLE ticket_index ADD COLUMN first_message TEXT",
    "ALTER TABLE ticket_index ADD COLUMN custom_fields TEXT",
    "ALTER TABLE inbox ADD COLUMN body_hash VARCHAR(64)",
    "CREATE UNIQUE INDEX uq_inbox_body ON inbox (platform, body_hash)",
    "CREATE INDEX ix_inbox_processed ON inbox (processed_at)",
    "CREATE INDEX ix_audit_at ON audit (at)",
]
LEGACY = {"oldest": OLDEST, "stopgapped": STOPGAPPED}
AUTO_ID = {"sqlite": "INTEGER NOT NULL PRIMARY KEY", "postgresql": "SERIAL PRIMARY KEY"}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    """An empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    pytest.importorskip("psycopg")
    schema = f"tierlift_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG, poolclass=sa.pool.NullPool)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except sa.exc.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {PG}: {exc.orig}")
    yield f"{PG}?options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


def differences(store: Store) -> list:
    with store.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), metadata)


def make_legacy(url: str, statements: list[str]) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement.format(id=AUTO_ID[engine.dialect.name]))
    engine.dispose()


def test_an_empty_database_is_created_at_head_and_matches_the_metadata(url):
    store = Store(url)
    try:
        assert store.create_schema() == Migration(None, head())
        assert differences(store) == []
        assert store.create_schema() == Migration(head(), head())  # again: nothing to do
        assert store.receive(Delivery("zendesk", "event:1", "1", "ticket.created", "{}"))
    finally:
        store.close()


@pytest.mark.parametrize("legacy", LEGACY)
def test_a_database_of_a_version_before_migrations_is_brought_to_head_keeping_its_rows(
        url, legacy):
    make_legacy(url, LEGACY[legacy])
    store = Store(url)
    try:
        assert store.create_schema() == Migration(None, head(), legacy=True)
        assert differences(store) == []
        assert store.create_schema() == Migration(head(), head())
        assert store.inbox_counts() == {"pending": 1}
        assert [(e["ticket_ref"], e["outcome"]) for e in store.audit_log()] == \
            [("7", "no_change")]
        assert [row["subject"] for row in store.indexed()] == ["Old"]
        assert not store.receive(Delivery("zendesk", "event:old", "7", "ticket.created", "{}"))
        replay = Delivery("jira", "webhook:a", "SUP-1", "x", "{}", body_hash="e" * 64)
        assert store.receive(replay)
        assert not store.receive(Delivery("jira", "webhook:b", "SUP-1", "x", "{}",
                                          body_hash="e" * 64))  # uq_inbox_body holds
        claim = store.claim("w1", 30)
        assert [e.dedupe_key for e in claim.entries] == ["event:old"]
    finally:
        store.close()


def test_tierlift_migrate_prints_the_revision_before_and_after(url):
    run = CliRunner().invoke
    first = run(main, ["migrate", "--database-url", url])
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines() == ["schema revision before: none (empty database)",
                                         f"schema revision after: {head()} (head)"]
    again = run(main, ["migrate", "--database-url", url])
    assert again.stdout.splitlines() == [f"schema revision before: {head()}",
                                         f"schema revision after: {head()} (head); nothing to do"]


def test_tierlift_migrate_on_a_database_before_migrations(url):
    make_legacy(url, OLDEST)
    done = CliRunner().invoke(main, ["migrate", "--database-url", url])
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == [
        "schema revision before: none (tables of a tierlift before migrations)",
        f"schema revision after: {head()} (head)"]


# Every command that opens the store, after --config (serve and worker start nothing: the
# store is migrated before the receiver or a worker starts).
OPENING_THE_STORE = [["migrate"], ["serve"], ["worker"], ["report"], ["prune"],
                     ["replay", os.devnull]]


@pytest.mark.parametrize("command", OPENING_THE_STORE, ids=lambda argv: argv[0])
def test_a_database_migrated_by_a_newer_version_is_refused_in_one_line(url, command, tmp_path):
    store = Store(url)
    store.create_schema()
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    store.close()
    config = tmp_path / "tierlift.toml"
    config.write_text(f"""database_url = {json.dumps(url)}
tiers = ["L1", "L2"]

[zendesk]
base_url = "https://acme.zendesk.com"
email = "bot@acme.example"
api_token = "token"
webhook_secret = "secret"
tier_groups = {{ L1 = 101, L2 = 102 }}
""")
    name, *args = command
    done = CliRunner().invoke(main, [name, "--config", str(config), *args])
    assert done.exit_code == 2, done.output
    assert done.stderr == (f"store error: the store is at schema revision 9999, which this "
                           f"tierlift ({head()}) does not know: a newer version migrated it; "
                           "run that version\n")


def test_processes_starting_at_once_migrate_once(url):
    migrate = [sys.executable, "-c", "from webhook_app.cli import main; main()", "migrate",
               "--database-url", url]
    processes = [subprocess.Popen(migrate, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True) for _ in range(3)]
    outputs = sorted(process.communicate(timeout=120)[0] for process in processes)
    assert [process.returncode for process in processes] == [0, 0, 0], outputs
    assert outputs == sorted([
        "schema revision before: none (empty database)\n"
        f"schema revision after: {head()} (head)\n",
        *[f"schema revision before: {head()}\n"
          f"schema revision after: {head()} (head); nothing to do\n"] * 2])
