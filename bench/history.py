"""History reads: what one evaluation's history calls cost as the ticket index grows to 1 M tickets.

Fills a store's ticket index (a SQLite file, then PostgreSQL in a schema of its own, dropped
after) with tickets arriving at a steady 11,111 a day, so that 1 M tickets are the 90 days the
default retention keeps. Organizations have Zipf-skewed sizes (exponent 1.1 over 30,000): at
1 M tickets the largest holds about 120,000, ten hold more than 10,000, most a handful; 15 % of
tickets have none. The rows go in with one executemany (SQLite) or COPY (PostgreSQL, then
ANALYZE as autovacuum would) per 100,000, and the history grows back in time: each size adds
older tickets to the same store, so the last hour (what incident reads) is the same at every size.

Probes, the same at every size, are among the newest tickets: from the two largest
organizations (which hold more than the 250 ``related`` answers even at 1 k, so their reads are
capped from the start), from small organizations and from requesters without one. Each probe
evaluation makes the history calls of the worker with the standard preset: ``Store.backfilled``
for the requester and the organization, ``related`` over the 30 days before the ticket
(repeat_issue), ``created_between`` 30 minutes either side (incident), and ``related`` over the
last 90 days (the handoff note of a write).

The reference is a second store holding the 1 k-ticket history, measured in the same rounds,
alternating with the grown store: the ratio is the cost per evaluation at N tickets / at 1 k.
Each probe's best round is kept (as timeit does). ``Store.index`` (the write side: a new ticket
indexed, in its own transaction) is timed the same way (median).

    .venv/bin/python bench/history.py [--sizes 1000,10000,100000,1000000] [--stores sqlite,postgres]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from connector.ticket import Ticket
from webhook_app.store import Store, StoreHistory, metadata, ticket_index

POSTGRES = os.environ.get("TIERLIFT_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1/test")
PLATFORM = "zendesk"
END = datetime(2026, 6, 1, tzinfo=UTC).timestamp()  # the newest moment in the history
RATE = 1_000_000 / (90 * 86400)  # tickets a second
ORGANIZATIONS = 30_000
ZIPF = 1.1
NO_ORGANIZATION = 0.15
REQUESTERS = 200_000
REFERENCE = 1000
BATCH = 100_000
WINDOWS = {"repeat_issue": timedelta(days=30), "incident": timedelta(minutes=30),
           "note": timedelta(days=90)}
COLUMNS = ("platform", "ticket_ref", "subject", "tags", "form", "requester_id",
           "organization_id", "created_at", "status", "first_message", "custom_fields")
VOCABULARY = (
    "login password export invoice dashboard report sync email notification payment refund "
    "billing account user admin error crash slow timeout page blank loading mobile app ios "
    "android browser chrome api webhook integration csv import upload file attachment search "
    "filter calendar booking order shipping delivery address tax vat plan upgrade downgrade "
    "cancel subscription trial license seat permission role sso saml mfa token expired "
    "workflow automation schedule backup restore data missing duplicate wrong total"
)


@dataclass(frozen=True)
class Probe:
    kind: str
    ref: str
    requester_id: str
    organization_id: str | None
    created_at: float


class Texts:
    """Subjects, first messages, tags, forms and fields drawn from fixed pools (fast to build)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        words = VOCABULARY.split()
        self.subjects = [" ".join(rng.sample(words, rng.randint(3, 8))).capitalize()
                         for _ in range(2000)]
        self.messages = [" ".join(rng.choices(words, k=rng.randint(15, 140)))
                         for _ in range(2000)]
        self.tags = ['[]', '["billing"]', '["vip"]', '["mobile", "ios"]', '["api"]']
        self.fields = ['{}', '{"product": ["billing"]}', '{"product": ["dashboard"]}',
                       '{"severity": ["high"], "product": ["api"]}']

    def row(self, ref: str, requester: str, organization: str | None, at: float) -> tuple:
        rng = self.rng
        return (PLATFORM, ref, rng.choice(self.subjects), rng.choice(self.tags),
                rng.choice(("1", "2", "3", None)), requester, organization, at,
                rng.choice(("new", "open", "pending", "solved")), rng.choice(self.messages),
                rng.choice(self.fields))


def foreground(texts: Texts) -> tuple[list[tuple], list[Probe]]:
    """The probes and their own earlier tickets: the same at every size."""
    rng, rows, probes = texts.rng, [], []

    def earlier() -> float:
        return END - rng.uniform(900, 29 * 86400)

    for n in range(560):  # the two largest organizations, 28 requesters each: capped already
        rows.append(texts.row(f"f-large-{n}", f"large-r{n % 56}", f"o{n % 2}", earlier()))
    for n in range(8):
        for m in range(4):
            rows.append(texts.row(f"f-small-{n}-{m}", f"small{n}-r{m % 2}", f"small{n}",
                                  earlier()))
        for m in range(3):
            rows.append(texts.row(f"f-solo-{n}-{m}", f"solo{n}", None, earlier()))
    for n in range(8):
        for kind, requester, organization in (("large organization", f"large-r{n}", f"o{n % 2}"),
                                              ("small organization", f"small{n}-r0", f"small{n}"),
                                              ("no organization", f"solo{n}", None)):
            probe = Probe(kind, f"p-{kind[:5]}-{n}", requester, organization,
                          END - rng.uniform(0, 900))
            probes.append(probe)
            rows.append(texts.row(probe.ref, requester, organization, probe.created_at))
    return rows, probes


def background(texts: Texts, start: int, stop: int) -> Iterator[tuple]:
    """Tickets ``start`` to ``stop`` back from the newest, at ``RATE``, Zipf organizations."""
    rng = texts.rng
    weights = [1 / (k + 1) ** ZIPF for k in range(ORGANIZATIONS)]
    total, cumulative = 0.0, []
    for w in weights:
        total += w
        cumulative.append(total)
    organizations = rng.choices(range(ORGANIZATIONS), cum_weights=cumulative, k=stop - start)
    for i, organization in zip(range(start, stop), organizations, strict=True):
        yield texts.row(f"b{i}", f"u{rng.randrange(REQUESTERS)}",
                        None if rng.random() < NO_ORGANIZATION else f"o{organization}",
                        END - (i + rng.random()) / RATE)


def fill(store: Store, rows: Iterator[tuple]) -> None:
    """Insert ``rows`` into the ticket index in batches: executemany, or COPY on PostgreSQL."""
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            _insert(store, batch)
            batch = []
    if batch:
        _insert(store, batch)


def _insert(store: Store, batch: list[tuple]) -> None:
    with store.engine.begin() as conn:
        if store.engine.dialect.name == "postgresql":
            cursor = conn.connection.driver_connection.cursor()
            with cursor.copy(f"COPY ticket_index ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in batch:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(COLUMNS))
            conn.exec_driver_sql(f"INSERT INTO ticket_index ({', '.join(COLUMNS)}) "
                                 f"VALUES ({marks})", batch)
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE ticket_index")  # as autovacuum would


def evaluation(store: Store, probe: Probe) -> tuple[float, int]:
    """Seconds and rows of the history calls one evaluation of ``probe`` makes."""
    history = StoreHistory(store)
    created = datetime.fromtimestamp(probe.created_at, UTC)
    now = datetime.fromtimestamp(END, UTC)
    begun = time.perf_counter()
    for kind, ident in (("requester", probe.requester_id),
                        ("organization", probe.organization_id)):
        if ident is not None:
            store.backfilled(PLATFORM, kind, ident,
                             since=(created - WINDOWS["note"]).timestamp(), within=3600)
    rows = len(history.related(PLATFORM, requester_id=probe.requester_id,
                               organization_id=probe.organization_id,
                               since=created - WINDOWS["repeat_issue"], until=created))
    rows += len(history.created_between(PLATFORM, created - WINDOWS["incident"],
                                        created + WINDOWS["incident"]))
    rows += len(history.related(PLATFORM, requester_id=probe.requester_id,
                                organization_id=probe.organization_id,
                                since=now - WINDOWS["note"]))
    return time.perf_counter() - begun, rows


def indexing(store: Store, texts: Texts, n: int) -> float:
    """Seconds of one ``Store.index`` of a new ticket (its row removed after, untimed)."""
    rng = texts.rng
    at = datetime.fromtimestamp(END - rng.uniform(0, 1800), UTC)
    ticket = Ticket(platform=PLATFORM, ref=f"new-{n}", subject=rng.choice(texts.subjects),
                    status="new", priority=None, tier="L1", tags=("billing",),
                    requester_id=f"u{rng.randrange(REQUESTERS)}", assignee_id=None,
                    organization_id=f"o{rng.randrange(100)}", channel="email",
                    created_at=at, updated_at=at, version="1")
    begun = time.perf_counter()
    store.index(ticket)
    took = time.perf_counter() - begun
    with store.engine.begin() as conn:
        conn.execute(ticket_index.delete().where(ticket_index.c.ticket_ref == ticket.ref))
    return took


@dataclass
class Measured:
    evaluation: dict[str, float]  # probe ref -> best seconds
    rows: dict[str, int]
    index: list[float]

    def per_evaluation(self, probes: list[Probe], kind: str | None = None) -> float:
        return statistics.fmean(self.evaluation[p.ref] for p in probes
                                if kind is None or p.kind == kind)


def measure(stores: list[Store], probes: list[Probe], texts: Texts,
            rounds: int) -> list[Measured]:
    """Each store's best time per probe over ``rounds``, the stores alternating each round."""
    results = [Measured({}, {}, []) for _ in stores]
    for n in range(rounds):
        for store, result in zip(stores, results, strict=True):
            for probe in probes:
                took, rows = evaluation(store, probe)
                result.evaluation[probe.ref] = min(took, result.evaluation.get(probe.ref, took))
                result.rows[probe.ref] = rows
            result.index.extend(indexing(store, texts, n * 10 + i) for i in range(10))
    return results


def sqlite_store(workdir: Path, name: str) -> tuple[Store, Callable[[], None]]:
    store = Store(f"sqlite:///{workdir / name}.db")
    store.create_schema()
    return store, store.close


def postgres_store(name: str) -> tuple[Store, Callable[[], None]]:
    """A store in a schema of its own on ``POSTGRES`` (by search_path), and how to drop it."""
    schema = f"tierlift_history_{name}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    store = Store(POSTGRES)
    store.engine.dispose()
    store.engine = sa.create_engine(POSTGRES, connect_args={"options": f"-csearch_path={schema}"})
    metadata.create_all(store.engine)

    def drop() -> None:
        store.close()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()

    return store, drop


def run(backend: str, sizes: list[int], rounds: int, workdir: Path) -> None:
    rng = random.Random(1)
    texts = Texts(rng)
    rows, probes = foreground(texts)
    opened = [sqlite_store(workdir, name) if backend == "sqlite" else postgres_store(name)
              for name in ("reference", "grown")]
    (reference, _), (grown, _) = opened
    try:
        for store in (reference, grown):
            fill(store, iter(rows))
            fill(store, background(Texts(random.Random(2)), 0, REFERENCE - len(rows)))
        print(f"\n{backend}: {len(probes)} probe evaluations per round ("
              + ", ".join(f"{sum(p.kind == k for p in probes)} {k}"
                          for k in dict.fromkeys(p.kind for p in probes))
              + f"), best of {rounds} rounds; x: against the {REFERENCE:,}-ticket store, "
              "measured alternately in the same rounds")
        print(f"{'tickets':>10} {'fill s':>7} {'ms/evaluation':>14} {'x':>6}  "
              f"{'large org':>10} {'small org':>10} {'no org':>8} {'rows read':>10} "
              f"{'index() ms':>11} {'x':>6}")
        held = REFERENCE - len(rows)
        for size in sizes:
            begun = time.perf_counter()
            fill(grown, background(Texts(random.Random(size)), held, size - len(rows)))
            held = max(held, size - len(rows))
            filled = time.perf_counter() - begun
            ref, now = measure([reference, grown], probes, texts, rounds)
            ratio = now.per_evaluation(probes) / ref.per_evaluation(probes)
            by_kind = [now.per_evaluation(probes, k) / ref.per_evaluation(probes, k)
                       for k in ("large organization", "small organization", "no organization")]
            index_ms = statistics.median(now.index) * 1000
            index_ratio = statistics.median(now.index) / statistics.median(ref.index)
            print(f"{size:>10,} {filled:>7.1f} {now.per_evaluation(probes) * 1000:>14.2f} "
                  f"{ratio:>5.2f}x  {by_kind[0]:>9.2f}x {by_kind[1]:>9.2f}x {by_kind[2]:>7.2f}x "
                  f"{statistics.fmean(now.rows.values()):>10.0f} {index_ms:>11.2f} "
                  f"{index_ratio:>5.2f}x")
        print(f"{backend}: cost per evaluation at {sizes[-1]:,} tickets / at {REFERENCE:,}: "
              f"{ratio:.2f}x (1.00x: constant)")
    finally:
        for _, close in opened:
            close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000",
                        help="ticket index sizes, ascending, from 1000")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="tierlift-history-") as workdir:
        for backend in args.stores.split(","):
            run(backend, sizes, args.rounds, Path(workdir))


if __name__ == "__main__":
    main()
