"""``tierlift demo``: the tour. Zendesk and Jira Cloud emulated on loopback, tierlift with the
whole ``standard`` preset (``tierlift init --preset standard``), a stream of realistic labelled
tickets (``webhook_app/demo_tickets.toml``: seven languages, every policy of the preset acting at
least once, near misses that stay put), a live progress line, then what happened to each ticket,
a few handoff notes as tier 2 reads them, the tier mix against the playbooks' 80 / 15 / 5 %, a
backtest over the emulators' history (read-only), and the ``/admin`` dashboard, kept open until
Ctrl-C (``--no-wait``: the same tour, then exit).

The tickets are built backdated in the emulators with :mod:`webhook_app.emulator.scenes` (the
scene builder of ``bench/decisions.py``), and the connection details reach tierlift as
``TIERLIFT_*`` variables, as an admin would give them. Exit status 0 when every ticket ended as
labelled, every policy of the preset acted, nothing was moved down, written twice or written
while solved, and the backtest wrote nothing.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import IO

import requests

from webhook_app.backtest import backtest
from webhook_app.backtest_report import Summary, render_text
from webhook_app.emulator.labels import Labelled, LabelSet, State, parse_labels
from webhook_app.emulator.scenes import (
    ZENDESK_AGENTS,
    ZENDESK_TIER_GROUPS,
    Outcome,
    Scene,
    audited_policies,
    build_scene,
    collect,
    connection_env,
    helpdesks,
    state_of,
)
from webhook_app.emulator.zendesk import BOT_ID
from webhook_app.presets import render
from webhook_app.review import review
from webhook_app.service import Service
from webhook_app.settings import Settings, load_settings

TICKETS = "demo_tickets.toml"
# escalations whose handoff note the tour prints: one per platform and kind of move
HANDOFFS = ("zd-de-vorgesetzten-nach-antwort", "jr-de-dsgvo-auskunft",
            "zd-outage-dashboards-503-a")
# the escalation a tier-2 agent hands back to tier 1 once the stream is done (an override)
HANDED_BACK = "zd-de-vorgesetzten-nach-antwort"
STREAM_PAUSE = 0.12  # seconds between two new tickets of the stream
BACKTEST_SINCE = "30d"
WIDTH = 100  # the introduction's lines


def demo_tickets() -> LabelSet:
    """The tour's labelled tickets, shipped with the package."""
    text = files("webhook_app").joinpath(TICKETS).read_text(encoding="utf-8")
    return parse_labels(text, TICKETS)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Exactly ``values`` as the ``TIERLIFT_*`` environment while the block runs (the
    caller's own ``TIERLIFT_*`` variables are set aside, and restored after)."""
    mine = {k: v for k, v in os.environ.items() if k.upper().startswith("TIERLIFT_")}
    for name in mine:
        del os.environ[name]
    os.environ.update(values)
    try:
        yield
    finally:
        for name in values:
            os.environ.pop(name, None)
        os.environ.update(mine)


class Progress:
    """The live progress line, rewritten in place when it changes (on a terminal; elsewhere
    only its last state is printed)."""

    def __init__(self, out: IO[str], service: Service, scene: Scene, total: int) -> None:
        self.out, self.service, self.scene, self.total = out, service, scene, total
        self.announced = 0
        self.policies = len(service.escalator.policies.names)
        self.live = bool(getattr(out, "isatty", lambda: False)())
        self._shown = ""

    def __call__(self, *, final: bool = False) -> None:
        if not (self.live or final):
            return
        store = self.service.store
        counts = store.inbox_counts()
        fired, _ = audited_policies(store.audit_log(limit=None))
        written = len(self.scene.zendesk.writes()) + len(self.scene.jira.writes())
        line = (f"tickets {self.announced}/{self.total} · webhooks {sum(counts.values())} "
                f"({counts.get('pending', 0)} pending) · writes {written} · policies acted "
                f"{len(fired)}/{self.policies}")
        if line != self._shown:
            width = shutil.get_terminal_size().columns - 1  # a wrapped line is not rewritten
            self.out.write(f"\r{line[:width]:<{len(self._shown)}}" if self.live else line)
            self.out.flush()
            self._shown = line

    def done(self) -> None:
        self(final=True)
        self.out.write("\n")
        self.out.flush()


def _settle(service: Service, scene: Scene, progress: Progress | None = None, *,
            quiet: float = 0.6, timeout: float = 60) -> None:
    """Until every webhook was delivered and no delivery is pending, for ``quiet`` seconds."""
    senders = [e.sender for e in (scene.zendesk, scene.jira) if e.sender is not None]
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        if progress is not None:
            progress()
        idle = all(s.idle for s in senders) and \
            not service.store.inbox_counts().get("pending", 0)
        quiet_since = (quiet_since or time.monotonic()) if idle else None
        if quiet_since is not None and time.monotonic() - quiet_since >= quiet:
            return
        time.sleep(0.1)
    raise TimeoutError(f"tierlift did not become idle within {timeout:.0f}s")


def _stream(labels: LabelSet, scene: Scene, progress: Progress) -> None:
    """The requesters' earlier tickets first (their history), then the rest one by one,
    oldest first, each announced with one signed webhook as the helpdesk sends it."""
    earlier = sorted((t for t in labels.tickets if t.earlier), key=lambda t: t.created)
    rest = sorted((t for t in labels.tickets if not t.earlier), key=lambda t: (t.created, t.name))
    for t in earlier:
        _announce(scene, t)
        progress.announced += 1
    _settle(progress.service, scene, progress, quiet=0.3)
    for t in rest:
        _announce(scene, t)
        progress.announced += 1
        progress()
        time.sleep(STREAM_PAUSE)
    _settle(progress.service, scene, progress)
    progress.done()


def _announce(scene: Scene, t: Labelled) -> None:
    ref = scene.refs[t.name]
    if t.platform == "zendesk":
        scene.zendesk.announce(int(ref), "comment_added" if t.events else "created")
    else:
        scene.jira.announce(ref)


def _handoff_note(scene: Scene, t: Labelled) -> str | None:
    """tierlift's last internal note on the ticket, as the helpdesk shows it to agents."""
    ref = scene.refs[t.name]
    if t.platform == "zendesk":
        notes = [c["body"] for c in scene.zendesk.comments[int(ref)]
                 if c["author_id"] == BOT_ID and not c["public"]]
    else:
        notes = [c.body for c in scene.jira.issues[ref].comments
                 if c.author == scene.jira.bot and not c.public]
    return notes[-1] if notes else None


def _move(before: State, after: State) -> str:
    return f"{before} -> {after}" if before != after else f"{after} (stays)"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _table(outcomes: list[Outcome], out: IO[str]) -> None:
    shown = [o for o in outcomes if not o.ticket.earlier]
    rows = [(f"{o.ticket.platform} #{o.ref}", o.ticket.language, _cut(o.ticket.subject, 38),
             _move(o.before, o.after), ", ".join(sorted(o.fired)) or "-",
             "yes" if o.agrees else "NO")
            for o in shown]
    header = ("ticket", "lang", "subject", "from -> to (tier/team/priority)", "policies",
              "as labelled")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(),
              file=out)
    history = len(outcomes) - len(shown)
    if history:
        print(f"(and {history} earlier tickets of these requesters, announced first as their "
              "history)", file=out)
    for o in shown:
        if not o.agrees:
            print(f"NOT AS LABELLED: {o.ticket.name}: expected {o.ticket.expect.state}, got "
                  f"{o.after}; fired {', '.join(sorted(o.fired)) or 'none'}, labelled "
                  f"{', '.join(sorted(o.ticket.expect.criteria)) or 'none'}"
                  + (f"; held {'; '.join(o.held)}" if o.held else ""), file=out)


def _policies(outcomes: list[Outcome], enabled: list[str], out: IO[str]) -> bool:
    acted = Counter(p for o in outcomes for p in o.fired)
    missing = [p for p in enabled if not acted[p]]
    print("\nPolicies of the preset that acted (tickets): "
          + ", ".join(f"{p} {acted[p]}" for p in enabled), file=out)
    if missing:
        print(f"DID NOT ACT: {', '.join(missing)}", file=out)
    else:
        print(f"every one of the {len(enabled)} policies acted at least once", file=out)
    return not missing


def _handoffs(labels: LabelSet, scene: Scene, outcomes: list[Outcome], out: IO[str]) -> None:
    by_name = {o.ticket.name: o for o in outcomes}
    for t in labels.tickets:
        if t.name not in HANDOFFS:
            continue
        note = _handoff_note(scene, t)
        if note is None:
            continue
        o = by_name[t.name]
        print(f"\n{t.platform} #{o.ref} \"{t.subject}\" ({_move(o.before, o.after)}), the "
              "internal note tierlift left for the next tier:", file=out)
        for line in note.splitlines():
            print(f"    {line}".rstrip(), file=out)


def _tier_mix(service: Service, out: IO[str]) -> None:
    r = review(service.store, service.settings.tiers)
    print(f"\nTier mix, as tierlift report counts it ({r.tickets} tickets by the tier "
          "tierlift last saw them in), against the playbooks' guide:", file=out)
    for share in r.tier_mix:
        verdict = "" if share.on_guide is None else "  on guide" if share.on_guide \
            else "  off guide"
        print(f"  {share.tier:<4} {share.tickets:>3}  {share.percent:5.1f} %  "
              f"(guide {share.guide or '-'}){verdict}", file=out)
    print("  The tour's tickets are picked so that every policy acts; in a real queue most "
          "tickets stay in tier 1.", file=out)


def _robustness(scene: Scene, service: Service, receiver: str, out: IO[str]) -> bool:
    """Re-send a delivery byte for byte, and show how the injected 429 and 409 went."""
    zendesk = scene.zendesk
    first = zendesk.sender.sent[0]
    status = requests.post(f"{receiver}/webhooks/zendesk", data=first.body,
                           headers=first.headers, timeout=5).status_code
    print(f"\nZendesk re-sent its first delivery unchanged: HTTP {status}, a duplicate, "
          "stored once and not evaluated again", file=out)
    limited = [r for r in zendesk.requests if r.status == 429]
    if limited:
        print(f"Zendesk answered a read with 429 Too Many Requests (Retry-After: 1): tierlift "
              f"waited and read again ({limited[0].method} {limited[0].path})", file=out)
    conflicts = [e for e in service.store.audit_log(limit=None)
                 if len(e["detail"].get("rounds") or ()) > 1]
    for entry in conflicts[:1]:
        print(f"Zendesk refused a write with 409 (someone changed {entry['platform']} "
              f"#{entry['ticket_ref']} at that moment): tierlift read it again, decided again "
              f"and wrote once ({entry['outcome']})", file=out)
    return status == 200


def _hand_back(labels: LabelSet, scene: Scene, service: Service, out: IO[str]) -> bool:
    """A tier-2 agent hands an escalation back to tier 1: tierlift must leave it there."""
    t = next((t for t in labels.tickets if t.name == HANDED_BACK), None)
    if t is None or state_of(scene, t).tier != "L2":
        return True
    ref = int(scene.refs[t.name])
    writes = len(scene.zendesk.writes(ref))
    scene.zendesk.agent_moves(ref, ZENDESK_AGENTS["L2"], ZENDESK_TIER_GROUPS["L1"])
    scene.zendesk.agent_note(ref, ZENDESK_AGENTS["L2"], "Tier 1 can handle this one: the PDF "
                             "export fix is in the macro 'Export stops at 80 %'.")
    _settle(service, scene, quiet=0.4)
    stayed = state_of(scene, t).tier == "L1" and len(scene.zendesk.writes(ref)) == writes
    print(f"\nA tier-2 agent moved zendesk #{ref} back to tier 1: tierlift "
          + ("left it there (the same evidence never escalates twice); the review counts it "
             "as an override" if stayed else "MOVED IT AGAIN"), file=out)
    return stayed


def _backtest(settings: Settings, scene: Scene, out: IO[str]) -> bool:
    """``tierlift backtest --since 30d`` over the emulators' history, reading only."""
    emulators = (scene.zendesk, scene.jira)
    before = [len(e.requests) for e in emulators]
    started = time.monotonic()
    result = backtest(settings, since=BACKTEST_SINCE, cache_path=None, now=datetime.now(UTC))
    seconds = time.monotonic() - started
    made = [r for e, n in zip(emulators, before, strict=True) for r in e.requests[n:]]
    writes = [r for r in made if r.method != "GET"]
    print(f"\n$ tierlift backtest --since {BACKTEST_SINCE}   (the same configuration over the "
          f"emulators' history: {len(made)} requests in {seconds:.1f} s, "
          + (f"{len(writes)} NOT GET" if writes else "all GET: nothing written") + ")",
          file=out)
    text = render_text(Summary.of(result, samples=0))
    print("    " + text.rstrip("\n").replace("\n", "\n    ").replace("\n    \n", "\n\n"),
          file=out)
    return not writes


def _wait_for_ctrl_c() -> None:
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass


def run_demo(*, wait: bool = True, port: int = 0, out: IO[str] = sys.stdout) -> int:
    """The tour; with ``wait``, then serve the dashboard until Ctrl-C. Returns the exit
    status."""
    started = time.monotonic()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the emulators' access logs
    workdir = Path(tempfile.mkdtemp(prefix="tierlift-demo-"))
    labels = demo_tickets()
    zendesk, jira = helpdesks()
    servers = [zendesk.serve(), jira.serve()]
    service = None
    try:
        scene = build_scene(labels, zendesk, jira)
        config = workdir / "tierlift.toml"
        config.write_text(render("standard"), encoding="utf-8")
        database_url = f"sqlite:///{workdir / 'tierlift.db'}"
        zendesk_secret, jira_secret = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        env = connection_env(scene, database_url, servers[0].url, servers[1].url,
                             zendesk_secret=zendesk_secret, jira_secret=jira_secret)
        with _environment(env):
            settings = load_settings(config)
        service = Service.build(settings, workers=2)
        ready = threading.Event()
        threading.Thread(target=service.serve, args=("127.0.0.1", port),
                         kwargs={"ready": ready}, daemon=True, name="tierlift").start()
        if not ready.wait(15):
            raise RuntimeError("tierlift did not start")
        receiver = f"http://127.0.0.1:{service.server.effective_port}"
        zendesk.send_webhooks_to(f"{receiver}/webhooks/zendesk", zendesk_secret)
        jira.send_webhooks_to(f"{receiver}/webhooks/jira", secret=jira_secret)
        enabled = list(service.escalator.policies.names)
        languages = sorted({t.language for t in labels.tickets})
        print(textwrap.fill(
            f"tierlift demo: emulated Zendesk at {servers[0].url} and Jira Cloud at "
            f"{servers[1].url} (loopback), tierlift at {receiver} with the standard preset "
            f"(tierlift init --preset standard: {', '.join(enabled)}), connection details "
            f"from TIERLIFT_* variables.", WIDTH), file=out)
        print(textwrap.fill(
            f"{len(labels.tickets)} tickets from {len(labels.people)} customers in "
            f"{len(languages)} languages ({', '.join(languages)}), backdated up to "
            f"{-min(t.created for t in labels.tickets).days} days; the helpdesk sends one "
            "webhook per ticket.", WIDTH) + "\n", file=out)

        # the helpdesks misbehave once each way, as they do
        zendesk.fail_next("GET", r"/api/v2/tickets/\d+\.json", 429,
                          headers={"Retry-After": "1"}, body={"error": "TooManyRequests"})
        zendesk.fail_next("PUT", r"/api/v2/tickets/\d+\.json", 409, body={
            "error": "UpdateConflict", "description": "Safe Update prevented the update due "
            "to outdated ticket data. Please fetch the latest ticket data and try again."})
        progress = Progress(out, service, scene, len(labels.tickets))
        _stream(labels, scene, progress)

        outcomes = collect(scene, labels, service.store)
        print("\nWhat happened to each ticket:", file=out)
        _table(outcomes, out)
        all_acted = _policies(outcomes, enabled, out)
        unsafe = [o for o in outcomes if o.loop or o.downward or o.closed_writes]
        print(f"safety: {sum(o.downward for o in outcomes)} moves down, "
              f"{sum(1 for o in outcomes if o.loop)} loops, "
              f"{sum(o.closed_writes for o in outcomes)} writes to solved or closed tickets; "
              f"{sum(o.writes for o in outcomes)} writes in all", file=out)
        _handoffs(labels, scene, outcomes, out)
        duplicate_ok = _robustness(scene, service, receiver, out)
        handed_back = _hand_back(labels, scene, service, out)
        _tier_mix(service, out)
        read_only = _backtest(settings, scene, out)

        ok = (all(o.agrees for o in outcomes) and all_acted and not unsafe and read_only
              and duplicate_ok and handed_back)
        print(f"\ntour {'done' if ok else 'done, WITH PROBLEMS (above)'} in "
              f"{time.monotonic() - started:.1f} s.", file=out)
        print(f"store: {database_url}   (while the demo runs: tierlift report --database-url "
              f"{database_url})", file=out)
        print(f"dashboard: {receiver}/admin"
              + ("   (open: tierlift listens on loopback only; Ctrl-C to stop)" if wait
                 else ""), file=out, flush=True)
        if wait:
            _wait_for_ctrl_c()
            print("stopped.", file=out)
        return 0 if ok else 1
    finally:
        if service is not None:
            service.shutdown()
            service.store.close()
        for emulator, server in zip((zendesk, jira), servers, strict=True):
            emulator.close()
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)  # the store and the config, made for the tour
