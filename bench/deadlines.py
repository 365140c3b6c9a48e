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
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import requests

from webhook_app.emulator.zendesk import ZendeskEmulator
from webhook_app.signatures import ZENDESK_SIGNATURE, ZENDESK_TIMESTAMP, zendesk_signature

SECRET = "bench-secret"
CONFIG = """
database_url = "sqlite:///{db}"
[zendesk]
base_url = "{url}"
email = "{email}"
api_token = "{token}"
webhook_secret = "{secret}"
[zendesk.tier_groups]
L1 = 101
L2 = 102
L3 = 103
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

    zendesk = ZendeskEmulator(rate_limit=100_000)
    zendesk.user(1, "Maya")
    for group in (101, 102, 103):
        zendesk.group(group)
    server = zendesk.serve()
    workdir = Path(tempfile.mkdtemp(prefix="tierlift-deadlines-"))
    config = workdir / "tierlift.toml"
    config.write_text(CONFIG.format(db=workdir / "tierlift.db", url=server.url,
                                    email=zendesk.email, token=zendesk.api_token,
                                    secret=SECRET, minutes=args.target_seconds / 60))
    sys.path.insert(0, str(Path(__file__).parent))
    from ack_latency import free_port, wait_until_ready

    port = free_port()
    serve = subprocess.Popen([str(Path(sys.executable).parent / "tierlift"), "serve",
                              "--config", str(config), "--port", str(port),
                              "--log-level", "warning"])
    base = f"http://127.0.0.1:{port}"
    wait_until_ready(base, serve)
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
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        session.post(f"{base}/webhooks/zendesk", data=body, timeout=10, headers={
            "Content-Type": "application/json", ZENDESK_TIMESTAMP: stamp,
            ZENDESK_SIGNATURE: zendesk_signature(SECRET, stamp, body)})
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
