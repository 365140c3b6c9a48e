"""Shared fixtures: recorded platform traffic (tests/fixtures), settings, store, signing."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from webhook_app.settings import Settings, ZendeskSettings
from webhook_app.signatures import ZENDESK_SIGNATURE, ZENDESK_TIMESTAMP, zendesk_signature
from webhook_app.store import Store, metadata

POSTGRES = os.environ.get("TIERLIFT_TEST_POSTGRES",
                          "postgresql+psycopg://postgres@127.0.0.1/test")
FIXTURES = Path(__file__).resolve().parent / "fixtures"
ZENDESK_URL = "https://acme.zendesk.com"
SECRET = "test-signing-secret"
TIER_GROUPS = {"L1": 101, "L2": 102, "L3": 103}


def recorded(name: str) -> dict:
    """A recorded request/response pair from tests/fixtures (``zendesk-api/ticket-show``)."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


@contextmanager
def postgres_store(*, clock: Callable[[], float] = time.time,
                   prefix: str = "tierlift") -> Iterator[Store]:
    """A store on the machine's PostgreSQL in a schema of its own (chosen by search_path, as a
    deployment would), its tables created and dropped after; skips the test where no PostgreSQL
    answers."""
    pytest.importorskip("psycopg")
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.skip(f"no PostgreSQL at {POSTGRES}: {exc.orig}")
    store = Store(POSTGRES, clock=clock)
    store.engine.dispose()
    store.engine = sa.create_engine(POSTGRES,
                                    connect_args={"options": f"-csearch_path={schema}"})
    try:
        metadata.create_all(store.engine)
        yield store
    finally:
        store.close()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def sign(body: bytes, *, secret: str = SECRET, at: datetime | None = None) -> dict[str, str]:
    """Headers of a Zendesk delivery signed with ``secret`` at ``at`` (default: now)."""
    timestamp = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "Content-Type": "application/json",
        ZENDESK_TIMESTAMP: timestamp,
        ZENDESK_SIGNATURE: zendesk_signature(secret, timestamp, body),
    }


def make_settings(tmp_path: Path, **overrides) -> Settings:
    values = {
        "database_url": f"sqlite:///{tmp_path / 'tierlift.db'}",
        "zendesk": ZendeskSettings(base_url=ZENDESK_URL, email="bot@acme.example",
                                   api_token="token", webhook_secret=SECRET,
                                   tier_groups=TIER_GROUPS),
        "policies": {"customer_request": {"enabled": True}},
        "worker": {"coalesce_seconds": 0.0},
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch):
    """Tests never read the developer's own TIERLIFT_* environment."""
    for name in list(os.environ):
        if name.startswith("TIERLIFT_"):
            monkeypatch.delenv(name)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def store(settings) -> Store:
    store = Store(settings.database_url)
    store.create_schema()
    yield store
    store.close()


@pytest.fixture
def zendesk():
    """The loopback Zendesk emulator, serving a small support team (see ``emulated.team``)."""
    from emulated import served, team

    emulator = team()
    with served(emulator):
        yield emulator
