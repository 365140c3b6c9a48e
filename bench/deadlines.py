"""Deadline accuracy: how late the scheduler fires deadlines spread over real milliseconds.

Stores N deadlines in a fresh SQLite store (``tickets.next_due_at``, as an evaluation leaves
them), at uniformly random moments (float seconds, no rounding) over ``--span`` seconds starting
``--lead`` seconds from now, and runs ``webhook_app.scheduler.Scheduler`` on it as ``tierlift
serve`` does (its thread, the default 1 s poll). A deadline fires when ``Store.fire_due`` has
committed its delivery to the inbox; lateness = that moment - the deadline. The reference, in
the same run over the same schedule (shifted to start as far ahead), is a plain timer loop:
``threading.Event.wait`` until each deadline in turn, then read the clock. Prints p50/p99/max
of both and the scheduler's as a multiple of the reference's.

    .venv/bin/python bench/deadlines.py [--deadlines 1000] [--span 5] [--lead 1]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

from webhook_app.scheduler import Scheduler
from webhook_app.store import Store, tickets


def reference(due: list[float]) -> list[float]:
    """Lateness of a timer loop over ``due`` (sorted, ``time.time`` seconds)."""
    late, wake = [], threading.Event()
    for deadline in due:
        wait = deadline - time.time()
        if wait > 0:
            wake.wait(wait)
        late.append(time.time() - deadline)
    return late


def scheduled(due: list[float], workdir: Path) -> list[float]:
    """Lateness of the scheduler over ``due`` (sorted), from the moments ``fire_due`` returns."""
    store = Store(f"sqlite:///{workdir / 'deadlines.db'}")
    store.create_schema()
    with store.engine.begin() as conn:
        conn.execute(tickets.insert(), [{"platform": "zendesk", "ticket_ref": str(n),
                                         "next_due_at": at} for n, at in enumerate(due)])
    fired_at: list[float] = []
    fire_due = store.fire_due

    def timed_fire_due() -> int:
        fired = fire_due()
        fired_at.extend([store.clock()] * fired)  # in deadline order, as fire_due takes them
        return fired

    store.fire_due = timed_fire_due
    stop = threading.Event()
    scheduler = Scheduler(store, on_due=threading.Event())
    thread = threading.Thread(target=scheduler.run, args=(stop,), daemon=True)
    thread.start()
    give_up = due[-1] + 30
    while len(fired_at) < len(due) and time.time() < give_up:
        time.sleep(0.05)
    stop.set()
    scheduler.changed.set()
    thread.join(5)
    store.close()
    if len(fired_at) < len(due):
        raise SystemExit(f"only {len(fired_at)}/{len(due)} deadlines fired within 30 s")
    return [at - deadline for at, deadline in zip(fired_at, due, strict=True)]


def summary(late: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(late, n=100)
    return q[49], q[98], max(late)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deadlines", type=int, default=1000)
    parser.add_argument("--span", type=float, default=5.0, help="seconds the deadlines cover")
    parser.add_argument("--lead", type=float, default=1.0, help="seconds to the first one")
    args = parser.parse_args()
    rng = random.Random(12)
    offsets = sorted(rng.uniform(0, args.span) for _ in range(args.deadlines))
    start = time.time() + args.lead
    base = reference([start + o for o in offsets])
    start = time.time() + args.lead
    with tempfile.TemporaryDirectory(prefix="tierlift-deadlines-") as workdir:
        late = scheduled([start + o for o in offsets], Path(workdir))
    print(f"{args.deadlines} deadlines at random moments over {args.span:g} s "
          f"(mean {args.span / args.deadlines * 1000:.1f} ms apart), SQLite store:")
    ms = 1000
    (p50, p99, top), (r50, r99, rtop) = summary(late), summary(base)
    print(f"  scheduler (fire_due committed) - deadline: p50 {p50 * ms:.2f} ms  "
          f"p99 {p99 * ms:.2f} ms  max {top * ms:.2f} ms")
    print(f"  reference (Event.wait timer loop):         p50 {r50 * ms:.2f} ms  "
          f"p99 {r99 * ms:.2f} ms  max {rtop * ms:.2f} ms")
    print(f"  scheduler / reference: p50 {p50 / r50:.1f}x  p99 {p99 / r99:.1f}x")


if __name__ == "__main__":
    main()
