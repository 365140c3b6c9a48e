"""End to end: webhook to write-back latency, and API calls per decision, Zendesk and Jira.

The loopback emulators (rate limit off, no faults: the figure is tierlift's, not the account's
request budget) make ``--tickets`` tickets each whose customer asks for a manager (two webhooks
per ticket: created, then the comment). ``tierlift serve`` runs as its own process; the two
signed deliveries of a ticket are posted back to back, one ticket every 1/``--rate`` s from
when it was due (open loop). Printed per helpdesk:

- ack p50/p99: the receiver's answer to each post;
- write-back p50/p99: from the start of the comment's POST to the emulator's recorded tier
  write for that ticket (it includes the ``coalesce_seconds`` wait, printed with it);
- API calls per ticket, reads (GET) and writes, as the emulator recorded them, plus the calls
  that name no ticket; and evaluations per ticket (audit entries: with a short coalesce wait
  the ticket's two webhooks are evaluated apart, with the default mostly together).

    .venv/bin/python bench/ack_latency.py [--tickets 200] [--rate 10] [--coalesce 0.5]
        [--store sqlite|postgres] [--workers 1]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import faults
import requests
import sqlalchemy as sa
from loopback import (
    asking_ticket,
    close_helpdesks,
    helpdesks,
    requests_by_ticket,
)

from webhook_app.store import audit


def quantiles(values: list[float]) -> str:
    q = statistics.quantiles(values, n=100)
    return f"p50 {q[49]:.0f} ms  p99 {q[98]:.0f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=200, help="per helpdesk")
    parser.add_argument("--rate", type=float, default=10, help="tickets a second")
    parser.add_argument("--coalesce", type=float, default=0.5,
                        help="worker.coalesce_seconds (tierlift's default: 0.5)")
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--workers", type=int, default=1, help="tierlift serve --workers")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="tierlift-e2e-"))
    if args.store == "sqlite":
        url, drop = f"sqlite:///{workdir / 'tierlift.db'}", (lambda: None)
    else:
        url, drop = faults.postgres_database("tierlift_e2e")
    captured: list = []
    zendesk, jira = helpdesks(captured)
    config = workdir / "tierlift.toml"
    config.write_text(faults.config_text(url, zendesk, jira).replace(
        "coalesce_seconds = 0.2", f"coalesce_seconds = {args.coalesce}"))
    server = faults.Serve(config, workdir / "serve.log", args.workers)
    print(f"{args.tickets} tickets per helpdesk at {args.rate:g}/s, {args.store}, "
          f"{args.workers} worker(s), coalesce_seconds {args.coalesce:g}, emulator rate limit "
          "off", flush=True)
    try:
        server.start()
        db = faults.Inbox(url)
        for platform in ("zendesk", "jira"):
            report(platform, args, server, zendesk, jira, captured, db)
        db.close()
    finally:
        server.stop()
        drop()
        close_helpdesks(zendesk, jira)
    return 0


def report(platform: str, args: argparse.Namespace, server: faults.Serve, zendesk, jira,
           captured: list, db: faults.Inbox) -> None:
    """Post one helpdesk's tickets, wait for their writes, print its figures."""
    tickets = []
    for _ in range(args.tickets):
        start = len(captured)
        ref = asking_ticket(zendesk, jira, platform)
        tickets.append((ref, captured[start:len(captured)]))
    acks: list[float] = []
    posted: dict[str, float] = {}
    began = time.monotonic()
    with requests.Session() as session, ThreadPoolExecutor(8) as pool:
        def send(n: int) -> None:
            due = began + n / args.rate
            time.sleep(max(0.0, due - time.monotonic()))
            ref, deliveries = tickets[n]
            for _, body, sign in deliveries:
                posted[ref] = time.time()
                sent = time.perf_counter()
                session.post(f"{server.url}/webhooks/{platform}", data=body,
                             headers=sign(body), timeout=10).raise_for_status()
                acks.append((time.perf_counter() - sent) * 1000)

        for future in [pool.submit(send, n) for n in range(len(tickets))]:
            future.result()

    def writes() -> dict[str, list]:
        calls = requests_by_ticket(zendesk, jira)
        return {ref: [r for r in calls.get((platform, ref), [])
                      if faults.tier_moves(platform, [r], jira.tier_field)]
                for ref, _ in tickets}

    faults.wait_for(lambda: all(writes().values()) and db.pending() == 0, 60)
    written = writes()
    latencies = [(w[0].at - posted[ref]) * 1000 for ref, w in written.items() if w]
    calls = requests_by_ticket(zendesk, jira)
    mine = [calls.get((platform, ref), []) for ref, _ in tickets]
    emulator = zendesk if platform == "zendesk" else jira
    other = len(emulator.requests) - sum(len(c) for c in mine)
    reads = sum(r.method == "GET" for c in mine for r in c) / len(tickets)
    changes = sum(r.method != "GET" for c in mine for r in c) / len(tickets)
    with db.engine.connect() as conn:
        evaluations = conn.execute(sa.select(sa.func.count()).select_from(audit)
                                   .where(audit.c.platform == platform)).scalar()
    print(f"{platform}: ack {quantiles(acks)}; write-back {quantiles(latencies)} "
          f"({len(latencies)}/{len(tickets)} written; includes the {args.coalesce:g} s "
          f"coalesce wait)\n  API calls per ticket: {reads:.2f} reads + {changes:.2f} writes, "
          f"plus {other} calls naming no ticket in all; evaluations per ticket "
          f"{evaluations / len(tickets):.2f} (reads per evaluation "
          f"{reads * len(tickets) / max(evaluations, 1):.2f})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
