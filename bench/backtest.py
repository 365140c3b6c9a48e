"""Backtest throughput: ``tierlift backtest`` over N tickets in the loopback helpdesks.

Builds N tickets in the Zendesk and Jira emulators (the labelled tickets of bench/decisions,
copied with their history shifted back a few hours each time until there are N, rate limit
off), writes the ``tierlift init --preset standard`` config with the connection from the
environment as bench/decisions.py does, then times ``tierlift backtest --since 30d`` as its
own process: once with an empty cache (every ticket pulled) and once again (every ticket from
the cache; the reference the first run is compared with). Prints tickets per second with the
command line, and checks the backtest sent no request but GETs.

    .venv/bin/python bench/backtest.py [--tickets 300]
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import logging
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from decisions import (
    LABELS,
    LabelSet,
    build_scene,
    connection_env,
    helpdesks,
    load_tickets,
    standard_config,
)
from loopback import TIERLIFT

SHIFT = timedelta(hours=3)  # how much further back each copy of the labelled tickets lies


def tickets(count: int) -> LabelSet:
    """``count`` labelled tickets: the set, then copies of it further back in time."""
    labels = load_tickets(sorted(glob.glob(str(LABELS))))
    made = []
    copy = 0
    while len(made) < count:
        for t in labels.tickets:
            if len(made) == count:
                break
            back = SHIFT * copy
            made.append(dataclasses.replace(
                t, name=f"{t.name}~{copy}" if copy else t.name, created=t.created - back,
                events=tuple(dataclasses.replace(e, at=e.at - back) for e in t.events)))
        copy += 1
    return LabelSet(tuple(made), labels.people, labels.organizations)


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return seconds, done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=300)
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    labels = tickets(args.tickets)
    work = Path(tempfile.mkdtemp(prefix="tierlift-backtest-bench-"))
    config = standard_config(work)
    zendesk, jira = helpdesks(rate_limit=10**9)
    servers = [zendesk.serve(), jira.serve()]
    try:
        scene = build_scene(labels, zendesk, jira)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIERLIFT_")}
        env.update(connection_env(scene, f"sqlite:///{work / 'never-opened.db'}",
                                  servers[0].url, servers[1].url))
        cache = work / "backtest.cache.jsonl"
        command = [TIERLIFT, "backtest", "--config", str(config), "--since", "30d",
                   "--cache", str(cache)]
        cold, report = timed(command, env)
        warm, _ = timed(command, env)
        writes = [r for r in list(zendesk.requests) + list(jira.requests) if r.method != "GET"]
    finally:
        for emulator, server in zip((zendesk, jira), servers, strict=True):
            emulator.close()
            server.stop()
    found = re.search(r"tierlift backtest: (\d+) tickets", report)
    pulled = int(found[1]) if found else 0
    phases = re.search(r"pulled in ([\d.]+) s.*\nreplayed (\d+) evaluations in ([\d.]+) s",
                       report)
    shown = shlex.join([".venv/bin/tierlift", *command[1:]]).replace(str(work), "$TMP")
    print(f"$ {shown}")
    print(f"{pulled} tickets ({len(labels.tickets)} built) in the loopback Zendesk and Jira, "
          "rate limit off, standard preset")
    print(f"empty cache: {cold:.1f} s, {pulled / cold:.1f} tickets/s"
          + (f" (pull {phases[1]} s, replay of {phases[2]} evaluations {phases[3]} s)"
             if phases else ""))
    print(f"from the cache: {warm:.1f} s, {pulled / warm:.1f} tickets/s; the pull makes the "
          f"first run {cold / warm:.1f}x as long")
    print(f"requests other than GET: {len(writes)} (must be 0)")
    return 1 if writes or pulled != len(labels.tickets) else 0


if __name__ == "__main__":
    sys.exit(main())
