"""Intake: how fast tierlift's receiver accepts webhooks, against a bare Flask endpoint.

Both run the same way, each in its own process on waitress with the threads ``tierlift serve``
gives its receiver (``webhook_app.service.RECEIVER_THREADS``): the reference is a Flask app
whose ``POST /webhooks/zendesk`` answers 204 and does nothing else; tierlift is ``create_app``
over its store (SQLite in WAL mode, and PostgreSQL when it answers), verifying the signature,
parsing and committing each delivery before it answers 202. No worker runs (a receiver alone,
as when receivers and ``tierlift worker`` processes are separate), so the figure is the door's.

Two measures, each over the same signed deliveries for both servers:

- throughput: wrk (Debian's ``wrk``), 16 connections, ``--seconds`` each, unique deliveries, then
  the same deliveries again (duplicates); the ratio tierlift / bare;
- latency at a fixed 200 requests/s: an open-loop sender (each request timed from when it was
  due, so a slow answer delays nothing it should not), p50 and p99 of the acknowledgement.

    .venv/bin/python bench/intake.py [--seconds 8] [--stores sqlite,postgres] [--rate 200]

Figures are ratios against the bare endpoint measured in the same run, just before and just after
each store's runs (their mean: the machine may be shared); absolute numbers are only "on this
machine".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import requests
import sqlalchemy as sa
from loopback import SECRET, _free_port, signed

from webhook_app.service import RECEIVER_THREADS
from webhook_app.signatures import ZENDESK_SIGNATURE, ZENDESK_TIMESTAMP

POSTGRES = os.environ.get("TIERLIFT_TEST_POSTGRES",
                          "postgresql+psycopg://postgres@127.0.0.1/test")
CONNECTIONS = 16

BARE = """
from flask import Flask
from waitress import serve
app = Flask(__name__)
@app.post("/webhooks/zendesk")
def hook():
    return "", 204
@app.get("/readyz")
def ready():
    return "ok"
serve(app, host="127.0.0.1", port={port}, threads={threads}, _quiet=True)
"""

TIERLIFT = """
from waitress import serve
from webhook_app import create_app
from webhook_app.settings import load_settings
serve(create_app(load_settings({config!r})), host="127.0.0.1", port={port}, threads={threads},
      _quiet=True)
"""

CONFIG = """
database_url = "{url}"
[zendesk]
base_url = "http://127.0.0.1:9"
email = "bench@example.com"
api_token = "bench-token"
webhook_secret = "{secret}"
[zendesk.tier_groups]
L1 = 101
L2 = 102
L3 = 103
[worker]
coalesce_seconds = 0
"""

# wrk: each thread posts its own share of the deliveries (one per line: timestamp, signature,
# body), in turn, on keep-alive connections.
WRK_SCRIPT = r"""
local lines = {}
for line in io.lines("%s") do lines[#lines + 1] = line end
local counter, threads = 0, {}
function setup(thread)
  thread:set("id", counter); counter = counter + 1; table.insert(threads, thread)
end
function init(args) n = id end
function request()
  local line = lines[(n %% #lines) + 1]
  n = n + %d
  local stamp, signature, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
  return wrk.format("POST", "/webhooks/zendesk", {
    ["Content-Type"] = "application/json",
    ["%s"] = stamp, ["%s"] = signature}, body)
end
"""


def deliveries(count: int) -> list[bytes]:
    """Unique Zendesk comment events over 500 tickets, as the helpdesk sends them."""
    now = datetime.now(UTC).isoformat()
    return [json.dumps({
        "type": "zen:event-type:ticket.comment_added", "id": str(uuid.uuid4()),
        "account_id": 12514403, "time": now, "zendesk_event_version": "2022-11-06",
        "subject": f"zen:ticket:{1000 + n % 500}",
        "detail": {"id": str(1000 + n % 500), "actor_id": "1", "requester_id": "1",
                   "status": "OPEN", "subject": "Dashboard is blank", "updated_at": now},
        "event": {"comment": {"id": str(n), "body": "Still broken after the update, please "
                              "help", "is_public": True}}}).encode() for n in range(count)]


class Server:
    """One of the two servers, in its own process."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.port = _free_port()
        self.process = subprocess.Popen([sys.executable, "-c", source.format(
                                            port=self.port, threads=RECEIVER_THREADS)],
                                        stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        for _ in range(200):
            try:
                if requests.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.05)
        raise SystemExit(f"{name} did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def throughput(server: Server, script: Path, seconds: float, threads: int) -> tuple[float, int]:
    """Requests per second wrk reached, and how many answers were not 2xx."""
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(CONNECTIONS), "-d",
                          f"{round(seconds)}s", "-s", str(script), server.url],
                         capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rate, int(bad.group(1)) if bad else 0


def fixed_rate(server: Server, bodies: list[bytes], rate: float) -> tuple[float, float, int]:
    """p50 and p99 (ms) of acknowledgements at ``rate`` requests/s, each timed from the moment
    it was due; and the count of answers that were not 2xx."""
    interval = 1 / rate
    start = time.perf_counter() + 0.2
    latencies: list[float] = []
    bad = [0]
    lock = threading.Lock()
    next_index = [0]

    def sender() -> None:
        session = requests.Session()
        while True:
            with lock:
                n = next_index[0]
                next_index[0] += 1
            if n >= len(bodies):
                return
            due = start + n * interval
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            status = session.post(f"{server.url}/webhooks/zendesk", data=bodies[n],
                                  headers=signed(bodies[n]), timeout=30).status_code
            elapsed = (time.perf_counter() - due) * 1000
            with lock:
                latencies.append(elapsed)
                bad[0] += status >= 300

    workers = [threading.Thread(target=sender) for _ in range(CONNECTIONS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49], cuts[98], bad[0]


def wrk_script(directory: Path, bodies: list[bytes], threads: int) -> Path:
    directory.mkdir(exist_ok=True)
    lines = directory / "deliveries.tsv"
    with lines.open("w") as out:
        for body in bodies:
            headers = signed(body)
            out.write(f"{headers[ZENDESK_TIMESTAMP]}\t{headers[ZENDESK_SIGNATURE]}\t"
                      f"{body.decode()}\n")
    script = directory / "post.lua"
    script.write_text(WRK_SCRIPT % (lines, threads, ZENDESK_TIMESTAMP, ZENDESK_SIGNATURE))
    return script


def postgres_url() -> tuple[str, str] | None:
    """A fresh database on the machine's PostgreSQL, or None when it does not answer."""
    name = f"tierlift_intake_{os.getpid()}"
    try:
        admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except sa.exc.OperationalError:
        return None
    return POSTGRES.rsplit("/", 1)[0] + f"/{name}", name


def drop_postgres(name: str) -> None:
    admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--latency-seconds", type=float, default=10)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench/intake.py needs wrk (Debian: apt-get install wrk; make bench does)")
        return 2
    threads = 2
    work = Path(tempfile.mkdtemp(prefix="tierlift-intake-"))
    print(f"$ {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"on this machine ({os.cpu_count()} cores), waitress {RECEIVER_THREADS} threads, "
          f"wrk {threads} threads "
          f"{CONNECTIONS} connections {args.seconds:g} s; fixed rate {args.rate:g}/s for "
          f"{args.latency_seconds:g} s")
    # enough unique deliveries that wrk never wraps around within its run
    bodies = deliveries(40_000)
    script = wrk_script(work, bodies, threads)
    paced = deliveries(int(args.rate * args.latency_seconds))
    bare = Server("bare Flask 204", textwrap.dedent(BARE))
    try:
        failed = _compare(args, work, bare, bodies, script, paced, threads)
    finally:
        bare.stop()
    shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


def _compare(args: argparse.Namespace, work: Path, bare: Server, bodies: list[bytes],
             script: Path, paced: list[bytes], threads: int) -> bool:
    """Each store's runs against the bare endpoint's throughput measured just before and just
    after them (their mean), so that a change of the machine's load during the run (it is
    shared) does not land on one side only. Returns whether any answer was not 2xx."""
    base_rate, _ = throughput(bare, script, args.seconds, threads)
    base_p50, base_p99, _ = fixed_rate(bare, paced, args.rate)
    print(f"\n{'':34}{'req/s':>9}{'ratio':>8}{'ack p50':>10}{'ack p99':>10}")
    print(f"{'bare Flask + waitress, 204':34}{base_rate:9.0f}{1:8.2f}{base_p50:8.1f}ms"
          f"{base_p99:8.1f}ms")
    failed = False
    for store in args.stores.split(","):
        database, pg_name = (f"sqlite:///{work / 'tierlift.db'}", None)
        if store == "postgres":
            found = postgres_url()
            if found is None:
                print(f"{'tierlift, postgres':34} skipped: no PostgreSQL at {POSTGRES}")
                continue
            database, pg_name = found
        config = work / f"{store}.toml"
        config.write_text(CONFIG.format(url=database, secret=SECRET))
        server = Server(f"tierlift {store}", TIERLIFT.format(config=str(config), port="{port}",
                                                                    threads="{threads}"))
        try:
            unique, bad_unique = throughput(server, script, args.seconds, threads)
            stored = int(unique * args.seconds * 0.9)  # what the first run surely stored
            repeat = wrk_script(work / "again", bodies[:stored], threads)
            again, bad_again = throughput(server, repeat, args.seconds, threads)
            p50, p99, bad_paced = fixed_rate(server, paced, args.rate)
        finally:
            server.stop()
            if pg_name:
                drop_postgres(pg_name)
        before, (base_rate, _) = base_rate, throughput(bare, script, args.seconds, threads)
        reference = (before + base_rate) / 2
        print(f"{'tierlift ' + store + ', unique':34}{unique:9.0f}{unique / reference:8.2f}"
              f"{p50:8.1f}ms{p99:8.1f}ms")
        print(f"{'tierlift ' + store + ', duplicates':34}{again:9.0f}{again / reference:8.2f}")
        print(f"  (against the bare endpoint's {before:.0f} req/s before, {base_rate:.0f} after)")
        if bad_unique or bad_paced or bad_again:
            print(f"  non-2xx answers: {bad_unique} unique, {bad_again} duplicates, "
                  f"{bad_paced} paced")
            failed = True
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
