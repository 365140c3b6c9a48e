"""Webhook acknowledgement latency and end-to-end escalation time, against the emulator.

Starts the loopback Zendesk emulator with N tickets whose customer asked for a manager, runs
``tierlift serve`` as its own process (as in production), sends one signed delivery per ticket
(plus one duplicate each) from C client threads, and reports the 202/200 latency distribution
and how long until every escalation was written back.

    .venv/bin/python bench/ack_latency.py --tickets 300 --clients 4 [--rate-limit 700]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import requests
from loopback import signed, start_tierlift, zendesk_team

CUSTOMER_REQUEST = "[policies.customer_request]\nenabled = true\n"


def delivery(ticket: int) -> bytes:
    return json.dumps({
        "type": "zen:event-type:ticket.comment_added", "id": str(uuid.uuid4()),
        "subject": f"zen:ticket:{ticket}", "time": datetime.now(UTC).isoformat(),
        "detail": {"id": str(ticket), "actor_id": "1"}, "event": {},
    }).encode()


def post(session: requests.Session, url: str, body: bytes) -> tuple[int, float]:
    headers = signed(body)
    started = time.perf_counter()
    status = session.post(url, data=body, headers=headers, timeout=10).status_code
    return status, (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=300)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rate-limit", type=int, default=700,
                        help="the emulated account's API requests per minute")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    zendesk = zendesk_team(args.rate_limit)
    tickets = [zendesk.create_ticket(subject=f"Issue {n}", description="I want to speak to a "
                                     "manager.", requester_id=1, group_id=101, notify=False)
               for n in range(args.tickets)]
    zendesk_server = zendesk.serve()
    server, base = start_tierlift(zendesk, zendesk_server.url, CUSTOMER_REQUEST,
                                  "tierlift-bench-")
    url = f"{base}/webhooks/zendesk"

    bodies = [delivery(t) for t in tickets]
    session = requests.Session()
    started = time.perf_counter()
    with ThreadPoolExecutor(args.clients) as pool:
        results = list(pool.map(lambda b: post(session, url, b), bodies + bodies))
    sent = time.perf_counter() - started
    while len(zendesk.writes()) < len(tickets) and time.perf_counter() - started < 300:
        time.sleep(0.05)
    done = time.perf_counter() - started

    statuses = sorted({s for s, _ in results})
    latencies = sorted(ms for _, ms in results)
    quantiles = statistics.quantiles(latencies, n=100)
    print(f"{len(results)} deliveries ({args.tickets} new + {args.tickets} duplicates) from "
          f"{args.clients} clients in {sent:.2f}s = {len(results) / sent:.0f}/s; "
          f"statuses {statuses}")
    print(f"ack latency ms: p50 {quantiles[49]:.1f}  p95 {quantiles[94]:.1f}  "
          f"p99 {quantiles[98]:.1f}  max {latencies[-1]:.1f}")
    refused = sum(1 for r in zendesk.requests if r.status == 429)
    print(f"API requests {len(zendesk.requests)}, answered 429 (rate limited): {refused}")
    print(f"{len(zendesk.writes())}/{args.tickets} escalations written, all within "
          f"{done:.2f}s of the first delivery ({args.tickets / done:.1f} tickets/s, one "
          f"worker, 4 API calls each, account limit {args.rate_limit} requests/min)")
    server.terminate()
    server.wait(10)
    zendesk_server.stop()


if __name__ == "__main__":
    main()
