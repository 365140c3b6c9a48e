"""History reads stay bounded: ``related`` answers a large organization's newest tickets, capped,
without hiding the requester's own, by reading each owner's index backwards (SQLite and
PostgreSQL), and the backtest's in-memory history answers the same."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from builders import T0
from conftest import postgres_store

from connector.ticket import TicketSummary
from plugins.history import RECENT_LIMIT, RELATED_LIMIT, MemoryHistory, PastTicket
from webhook_app.store import Store, StoreHistory


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request, tmp_path):
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'history.db'}")
        store.create_schema()
        yield store
        store.close()
    else:
        with postgres_store() as store:
            yield store


def summary(ref: str, minute: float, requester: str, organization: str | None = "big", *,
            platform: str = "zendesk") -> TicketSummary:
    return TicketSummary(platform, ref, f"Subject {ref}", f"First message of {ref}", (), None,
                         requester, organization, T0 + timedelta(minutes=minute), "open")


# 520 tickets of a large organization, one a minute from T0 (two at minute 270: the cap falls
# between them), three older ones of the requester evaluated, and tickets the window leaves out.
LARGE = [summary(f"o{n:03}", n, f"colleague{n % 7}") for n in range(520)]
HISTORY = [*LARGE, summary("o270a", 270, "colleague9"),
           *(summary(f"mine{n}", -n, "me") for n in (1, 2, 3)),
           summary("too-old", -120, "me"), summary("too-new", 600, "me"),
           summary("elsewhere", 10, "me", platform="jira")]
SINCE, UNTIL = T0 - timedelta(hours=1), T0 + timedelta(minutes=549)


def fill(store: Store) -> None:
    for platform in ("zendesk", "jira"):
        store.backfill(platform, "organization", "big",
                       [s for s in HISTORY if s.platform == platform], since=0)


def as_past(s: TicketSummary) -> PastTicket:
    return PastTicket(s.platform, s.ref, s.subject, s.tags, s.form, s.requester_id,
                      s.organization_id, s.created_at, s.status, s.description)


def test_a_large_organization_answers_its_newest_tickets_capped_and_the_requesters_own(
        any_store):
    fill(any_store)
    found = StoreHistory(any_store).related("zendesk", requester_id="me", organization_id="big",
                                            since=SINCE, until=UNTIL)
    # the organization's newest 250: minutes 519 down to 270, where o270a outranks o270 (the
    # ref breaks the tie), then the requester's own, which the organization's would crowd out
    newest = [f"o{n:03}" for n in range(519, 270, -1)]
    assert len(newest) + 1 == RELATED_LIMIT
    assert [p.ref for p in found] == [*newest, "o270a", "mine1", "mine2", "mine3"]
    assert found[0].first_message == "First message of o519"
    memory = MemoryHistory(as_past(s) for s in HISTORY)
    assert [p.ref for p in memory.related("zendesk", requester_id="me", organization_id="big",
                                          since=SINCE, until=UNTIL)] == [p.ref for p in found]


def test_related_ends_at_until_and_recent_is_capped(any_store):
    fill(any_store)
    history, memory = StoreHistory(any_store), MemoryHistory(as_past(s) for s in HISTORY)
    for view in (history, memory):
        by_then = view.related("zendesk", requester_id=None, organization_id="big",
                               since=SINCE, until=T0 + timedelta(minutes=100))
        assert [p.ref for p in by_then] == [*(f"o{n:03}" for n in range(100, -1, -1)),
                                            "mine1", "mine2", "mine3"]
        everything = view.related("zendesk", requester_id="me", organization_id=None,
                                  since=SINCE)
        assert [p.ref for p in everything] == ["too-new", "mine1", "mine2", "mine3"]
        recent = view.recent("zendesk", since=SINCE)
        assert len(recent) == RECENT_LIMIT and recent[0].ref == "too-new"


def related_statement(store: Store) -> tuple[str, object]:
    """The one statement (and its parameters) ``related`` sends for "me" of "big"."""
    statements = []
    sa.event.listen(store.engine, "before_cursor_execute",
                    lambda conn, cursor, sql, params, *_: "ticket_index" in sql
                    and statements.append((sql, params)))
    StoreHistory(store).related("zendesk", requester_id="me", organization_id="big",
                                since=SINCE, until=UNTIL)
    [(sql, params)] = statements
    return sql, params


def test_related_reads_each_owners_index_backwards_on_sqlite(store):
    """An OR of requester and organization would search ix_index_created and filter the whole
    window (or read every match and sort it): the cost would grow with the history."""
    fill(store)
    sql, params = related_statement(store)
    with store.engine.connect() as conn:
        plan = [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)]
    searches = [line for line in plan if line.startswith(("SEARCH", "SCAN ticket_index"))]
    assert [s.split(" (")[0] for s in searches] == [
        "SEARCH ticket_index USING INDEX ix_index_requester",
        "SEARCH ticket_index USING INDEX ix_index_organization"]
    assert "USE TEMP B-TREE FOR ORDER BY" not in plan  # only ties on created_at are sorted


def test_related_reads_each_owner_apart_and_capped_on_postgresql():
    """Each part a LIMIT of its own, never one OR (a BitmapOr reads every match, then sorts)."""
    with postgres_store() as store:
        fill(store)
        sql, params = related_statement(store)
        with store.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE ticket_index")
            plan = [row[0].strip() for row in conn.exec_driver_sql(f"EXPLAIN {sql}", params)]
    assert plan[0].startswith("Append")
    assert sum(line.startswith("->  Limit") for line in plan) == 2
    assert not any("BitmapOr" in line for line in plan)
