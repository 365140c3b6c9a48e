"""Two ``tierlift serve`` on one PostgreSQL, one killed mid-stream and not restarted (issue 12).

Both helpdesk emulators (rate limit off, no faults) make ``--tickets`` tickets whose customer
asks for a manager (two webhooks each: created, commented), Zendesk and Jira alternately. Their
signed deliveries are posted at ``--rate`` a second by 4 clients, each to one of the two
receivers at random; halfway through the stream, just after the next Zendesk tier write was
carried out (its answer held back 3 s), one receiver is killed with SIGKILL (its workers with
it, holding their leases) and stays down. A post to it from then on fails over to
the other receiver, as behind a load balancer. The survivor's workers must finish everything.

Printed: deliveries acknowledged (by each receiver), processed, lost (acknowledged, not in the
inbox), not done; tickets written once, twice (at the emulator), never; Jira notes twice.

    .venv/bin/python bench/two_receivers.py [--tickets 400] [--rate 60] [--seed N]

Exit status 1 on any loss, delivery not done, or ticket written twice or never (2 if
PostgreSQL is unreachable).
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import threading
import time
from collections import Counter
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


def deliver(session: requests.Session, sent: faults.Sent, servers: list[faults.Serve],
            first: int, stop: threading.Event) -> int | None:
    """Post to receiver ``first``; when it does not answer, to the other one (retrying a 5xx
    as a helpdesk does). Returns the receiver that acknowledged."""
    for n in (first, 1 - first):
        url = f"{servers[n].url}/webhooks/{sent.platform}"
        try:
            response = session.post(url, data=sent.body, headers=sent.sign(sent.body),
                                    timeout=5)
        except requests.RequestException:
            sent.answers.append(None)
            continue
        if response.status_code >= 500:
            faults.post(session, url, sent, stop)
        else:
            sent.answers.append(response.status_code)
            if response.status_code in (200, 202):
                answer = response.json()
                sent.accepted += response.status_code == 202
                sent.ignored = answer.get("status") == "ignored"
                sent.key = answer.get("delivery")
        return n if sent.acknowledged else None
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=400)
    parser.add_argument("--rate", type=float, default=60, help="deliveries posted a second")
    parser.add_argument("--workers", type=int, default=2, help="tierlift serve --workers, each")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    rng = random.Random(seed)
    print(f"seed {seed}", flush=True)
    captured: list = []
    zendesk, jira = helpdesks(captured)
    try:
        url, drop = faults.postgres_database("tierlift_two")
    except sa.exc.OperationalError as exc:
        print(f"cannot create a database at {faults.PG_ADMIN}: {exc.orig}")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="tierlift-two-"))
    config = workdir / "tierlift.toml"
    config.write_text(faults.config_text(url, zendesk, jira))
    servers = [faults.Serve(config, workdir / f"serve-{n}.log", args.workers) for n in (0, 1)]
    stop = threading.Event()
    db = faults.Inbox(url)
    try:
        for server in servers:
            server.start()
        refs = [("zendesk" if n % 2 == 0 else "jira") for n in range(args.tickets)]
        refs = [(platform, asking_ticket(zendesk, jira, platform)) for platform in refs]
        stream = [faults.Sent(p, body, sign, "scene") for p, body, sign in list(captured)]
        victim = rng.randrange(2)
        acked_by: Counter = Counter()
        killed_at = len(stream) // 2
        began = time.monotonic()
        with requests.Session() as session, ThreadPoolExecutor(4) as pool:
            def send(n: int) -> None:
                time.sleep(max(0.0, began + n / args.rate - time.monotonic()))
                acked_by[deliver(session, stream[n], servers, rng.randrange(2), stop)] += 1

            futures = [pool.submit(send, n) for n in range(len(stream))]
            futures[killed_at].result()
            held = faults.write_then_kill(zendesk, faults.WRITES["zendesk"], servers[victim])
            pending_at_kill = db.pending()
            for future in futures:
                future.result()
        posted = time.monotonic() - began
        drained = faults.wait_for(lambda: db.pending() == 0, 120)
        figures = faults.Figures("postgres")
        figures.count_deliveries(stream, {(r.platform, r.dedupe_key): r.status
                                          for r in db.rows()})
        calls = requests_by_ticket(zendesk, jira)
        moves = {ticket: faults.tier_moves(ticket[0], calls.get(ticket, []), jira.tier_field)
                 for ticket in refs}
        tally = faults.Tally.of(dict.fromkeys(refs, True), moves)
        notes_twice = [key for platform, key in refs if platform == "jira"
                       and sum(r.method == "POST" and r.path.endswith("/comment")
                               for r in calls.get((platform, key), [])) > 1]
    finally:
        stop.set()
        for server in servers:
            server.stop()
        db.close()
        drop()
        close_helpdesks(zendesk, jira)
    survivor = 1 - victim
    print(f"{len(stream)} deliveries for {args.tickets} tickets posted in {posted:.1f} s; "
          f"receiver {victim} killed -9 after delivery {killed_at} ({pending_at_kill} pending "
          f"then), not restarted; the kill came while the answer of a Zendesk tier write "
          f"(either receiver's) was held back: {'yes' if held else 'no'}")
    print(f"acknowledged {figures.acknowledged} (receiver {victim}: {acked_by[victim]}, "
          f"receiver {survivor}: {acked_by[survivor]}), processed {figures.processed}, lost "
          f"{len(figures.lost)}, not done {len(figures.failed) + len(figures.stalled)}, never "
          f"acknowledged {figures.unacknowledged}, posts unanswered {figures.posts[None]}")
    print(f"tickets written once {tally.once}, twice {tally.twice}, never {tally.never}; "
          f"Jira notes twice {len(notes_twice)}")
    problems = [p for p in figures.problems if p]
    if tally.twice or tally.never or notes_twice or not drained:
        problems.append(f"written twice {tally.duplicated[:5]}, never {tally.never}, notes "
                        f"twice {notes_twice[:5]}, drained {drained}")
    print(f"FAIL (seed {seed}, logs {workdir})\n  " + "\n  ".join(problems) if problems else
          "OK: nothing lost, nothing written twice")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
