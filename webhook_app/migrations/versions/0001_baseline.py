"""Baseline: the schema of the first version with migrations.

Creates every table and index a database lacks. On a database of a tierlift before migrations
(an ``inbox`` table, no ``alembic_version``) that is what its version's ``create_all`` and ALTER
stopgap would have added: later tables, the nullable columns ``ticket_index.first_message`` and
``custom_fields``, ``inbox.body_hash`` with the unique ``uq_inbox_body``, and the indexes
``ix_inbox_processed`` and ``ix_audit_at``; its rows stay. The tables are frozen here as they
were at this revision, whatever ``store.metadata`` becomes.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

baseline = sa.MetaData()

sa.Table(
    "inbox", baseline,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("platform", sa.String(16), nullable=False),
    sa.Column("dedupe_key", sa.String(255), nullable=False),
    sa.Column("ticket_ref", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(128), nullable=False),
    sa.Column("actor", sa.String(255)),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("available_at", sa.Float, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("processed_at", sa.Float),
    sa.Column("audit_id", sa.Integer),
    sa.Column("body_hash", sa.String(64)),
    sa.UniqueConstraint("platform", "dedupe_key", name="uq_inbox_dedupe"),
    sa.UniqueConstraint("platform", "body_hash", name="uq_inbox_body"),
    sa.Index("ix_inbox_pending", "status", "available_at"),
    sa.Index("ix_inbox_ticket", "platform", "ticket_ref", "status"),
    sa.Index("ix_inbox_processed", "processed_at"),
)
sa.Table(
    "tickets", baseline,
    sa.Column("platform", sa.String(16), primary_key=True),
    sa.Column("ticket_ref", sa.String(64), primary_key=True),
    sa.Column("lease_owner", sa.String(128)),
    sa.Column("lease_until", sa.Float),
    sa.Column("last_evaluated_at", sa.Float),
    sa.Column("last_version", sa.String(64)),
    sa.Column("last_escalated_at", sa.Float),
    sa.Column("next_due_at", sa.Float),
    sa.Index("ix_tickets_due", "next_due_at"),
)
sa.Table(
    "sweeps", baseline,
    sa.Column("platform", sa.String(16), primary_key=True),
    sa.Column("swept_at", sa.Float, nullable=False),
)
sa.Table(
    "ticket_index", baseline,
    sa.Column("platform", sa.String(16), primary_key=True),
    sa.Column("ticket_ref", sa.String(64), primary_key=True),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("form", sa.String(64)),
    sa.Column("requester_id", sa.String(255)),
    sa.Column("organization_id", sa.String(255)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("status", sa.String(64), nullable=False),
    sa.Column("first_message", sa.Text),
    sa.Column("custom_fields", sa.Text),
    sa.Index("ix_index_requester", "platform", "requester_id", "created_at"),
    sa.Index("ix_index_organization", "platform", "organization_id", "created_at"),
    sa.Index("ix_index_created", "platform", "created_at"),
)
sa.Table(
    "backfills", baseline,
    sa.Column("platform", sa.String(16), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("ident", sa.String(255), primary_key=True),
    sa.Column("since", sa.Float, nullable=False),
    sa.Column("fetched_at", sa.Float, nullable=False),
)
sa.Table(
    "evidence", baseline,
    sa.Column("platform", sa.String(16), primary_key=True),
    sa.Column("ticket_ref", sa.String(64), primary_key=True),
    sa.Column("policy", sa.String(64), primary_key=True),
    sa.Column("evidence_key", sa.String(255), primary_key=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("recorded_at", sa.Float, nullable=False),
    sa.Column("audit_id", sa.Integer),
)
sa.Table(
    "audit", baseline,
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
    sa.Index("ix_audit_at", "at"),
)
sa.Table(
    "probes", baseline,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("at", sa.Float, nullable=False),
)
sa.Table(
    "notifications", baseline,
    sa.Column("platform", sa.String(16), primary_key=True),
    sa.Column("ticket_ref", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("event_key", sa.String(64), primary_key=True),
    sa.Column("notifier", sa.String(64), primary_key=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("at", sa.Float, nullable=False),
)


def upgrade() -> None:
    bind = op.get_bind()
    for table in baseline.sorted_tables:
        if not sa.inspect(bind).has_table(table.name):
            table.create(bind)
            continue
        present = {c["name"] for c in sa.inspect(bind).get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                op.add_column(table.name, sa.Column(column.name, column.type,
                                                    nullable=column.nullable))
        for unique in table.constraints:
            if isinstance(unique, sa.UniqueConstraint):
                _unique(bind, table.name, unique)
        indexes = {i["name"] for i in sa.inspect(bind).get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in indexes:
                index.create(bind)


def _unique(bind: sa.Connection, table: str, unique: sa.UniqueConstraint) -> None:
    """A missing unique constraint; the stopgap made uq_inbox_body a unique index instead."""
    inspector = sa.inspect(bind)
    if unique.name in {u["name"] for u in inspector.get_unique_constraints(table)}:
        return
    columns = [c.name for c in unique.columns]
    as_index = unique.name in {i["name"] for i in inspector.get_indexes(table)}
    if bind.dialect.name == "postgresql" and as_index:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {unique.name} UNIQUE USING INDEX "
                   f"{unique.name}")
        return
    # SQLite adds a constraint only by rebuilding the table (a copy of its rows).
    with op.batch_alter_table(table, recreate="auto") as batch:
        if as_index:
            batch.drop_index(unique.name)
        batch.create_unique_constraint(unique.name, columns)


def downgrade() -> None:
    for table in reversed(baseline.sorted_tables):
        op.drop_table(table.name)
