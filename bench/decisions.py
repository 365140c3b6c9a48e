"""Decision quality: labelled tickets through ``tierlift serve`` with the standard preset.

Loads every ``bench/decisions/*.toml`` (format: bench/decisions/README.md), builds the tickets in
the loopback Zendesk and Jira emulators with their timestamps backdated as written, writes the
``tierlift init --preset standard`` config and supplies the connection details through
``TIERLIFT_*`` environment variables as an admin would, announces each ticket with one signed
webhook (each requester's earlier tickets first, then the rest), waits until the worker is idle,
and compares what tierlift did with the labels: agreement, per-criterion precision and recall,
a confusion table of outcomes, and the safety counts (downward moves, loops, writes to
solved/closed tickets), which must be 0: the exit status is 1 otherwise.

    .venv/bin/python bench/decisions.py [--labels 'bench/decisions/*.toml'] [--config FILE]

``--config FILE`` benches your own configuration instead of the standard preset (connection
tables are still supplied from the environment). The label format, the scene in the emulators,
announcing and collecting live in the package (``webhook_app.emulator.labels`` and
``webhook_app.emulator.scenes``, shared with ``tierlift demo``); this file runs and scores
(tests use ``run`` and ``score``).
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from loopback import TIERLIFT, serve

from webhook_app.emulator.labels import CRITERIA, TEAMS, TIERS, LabelSet, State, load_tickets
from webhook_app.emulator.labels import parse_labels as parse_labels  # for bench/backtest.py
from webhook_app.emulator.scenes import (
    JIRA_SECRET,
    ORDERS,
    ZENDESK_SECRET,
    Outcome,
    announce,
    announcement_order,
    build_scene,
    collect,
    connection_env,
    helpdesks,
    wait_idle,
)
from webhook_app.store import Store

HERE = Path(__file__).resolve().parent
LABELS = HERE / "decisions" / "*.toml"


# -- running ------------------------------------------------------------------------------

def standard_config(workdir: Path) -> Path:
    """``tierlift init --preset standard`` written to a file, as an admin starts."""
    done = subprocess.run([TIERLIFT, "init", "--preset", "standard"], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise SystemExit(f"tierlift init --preset standard failed (exit {done.returncode}): "
                         f"{done.stderr.strip()[:500]}\nbench your own file with --config FILE")
    path = workdir / "tierlift.toml"
    path.write_text(done.stdout, encoding="utf-8")
    return path


def run(labels: LabelSet, config: Path | None = None, *, workers: int = 1,
        rate_limit: int = 100_000, order: str = "file",
        progress: Callable[[str], None] = lambda _: None,
        ) -> tuple[list[Outcome], dict[str, int]]:
    """Build the scene, run ``tierlift serve`` with ``config`` (default: the standard preset)
    and the connection details from the environment, announce in ``order`` (see
    :func:`announcement_order`), collect. Returns the outcomes and the evaluations by
    outcome."""
    workdir = Path(tempfile.mkdtemp(prefix="tierlift-decisions-"))
    config = config or standard_config(workdir)
    zendesk, jira = helpdesks(rate_limit)
    servers = [zendesk.serve(), jira.serve()]
    process = None
    try:
        scene = build_scene(labels, zendesk, jira)
        database_url = f"sqlite:///{workdir / 'tierlift.db'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIERLIFT_")}
        env.update(connection_env(scene, database_url, servers[0].url, servers[1].url))
        process, base = serve(config, env=env, workers=workers)
        zendesk.send_webhooks_to(f"{base}/webhooks/zendesk", ZENDESK_SECRET)
        jira.send_webhooks_to(f"{base}/webhooks/jira", secret=JIRA_SECRET)
        store = Store(database_url)
        progress(f"{len(labels.tickets)} tickets built")
        for wave in announcement_order(labels, order):
            progress(f"announcing {len(wave)} ({order})")
            announce(scene, wave)
            wait_idle(store, scene)
        outcomes = collect(scene, labels, store)
        evaluations = Counter(e["outcome"] for e in store.audit_log(limit=1_000_000))
        store.close()
        return outcomes, dict(evaluations)
    finally:
        if process is not None:
            process.terminate()
            process.wait(10)
        for emulator, server in zip((zendesk, jira), servers, strict=True):
            emulator.close()
            server.stop()


# -- scoring ------------------------------------------------------------------------------

def outcome_label(before: State, state: State) -> str:
    """stay, a tier (L2, L3; L1 for a move down) or a team: what happened to the ticket."""
    if state.team and state.team != before.team:
        return state.team
    if state.tier != before.tier:
        return state.tier
    return "stay"


@dataclass(frozen=True)
class Counts:
    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0

    @property
    def precision(self) -> float | None:
        fired = self.true_positive + self.false_positive
        return self.true_positive / fired if fired else None

    @property
    def recall(self) -> float | None:
        labelled = self.true_positive + self.false_negative
        return self.true_positive / labelled if labelled else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Score:
    tickets: int
    agreed: int
    by_platform: dict[str, tuple[int, int]]  # platform -> (agreed, tickets)
    by_language: dict[str, tuple[int, int]]
    disagreements: list[Outcome]
    criteria: dict[str, Counts]
    overall: Counts  # micro-averaged over the criteria
    confusion: Counter  # (expected outcome, actual outcome) -> tickets
    writes: int
    downward_moves: int
    loops: int
    closed_writes: int
    outcomes: Sequence[Outcome] = ()

    @property
    def safe(self) -> bool:
        return not (self.downward_moves or self.loops or self.closed_writes)

    @property
    def unsafe(self) -> list[Outcome]:
        """The tickets behind the safety counts."""
        return [o for o in self.outcomes if o.loop or o.downward or o.closed_writes]


def score(outcomes: Sequence[Outcome]) -> Score:
    by_platform: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_language: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    confusion: Counter = Counter()
    for o in outcomes:
        for table, key in ((by_platform, o.ticket.platform), (by_language, o.ticket.language)):
            table[key][0] += o.agrees
            table[key][1] += 1
        expected = o.ticket.expect.criteria
        for name in expected | o.fired:
            counts[name][0] += name in expected and name in o.fired
            counts[name][1] += name in o.fired and name not in expected
            counts[name][2] += name in expected and name not in o.fired
        confusion[outcome_label(o.before, o.ticket.expect.state),
                  outcome_label(o.before, o.after)] += 1
    criteria = {name: Counts(*counts[name]) for name in
                sorted(counts, key=lambda n: (CRITERIA.index(n) if n in CRITERIA
                                              else len(CRITERIA), n))}
    overall = Counts(*(sum(c[i] for c in counts.values()) for i in range(3)))
    return Score(
        tickets=len(outcomes), agreed=sum(o.agrees for o in outcomes),
        by_platform={k: tuple(v) for k, v in sorted(by_platform.items())},
        by_language={k: tuple(v) for k, v in sorted(by_language.items())},
        disagreements=[o for o in outcomes if not o.agrees], criteria=criteria,
        overall=overall, confusion=confusion, writes=sum(o.writes for o in outcomes),
        downward_moves=sum(o.downward for o in outcomes),
        loops=sum(1 for o in outcomes if o.loop),
        closed_writes=sum(o.closed_writes for o in outcomes), outcomes=tuple(outcomes))


# -- the report ---------------------------------------------------------------------------

def _pct(part: int, whole: int) -> str:
    return f"{part}/{whole} = {100 * part / whole:.1f} %" if whole else "0/0"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def confusion_lines(confusion: Counter) -> list[str]:
    order = ["stay", *TIERS, *TEAMS]
    seen = {label for pair in confusion for label in pair}
    labels = [x for x in order if x in seen] + sorted(seen - set(order))
    return _table(["expected \\ actual", *labels],
                  ([row, *(confusion.get((row, col), "") or "·" for col in labels)]
                   for row in labels))


def report(result: Score, *, command: str, seconds: float,
           evaluations: dict[str, int] | None = None) -> str:
    lines = [f"$ {command}",
             f"{result.tickets} labelled tickets in {seconds:.1f}s"]
    if evaluations:
        lines.append("evaluations: " + ", ".join(f"{k} {v}" for k, v in
                                                  sorted(evaluations.items())))
    lines.append("")
    lines.append(f"agreement (tier, team, priority): {_pct(result.agreed, result.tickets)}")
    for name, (agreed, total) in result.by_platform.items():
        lines.append(f"  {name}: {_pct(agreed, total)}")
    lines.append("  by language: " + ", ".join(f"{k} {a}/{n}" for k, (a, n) in
                                               result.by_language.items()))
    if result.disagreements:
        lines += ["", "disagreements:"]
        for o in result.disagreements:
            t = o.ticket
            lines.append(f"- {t.name} ({t.platform}): expected {t.expect.state}, "
                         f"got {o.after}")
            if t.expect.why:
                lines.append(f"    why: {t.expect.why}")
            lines.append(f"    fired: {', '.join(sorted(o.fired)) or 'none'}; labelled: "
                         f"{', '.join(sorted(t.expect.criteria)) or 'none'}"
                         + (f"; held: {'; '.join(o.held)}" if o.held else ""))
    lines += ["", "per criterion (fired or satisfied per the audit, against the labels):"]
    lines += _criteria_lines(result)
    lines += ["", "outcomes (rows: labelled, columns: tierlift):"]
    lines += confusion_lines(result.confusion)
    lines += ["", _safety(result)]
    for o in result.unsafe:
        lines.append(f"- {o.ticket.name} ({o.ticket.platform} #{o.ref}): {o.writes} writes, "
                     f"{o.echo_writes} caused by our own echo, {o.downward} downward, "
                     f"{o.closed_writes} while {o.status_then}")
    lines += ["", "for the README:", "", *readme_lines(result, command)]
    return "\n".join(lines)


def _criteria_lines(result: Score) -> list[str]:
    rows = [(name, _num(c.precision), _num(c.recall), _num(c.f1),
             c.true_positive + c.false_negative, c.true_positive + c.false_positive)
            for name, c in result.criteria.items()]
    o = result.overall
    rows.append(("**all**", _num(o.precision), _num(o.recall), _num(o.f1),
                 o.true_positive + o.false_negative, o.true_positive + o.false_positive))
    return _table(["criterion", "precision", "recall", "F1", "labelled", "fired"], rows)


def _safety(result: Score) -> str:
    return (f"safety: downward moves {result.downward_moves}, loops {result.loops}, "
            f"writes to solved/closed tickets {result.closed_writes} (each must be 0); "
            f"{result.writes} writes in all")


def readme_lines(result: Score, command: str) -> list[str]:
    platforms = ", ".join(f"{name} {_pct(a, n)}" for name, (a, n) in result.by_platform.items())
    return ["```sh", command, "```", "",
            f"{result.tickets} labelled tickets: agreement {_pct(result.agreed, result.tickets)}"
            f" ({platforms}); " + _safety(result).removeprefix("safety: ") + ".", "",
            *_criteria_lines(result), "", *confusion_lines(result.confusion)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", default=str(LABELS),
                        help="glob of labelled-ticket files (default: bench/decisions/*.toml)")
    parser.add_argument("--config", type=Path, default=None,
                        help="bench this config file instead of `tierlift init --preset "
                        "standard`")
    parser.add_argument("--workers", type=int, default=1, help="tierlift worker threads")
    parser.add_argument("--rate-limit", type=int, default=100_000,
                        help="the emulated accounts' API requests per minute (high: no waits)")
    parser.add_argument("--order", choices=ORDERS, default="file",
                        help="announce the earlier tickets, then the rest, in file order, "
                        "reversed or shuffled; or all together at once")
    parser.add_argument("--compare", choices=ORDERS, default=None,
                        help="run again in this order and count the tickets that end "
                        "differently (the decisions must not depend on the order)")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the emulators' request log
    paths = sorted(glob.glob(args.labels))
    if not paths:
        raise SystemExit(f"no labelled tickets match {args.labels}")
    labels = load_tickets(paths)
    started = time.monotonic()
    outcomes, evaluations = run(labels, args.config, workers=args.workers,
                                rate_limit=args.rate_limit, order=args.order,
                                progress=lambda m: print(m, file=sys.stderr))
    result = score(outcomes)
    command = shlex.join([".venv/bin/python", "bench/decisions.py",
                          *(argv if argv is not None else sys.argv[1:])])
    print(report(result, command=command, seconds=time.monotonic() - started,
                 evaluations=evaluations))
    consistent = True
    if args.compare:
        again, _ = run(labels, args.config, workers=args.workers, rate_limit=args.rate_limit,
                       order=args.compare, progress=lambda m: print(m, file=sys.stderr))
        differ = order_differences(outcomes, again)
        print(f"\norder: {args.order} vs {args.compare}: {len(differ)} tickets end differently")
        for name, first, second in differ:
            print(f"- {name}: {first} vs {second}")
        consistent = not differ
    return 0 if result.safe and consistent else 1


def order_differences(first: Sequence[Outcome],
                      second: Sequence[Outcome]) -> list[tuple[str, State, State]]:
    """The tickets whose final state differs between two runs."""
    other = {o.ticket.name: o.after for o in second}
    return [(o.ticket.name, o.after, other[o.ticket.name]) for o in first
            if other.get(o.ticket.name) != o.after]


if __name__ == "__main__":
    sys.exit(main())
