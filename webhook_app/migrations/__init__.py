"""Schema migrations (Alembic), run from code: no alembic.ini.

Every change to the store's schema from the baseline on is a revision in ``versions/``, applied
in order on SQLite and PostgreSQL by :func:`upgrade` (``Store.create_schema``: at every start,
and ``tierlift migrate``). The baseline creates what a database lacks, so it also brings one of
a tierlift before migrations (its tables, no ``alembic_version``) to the baseline, keeping its
rows. A schema change is a new revision: ``alembic.command.revision(config(connection), "...",
autogenerate=True)`` on a database at head drafts it from ``store.metadata``, to be reviewed
(tests/test_migrations.py asserts no difference is left). SQLite ALTERs run in batch mode.

One process migrates at a time: on PostgreSQL under a transaction-scoped advisory lock, on
SQLite under the write lock of its transaction (BEGIN IMMEDIATE); a second process starting at
once waits, then finds the database at head.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

# pg_advisory_xact_lock's key: "tierlift" in ASCII.
LOCK_KEY = int.from_bytes(b"tierlift", "big")
# Alembic's ``context`` and ``op`` are process-wide: one upgrade at a time per process too.
_IN_PROCESS = threading.Lock()


def _not_per_connection(record: logging.LogRecord) -> bool:
    """Alembic's two lines for every migration context, at every start, are left out of the
    log (its "Running upgrade ..." lines stay): a refused start is its one line alone."""
    return record.msg not in ("Context impl %s.", "Will assume %s DDL.")


logging.getLogger("alembic.runtime.migration").addFilter(_not_per_connection)


@dataclass(frozen=True)
class Migration:
    """What :func:`upgrade` found and left: revisions (``None``: no ``alembic_version``)."""

    before: str | None
    after: str
    legacy: bool = False  # a tierlift schema from before migrations was there


class UnknownRevision(Exception):
    """The database is at a revision this version does not have: a newer tierlift migrated it."""


def config(connection: sa.Connection | None = None) -> Config:
    """Alembic's configuration for the package's scripts, on ``connection``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    return ScriptDirectory.from_config(config()).get_current_head()


def current(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: sa.Connection) -> Migration:
    """Bring the database to head inside ``connection``'s transaction (the caller commits;
    on SQLite it must be a write transaction)."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    before = current(connection)
    if before is not None:
        try:
            ScriptDirectory.from_config(config()).get_revision(before)
        except CommandError:
            raise UnknownRevision(
                f"the store is at schema revision {before}, which this tierlift ({head()}) does "
                "not know: a newer version migrated it; run that version") from None
    legacy = before is None and sa.inspect(connection).has_table("inbox")
    with _IN_PROCESS:
        command.upgrade(config(connection), "head")
    return Migration(before, current(connection), legacy)
