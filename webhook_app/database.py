"""The store's URL: its shape checked without connecting, and a short connection test.

Every text returned here names no password: an admin's terminal and logs see the reason, never
the credentials in ``database_url``.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

EXAMPLES = "sqlite:///path/to/tierlift.db or postgresql+psycopg://user:password@host/dbname"


def url_problem(url: str) -> str | None:
    """What makes ``url`` unusable as the store's URL, read without connecting: not a URL, a
    port that is no port, a database or driver SQLAlchemy does not know, a driver that is not
    installed. ``None`` when it is fine."""
    try:
        parsed = make_url(url)
        port = parsed.port
    except ArgumentError:
        return f"not a database URL; write it as {EXAMPLES}"
    except ValueError:
        return "the port is not a number"
    if port is not None and not 0 < port < 65536:
        return "the port must be from 1 to 65535"
    if parsed.get_backend_name() == "postgres":
        return "SQLAlchemy does not know postgres://; write postgresql:// (or postgresql+psycopg://)"
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        return f"SQLAlchemy does not know {parsed.drivername}://; write it as {EXAMPLES}"
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        return f"the driver of {parsed.drivername}:// is not installed ({exc})"
    return None


def check_database(url: str, timeout: float = 5.0) -> str | None:
    """Whether the store at ``url`` can be reached: the reason it cannot, or ``None``. A server
    is connected to (waiting ``timeout`` seconds at most); a SQLite file is never created, only
    its directory looked for and, when the file exists, the file opened read-only."""
    problem = url_problem(url)
    if problem:
        return problem
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_problem(parsed, timeout)
    connect_args = {}
    if parsed.get_driver_name() in ("psycopg", "psycopg2") and \
            "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = max(2, round(timeout))  # libpq's minimum is 2 s
    engine = sa.create_engine(parsed, connect_args=connect_args, poolclass=sa.pool.NullPool)
    try:
        with engine.connect():
            return None
    except sa.exc.SQLAlchemyError as exc:
        return f"cannot connect: {failure(exc, parsed)}"
    finally:
        engine.dispose()


def _sqlite_problem(url: URL, timeout: float) -> str | None:
    if not url.database or url.database == ":memory:" or url.query.get("uri"):
        return None
    path = Path(url.database).absolute()
    if not path.parent.is_dir():
        return f"directory {path.parent} does not exist"
    if not path.exists():
        return None  # tierlift creates it at start
    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True,
                                     timeout=timeout)) as conn:
            conn.execute("PRAGMA schema_version")
    except sqlite3.Error as exc:
        return f"cannot open {path}: {exc}"
    return None


def failure(exc: BaseException, url: URL | None = None) -> str:
    """A database error as one line: the driver's own message (not SQLAlchemy's statement,
    parameters and link), its lines joined, ``url``'s password (if any) masked."""
    text = " ".join(line.strip() for line in str(getattr(exc, "orig", None) or exc).splitlines()
                    if line.strip())
    if url is not None and url.password:
        text = text.replace(str(url.password), "***")
    return text
