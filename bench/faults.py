"""The fault suite: tierlift never loses nor duplicates work (issue 10).

The loopback Zendesk and Jira emulators play a support desk whose tickets change step by step;
the webhooks they send (the scene's, and the echoes of tierlift's own writes) are posted by
concurrent clients into a real ``tierlift serve`` (4 workers, sweep off so that it cannot make
up for a lost delivery), out of order and some of them twice, while:

- the process is killed with SIGKILL and restarted at random moments, every third kill while an
  emulator holds back the answer of a write it has carried out;
- the emulators answer about 30 % of API calls 429/503 (small Retry-After) or, for Zendesk
  writes, 409; a tier write (and a Jira note) is carried out but answered only after tierlift's
  read timeout;
- on PostgreSQL, the database server restarts once while tierlift is idle and once while busy.

The backlog is worked off under the API faults; then they stop, and the suite checks:

- every delivery acknowledged (2xx) was processed: its inbox row is ``done``, none is missing,
  none was given up (``failed``), none was accepted (202) twice;
- every ticket whose customer asked for a manager got its tier move exactly once (writes
  counted at the emulator), every other ticket none; no Jira issue got the note twice;
- nothing due stayed unprocessed longer than ``--stall-bound`` seconds after the faults stopped.

    .venv/bin/python bench/faults.py [--deliveries 1000] [--kills 20] [--stores sqlite,postgres]
        [--seed N] [--no-pg-restart]

Exit status 1 on any loss, duplicate or stall (2 if it could not run).
"""

from __future__ import annotations

import argparse
import heapq
import inspect
import logging
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests
import sqlalchemy as sa

from connector.http import ApiSession
from webhook_app.emulator.base import BaseEmulator, Recorded
from webhook_app.emulator.jira import JiraEmulator
from webhook_app.emulator.zendesk import ZendeskEmulator
from webhook_app.store import audit, inbox

TIERLIFT = str(Path(sys.executable).parent / "tierlift")
SECRET = "faults-webhook-secret"
PG_ADMIN = os.environ.get("TIERLIFT_TEST_POSTGRES",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# tierlift's read timeout on helpdesk calls: an answer held back longer is a timeout to it.
READ_TIMEOUT = inspect.signature(ApiSession).parameters["timeout"].default[1]
L1, L2, L3 = 101, 102, 103  # Zendesk tier groups
MAYA, ANA = 1, 501  # Zendesk customer and tier-1 agent
CUSTOMER, AGENT = "557058:customer-maya", "557058:agent-chen"  # Jira
ASK = "This is taking too long. I want to speak to a manager."
NO_ASK = "Thanks, any news on this?"
# (status, Retry-After, chance) of each API call, ~30 % in all; Zendesk PUTs also get 409.
API_FAULTS = ((429, "0", 0.12), (429, "1", 0.03), (503, "0", 0.12), (503, "0.3", 0.05))
CONFLICT_CHANCE = 0.1
WRITES = {"zendesk": r"/tickets/\d+\.json$", "jira": r"/issue/[^/]+$"}  # tier write paths (PUT)
STARTUP_SECONDS = 1.3  # about how long tierlift serve takes to answer /readyz here


# -- what the helpdesks send, and what tierlift answered ---------------------------------------

@dataclass
class Sent:
    """One delivery as a helpdesk sends it, and what tierlift answered to its posts."""

    platform: str
    body: bytes
    sign: Callable[[bytes], dict[str, str]]
    origin: str  # "scene": a change people made; "echo": tierlift's own write coming back
    answers: list[int | None] = field(default_factory=list)  # None: no answer (killed)
    key: str | None = None  # the inbox key tierlift named in a 2xx answer
    accepted: int = 0  # 202 answers: stored as new
    ignored: bool = False  # 200 "ignored": nothing to store

    @property
    def acknowledged(self) -> bool:
        return self.key is not None or self.ignored


class _Sender:
    """What an emulator calls to send a webhook (its ``sender``): hands it to the stream."""

    def __init__(self, stream: Stream, platform: str) -> None:
        self._stream, self._platform = stream, platform

    def send(self, body: bytes, sign: Callable[[bytes], dict[str, str]]) -> None:
        self._stream.add(self._platform, body, sign)

    def close(self) -> None:
        pass


class Stream:
    """The helpdesks' outgoing webhooks. Each waits in a window of ``window`` and leaves in
    random order; a share ``duplicate_rate`` of the scene's is sent again 0.2-3 s later.
    Deliveries made on the thread named "scene" are the scene's, the others echoes."""

    def __init__(self, rng: random.Random, *, window: int = 8,
                 duplicate_rate: float = 0.15) -> None:
        self.deliveries: list[Sent] = []
        self.duplicate_posts = 0
        self.closing = False  # the scene is over: hold nothing back to reorder
        self._rng, self._window, self._duplicate_rate = rng, window, duplicate_rate
        self._ready: list[Sent] = []
        self._later: list[tuple[float, int, Sent]] = []
        self._in_flight = 0
        self._cond = threading.Condition()

    def sender(self, platform: str) -> _Sender:
        return _Sender(self, platform)

    def add(self, platform: str, body: bytes, sign: Callable[[bytes], dict[str, str]]) -> None:
        scene = threading.current_thread().name == "scene"
        sent = Sent(platform, body, sign, "scene" if scene else "echo")
        with self._cond:
            self.deliveries.append(sent)
            self._ready.append(sent)
            if scene and self._rng.random() < self._duplicate_rate:
                again = time.monotonic() + self._rng.uniform(0.2, 3.0)
                heapq.heappush(self._later, (again, len(self.deliveries), sent))
            self._cond.notify()

    def scene_count(self) -> int:
        with self._cond:
            return sum(s.origin == "scene" for s in self.deliveries)

    def take(self, stop: threading.Event) -> Sent | None:
        """The next delivery to post (``None`` once ``stop`` is set)."""
        with self._cond:
            while not stop.is_set():
                now = time.monotonic()
                while self._later and self._later[0][0] <= now:
                    self._ready.append(heapq.heappop(self._later)[2])
                    self.duplicate_posts += 1
                if self._ready and (self.closing or len(self._ready) >= self._window):
                    self._in_flight += 1
                    return self._ready.pop(self._rng.randrange(len(self._ready)))
                self._cond.wait(0.05)
        return None

    def posted(self) -> None:
        with self._cond:
            self._in_flight -= 1

    @property
    def idle(self) -> bool:
        with self._cond:
            return not self._ready and not self._later and not self._in_flight


def post(session: requests.Session, url: str, sent: Sent, stop: threading.Event) -> None:
    """Post until tierlift acknowledges (2xx) or refuses (4xx), as a helpdesk retries."""
    while not stop.is_set():
        try:
            response = session.post(url, data=sent.body, headers=sent.sign(sent.body), timeout=5)
        except requests.RequestException:  # killed, restarting
            sent.answers.append(None)
            time.sleep(0.1)
            continue
        status = response.status_code
        sent.answers.append(status)
        if status in (200, 202):
            answer = response.json()
            sent.accepted += status == 202
            if answer.get("status") == "ignored":
                sent.ignored = True
            else:
                sent.key = answer["delivery"]
            return
        if 400 <= status < 500:
            return
        try:  # the store is unavailable (503, Retry-After: 10): a second is enough here
            wait = float(response.headers.get("Retry-After", "0.2"))
        except ValueError:
            wait = 0.2
        time.sleep(min(wait, 1.0))


def clients(stream: Stream, base: str, count: int, stop: threading.Event) -> None:
    """``count`` threads posting what the stream gives them until ``stop``."""
    urls = {"zendesk": f"{base}/webhooks/zendesk", "jira": f"{base}/webhooks/jira"}

    def run() -> None:
        with requests.Session() as session:
            while (sent := stream.take(stop)) is not None:
                try:
                    post(session, urls[sent.platform], sent, stop)
                finally:
                    stream.posted()

    for n in range(count):
        threading.Thread(target=run, daemon=True, name=f"client-{n}").start()


# -- the scene: tickets changing as people work on them ----------------------------------------

class Scene:
    """Tickets in both emulators, each with a story: created, maybe an agent's internal note or
    a status change, then the customer's comment (asking for a manager, or not), maybe another
    note (a change racing tierlift's write). Several stories interleave."""

    def __init__(self, zendesk: ZendeskEmulator, jira: JiraEmulator, rng: random.Random, *,
                 ask_share: float = 0.8, zendesk_share: float = 0.6) -> None:
        self.zendesk, self.jira, self._rng = zendesk, jira, rng
        self._ask_share, self._zendesk_share = ask_share, zendesk_share
        self.asks: dict[tuple[str, str], bool] = {}  # (platform, ticket) -> asked for a manager

    def play(self, stream: Stream, deliveries: int, rate: float, stop: threading.Event) -> None:
        """Until the stories made ``deliveries`` webhooks, about ``rate`` steps a second."""
        active: list[Iterator[None]] = []
        while not stop.is_set():
            if stream.scene_count() < deliveries:
                while len(active) < 6:
                    active.append(self._story())
            if not active:
                return
            story = self._rng.choice(active)
            if next(story, StopIteration) is StopIteration:
                active.remove(story)
                continue
            time.sleep(self._rng.expovariate(rate))

    def _story(self) -> Iterator[None]:
        asks = self._rng.random() < self._ask_share
        if self._rng.random() < self._zendesk_share:
            return self._zendesk_story(asks)
        return self._jira_story(asks)

    def _zendesk_story(self, asks: bool) -> Iterator[None]:
        zd, rng = self.zendesk, self._rng
        ticket = zd.create_ticket(subject="Charged twice", description="I was charged twice.",
                                  requester_id=MAYA, group_id=L1, assignee_id=ANA)
        self.asks[("zendesk", str(ticket))] = asks
        yield
        if rng.random() < 0.5:
            zd.agent_note(ticket, ANA, "Looking into it.")
            yield
        if rng.random() < 0.3:
            zd.agent_sets_status(ticket, ANA, "pending")
            yield
        zd.customer_comment(ticket, ASK if asks else NO_ASK)
        yield
        if rng.random() < 0.3:
            zd.agent_note(ticket, ANA, "Still checking with billing.")
            yield

    def _jira_story(self, asks: bool) -> Iterator[None]:
        jira, rng = self.jira, self._rng
        key = jira.create_issue("Invoices export fails", "Export gives error 500.", CUSTOMER)
        self.asks[("jira", key)] = asks
        yield
        if rng.random() < 0.5:
            jira.agent_comment(key, AGENT, "Looking into it.")
            yield
        if rng.random() < 0.3:
            jira.agent_sets_status(key, AGENT, "In Progress")
            yield
        jira.customer_comment(key, ASK if asks else NO_ASK)
        yield
        if rng.random() < 0.3:
            jira.agent_comment(key, AGENT, "Still checking with the export team.")
            yield


def emulators(stream: Stream, seed: int) -> tuple[ZendeskEmulator, JiraEmulator]:
    """Both helpdesks, their webhooks going to ``stream``, the API faults armed; no per-minute
    limit in the way (its Retry-After of up to a minute would only slow the run)."""
    zendesk = ZendeskEmulator(rate_limit=1_000_000)
    zendesk.user(MAYA, "Maya Lind")
    zendesk.user(ANA, "Ana", role="agent")
    zendesk.group(L1, ANA)
    zendesk.group(L2)
    zendesk.group(L3)
    jira = JiraEmulator(rate_limit=1_000_000)
    jira.user(CUSTOMER, "Maya Lind", customer=True)
    jira.user(AGENT, "Chen")
    for n, emulator in enumerate((zendesk, jira)):
        emulator.rng.seed(seed * 10 + n)
        emulator.webhook_secret = SECRET
        emulator.sender = stream.sender("zendesk" if emulator is zendesk else "jira")
        emulator.url = emulator.serve().url
    zendesk.fail_next("PUT", WRITES["zendesk"], 409, times=None, chance=CONFLICT_CHANCE,
                      body={"error": "UpdateConflict", "description": "Safe Update prevented "
                            "the update due to outdated ticket data."})
    for emulator in (zendesk, jira):
        for method in ("GET", "PUT", "POST"):
            for status, retry_after, chance in API_FAULTS:
                emulator.fail_next(method, ".", status, times=None, chance=chance,
                                   headers={"Retry-After": retry_after})
    return zendesk, jira


# -- tierlift serve, killed and restarted -------------------------------------------------------

def config_text(database_url: str, zendesk: ZendeskEmulator, jira: JiraEmulator) -> str:
    return textwrap.dedent(f"""
        database_url = "{database_url}"
        tiers = ["L1", "L2", "L3"]
        default_tier = "L1"

        [zendesk]
        base_url = "{zendesk.url}"
        email = "{zendesk.email}"
        api_token = "{zendesk.api_token}"
        webhook_secret = "{SECRET}"
        [zendesk.tier_groups]
        L1 = {L1}
        L2 = {L2}
        L3 = {L3}

        [jira]
        base_url = "{jira.url}"
        email = "{jira.email}"
        api_token = "{jira.api_token}"
        webhook_secret = "{SECRET}"
        tier_field = "{jira.tier_field}"
        [jira.tier_values]
        L1 = "Tier 1"
        L2 = "Tier 2"
        L3 = "Tier 3"

        [policies.customer_request]
        enabled = true
        phrases = ["speak to a manager"]

        [worker]
        poll_seconds = 0.2
        coalesce_seconds = 0.2
        lease_seconds = 3
        sweep_minutes = 0
    """)


class Serve:
    """``tierlift serve`` on a fixed loopback port, killed and started again."""

    def __init__(self, config: Path, log: Path, workers: int) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.config, self.log, self.workers = config, log, workers
        self.process: subprocess.Popen | None = None
        self.starts = self.failed_starts = self.kills = 0

    def start(self, timeout: float = 60.0) -> None:
        """Start (again, while it exits: the database may be down) until /readyz answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                if self.process is not None:
                    self.failed_starts += 1
                    time.sleep(0.3)
                with self.log.open("a") as log:
                    self.process = subprocess.Popen(
                        [TIERLIFT, "serve", "--config", str(self.config), "--port",
                         str(self.port), "--workers", str(self.workers), "--log-level",
                         "warning"], stdout=log, stderr=subprocess.STDOUT)
                self.starts += 1
            if self.ready():
                return
            time.sleep(0.05)
        raise RuntimeError(f"tierlift serve not ready after {timeout:.0f} s; see {self.log}")

    def ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.process = None
        self.kills += 1

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


# -- counting -----------------------------------------------------------------------------------

def tier_moves(platform: str, writes: Iterable[Recorded], tier_field: str = "") -> int:
    """How many of a ticket's recorded API requests were applied writes that set its tier:
    a Zendesk PUT answered 200 carrying ``group_id``, a Jira PUT answered 204 setting
    ``tier_field``. An answer held back past the client's timeout was applied all the same."""
    if platform == "zendesk":
        return sum(r.method == "PUT" and r.status == 200
                   and "group_id" in ((r.body or {}).get("ticket") or {}) for r in writes)
    return sum(r.method == "PUT" and r.status == 204
               and tier_field in ((r.body or {}).get("fields") or {}) for r in writes)


@dataclass
class Tally:
    """Tickets by how often their tier was written."""

    asked: int = 0  # tickets whose customer asked for a manager: one move each expected
    once: int = 0
    twice: int = 0  # more than once
    never: int = 0
    controls: int = 0  # tickets that asked for nothing: no move expected
    unexpected: int = 0  # controls moved all the same
    duplicated: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, asks: dict[tuple[str, str], bool], moves: dict[tuple[str, str], int]) -> Tally:
        tally = cls()
        for ticket, asked in sorted(asks.items()):
            count = moves.get(ticket, 0)
            if asked:
                tally.asked += 1
                tally.once += count == 1
                tally.never += count == 0
            else:
                tally.controls += 1
                tally.unexpected += count > 0
            if count > 1:
                tally.twice += 1
                tally.duplicated.append(f"{ticket[0]} {ticket[1]} x{count}")
        return tally


@dataclass
class Figures:
    store: str
    seconds: float = 0.0
    scene: int = 0  # distinct deliveries the scene made
    echoes: int = 0  # distinct deliveries of tierlift's own writes coming back
    duplicate_posts: int = 0
    posts: Counter = field(default_factory=Counter)  # answers to every post (None: none)
    answer_lost: int = 0  # stored, but the 202 never reached the sender (a kill cut it off)
    acknowledged: int = 0
    unacknowledged: int = 0
    accepted_twice: int = 0
    ignored: int = 0
    processed: int = 0
    lost: list[str] = field(default_factory=list)  # acknowledged, no inbox row
    failed: list[str] = field(default_factory=list)  # given up on
    stalled: list[str] = field(default_factory=list)  # due, still pending past the bound
    backlog_seconds: float = 0.0  # from the last kill and scene change to an empty inbox
    drained_in: float | None = None
    kills: int = 0
    failed_starts: int = 0
    pg_restarts: list[str] = field(default_factory=list)
    api_calls: int = 0
    injected: Counter = field(default_factory=Counter)
    held: int = 0  # applied writes answered past the read timeout
    timeouts_seen: int = 0  # evaluations whose audit shows tierlift's read timeout
    killed_after_write: int = 0  # kills while an emulator held back a write's answer
    unrecorded: int = 0  # tickets moved whose evaluation a kill cut short before its audit
    tally: Tally = field(default_factory=Tally)
    notes_twice: list[str] = field(default_factory=list)  # Jira issues given the note twice

    def count_deliveries(self, deliveries: Iterable[Sent],
                         statuses: dict[tuple[str, str], str]) -> None:
        """Each delivery by what tierlift answered and what its inbox holds (``statuses``:
        the status of each inbox row by platform and key)."""
        for sent in deliveries:
            self.scene += sent.origin == "scene"
            self.echoes += sent.origin != "scene"
            self.accepted_twice += sent.accepted > 1
            self.posts.update(sent.answers)
            self.answer_lost += sent.key is not None and not sent.accepted
            self.ignored += sent.ignored
            if not sent.acknowledged:
                self.unacknowledged += 1
                continue
            self.acknowledged += 1
            if sent.ignored:
                continue
            status = statuses.get((sent.platform, sent.key))
            name = f"{sent.platform} {sent.key}"
            if status is None:
                self.lost.append(name)
            elif status == "done":
                self.processed += 1
            elif status == "failed":
                self.failed.append(name)
            elif name not in self.stalled:
                self.stalled.append(name)

    @property
    def problems(self) -> list[str]:
        t = self.tally
        found = [f"{len(self.lost)} acknowledged deliveries lost: {self.lost[:5]}"
                 if self.lost else "",
                 f"{len(self.failed)} deliveries given up on: {self.failed[:5]}"
                 if self.failed else "",
                 f"{len(self.stalled)} due deliveries stalled: {self.stalled[:5]}"
                 if self.stalled else "",
                 f"{self.unacknowledged} deliveries never acknowledged"
                 if self.unacknowledged else "",
                 f"{self.accepted_twice} deliveries accepted (202) twice"
                 if self.accepted_twice else "",
                 f"{t.twice} tickets written twice: {t.duplicated[:5]}" if t.twice else "",
                 f"{t.never} tickets that asked were never written" if t.never else "",
                 f"{t.unexpected} tickets written that asked for nothing"
                 if t.unexpected else "",
                 f"{len(self.notes_twice)} Jira issues noted twice: {self.notes_twice[:5]}"
                 if self.notes_twice else ""]
        return [p for p in found if p] + [r for r in self.pg_restarts if "NOT" in r]

    def report(self) -> str:
        t = self.tally
        calls = max(self.api_calls, 1)
        injected = ", ".join(f"{status}: {n}" for status, n in sorted(self.injected.items()))
        lines = [
            f"store {self.store} ({self.seconds:.0f} s)",
            f"  deliveries sent {self.scene + self.echoes}: {self.scene} by the scene + "
            f"{self.echoes} echoes of tierlift's writes, {self.duplicate_posts} posted twice "
            "on purpose",
            f"  acknowledged (2xx) {self.acknowledged}, processed {self.processed}, lost "
            f"{len(self.lost)}, given up {len(self.failed)}, never acknowledged "
            f"{self.unacknowledged}, accepted twice {self.accepted_twice}, ignored "
            f"{self.ignored}",
            f"  tickets that asked for a manager {t.asked}: written once {t.once}, twice "
            f"{t.twice}, never {t.never}; that asked for nothing {t.controls}: written "
            f"{t.unexpected}; Jira notes twice {len(self.notes_twice)}",
            f"  faults: {self.kills} kills -9 ({self.failed_starts} starts failed), API "
            f"answers {injected} of {self.api_calls} calls "
            f"({sum(self.injected.values()) / calls:.0%}), {self.held} writes carried out but "
            f"answered after tierlift's {READ_TIMEOUT:g} s timeout (it saw "
            f"{self.timeouts_seen} timeouts)",
            f"  windows hit: {sum(self.posts.values())} posts ({self.posts[None]} unanswered "
            f"(down or killed), {self.posts[503]} answered 503), {self.answer_lost} "
            f"deliveries stored whose 202 a kill cut off, {self.killed_after_write} kills while "
            f"the answer of a write was held back, {self.unrecorded} tickets moved by an "
            "evaluation a kill cut short before its audit",
        ]
        if self.pg_restarts:
            lines.append(f"  PostgreSQL restarts: {'; '.join(self.pg_restarts)}")
        lines.append(f"  stalled: {'yes' if self.stalled else 'no'} (backlog worked off "
                     f"{self.backlog_seconds:.1f} s after the last kill and scene change, under "
                     "the API faults; then "
                     + (f"quiet {self.drained_in:.1f} s after they stopped)"
                        if self.drained_in is not None else "it did not drain)"))
        return "\n".join(lines)


# -- one run on one store -----------------------------------------------------------------------

@dataclass
class Options:
    deliveries: int = 1000
    kills: int = 20
    seed: int = 0
    pg_restart: bool = True
    pg_restart_command: str = "pg_ctlcluster 15 main restart"
    held_answers: int = 1  # per helpdesk
    rate: float = 20.0  # scene steps a second
    clients: int = 4
    workers: int = 4
    stall_bound: float = 30.0


class Inbox:
    """tierlift's inbox and audit, read directly from its database."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, pool_pre_ping=True)

    def rows(self) -> list[sa.Row]:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(inbox.c.platform, inbox.c.dedupe_key,
                                          inbox.c.status, inbox.c.available_at,
                                          inbox.c.processed_at)).all()

    def pending(self) -> int:
        try:
            with self.engine.connect() as conn:
                return conn.execute(sa.select(sa.func.count()).select_from(inbox)
                                    .where(inbox.c.status == "pending")).scalar()
        except sa.exc.OperationalError:
            return -1

    def processed_since(self, moment: float) -> int:
        try:
            with self.engine.connect() as conn:
                return conn.execute(sa.select(sa.func.count()).select_from(inbox)
                                    .where(inbox.c.processed_at > moment)).scalar()
        except sa.exc.OperationalError:
            return 0

    def escalated(self) -> set[tuple[str, str]]:
        """Tickets with an ``escalated`` audit entry."""
        with self.engine.connect() as conn:
            return {tuple(row) for row in conn.execute(
                sa.select(audit.c.platform, audit.c.ticket_ref)
                .where(audit.c.outcome == "escalated"))}

    def timeouts_seen(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(audit)
                                .where(audit.c.detail.like("%Read timed out%"))).scalar()

    def close(self) -> None:
        self.engine.dispose()


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def restart_postgres(command: str) -> tuple[float, float]:
    """Restart the database server; returns how long it took and when it was back."""
    started = time.monotonic()
    subprocess.run(shlex.split(command), check=True, timeout=120, capture_output=True)
    return time.monotonic() - started, time.time()


def recovery(when: str, took: float, back: float, serve: Serve, db: Inbox) -> str:
    """Whether tierlift, not restarted by us, answers and processes deliveries again."""
    recovered = serve.alive() and wait_for(serve.ready, 30) and \
        wait_for(lambda: db.processed_since(back) > 0, 30) and serve.alive()
    return f"{when}: restarted in {took:.1f} s, tierlift " + \
        ("recovered" if recovered else "did NOT recover (process alive, nothing processed "
         "within 30 s)" if serve.alive() else "did NOT recover (process exited)")


def hold_answers(zendesk: ZendeskEmulator, jira: JiraEmulator, count: int) -> int:
    """Carry out the next ``count`` tier writes on each helpdesk, and Jira notes (a note
    precedes the tier write there), but answer them after tierlift's read timeout; return how
    many, once all were answered (kills wait: tierlift must see its timeouts)."""
    late = READ_TIMEOUT + 2
    faults = [zendesk.stall_after_next("PUT", WRITES["zendesk"], late, times=count),
              jira.stall_after_next("PUT", WRITES["jira"], late, times=count),
              jira.stall_after_next("POST", r"/comment$", late, times=count)]
    wait_for(lambda: all(f.times == 0 for f in faults), 30)
    taken = 0
    for fault in faults:  # no write came in time: give up on the rest
        taken += count - fault.times
        fault.times = 0
    # A Jira evaluation may wait out its held note, then its held tier write.
    wait_for(lambda: zendesk.held == jira.held == 0, 2 * late + 10)
    return taken


def write_then_kill(emulator: BaseEmulator, path: str, serve: Serve) -> bool:
    """Kill tierlift while the emulator holds back the answer of the next write to ``path``
    (within 5 s): the write is carried out, tierlift never hears of it. Whether one came."""
    fault = emulator.stall_after_next("PUT", path, 3.0)
    taken = wait_for(lambda: fault.times == 0, 5)
    fault.times = 0
    serve.kill()
    return taken


def drain(stream: Stream, db: Inbox, emulators: tuple[BaseEmulator, ...], bound: float,
          since: float) -> tuple[float | None, list[str]]:
    """Wait until every delivery was posted and processed and no answer is held back; or
    until a due delivery stayed pending ``bound`` seconds past the faults' end (``since``)
    or its own due time: those are stalled. Returns (seconds it took, stalled)."""
    quiet_since = None
    while True:
        now = time.time()
        try:
            pending = [r for r in db.rows() if r.status == "pending"]
        except sa.exc.OperationalError:
            pending = [None]
        stalled = [f"{r.platform} {r.dedupe_key}" for r in pending
                   if r is not None and max(r.available_at, since) + bound < now]
        if stalled:
            return None, stalled
        busy = pending or not stream.idle or any(e.held for e in emulators)
        quiet_since = None if busy else quiet_since or now
        if quiet_since is not None and now - quiet_since >= 1.0:  # nothing comes back any more
            return quiet_since - since, []
        if now - since > 4 * bound + READ_TIMEOUT:
            return None, [f"{r.platform} {r.dedupe_key}" for r in pending if r is not None] \
                or ["the stream never went idle"]
        time.sleep(0.2)


def run_store(store: str, opts: Options, workdir: Path, database_url: str) -> Figures:
    figures = Figures(store)
    began = time.monotonic()
    rng = random.Random(opts.seed)
    stream = Stream(rng)
    zendesk, jira = emulators(stream, opts.seed)
    scene = Scene(zendesk, jira, random.Random(opts.seed + 1))
    config = workdir / "tierlift.toml"
    config.write_text(config_text(database_url, zendesk, jira))
    serve = Serve(config, workdir / "serve.log", opts.workers)
    db = Inbox(database_url)
    stop = threading.Event()
    pg = opts.pg_restart and store == "postgres"
    try:
        serve.start()
        if pg:  # tierlift idle: nothing sent yet
            took, back = restart_postgres(opts.pg_restart_command)
        clients(stream, serve.url, opts.clients, stop)
        player = threading.Thread(target=scene.play, name="scene",
                                  args=(stream, opts.deliveries, opts.rate, stop), daemon=True)
        player.start()
        if pg:
            figures.pg_restarts.append(recovery("idle", took, back, serve, db))
        duration = opts.deliveries / opts.rate
        spread = max(0.3, duration / max(opts.kills, 1) - STARTUP_SECONDS)
        for n in range(opts.kills):
            time.sleep(rng.uniform(0.2, 2 * spread))
            if n == opts.kills // 3 and pg:  # busy: deliveries coming in, workers at work
                pending = db.pending()
                took, back = restart_postgres(opts.pg_restart_command)
                figures.pg_restarts.append(recovery(f"busy ({pending} deliveries pending)",
                                                    took, back, serve, db))
            if n == opts.kills // 2 and opts.held_answers:
                figures.held = hold_answers(zendesk, jira, opts.held_answers)
            if n % 3 == 2:  # every third kill lands just after a write was carried out
                platform = rng.choice(sorted(WRITES))
                emulator = zendesk if platform == "zendesk" else jira
                figures.killed_after_write += write_then_kill(emulator, WRITES[platform], serve)
            else:
                serve.kill()
            serve.start()
        player.join()
        stream.closing = True
        # The backlog is worked off under the API faults; then they stop.
        settled = time.monotonic()
        wait_for(lambda: stream.idle and not db.pending(), 2 * opts.stall_bound)
        figures.backlog_seconds = time.monotonic() - settled
        zendesk.clear_faults()
        jira.clear_faults()
        figures.drained_in, figures.stalled = drain(stream, db, (zendesk, jira),
                                                    opts.stall_bound, time.time())
        figures.timeouts_seen = db.timeouts_seen()
        _count(figures, stream, db, scene, zendesk, jira)
    finally:
        stop.set()
        serve.stop()
        db.close()
        for emulator in (zendesk, jira):
            emulator.close()
    figures.kills, figures.failed_starts = serve.kills, serve.failed_starts
    figures.seconds = time.monotonic() - began
    return figures


def _count(figures: Figures, stream: Stream, db: Inbox, scene: Scene,
           zendesk: ZendeskEmulator, jira: JiraEmulator) -> None:
    figures.count_deliveries(stream.deliveries, {(r.platform, r.dedupe_key): r.status
                                                 for r in db.rows()})
    figures.duplicate_posts = stream.duplicate_posts
    moves = {}
    for platform, ticket in scene.asks:
        if platform == "zendesk":
            moves[platform, ticket] = tier_moves(platform, zendesk.writes(int(ticket)))
        else:
            moves[platform, ticket] = tier_moves(platform, jira.writes(ticket), jira.tier_field)
            if len(jira.comments_posted(ticket)) > 1:
                figures.notes_twice.append(ticket)
    figures.tally = Tally.of(scene.asks, moves)
    recorded = db.escalated()
    figures.unrecorded = sum(n > 0 and ticket not in recorded for ticket, n in moves.items())
    for emulator in (zendesk, jira):
        requests_seen = list(emulator.requests)
        figures.api_calls += len(requests_seen)
        figures.injected.update(r.status for r in requests_seen if r.status in (409, 429, 503))


# -- the command ---------------------------------------------------------------------------------

def postgres_database(prefix: str = "tierlift_faults") -> tuple[str, Callable[[], None]]:
    """A fresh database ``<prefix>_<pid>`` on ``PG_ADMIN``'s server, and how to drop it."""
    # No pool: a connection kept across the restarts would be dead by the time of the drop.
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    name = f"{prefix}_{os.getpid()}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()

    return admin.url.set(database=name).render_as_string(hide_password=False), drop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=1000,
                        help="distinct deliveries the scene makes, per store")
    parser.add_argument("--kills", type=int, default=20, help="kill -9 per store")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--no-pg-restart", action="store_true",
                        help="do not restart PostgreSQL (others may be using it)")
    parser.add_argument("--pg-restart-command", default=Options.pg_restart_command)
    parser.add_argument("--held-answers", type=int, default=Options.held_answers,
                        help="tier writes per helpdesk applied but answered after tierlift's "
                             f"{READ_TIMEOUT:g} s timeout (kills wait for them)")
    parser.add_argument("--rate", type=float, default=Options.rate,
                        help="scene changes a second")
    parser.add_argument("--clients", type=int, default=Options.clients,
                        help="client threads posting")
    parser.add_argument("--workers", type=int, default=Options.workers,
                        help="tierlift serve --workers")
    parser.add_argument("--stall-bound", type=float, default=Options.stall_bound,
                        help="seconds a due delivery may wait once the faults stopped")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per emulated call
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if not stores or set(stores) - {"sqlite", "postgres"}:
        parser.error("--stores: sqlite and/or postgres")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    opts = Options(deliveries=args.deliveries, kills=args.kills, seed=seed,
                   pg_restart=not args.no_pg_restart, pg_restart_command=args.pg_restart_command,
                   held_answers=args.held_answers, rate=args.rate, clients=args.clients,
                   workers=args.workers, stall_bound=args.stall_bound)
    command = shlex.join([sys.executable, *sys.argv[:1], *(argv or sys.argv[1:])])
    print(f"command: {command}\nseed: {seed} (add --seed {seed} to draw the same faults; "
          "thread timing still varies)", flush=True)
    results: list[Figures] = []
    for store in stores:
        workdir = Path(tempfile.mkdtemp(prefix=f"tierlift-faults-{store}-"))
        try:
            if store == "sqlite":
                url, drop = f"sqlite:///{workdir / 'tierlift.db'}", (lambda: None)
            else:
                url, drop = postgres_database()
        except sa.exc.OperationalError as exc:
            print(f"store {store}: cannot create a database at {PG_ADMIN}: {exc.orig}")
            return 2
        try:
            figures = run_store(store, opts, workdir, url)
        finally:
            drop()
        results.append(figures)
        print(figures.report(), flush=True)
        if figures.problems:
            print(f"  kept {workdir} (config, serve.log) for the reproduction")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    problems = [f"{f.store}: {p}" for f in results for p in f.problems]
    print("FAIL\n  " + "\n  ".join(problems) if problems else
          "OK: nothing lost, nothing written twice, nothing stalled")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
