"""Scale-out: a backlog worked off by ``tierlift worker`` with 1, 2 and 4 workers (issue 12).

For each worker layout, a fresh PostgreSQL database gets a backlog of ``--tickets`` Zendesk
tickets whose customer asked for a manager: both webhooks of each ticket (created, commented)
are stored through ``Store.receive`` before any worker starts. Then ``tierlift worker`` works
the backlog off against the loopback emulator (rate limit off, no faults). Printed per layout:
tickets/s (from the first to the last delivery processed, so that process start-up is left
out), the speed-up against 1 worker measured in the same run, API calls per ticket, and the
tickets written once, twice (counted at the emulator; must be 0) and never.

    .venv/bin/python bench/scale.py [--tickets 10000] [--layouts 1x1,1x2,1x4,2x1,4x1]

A layout PxT is P ``tierlift worker --workers T`` processes. The emulator runs in this process
and shares the machine's cores with the workers and PostgreSQL. Exit status 1 on a ticket
written twice or never, or a delivery left unprocessed; 2 if PostgreSQL is unreachable.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import faults
import sqlalchemy as sa
from loopback import (
    TIERLIFT,
    asking_ticket,
    close_helpdesks,
    helpdesks,
    requests_by_ticket,
)

from webhook_app.deliveries import parse_jira, parse_zendesk
from webhook_app.store import Store, inbox

PARSE = {"zendesk": parse_zendesk, "jira": parse_jira}


def fill_inbox(url: str, deliveries: list) -> None:
    """Store every captured delivery as the receiver would (several at a time: group commit)."""
    store = Store(url)
    store.create_schema()
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda d: store.receive(PARSE[d[0]](d[2](d[1]), d[1])), deliveries))
    finally:
        store.close()


def run(layout: tuple[int, int], tickets: int, workdir: Path, timeout: float) -> dict:
    """Work off a backlog of ``tickets`` with ``layout`` (processes, threads each)."""
    processes, threads = layout
    captured: list = []
    zendesk, jira = helpdesks(captured)
    url, drop = faults.postgres_database("tierlift_scale")
    workers: list[subprocess.Popen] = []
    try:
        refs = [asking_ticket(zendesk, jira, "zendesk") for _ in range(tickets)]
        fill_inbox(url, captured)
        config = workdir / "tierlift.toml"
        config.write_text(faults.config_text(url, zendesk, jira))
        log = (workdir / "worker.log").open("a")
        started = time.monotonic()
        workers = [subprocess.Popen([TIERLIFT, "worker", "--config", str(config), "--workers",
                                     str(threads), "--log-level", "warning"],
                                    stdout=log, stderr=subprocess.STDOUT)
                   for _ in range(processes)]
        db = faults.Inbox(url)
        drained = faults.wait_for(lambda: db.pending() == 0, timeout)
        wall = time.monotonic() - started
        with db.engine.connect() as conn:
            first, last, done, left = conn.execute(sa.select(
                sa.func.min(inbox.c.processed_at), sa.func.max(inbox.c.processed_at),
                sa.func.count().filter(inbox.c.status == "done"),
                sa.func.count().filter(inbox.c.status != "done"))).one()
        db.close()
        calls = requests_by_ticket(zendesk, jira)
        moves = [faults.tier_moves("zendesk", calls.get(("zendesk", ref), [])) for ref in refs]
        return {"layout": layout, "rate": (tickets - 1) / max(last - first, 1e-9),
                "wall": wall, "drained": drained, "done": done, "left": left,
                "calls": sum(len(v) for v in calls.values()) / tickets,
                "once": moves.count(1), "twice": sum(m > 1 for m in moves),
                "never": moves.count(0)}
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                worker.kill()
        drop()
        close_helpdesks(zendesk, jira)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=10_000, help="backlog, per layout")
    parser.add_argument("--layouts", default="1x1,1x2,1x4,2x1,4x1",
                        help="PxT: P worker processes of T threads; the first is the reference")
    parser.add_argument("--timeout", type=float, default=3600,
                        help="seconds a layout may take to work the backlog off")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    layouts = [tuple(int(n) for n in item.split("x")) for item in args.layouts.split(",")]
    print(f"backlog {args.tickets} Zendesk tickets (2 deliveries each) on PostgreSQL, emulator "
          "rate limit off", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="tierlift-scale-"))
    problems, reference = [], None
    began = time.monotonic()
    for layout in layouts:
        try:
            r = run(layout, args.tickets, workdir, args.timeout)
        except sa.exc.OperationalError as exc:
            print(f"cannot create a database at {faults.PG_ADMIN}: {exc.orig}")
            return 2
        reference = reference or r["rate"]
        name = f"{layout[0]} process{'es' if layout[0] > 1 else ''} x {layout[1]} " \
               f"thread{'s' if layout[1] > 1 else ''}"
        print(f"  {name:<24} {r['rate']:7.1f} tickets/s  x{r['rate'] / reference:.2f} "
              f"(wall {r['wall']:.0f} s with start-up)  API calls/ticket {r['calls']:.1f}  "
              f"written once {r['once']}, twice {r['twice']}, never {r['never']}", flush=True)
        if r["twice"] or r["never"] or r["left"] or not r["drained"]:
            problems.append(f"{name}: {r['twice']} tickets written twice, {r['never']} never, "
                            f"{r['left']} deliveries not done (logs: {workdir})")
    print(f"took {time.monotonic() - began:.0f} s")
    print("FAIL\n  " + "\n  ".join(problems) if problems else
          "OK: every ticket written exactly once")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
