"""Deadline accuracy: how long after its SLA deadline each ticket is written back.

Starts the loopback Zendesk emulator and ``tierlift serve`` (its own process, SQLite) with only
the ``sla`` policy (first reply target T, no at-risk step), creates N tickets spaced S apart so
that their deadlines are staggered, announces each by one webhook, sends nothing else, and
reports the distribution of (write-back time - deadline).

    .venv/bin/python bench/deadlines.py [--tickets 200] [--target-seconds 15] [--spacing 0.05]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
import uuid
from datetime import datetime

import requests
from loopback import signed, start_tierlift, zendesk_team

SLA = """
[policies.sla]
enabled = true
calendar = "24x7"
at_risk_percent = 0
[policies.sla.first_reply_minutes]
normal = {minutes}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=200)
    parser.add_argument("--target-seconds", type=float, default=15.0)
    parser.add_argument("--spacing", type=float, default=0.05)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    zendesk = zendesk_team(100_000)
    server = zendesk.serve()
    serve, base = start_tierlift(zendesk, server.url,
                                 SLA.format(minutes=args.target_seconds / 60),
                                 "tierlift-deadlines-")
    session = requests.Session()
    deadlines: dict[int, float] = {}
    for n in range(args.tickets):
        ticket = zendesk.create_ticket(subject=f"Question {n}", description="Hello?",
                                       requester_id=1, group_id=101, notify=False)
        created = datetime.fromisoformat(zendesk.tickets[ticket]["created_at"]).timestamp()
        deadlines[ticket] = created + args.target_seconds
        body = json.dumps({"type": "zen:event-type:ticket.created", "id": str(uuid.uuid4()),
                           "subject": f"zen:ticket:{ticket}",
                           "detail": {"id": str(ticket), "actor_id": "1"}}).encode()
        session.post(f"{base}/webhooks/zendesk", data=body, timeout=10, headers=signed(body))
        time.sleep(args.spacing)
    give_up = max(deadlines.values()) + 60
    while time.time() < give_up and len({r.path for r in zendesk.writes()}) < args.tickets:
        time.sleep(0.1)
    late = sorted(next(r.at for r in zendesk.writes(t)) - due
                  for t, due in deadlines.items() if zendesk.writes(t))
    serve.terminate()
    serve.wait(10)
    server.stop()
    q = statistics.quantiles(late, n=100)
    print(f"{len(late)}/{args.tickets} tickets escalated after their first-reply deadline "
          f"({args.target_seconds:g} s target, deadlines {args.spacing * 1000:g} ms apart), "
          "with no webhook after the first:")
    print(f"  write-back - deadline: min {late[0]:.2f} s  p50 {q[49]:.2f} s  p90 {q[89]:.2f} s  "
          f"p99 {q[98]:.2f} s  max {late[-1]:.2f} s")
    print("  (Zendesk timestamps have whole seconds: a deadline is known to ±1 s, so "
          "negative values down to -1 s are the stamp's rounding, not an early write)")


if __name__ == "__main__":
    main()
