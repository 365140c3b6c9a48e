"""The durable store: webhook inbox, per-ticket leases, evidence ledger and audit log.

SQLAlchemy Core over embedded SQLite (WAL, fsync on commit) or PostgreSQL. Exactly-once effects
come from unique keys, never from memory: a delivery's dedupe key, a ticket's lease, and
``(ticket, policy, evidence key)`` in the ledger.

``metadata`` is the schema as it is now; databases follow it through Alembic revisions
(webhook_app/migrations), applied by :meth:`Store.create_schema` at every start and by
``tierlift migrate``. A change here needs a revision there.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from connector.http import Window
from connector.ticket import Ticket, TicketSummary
from plugins.history import (
    CREATED_LIMIT,
    FIRST_MESSAGE_CHARS,
    RECENT_LIMIT,
    RELATED_LIMIT,
    PastTicket,
    first_message,
    short_fields,
)
from webhook_app import migrations
from webhook_app.migrations import Migration

T = TypeVar("T")

metadata = sa.MetaData()

inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("platform", sa.String(16), nullable=False),
    sa.Column("dedupe_key", sa.String(255), nullable=False),
    sa.Column("ticket_ref", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(128), nullable=False),
    sa.Column("actor", sa.String(255)),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("available_at", sa.Float, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("processed_at", sa.Float),
    sa.Column("audit_id", sa.Integer),
    # A second identity of a delivery whose identifier header is not signed (Jira): the hash of
    # its signed body, so a captured delivery replayed under a new identifier is a duplicate.
    sa.Column("body_hash", sa.String(64)),
    sa.UniqueConstraint("platform", "dedupe_key", name="uq_inbox_dedupe"),
    sa.UniqueConstraint("platform", "body_hash", name="uq_inbox_body"),
    sa.Index("ix_inbox_pending", "status", "available_at"),
    sa.Index("ix_inbox_ticket", "platform", "ticket_ref", "status"),
)

tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("platform", sa.String(16), primary_key=True),
    sa.Column("ticket_ref", sa.String(64), primary_key=True),
    sa.Column("lease_owner", sa.String(128)),
    sa.Column("lease_until", sa.Float),
    sa.Column("last_evaluated_at", sa.Float),
    sa.Column("last_version", sa.String(64)),
    sa.Column("last_escalated_at", sa.Float),
    # The next moment a policy wants the ticket looked at again (a deadline), if any.
    sa.Column("next_due_at", sa.Float),
    sa.Index("ix_tickets_due", "next_due_at"),
)

sweeps = sa.Table(
    "sweeps",
    metadata,
    sa.Column("platform", sa.String(16), primary_key=True),
    sa.Column("swept_at", sa.Float, nullable=False),
)

# What tierlift saw of each ticket at its last evaluation: the project's own history, for
# policies that look across tickets (repeat issues, incidents).
ticket_index = sa.Table(
    "ticket_index",
    metadata,
    sa.Column("platform", sa.String(16), primary_key=True),
    sa.Column("ticket_ref", sa.String(64), primary_key=True),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("form", sa.String(64)),
    sa.Column("requester_id", sa.String(255)),
    sa.Column("organization_id", sa.String(255)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("status", sa.String(64), nullable=False),
    # Added after the first release: the start of the customer's first message, and short
    # custom field values as JSON {field id: [texts]}.
    sa.Column("first_message", sa.Text),
    sa.Column("custom_fields", sa.Text),
    sa.Index("ix_index_requester", "platform", "requester_id", "created_at"),
    sa.Index("ix_index_organization", "platform", "organization_id", "created_at"),
    sa.Index("ix_index_created", "platform", "created_at"),
)

# When the helpdesk's earlier tickets of a requester or an organization (created since
# ``since``) were last copied into ticket_index: shared by every worker, kept across restarts.
backfills = sa.Table(
    "backfills",
    metadata,
    sa.Column("platform", sa.String(16), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),  # "requester" or "organization"
    sa.Column("ident", sa.String(255), primary_key=True),
    sa.Column("since", sa.Float, nullable=False),
    sa.Column("fetched_at", sa.Float, nullable=False),
)

evidence = sa.Table(
    "evidence",
    metadata,
    sa.Column("platform", sa.String(16), primary_key=True),
    sa.Column("ticket_ref", sa.String(64), primary_key=True),
    sa.Column("policy", sa.String(64), primary_key=True),
    sa.Column("evidence_key", sa.String(255), primary_key=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("recorded_at", sa.Float, nullable=False),
    sa.Column("audit_id", sa.Integer),
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("platform", sa.String(16), nullable=False),
    sa.Column("ticket_ref", sa.String(64), nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("from_tier", sa.String(64)),
    sa.Column("to_tier", sa.String(64)),
    sa.Column("route", sa.String(64)),
    sa.Column("priority", sa.String(16)),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("ix_audit_ticket", "platform", "ticket_ref"),
)

# A row /readyz rewrites to prove the store takes writes (a read-only file, a full disk).
probes = sa.Table(
    "probes",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("at", sa.Float, nullable=False),
)

# One row per notification sent (or tried) by one notifier: the primary key makes it at most
# once, whatever the retries, re-deliveries and number of workers.
notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("platform", sa.String(16), primary_key=True),
    sa.Column("ticket_ref", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("event_key", sa.String(64), primary_key=True),  # sha256 of the event's own key
    sa.Column("notifier", sa.String(64), primary_key=True),
    sa.Column("description", sa.Text, nullable=False),  # the event's key as written
    sa.Column("status", sa.String(16), nullable=False),  # sending, sent, failed
    sa.Column("error", sa.Text),
    sa.Column("at", sa.Float, nullable=False),
)

# The rate-limit windows of each helpdesk account ("platform:host"), which all its workers book
# their requests from (connector.http.RateBudget): one row per window, "account" or a Zendesk
# ticket-update header; the platform's latest count less the slots booked since, when the window
# resets and the latest slot booked.
rate_windows = sa.Table(
    "rate_windows",
    metadata,
    sa.Column("account", sa.String(255), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("total", sa.Integer),
    sa.Column("remaining", sa.Integer, nullable=False),
    sa.Column("resets_at", sa.Float, nullable=False),
    sa.Column("next_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)


# For Store.prune: finished deliveries and audit entries by age.
inbox_processed = sa.Index("ix_inbox_processed", inbox.c.processed_at)
audit_at = sa.Index("ix_audit_at", audit.c.at)

DAY = 86400.0
# Zendesk retries a webhook for up to 48 hours, Jira for 30 minutes: a delivery's dedupe key is
# kept at least this long, whatever the retention, so a late retry is still a duplicate.
DEDUPE_SECONDS = 72 * 3600.0


@dataclass(frozen=True)
class Retention:
    """How long :meth:`Store.prune` keeps what the store holds: ``days`` (0: everything,
    forever), and the ticket index at least ``history_days``, the longest look-back a policy
    may read."""

    days: float
    history_days: float = 0.0


@dataclass(frozen=True)
class Delivery:
    """A verified, parsed webhook delivery, ready to be stored."""

    platform: str
    dedupe_key: str
    ticket_ref: str
    kind: str
    payload: str
    actor: str | None = None
    body_hash: str | None = None  # sha256 of the signed body, when it identifies the delivery
    sent_at: float | None = None  # when the helpdesk says it sent it (not stored)


@dataclass(frozen=True)
class InboxEntry:
    id: int
    dedupe_key: str
    kind: str
    actor: str | None
    received_at: float
    attempts: int


@dataclass(frozen=True)
class InboxState:
    """One platform's inbox, for /metrics."""

    pending: int = 0
    oldest_pending: float | None = None  # when the oldest pending delivery was received
    failed: int = 0


def deadline_of(entry: InboxEntry) -> float | None:
    """The deadline a scheduler delivery was enqueued for (see :meth:`Store.fire_due`)."""
    if entry.kind != "deadline":
        return None
    return float(entry.dedupe_key.rsplit(":", 1)[1])


@dataclass(frozen=True)
class Claim:
    """A worker's lease on one ticket, with every delivery for it that was pending."""

    platform: str
    ticket_ref: str
    owner: str
    entries: tuple[InboxEntry, ...]


@dataclass
class AuditRecord:
    """One evaluation of one ticket, applied or not."""

    outcome: str
    from_tier: str | None = None
    to_tier: str | None = None
    route: str | None = None
    priority: str | None = None
    duration_ms: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)


def _insert(engine: sa.Engine, table: sa.Table):
    dialect = sqlite if engine.dialect.name == "sqlite" else postgresql
    return dialect.insert(table)


class _DriverStatement:
    """A Core statement compiled once for the engine's driver, run on a raw DBAPI cursor: the
    receiver's hot path skips SQLAlchemy's per-execution machinery (its errors are still
    raised as SQLAlchemy's, see :meth:`Store._on_intake_connection`)."""

    def __init__(self, engine: sa.Engine, statement: sa.Executable) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        self.sql = compiled.string
        self.order = compiled.positiontup  # None for a driver with named parameters

    def params(self, values: dict[str, Any]) -> tuple | dict[str, Any]:
        return values if self.order is None else tuple(values[n] for n in self.order)


# What a delivery writes into its inbox row, besides status and attempts.
DELIVERY_COLUMNS = ("platform", "dedupe_key", "ticket_ref", "kind", "actor", "payload",
                    "body_hash", "received_at", "available_at")
INTAKE_CHUNK = 32  # deliveries per statement, at most


class _Statements:
    """The receiver's statements for ``n`` deliveries at once (parameters ``<column>_<i>``),
    each compiled once per store and ``n``."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._compiled: dict[tuple[str, int], _DriverStatement] = {}

    def get(self, kind: str, n: int) -> _DriverStatement:
        statement = self._compiled.get((kind, n))
        if statement is None:
            build = {"seen": self._seen, "insert": self._insert, "tickets": self._tickets}[kind]
            statement = self._compiled[kind, n] = _DriverStatement(self._engine, build(n))
        return statement

    @staticmethod
    def _param(column: sa.Column, i: int) -> sa.BindParameter:
        return sa.bindparam(f"{column.name}_{i}", type_=column.type)

    def _seen(self, n: int) -> sa.Select:
        """The stored deliveries that have the dedupe key or the body hash of one of ``n``."""
        c = inbox.c
        return sa.select(c.platform, c.dedupe_key, c.body_hash).where(sa.or_(*(
            sa.and_(c.platform == self._param(c.platform, i),
                    sa.or_(c.dedupe_key == self._param(c.dedupe_key, i),
                           c.body_hash == self._param(c.body_hash, i)))
            for i in range(n))))

    def _insert(self, n: int) -> sa.Executable:
        """Insert ``n`` deliveries, skipping any whose key or hash is stored; returns the
        (platform, dedupe key) of each inserted. On PostgreSQL the same statement adds their
        tickets: one statement, so one implicit transaction, per batch."""
        rows = [{**{name: self._param(inbox.c[name], i) for name in DELIVERY_COLUMNS},
                 "status": sa.literal_column("'pending'"), "attempts": sa.literal_column("0")}
                for i in range(n)]
        insert = _insert(self._engine, inbox).values(rows).on_conflict_do_nothing()
        if self._engine.dialect.name == "sqlite":  # no INSERT in a WITH: see _tickets
            return insert.returning(inbox.c.platform, inbox.c.dedupe_key)
        new = insert.returning(inbox.c.platform, inbox.c.dedupe_key, inbox.c.ticket_ref).cte("new")
        added = (_insert(self._engine, tickets)
                 .from_select(["platform", "ticket_ref"],
                              sa.select(new.c.platform, new.c.ticket_ref).distinct())
                 .on_conflict_do_nothing().cte("added"))
        return sa.select(new.c.platform, new.c.dedupe_key).add_cte(added)

    def _tickets(self, n: int) -> sa.Executable:
        """Add ``n`` tickets (SQLite), keeping those already known."""
        return _insert(self._engine, tickets).values([
            {"platform": self._param(tickets.c.platform, i),
             "ticket_ref": self._param(tickets.c.ticket_ref, i)} for i in range(n)
        ]).on_conflict_do_nothing()


class GroupCommit:
    """Runs ``write(batch, release)`` for items that arrive together: a caller that finds nobody
    writing writes everything queued, its own item among it, while later callers queue for the
    next batch; each caller gets its own item's result (or error) once the batch holding it is
    written, and the writer then hands the writing to the first caller still queued (each
    waiting caller is woken once). A batch that fails is written again item by item, so one
    bad item fails alone.

    The callers of a written batch are woken by the next writer when it calls ``release()``,
    just before its own commit (or at once when nobody writes next): their answers then take
    the interpreter lock while that commit waits on the disk or the server, instead of before
    it starts. ``write`` must call ``release`` before anything that may wait long (a lock)."""

    def __init__(self, write: Callable[[list[Any], Callable[[], None]], list[Any]]) -> None:
        self._write = write
        self._lock = threading.Lock()  # guards _queue, _busy and _answered
        self._queue: list[_Queued] = []
        self._busy = False  # a caller is writing
        self._answered: list[_Queued] = []  # written, their callers not woken yet

    def submit(self, item: Any) -> Any:
        queued = _Queued(item)
        with self._lock:
            self._queue.append(queued)
            waits, self._busy = self._busy, True
        if waits:
            queued.wake.acquire()  # its batch is written, or the writing is handed to it
        if not queued.done:
            self._write_queued()
        if queued.error is not None:
            raise queued.error
        return queued.result

    def _release(self) -> None:
        with self._lock:
            answered, self._answered = self._answered, []
        for queued in answered:
            queued.wake.release()

    def _write_queued(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        try:
            self._run(batch)
        except BaseException as exc:  # not from write (_run answers those): answer everyone
            for queued in batch:
                if not queued.done:
                    self._finish(queued, error=exc)
            raise
        finally:
            with self._lock:
                successor = self._queue[0] if self._queue else None
                self._busy = successor is not None
                answered: list[_Queued] = []
                if successor is None:  # nobody writes next: wake them now
                    answered, self._answered = self._answered, []
            for queued in answered:
                queued.wake.release()
            if successor is not None:
                successor.wake.release()

    def _run(self, batch: list[_Queued]) -> None:
        try:
            results = self._write([q.item for q in batch], self._release)
        except Exception as exc:
            if len(batch) == 1:
                self._finish(batch[0], error=exc)
                return
            for queued in batch:
                self._run([queued])
            return
        for queued, result in zip(batch, results, strict=True):
            self._finish(queued, result=result)

    def _finish(self, queued: _Queued, *, result: Any = None,
                error: BaseException | None = None) -> None:
        queued.result, queued.error, queued.done = result, error, True
        with self._lock:
            self._answered.append(queued)


class _Queued:
    """An item in a :class:`GroupCommit`; ``wake`` is held until its caller may go on (it is
    answered, or is to write)."""

    __slots__ = ("done", "error", "item", "result", "wake")

    def __init__(self, item: Any) -> None:
        self.item, self.done, self.result, self.error = item, False, None, None
        self.wake = threading.Lock()
        self.wake.acquire()


def _delivery_params(chunk: list[tuple[Delivery, float]], now: float) -> dict[str, Any]:
    """The parameters of ``_Statements`` "insert" for ``chunk``, received ``now``."""
    params: dict[str, Any] = {}
    for i, (delivery, delay) in enumerate(chunk):
        params.update({
            f"platform_{i}": delivery.platform, f"dedupe_key_{i}": delivery.dedupe_key,
            f"ticket_ref_{i}": delivery.ticket_ref, f"kind_{i}": delivery.kind,
            f"actor_{i}": delivery.actor, f"payload_{i}": delivery.payload,
            f"body_hash_{i}": delivery.body_hash, f"received_at_{i}": now,
            f"available_at_{i}": now + delay})
    return params


class Store:
    def __init__(self, url: str, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        if url.startswith("sqlite"):
            self.engine = sa.create_engine(url, connect_args={"check_same_thread": False})
            sa.event.listen(self.engine, "connect", _sqlite_on_connect)
            sa.event.listen(self.engine, "begin", _sqlite_begin)
        else:
            self.engine = sa.create_engine(url, pool_pre_ping=True)
        self._statements = _Statements(self.engine)
        self._intake = GroupCommit(self._receive_together)
        self._intake_connection: Any = None  # the group writer's DBAPI connection, kept

    def _writing(self):
        """A write transaction (on SQLite: BEGIN IMMEDIATE; reads stay deferred and unblocked)."""
        return self.engine.execution_options(tierlift_write=True).begin()

    def create_schema(self) -> Migration:
        """Upgrade the schema to the latest revision (see webhook_app.migrations): create it
        in an empty database, bring one of an earlier version up, keep its rows."""
        with self._writing() as conn:
            return migrations.upgrade(conn)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.select(sa.func.count()).select_from(inbox).limit(1))

    def probe_write(self) -> None:
        """Write (and commit) one small row: raises when the store refuses writes."""
        with self._writing() as conn:
            conn.execute(_insert(self.engine, probes).values(name="readyz", at=self.clock())
                         .on_conflict_do_update(index_elements=["name"],
                                                set_={"at": self.clock()}))

    def longest_wait(self) -> float:
        """Seconds the longest-waiting due work has waited: a pending delivery past its
        ``available_at``, or a ticket past its deadline (0 when nothing is due)."""
        now = self.clock()
        with self.engine.connect() as conn:
            due = conn.execute(sa.select(sa.func.min(inbox.c.available_at))
                               .where(inbox.c.status == "pending")).scalar()
            deadline = conn.execute(sa.select(sa.func.min(tickets.c.next_due_at))).scalar()
        return max([0.0, *(now - at for at in (due, deadline) if at is not None)])

    def close(self) -> None:
        self._drop_intake_connection()
        self.engine.dispose()

    # -- receiving --------------------------------------------------------------------------

    def receive(self, delivery: Delivery, *, delay: float = 0.0) -> bool:
        """Store a delivery durably; ``False`` if its dedupe key (or body hash) was seen
        before. Deliveries that arrive together are written together, in one transaction
        (:class:`GroupCommit`, :meth:`_receive_together`), each call returning only once its
        own delivery is committed."""
        return self._intake.submit((delivery, delay))

    def _receive_together(self, batch: list[tuple[Delivery, float]],
                          release: Callable[[], None]) -> list[bool]:
        """Store a batch: whether each delivery is new. The insert is the dedupe (ON CONFLICT
        DO NOTHING on the key and on the hash, RETURNING what it stored), as if the deliveries
        came one after another: one repeating an earlier one's key or hash goes in a later
        round, which finds the earlier one stored or not. ``release`` (see
        :class:`GroupCommit`) is called before the first wait on the database."""
        new = [False] * len(batch)
        left = list(range(len(batch)))
        while left:
            keys: set[tuple[str, str]] = set()
            hashes: set[tuple[str, str | None]] = set()
            firsts, later = [], []
            for i in left:
                delivery = batch[i][0]
                key = (delivery.platform, delivery.dedupe_key)
                digest = (delivery.platform, delivery.body_hash)
                if key in keys or digest in hashes:
                    later.append(i)
                    continue
                keys.add(key)
                if delivery.body_hash is not None:
                    hashes.add(digest)
                firsts.append(i)
            for start in range(0, len(firsts), INTAKE_CHUNK):
                chunk = firsts[start:start + INTAKE_CHUNK]
                stored = self._on_intake_connection([batch[i] for i in chunk], release)
                for i in chunk:
                    new[i] = (batch[i][0].platform, batch[i][0].dedupe_key) in stored
            left = later
        return new

    def _on_intake_connection(self, chunk: list[tuple[Delivery, float]],
                              release: Callable[[], None]) -> set[tuple[str, str]]:
        """Write ``chunk`` on the group writer's own connection (no pool checkout, no pre-ping
        round trip): the (platform, dedupe key) of each delivery stored. A kept connection found
        dead (the server restarted) is replaced and the write tried once more, which the insert
        makes safe: a delivery the lost attempt did commit is then a duplicate. The driver's
        errors are raised as SQLAlchemy's (the receiver answers those 503)."""
        dbapi = self.engine.dialect.loaded_dbapi
        write = self._write_sqlite if self.engine.dialect.name == "sqlite" else \
            self._write_postgresql
        while True:
            kept = self._intake_connection is not None
            if not kept:
                release()  # connecting may take long
                fairy = self.engine.raw_connection()
                fairy.detach()  # the writer's own: never back to the pool
                self._intake_connection = fairy.dbapi_connection
            connection = self._intake_connection
            try:
                if not kept and self.engine.dialect.name != "sqlite":
                    connection.autocommit = True  # each statement is its own transaction
                cursor = connection.cursor()
                try:
                    return write(connection, cursor, chunk, self.clock(), release)
                finally:
                    cursor.close()
            except dbapi.Error as exc:
                self._drop_intake_connection()
                if not (kept and self.engine.dialect.is_disconnect(exc, connection, None)):
                    raise sa.exc.DBAPIError.instance("(receiver)", None, exc,
                                                     dbapi.Error) from exc

    def _drop_intake_connection(self) -> None:
        connection, self._intake_connection = self._intake_connection, None
        if connection is not None:
            with suppress(self.engine.dialect.loaded_dbapi.Error):  # broken: gone either way
                connection.close()

    def _write_postgresql(self, _connection: Any, cursor: Any,
                          chunk: list[tuple[Delivery, float]], now: float,
                          release: Callable[[], None]) -> set[tuple[str, str]]:
        """One statement, the deliveries and their tickets: committed (and on disk) when the
        server answers it."""
        insert = self._statements.get("insert", len(chunk))
        params = insert.params(_delivery_params(chunk, now))
        release()
        cursor.execute(insert.sql, params)
        return set(cursor.fetchall())

    def _write_sqlite(self, connection: Any, cursor: Any, chunk: list[tuple[Delivery, float]],
                      now: float, release: Callable[[], None]) -> set[tuple[str, str]]:
        """First a read, without the write lock: a chunk of duplicates never waits for it
        (another process may hold it for a while); then the new ones, their tickets, one
        commit."""
        seen = self._statements.get("seen", len(chunk))
        cursor.execute(seen.sql, seen.params({
            f"{name}_{i}": getattr(delivery, name) for i, (delivery, _) in enumerate(chunk)
            for name in ("platform", "dedupe_key", "body_hash")}))
        stored = cursor.fetchall()
        keys = {(platform, key) for platform, key, _ in stored}
        hashes = {(platform, digest) for platform, _, digest in stored if digest is not None}
        chunk = [(delivery, delay) for delivery, delay in chunk
                 if (delivery.platform, delivery.dedupe_key) not in keys and
                 (delivery.platform, delivery.body_hash) not in hashes]
        if not chunk:
            return set()
        insert = self._statements.get("insert", len(chunk))
        params = insert.params(_delivery_params(chunk, now))
        release()  # BEGIN IMMEDIATE may wait for another process's write lock
        cursor.execute("BEGIN IMMEDIATE")
        try:
            cursor.execute(insert.sql, params)
            new = set(cursor.fetchall())
            refs = list(dict.fromkeys((delivery.platform, delivery.ticket_ref)
                                      for delivery, _ in chunk
                                      if (delivery.platform, delivery.dedupe_key) in new))
            if refs:
                add = self._statements.get("tickets", len(refs))
                cursor.execute(add.sql, add.params({
                    f"{name}_{i}": value for i, ref in enumerate(refs)
                    for name, value in zip(("platform", "ticket_ref"), ref, strict=True)}))
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        return new

    def _enqueue(self, conn: sa.Connection, delivery: Delivery, now: float,
                 delay: float) -> bool:
        """Enqueue inside a transaction of the store's own (re-evaluations, sweeps, deadlines)."""
        # RETURNING, not rowcount: with PostgreSQL's implicit RETURNING the rowcount of a
        # skipped INSERT ... ON CONFLICT DO NOTHING is -1, which would read as "stored".
        inserted = conn.execute(
            _insert(self.engine, inbox)
            .values(platform=delivery.platform, dedupe_key=delivery.dedupe_key,
                    ticket_ref=delivery.ticket_ref, kind=delivery.kind, actor=delivery.actor,
                    payload=delivery.payload, body_hash=delivery.body_hash, received_at=now,
                    available_at=now + delay, status="pending", attempts=0)
            .on_conflict_do_nothing()
            .returning(inbox.c.id)
        ).first() is not None
        if inserted:
            conn.execute(
                _insert(self.engine, tickets)
                .values(platform=delivery.platform, ticket_ref=delivery.ticket_ref)
                .on_conflict_do_nothing()
            )
        return inserted

    # -- working ----------------------------------------------------------------------------

    def claim(self, owner: str, lease_seconds: float) -> Claim | None:
        """Lease the ticket with the oldest due delivery, and take all its pending deliveries."""
        now = self.clock()
        free = sa.or_(tickets.c.lease_until.is_(None), tickets.c.lease_until < now)
        with self._writing() as conn:
            candidate = conn.execute(
                sa.select(inbox.c.platform, inbox.c.ticket_ref)
                .join(tickets, sa.and_(tickets.c.platform == inbox.c.platform,
                                       tickets.c.ticket_ref == inbox.c.ticket_ref))
                .where(inbox.c.status == "pending", inbox.c.available_at <= now, free)
                .order_by(inbox.c.available_at, inbox.c.id)
                .limit(1)
            ).first()
            if candidate is None:
                return None
            platform, ref = candidate
            leased = conn.execute(
                tickets.update()
                .where(tickets.c.platform == platform, tickets.c.ticket_ref == ref, free)
                .values(lease_owner=owner, lease_until=now + lease_seconds)
            ).rowcount
            if not leased:  # another worker won the race; the caller simply asks again
                return None
            rows = conn.execute(
                sa.select(inbox.c.id, inbox.c.dedupe_key, inbox.c.kind, inbox.c.actor,
                          inbox.c.received_at, inbox.c.attempts)
                .where(inbox.c.platform == platform, inbox.c.ticket_ref == ref,
                       inbox.c.status == "pending")
                .order_by(inbox.c.id)
            ).all()
            if not rows:  # the worker that held it finished it while this one waited for
                # its row lock (PostgreSQL): nothing is left to do, let the ticket go
                self._release(conn, Claim(platform, ref, owner, ()))
                return None
        return Claim(platform, ref, owner, tuple(InboxEntry(*row) for row in rows))

    def renew(self, claim: Claim, lease_seconds: float) -> None:
        with self._writing() as conn:
            conn.execute(
                tickets.update()
                .where(tickets.c.platform == claim.platform,
                       tickets.c.ticket_ref == claim.ticket_ref,
                       tickets.c.lease_owner == claim.owner)
                .values(lease_until=self.clock() + lease_seconds)
            )

    def next_due(self) -> float | None:
        """When the earliest pending delivery becomes due (for an idle worker's sleep)."""
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.min(inbox.c.available_at)).where(inbox.c.status == "pending")
            ).scalar()

    def last_escalation(self, platform: str, ref: str) -> float | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(tickets.c.last_escalated_at)
                .where(tickets.c.platform == platform, tickets.c.ticket_ref == ref)
            ).scalar()

    def index(self, ticket: Ticket) -> None:
        """Remember what this ticket looks like now, for policies that look across tickets."""
        values = dict(subject=ticket.subject, tags=json.dumps(list(ticket.tags)),
                      form=ticket.form, requester_id=ticket.requester_id,
                      organization_id=ticket.organization_id,
                      created_at=ticket.created_at.timestamp(), status=ticket.status,
                      first_message=first_message(ticket),
                      custom_fields=json.dumps(short_fields(ticket)))
        statement = _insert(self.engine, ticket_index).values(
            platform=ticket.platform, ticket_ref=ticket.ref, **values)
        # A ticket read without its comments keeps the first message indexed before.
        kept = sa.func.coalesce(statement.excluded.first_message, ticket_index.c.first_message)
        with self._writing() as conn:
            conn.execute(statement.on_conflict_do_update(
                index_elements=["platform", "ticket_ref"], set_={**values, "first_message": kept}))

    def backfilled(self, platform: str, kind: str, ident: str, *, since: float,
                   within: float) -> bool:
        """Whether the helpdesk's tickets of this requester or organization created since
        ``since`` were copied into the index less than ``within`` seconds ago."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(backfills.c.since, backfills.c.fetched_at)
                .where(backfills.c.platform == platform, backfills.c.kind == kind,
                       backfills.c.ident == ident)
            ).first()
        return row is not None and row.since <= since and row.fetched_at > self.clock() - within

    def backfill(self, platform: str, kind: str, ident: str,
                 summaries: Iterable[TicketSummary], *, since: float) -> None:
        """Index the helpdesk's tickets of a requester or organization created since ``since``
        (as fresh as anything indexed, but a requester, organization or first message the search
        did not say is kept), and remember when, in one transaction."""
        rows = [dict(platform=s.platform, ticket_ref=s.ref, subject=s.subject,
                     tags=json.dumps(list(s.tags)), form=s.form, requester_id=s.requester_id,
                     organization_id=s.organization_id, created_at=s.created_at.timestamp(),
                     status=s.status, first_message=s.description[:FIRST_MESSAGE_CHARS] or None)
                for s in summaries]
        now = self.clock()
        with self._writing() as conn:
            if rows:
                statement = _insert(self.engine, ticket_index)
                kept = {name: sa.func.coalesce(statement.excluded[name], ticket_index.c[name])
                        for name in ("requester_id", "organization_id", "first_message")}
                conn.execute(statement.on_conflict_do_update(
                    index_elements=["platform", "ticket_ref"],
                    set_={**{name: statement.excluded[name] for name in rows[0]
                             if name not in ("platform", "ticket_ref")}, **kept}), rows)
            conn.execute(
                _insert(self.engine, backfills)
                .values(platform=platform, kind=kind, ident=ident, since=since, fetched_at=now)
                .on_conflict_do_update(index_elements=["platform", "kind", "ident"],
                                       set_={"since": since, "fetched_at": now}))

    def past_tickets(self, platform: str, *, since: float, until: float | None = None,
                     requester_id: str | None = None, organization_id: str | None = None,
                     limit: int) -> list[dict]:
        """Indexed tickets created from ``since`` to ``until`` (both included; ``None``: no end),
        newest first: the newest ``limit`` of the requester and the newest ``limit`` of the
        organization, or without either the newest ``limit`` of all. Each part reads its index
        backwards and stops at ``limit`` rows, however many tickets the history holds."""
        c = ticket_index.c

        def newest(*owner: sa.ColumnElement) -> sa.Select:
            query = sa.select(ticket_index).where(c.platform == platform, c.created_at >= since,
                                                  *owner)
            if until is not None:
                query = query.where(c.created_at <= until)
            return query.order_by(c.created_at.desc(), c.ticket_ref.desc()).limit(limit)

        parts = [newest(column == ident) for column, ident in
                 ((c.requester_id, requester_id), (c.organization_id, organization_id))
                 if ident is not None] or [newest()]
        # one index-ordered LIMIT per part: an OR of both would read and sort every match
        query = parts[0] if len(parts) == 1 else \
            sa.union_all(*(sa.select(part.subquery()) for part in parts))
        with self.engine.connect() as conn:
            rows = {row["ticket_ref"]: dict(row) for row in conn.execute(query).mappings()}
        return sorted(rows.values(), key=lambda row: (row["created_at"], row["ticket_ref"]),
                      reverse=True)

    def tickets_created(self, platform: str, start: float, end: float, *,
                        limit: int = CREATED_LIMIT) -> list[dict]:
        """Indexed tickets created from ``start`` to ``end``, both included (oldest first, at
        most ``limit``)."""
        query = (sa.select(ticket_index)
                 .where(ticket_index.c.platform == platform,
                        ticket_index.c.created_at.between(start, end))
                 .order_by(ticket_index.c.created_at, ticket_index.c.ticket_ref).limit(limit))
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def used_evidence(self, platform: str, ref: str) -> set[tuple[str, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(evidence.c.policy, evidence.c.evidence_key)
                .where(evidence.c.platform == platform, evidence.c.ticket_ref == ref)
            ).all()
        return {(policy, key) for policy, key in rows}

    def finish(
        self,
        claim: Claim,
        record: AuditRecord,
        *,
        used: Iterable[tuple[str, str, str]] = (),
        version: str | None = None,
        then_evaluate: Iterable[str] = (),
        next_due: float | None = None,
    ) -> int:
        """Close a claim in one transaction: audit, ledger, deliveries done, lease released,
        and a delivery for each ticket in ``then_evaluate`` (looked at again after this one)."""
        now = self.clock()
        with self._writing() as conn:
            audit_id = self._audit(conn, claim.platform, claim.ticket_ref, record, now)
            for policy, key, outcome in used:
                conn.execute(
                    _insert(self.engine, evidence)
                    .values(platform=claim.platform, ticket_ref=claim.ticket_ref, policy=policy,
                            evidence_key=key, outcome=outcome, recorded_at=now,
                            audit_id=audit_id)
                    .on_conflict_do_nothing()
                )
            conn.execute(
                inbox.update()
                .where(inbox.c.id.in_([e.id for e in claim.entries]))
                .values(status="done", processed_at=now, audit_id=audit_id)
            )
            for ref in then_evaluate:
                self._enqueue(conn, Delivery(claim.platform, f"after:{audit_id}:{ref}", ref,
                                             "reevaluate", "{}"), now, 0.0)
            escalated = now if record.outcome == "escalated" else None
            self._release(conn, claim, last_evaluated_at=now, last_version=version,
                          last_escalated_at=escalated)
            conn.execute(  # every evaluation sets the deadline afresh (or clears it)
                tickets.update()
                .where(tickets.c.platform == claim.platform,
                       tickets.c.ticket_ref == claim.ticket_ref)
                .values(next_due_at=next_due)
            )
        return audit_id

    def last_sweep(self, platform: str) -> float | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sweeps.c.swept_at)
                                .where(sweeps.c.platform == platform)).scalar()

    def record_sweep(self, platform: str, swept_at: float) -> None:
        with self._writing() as conn:
            conn.execute(_insert(self.engine, sweeps).values(platform=platform, swept_at=swept_at)
                         .on_conflict_do_update(index_elements=["platform"],
                                                set_={"swept_at": swept_at}))

    def with_rate_windows(self, account: str, change: Callable[[dict[str, Window], float], T]) -> T:
        """Run ``change(windows by name, now)`` on the rate-limit windows of one helpdesk
        ``account`` with no other worker in between (PostgreSQL: its rows locked; SQLite: the
        write lock), and keep the windows it adds or replaces."""
        with self._writing() as conn:
            rows = conn.execute(sa.select(rate_windows).where(rate_windows.c.account == account)
                                .with_for_update()).mappings().all()
            now = self.clock()  # once the rows are ours
            before = {row["name"]: Window(row["total"], row["remaining"], row["resets_at"],
                                          row["next_at"]) for row in rows}
            windows = dict(before)
            result = change(windows, now)
            for name, window in windows.items():
                if window != before.get(name):
                    values = {"total": window.limit, "remaining": window.remaining,
                              "resets_at": window.resets_at, "next_at": window.next_at,
                              "updated_at": now}
                    conn.execute(_insert(self.engine, rate_windows)
                                 .values(account=account, name=name, **values)
                                 .on_conflict_do_update(index_elements=["account", "name"],
                                                        set_=values))
        return result

    def unseen(self, platform: str, versions: Iterable[tuple[str, str]]) -> int:
        """Enqueue each ``(ticket, version)`` tierlift has not evaluated in that version (a
        missed webhook); returns how many."""
        versions = list(versions)
        now = self.clock()
        with self._writing() as conn:
            seen = dict(conn.execute(
                sa.select(tickets.c.ticket_ref, tickets.c.last_version)
                .where(tickets.c.platform == platform,
                       tickets.c.ticket_ref.in_([ref for ref, _ in versions]))
            ).all())
            return sum(self._enqueue(conn, Delivery(platform, f"sweep:{ref}:{version}", ref,
                                                    "sweep", "{}"), now, 0.0)
                       for ref, version in versions if seen.get(ref) != version)

    def next_deadline(self) -> float | None:
        """The earliest moment a ticket is due to be looked at again (for the scheduler)."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.min(tickets.c.next_due_at))).scalar()

    def fire_due(self, *, limit: int = 500) -> int:
        """Enqueue every ticket whose deadline has come, once per ticket per deadline: the
        delivery's key names the deadline, and the deadline is cleared in the same
        transaction. Returns how many were enqueued."""
        now = self.clock()
        with self._writing() as conn:
            due = conn.execute(
                sa.select(tickets.c.platform, tickets.c.ticket_ref, tickets.c.next_due_at)
                .where(tickets.c.next_due_at <= now)
                .order_by(tickets.c.next_due_at).limit(limit)
            ).all()
            enqueued = 0
            for platform, ref, at in due:
                enqueued += self._enqueue(conn, Delivery(platform, f"deadline:{ref}:{at:.3f}",
                                                         ref, "deadline", "{}"), now, 0.0)
                conn.execute(
                    tickets.update()
                    .where(tickets.c.platform == platform, tickets.c.ticket_ref == ref,
                           tickets.c.next_due_at == at)
                    .values(next_due_at=None)
                )
        return enqueued

    def retry_later(self, claim: Claim, record: AuditRecord, *, delay: float,
                    max_attempts: int) -> int:
        """Put the claim's deliveries back for a later attempt; give up after ``max_attempts``."""
        now = self.clock()
        ids = [e.id for e in claim.entries]
        with self._writing() as conn:
            audit_id = self._audit(conn, claim.platform, claim.ticket_ref, record, now)
            conn.execute(
                inbox.update().where(inbox.c.id.in_(ids))
                .values(attempts=inbox.c.attempts + 1, available_at=now + delay,
                        audit_id=audit_id)
            )
            conn.execute(
                inbox.update().where(inbox.c.id.in_(ids), inbox.c.attempts >= max_attempts)
                .values(status="failed", processed_at=now)
            )
            self._release(conn, claim)
        return audit_id

    def _release(self, conn: sa.Connection, claim: Claim, **values: Any) -> None:
        conn.execute(
            tickets.update()
            .where(tickets.c.platform == claim.platform, tickets.c.ticket_ref == claim.ticket_ref,
                   tickets.c.lease_owner == claim.owner)
            .values(lease_owner=None, lease_until=None,
                    **{k: v for k, v in values.items() if v is not None})
        )

    def _audit(self, conn: sa.Connection, platform: str, ref: str, record: AuditRecord,
               now: float) -> int:
        return conn.execute(
            audit.insert().values(
                at=now, platform=platform, ticket_ref=ref, outcome=record.outcome,
                from_tier=record.from_tier, to_tier=record.to_tier, route=record.route,
                priority=record.priority,
                duration_ms=record.duration_ms, detail=json.dumps(record.detail, default=str),
            )
        ).inserted_primary_key[0]

    # -- reading back -----------------------------------------------------------------------

    def audit_log(self, *, ticket_ref: str | None = None, platform: str | None = None,
                  since: float | None = None, limit: int | None = 100) -> list[dict]:
        """The latest ``limit`` audit entries (``None``: all), oldest first."""
        query = sa.select(audit).order_by(audit.c.id.desc()).limit(limit)
        if ticket_ref is not None:
            query = query.where(audit.c.ticket_ref == ticket_ref)
        if platform is not None:
            query = query.where(audit.c.platform == platform)
        if since is not None:
            query = query.where(audit.c.at >= since)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [{**row, "detail": json.loads(row["detail"])} for row in reversed(rows)]

    def inbox_counts(self, *, since: float | None = None) -> dict[str, int]:
        query = sa.select(inbox.c.status, sa.func.count()).group_by(inbox.c.status)
        if since is not None:
            query = query.where(inbox.c.received_at >= since)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return {status: count for status, count in rows}

    def inbox_summary(self) -> dict[str, InboxState]:
        """Per platform: pending deliveries, when the oldest was received, failed ones (one
        grouped query on the status index)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(inbox.c.platform, inbox.c.status, sa.func.count(),
                          sa.func.min(inbox.c.received_at))
                .where(inbox.c.status.in_(("pending", "failed")))
                .group_by(inbox.c.platform, inbox.c.status)
            ).all()
        summary: dict[str, InboxState] = {}
        for platform, status, count, oldest in rows:
            state = summary.get(platform, InboxState())
            if status == "pending":
                state = InboxState(count, oldest, state.failed)
            else:
                state = InboxState(state.pending, state.oldest_pending, count)
            summary[platform] = state
        return summary

    # -- notifications ----------------------------------------------------------------------

    def claim_notification(self, platform: str, ref: str, kind: str, event_key: str,
                           notifier: str, description: str) -> bool:
        """Take the right to send one notification; ``False`` if it was taken before (by this
        or any other worker), in which case it must not be sent."""
        with self._writing() as conn:
            return conn.execute(
                _insert(self.engine, notifications)
                .values(platform=platform, ticket_ref=ref, kind=kind, event_key=event_key,
                        notifier=notifier, description=description, status="sending",
                        at=self.clock())
                .on_conflict_do_nothing()
                .returning(notifications.c.status)
            ).first() is not None

    def notification_done(self, platform: str, ref: str, kind: str, event_key: str,
                          notifier: str, *, error: str | None = None) -> None:
        with self._writing() as conn:
            conn.execute(
                notifications.update()
                .where(notifications.c.platform == platform,
                       notifications.c.ticket_ref == ref, notifications.c.kind == kind,
                       notifications.c.event_key == event_key,
                       notifications.c.notifier == notifier)
                .values(status="failed" if error else "sent", error=error, at=self.clock()))

    def notification_log(self, *, ticket_ref: str | None = None) -> list[dict]:
        query = sa.select(notifications).order_by(notifications.c.at)
        if ticket_ref is not None:
            query = query.where(notifications.c.ticket_ref == ticket_ref)
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def holds_tierlift(self) -> bool:
        """Whether the database has tierlift's tables (a report on a wrong URL says so)."""
        return sa.inspect(self.engine).has_table("audit")

    def inbox_entries(self, *, platform: str | None = None, ticket_ref: str | None = None,
                      kind: str | None = None, since: float | None = None) -> list[dict]:
        """Deliveries as stored (payload left out), oldest first."""
        query = (sa.select(*(c for c in inbox.c if c.name != "payload"))
                 .order_by(inbox.c.id))
        for column, value in ((inbox.c.platform, platform), (inbox.c.ticket_ref, ticket_ref),
                              (inbox.c.kind, kind)):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(inbox.c.received_at >= since)
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def indexed(self, *, platform: str | None = None,
                ticket_ref: str | None = None) -> list[dict]:
        """Rows of the ticket index: what tierlift last saw of each ticket."""
        query = sa.select(ticket_index).order_by(ticket_index.c.platform,
                                                 ticket_index.c.ticket_ref)
        if platform is not None:
            query = query.where(ticket_index.c.platform == platform)
        if ticket_ref is not None:
            query = query.where(ticket_index.c.ticket_ref == ticket_ref)
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def overdue_deadlines(self, before: float) -> int:
        """Tickets whose deadline passed before ``before`` and was not taken up yet."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(tickets)
                                .where(tickets.c.next_due_at < before)).scalar()

    # -- retention --------------------------------------------------------------------------

    def prune(self, retention: Retention, *, dry_run: bool = False,
              batch: int = 1000) -> dict[str, int]:
        """Delete what ``retention`` no longer keeps, ``batch`` rows per transaction (a short
        write lock each, never one long one); returns per table the rows deleted (``dry_run``:
        that would be), and under ``inbox.payload`` the payloads emptied. The rule, with
        ``now`` the store's clock:

        - inbox: a pending delivery (due, claimed or waiting to retry) is never touched. A done
          or failed one loses its payload ``days`` after it was processed, and its row, the
          dedupe key, goes after ``max(days, 72 h)``: a helpdesk's late retry (Zendesk retries
          for up to 48 h) is still a duplicate.
        - audit: entries older than ``days``, except the newest entry (SQLite would give its id
          again, and the evidence ledger and re-evaluation keys name audit ids).
        - notifications: older than ``days``; the event cannot come again, as its evidence is
          in the ledger (a ``write_failed`` may, and is sent again).
        - ticket_index: tickets created more than ``max(days, history_days)`` ago, which no
          policy reads for a new ticket (an older ticket is indexed again when evaluated).
        - backfills: once index rows went, every search record vouching for tickets created
          before that cutoff: the next evaluation asks the helpdesk again.
        - kept for good: tickets (lease, deadline, last escalation for the cooldown, version
          seen for the sweep), evidence (a used piece of evidence never escalates again, however
          late the ticket comes back) and sweeps; no ticket text, a few dozen bytes a ticket.
        """
        counts = dict.fromkeys(("inbox", "inbox.payload", "audit", "notifications",
                                "ticket_index", "backfills"), 0)
        if not retention.days:
            return counts
        now = self.clock()
        text_cut = now - retention.days * DAY
        key_cut = min(text_cut, now - DEDUPE_SECONDS)
        index_cut = now - max(retention.days, retention.history_days) * DAY
        finished = inbox.c.status.in_(("done", "failed"))
        with self.engine.connect() as conn:
            newest = conn.execute(sa.select(sa.func.max(audit.c.id))).scalar()
            platforms = conn.execute(sa.select(ticket_index.c.platform).distinct()).scalars().all()

        def step(table: sa.Table, *where: Any, **values: Any) -> int:
            return self._prune(table, where, values, dry_run=dry_run, batch=batch)

        counts["inbox"] = step(inbox, finished, inbox.c.processed_at < key_cut)
        counts["inbox.payload"] = step(inbox, finished, inbox.c.processed_at < text_cut,
                                       inbox.c.processed_at >= key_cut, inbox.c.payload != "",
                                       payload="")
        if newest is not None:
            counts["audit"] = step(audit, audit.c.at < text_cut, audit.c.id < newest)
        counts["notifications"] = step(notifications, notifications.c.at < text_cut)
        counts["ticket_index"] = sum(step(ticket_index, ticket_index.c.platform == platform,
                                          ticket_index.c.created_at < index_cut)
                                     for platform in platforms)
        if counts["ticket_index"]:
            counts["backfills"] = step(backfills, backfills.c.since < index_cut)
        return counts

    def _prune(self, table: sa.Table, where: tuple, values: dict[str, Any], *, dry_run: bool,
               batch: int) -> int:
        """Delete (with ``values``: update) the rows of ``table`` matching ``where``, ``batch``
        per transaction; with ``dry_run``, only count them."""
        if dry_run:
            with self.engine.connect() as conn:
                return conn.execute(sa.select(sa.func.count()).select_from(table)
                                    .where(*where)).scalar()
        key = table.primary_key.columns.values()
        chosen = sa.select(*key).where(*where).limit(batch)
        picked = (key[0] if len(key) == 1 else sa.tuple_(*key)).in_(chosen)
        statement = table.update().values(**values) if values else table.delete()
        total = 0
        while True:
            with self._writing() as conn:
                done = conn.execute(statement.where(picked)).rowcount
            total += done
            if done < batch:
                return total



def _sqlite_on_connect(dbapi_connection, _record) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE for writes: a deferred transaction
    # that reads then writes can fail with SQLITE_BUSY under concurrent writers instead of
    # waiting.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged delivery survives power loss
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    write = conn.get_execution_options().get("tierlift_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class StoreHistory:
    """The store's ticket index as a policy's ``ctx.history`` (see plugins.history)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def related(self, platform: str, *, requester_id: str | None,
                organization_id: str | None, since: datetime,
                until: datetime | None = None) -> list[PastTicket]:
        if requester_id is None and organization_id is None:
            return []
        return [_past(row) for row in self._store.past_tickets(
            platform, since=since.timestamp(),
            until=None if until is None else until.timestamp(),
            requester_id=requester_id, organization_id=organization_id, limit=RELATED_LIMIT)]

    def recent(self, platform: str, *, since: datetime) -> list[PastTicket]:
        return [_past(row) for row in self._store.past_tickets(
            platform, since=since.timestamp(), limit=RECENT_LIMIT)]

    def created_between(self, platform: str, start: datetime, end: datetime) -> list[PastTicket]:
        return [_past(row) for row in self._store.tickets_created(platform, start.timestamp(),
                                                                  end.timestamp())]


def _past(row: dict) -> PastTicket:
    return PastTicket(platform=row["platform"], ref=row["ticket_ref"], subject=row["subject"],
                      tags=tuple(json.loads(row["tags"])), form=row["form"],
                      requester_id=row["requester_id"], organization_id=row["organization_id"],
                      created_at=datetime.fromtimestamp(row["created_at"], UTC),
                      status=row["status"], first_message=row["first_message"],
                      fields={k: tuple(v) for k, v in
                              json.loads(row["custom_fields"] or "{}").items()})
