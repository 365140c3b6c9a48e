"""``tierlift backtest``: what the current configuration would have done to the helpdesk's recent
tickets, replayed step by step from their own history, reading the helpdesk and writing nothing.

Three parts: :func:`pull` lists the tickets updated in the window (the reconciliation sweep's
listing, solved ones included) and fetches each with everything the policies read, kept in a
:class:`TicketCache` so that a second run, or an interrupted one, fetches only what it lacks;
:class:`Replay` rebuilds each ticket's timeline and evaluates the configuration at every step as
the worker would have (``decide`` and ``tier_write`` themselves, an in-memory ledger and
history); :mod:`webhook_app.backtest_report` turns the outcome into text and HTML.
"""

from __future__ import annotations

import heapq
import json
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import IO, Protocol

from pydantic import TypeAdapter

from connector.errors import NotFound
from connector.ticket import (
    AuthorRole,
    Priority,
    Ticket,
    TicketSummary,
    TierChange,
    TierLadder,
    TierWrite,
)
from plugins.calendars import BusinessCalendar
from plugins.decision import (
    Decision,
    DecisionRules,
    Resolved,
    decide,
    tier_write,
)
from plugins.history import (
    FIRST_MESSAGE_CHARS,
    MemoryHistory,
    PastTicket,
    first_message,
    short_fields,
)
from plugins.manager import EnabledPolicies
from webhook_app.escalation import RELATED_WINDOW

DEFAULT_CACHE = "tierlift-backtest.cache.jsonl"
CACHE_FORMAT = 1
OWN_TAG_PREFIX = "tierlift_"  # tierlift's own tags (escalated, per policy, incident, SLA)
# A tier, team or priority change this close to one of tierlift's own notes (Zendesk: the same
# update; Jira: the PUT right after the note) was tierlift's own write, not an agent's.
OWN_CHANGE_BEFORE, OWN_CHANGE_AFTER = timedelta(seconds=2), timedelta(seconds=60)
# Helpdesks where a ticket sits in one group: handing it to a team's group takes it out of its
# tier's group (the connector then reads the default tier), and a tier move out of the team's.
ONE_GROUP = frozenset({"zendesk"})
_SINCE = re.compile(r"(\d+(?:\.\d+)?)\s*([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime) -> datetime:
    """``30d``, ``12h``, ``90m``, ``2w`` before ``now``, or a date / moment (``2026-11-01``,
    ``2026-11-01T08:00``, UTC unless it says otherwise)."""
    value = text.strip().lower()
    match = _SINCE.fullmatch(value)
    if match:
        return now - timedelta(**{_UNITS[match[2]]: float(match[1])})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--since {text!r}: expected a time back such as 30d, 12h, 90m, 2w, "
                         "or a date such as 2026-11-01") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- pulling ------------------------------------------------------------------------------

class Source(Protocol):
    """What the backtest reads of a helpdesk (the connectors; it never calls ``escalate``)."""

    platform: str

    def recently_updated(self, since: datetime, *, open_only: bool = True): ...
    def fetch(self, ref: str, *, needs: frozenset[str]) -> Ticket: ...
    def tickets_of(self, kind: str, ident: str, since: datetime) -> list[TicketSummary]: ...


_TICKET = TypeAdapter(Ticket)
_SUMMARIES = TypeAdapter(list[TicketSummary])


class TicketCache:
    """What was pulled, as JSON lines appended as it comes (``None`` path: kept in memory only):
    each fetched ticket with its version and the needs it was read with, and each search for a
    requester's or organization's earlier tickets. A ticket is fetched again only when the
    helpdesk lists a newer version or the policies need more; a line cut short by an interrupted
    run is ignored. Entries are per helpdesk site, so one file can serve several."""

    def __init__(self, path: str | os.PathLike | None) -> None:
        self.path = Path(path) if path is not None else None
        self._tickets: dict[tuple[str, str, str], tuple[str, frozenset[str], dict]] = {}
        self._searches: dict[tuple[str, str, str, str], tuple[datetime, list]] = {}
        self._file: IO[str] | None = None
        self._lock = threading.Lock()
        if self.path is not None and self.path.exists():
            self._load()

    def _load(self) -> None:
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    entry = json.loads(line)
                    if entry.get("format") != CACHE_FORMAT:
                        continue
                    key = (entry["site"], entry["platform"])
                    if entry["kind"] == "ticket":
                        self._tickets[(*key, entry["ref"])] = (
                            entry["version"], frozenset(entry["needs"]), entry["ticket"])
                    elif entry["kind"] == "search":
                        self._searches[(*key, entry["who"], entry["ident"])] = (
                            datetime.fromisoformat(entry["since"]), entry["found"])
                except (ValueError, KeyError, TypeError):
                    continue  # the last line of an interrupted run, or not ours

    def ticket(self, site: str, platform: str, ref: str, version: str,
               needs: frozenset[str]) -> Ticket | None:
        found = self._tickets.get((site, platform, ref))
        if found is None or found[0] != version or not needs <= found[1]:
            return None
        return _TICKET.validate_python(found[2])

    def put_ticket(self, site: str, ticket: Ticket, version: str, needs: frozenset[str]) -> None:
        raw = _TICKET.dump_python(ticket, mode="json")
        self._tickets[(site, ticket.platform, ticket.ref)] = (version, needs, raw)
        self._append({"kind": "ticket", "site": site, "platform": ticket.platform,
                      "ref": ticket.ref, "version": version, "needs": sorted(needs),
                      "ticket": raw})

    def search(self, site: str, platform: str, who: str, ident: str,
               since: datetime) -> list[TicketSummary] | None:
        found = self._searches.get((site, platform, who, ident))
        if found is None or found[0] > since:
            return None
        return [s for s in _SUMMARIES.validate_python(found[1]) if s.created_at >= since]

    def put_search(self, site: str, platform: str, who: str, ident: str, since: datetime,
                   found: list[TicketSummary]) -> None:
        raw = _SUMMARIES.dump_python(found, mode="json")
        self._searches[(site, platform, who, ident)] = (since, raw)
        self._append({"kind": "search", "site": site, "platform": platform, "who": who,
                      "ident": ident, "since": since.isoformat(), "found": raw})

    def _append(self, entry: dict) -> None:
        if self.path is None:
            return
        with self._lock:
            if self._file is None:
                # ticket contents are customer data: readable by the owner only
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                self._file = os.fdopen(fd, "a", encoding="utf-8")
            self._file.write(json.dumps({"format": CACHE_FORMAT, **entry},
                                        ensure_ascii=False) + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class Progress:
    """``pulling: 120/300 tickets (45.2/s, 80 from the cache)`` on a stream (stderr): redrawn
    in place on a terminal, a line every few seconds otherwise."""

    def __init__(self, stream: IO[str] | None = None, *, every: float = 5.0) -> None:
        self.stream = stream
        self.every = every
        self._tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
        self._shown = 0.0
        self._started = time.monotonic()

    def __call__(self, done: int, total: int | None, cached: int, *, final: bool = False) -> None:
        if self.stream is None:
            return
        now = time.monotonic()
        if not final and now - self._shown < (0.2 if self._tty else self.every):
            return
        self._shown = now
        fetched = done - cached
        rate = fetched / max(now - self._started, 1e-9)
        of = f"/{total}" if total is not None else ""
        line = f"pulling: {done}{of} tickets ({rate:.1f}/s fetched, {cached} from the cache)"
        if self._tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


@dataclass
class Pull:
    """The tickets updated in the window, and the helpdesk's earlier tickets of their requesters
    and organizations (for policies that need ``related``)."""

    tickets: list[Ticket]
    earlier: list[TicketSummary] = field(default_factory=list)
    fetched: int = 0
    cached: int = 0
    gone: int = 0  # listed, then deleted before it could be read
    seconds: float = 0.0


def _site(source: Source) -> str:
    api = getattr(source, "api", None)
    return getattr(api, "base_url", source.platform)


def pull(sources: Mapping[str, Source], since: datetime, needs: frozenset[str],
         cache: TicketCache, *, progress: Callable[..., None] = lambda *a, **k: None,
         concurrency: int = 4) -> Pull:
    """Every ticket of each helpdesk updated since ``since`` (open or not), read with ``needs``
    plus its history and comments, from the cache where it holds the listed version. Reads
    only; the ApiSession's rate budget paces the requests of the ``concurrency`` threads."""
    started = time.monotonic()
    needs = frozenset(needs) | {"history", "comments"}
    listed: list[tuple[Source, str, str]] = []
    for source in sources.values():
        versions = dict(source.recently_updated(since, open_only=False))
        listed += [(source, ref, version) for ref, version in versions.items()]
    result = Pull([])
    todo = []
    for source, ref, version in listed:
        ticket = cache.ticket(_site(source), source.platform, ref, version, needs)
        if ticket is None:
            todo.append((source, ref, version))
        else:
            result.tickets.append(ticket)
    result.cached = len(result.tickets)
    total = len(listed)
    if todo:
        progress(result.cached, total, result.cached)
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="backtest")
    try:
        pending = {pool.submit(source.fetch, ref, needs=needs): (source, version)
                   for source, ref, version in todo}
        for (source, version), ticket in _each_done(pending):
            if ticket is None:  # deleted since it was listed
                result.gone += 1
            else:
                cache.put_ticket(_site(source), ticket, version, needs)
                result.tickets.append(ticket)
                result.fetched += 1
            progress(result.cached + result.fetched + result.gone, total, result.cached)
        progress(result.cached + result.fetched + result.gone, total, result.cached,
                 final=True)
        if "related" in needs:
            result.earlier = _earlier(sources, result.tickets, cache, pool)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    result.seconds = time.monotonic() - started
    return result


def _each_done(pending: dict[Future, object]) -> Iterator[tuple[object, object]]:
    """``(context, result)`` of each call as it completes (``None``: the helpdesk has no such
    ticket). Another failure is raised once the calls completed with it are handed over, so
    that what was read before is kept."""
    while pending:
        finished, _ = wait(pending, return_when=FIRST_COMPLETED)
        failed: BaseException | None = None
        for future in finished:
            context = pending.pop(future)
            error = future.exception()
            if error is None or isinstance(error, NotFound):
                yield context, None if error else future.result()
            else:
                failed = failed or error
        if failed is not None:
            raise failed


def _earlier(sources: Mapping[str, Source], tickets: Iterable[Ticket], cache: TicketCache,
             pool: ThreadPoolExecutor) -> list[TicketSummary]:
    """The helpdesk's tickets of each requester and organization from ``RELATED_WINDOW`` before
    their first pulled ticket on, as the worker's backfill reads them (one search each)."""
    first: dict[tuple[str, str, str], datetime] = {}
    for ticket in tickets:
        for who, ident in (("requester", ticket.requester_id),
                           ("organization", ticket.organization_id)):
            if ident is not None:
                key = (ticket.platform, who, ident)
                first[key] = min(first.get(key, ticket.created_at), ticket.created_at)
    found: dict[tuple[str, str], TicketSummary] = {}
    pending = {}
    for (platform, who, ident), created in sorted(first.items()):
        source = sources.get(platform)
        if source is None:
            continue
        since = created - RELATED_WINDOW
        summaries = cache.search(_site(source), platform, who, ident, since)
        if summaries is None:
            pending[pool.submit(source.tickets_of, who, ident, since)] = (source, who, ident,
                                                                          since)
        else:
            found.update(((s.platform, s.ref), s) for s in summaries)
    for (source, who, ident, since), summaries in _each_done(pending):
        cache.put_search(_site(source), source.platform, who, ident, since, summaries or [])
        found.update(((s.platform, s.ref), s) for s in summaries or ())
    return list(found.values())


# -- replaying ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Move:
    """A write tierlift would have made: when, from which tier to which tier or team, which
    priority, what each acting policy asked for (policy -> ``L2``, ``team billing``,
    ``priority high``, ``tags``, ``followers``), and the handoff note it would have left."""

    at: datetime
    from_tier: str
    to_tier: str | None
    route: str | None
    priority: Priority | None
    targets: Mapping[str, str]
    note: str

    @property
    def moves(self) -> bool:
        """Up a tier or to a team (not only a priority, tags or followers)."""
        return self.to_tier is not None or self.route is not None


@dataclass
class Outcome:
    """One ticket: as the helpdesk has it now, as it would be with tierlift's moves, the moves,
    and when agents first moved it up a tier or to a team within the window (``None``: not)."""

    platform: str
    ref: str
    subject: str
    created_at: datetime
    tier_now: str
    route_now: str | None
    priority_now: Priority | None
    tier_after: str
    route_after: str | None
    priority_after: Priority | None
    moves: list[Move] = field(default_factory=list)
    agents_moved_at: datetime | None = None
    evaluations: int = 0

    @property
    def first_move(self) -> Move | None:
        return next((m for m in self.moves if m.moves), None)


@dataclass
class Result:
    start: datetime
    end: datetime
    ladder: TierLadder
    policies: list[str]
    shadow: list[str]  # policies in shadow mode: proposals not counted, as live
    outcomes: list[Outcome]
    evaluations: int = 0
    failures: Counter = field(default_factory=Counter)  # policy -> evaluations it raised in
    pull: Pull | None = None
    seconds: float = 0.0  # the replay


class _Story:
    """One ticket's timeline: what the helpdesk recorded (agents' changes only: tierlift's own
    earlier writes and notes are left out, the replay decides afresh), and what the replay
    added: tier, team and priority changes, tags, followers, its ledger of used evidence."""

    def __init__(self, ticket: Ticket, ladder: TierLadder, closed: frozenset[str]) -> None:
        own = [c.created_at for c in ticket.comments if c.author_role is AuthorRole.SELF]

        def by_agents(changes):
            return [changes[0], *(c for c in changes[1:] if not any(
                s - OWN_CHANGE_BEFORE <= _at(c) <= s + OWN_CHANGE_AFTER for s in own))]

        self.ladder = ladder
        self.closed = closed
        self.base = replace(ticket, comments=tuple(c for c in ticket.comments
                                                   if c.author_role is not AuthorRole.SELF),
                            tags=tuple(t for t in ticket.tags
                                       if not t.startswith(OWN_TAG_PREFIX)))
        created = ticket.created_at
        self.tiers: list[TierChange] = by_agents(list(ticket.tier_history)
                                                 or [TierChange(created, ticket.tier)])
        self.routes = by_agents(list(ticket.route_history) or [(created, ticket.route)])
        self.priorities = by_agents(list(ticket.priority_history)
                                    or [(created, ticket.priority)])
        self.statuses = sorted(ticket.status_history) or [(created, ticket.status)]
        self.reopened = [at for (_, before), (at, after) in pairwise(self.statuses)
                         if before.lower() in closed and after.lower() not in closed]
        # the replay's own changes, in time order
        self.my_tiers: list[TierChange] = []
        self.my_routes: list[tuple[datetime, str | None]] = []
        self.my_priorities: list[tuple[datetime, Priority | None]] = []
        self.my_tags: list[str] = []
        self.my_followers: list[str] = []
        self.used: set[tuple[str, str]] = set()
        self.last_escalation: datetime | None = None
        self.evaluated_at: datetime | None = None
        self.wake: datetime | None = None
        self.moves: list[Move] = []
        self.evaluations = 0

    @property
    def key(self) -> tuple[str, str]:
        return self.base.platform, self.base.ref

    def steps(self, start: datetime, end: datetime) -> list[datetime]:
        """Every moment something happened to the ticket (creation, a comment, an agent's tier,
        team, priority or status change) within ``start``..``end``."""
        moments = {self.base.created_at, *(c.created_at for c in self.base.comments),
                   *(c.at for c in self.tiers), *(at for at, _ in self.routes),
                   *(at for at, _ in self.priorities), *(at for at, _ in self.statuses)}
        return sorted(m for m in moments if start <= m <= end)

    def at(self, t: datetime) -> Ticket:
        """The ticket as it was at ``t``, with the replay's moves up to then (an agent's later
        change wins over them)."""
        base = self.base
        tiers = _merged(self.tiers, self.my_tiers, t)
        routes = _merged(self.routes, self.my_routes, t)
        priorities = _merged(self.priorities, self.my_priorities, t)
        statuses = [s for s in self.statuses if s[0] <= t] or self.statuses[:1]
        later_reopens = sum(1 for at in self.reopened if at > t)
        return replace(
            base,
            status=statuses[-1][1],
            status_history=tuple(statuses) if base.status_history else (),
            tier=tiers[-1].tier,
            tier_history=tuple(tiers),
            route=routes[-1][1],
            route_history=tuple(routes),
            priority=priorities[-1][1],
            priority_history=tuple(priorities),
            tags=(*base.tags, *(tag for tag in self.my_tags if tag not in base.tags)),
            followers=(*base.followers,
                       *(f for f in self.my_followers if f not in base.followers)),
            comments=tuple(c for c in base.comments if c.created_at <= t),
            reopens=max(0, base.reopens - later_reopens),
            updated_at=max(t, base.created_at),
        )

    def apply(self, write: TierWrite, t: datetime) -> None:
        """The ticket after tierlift's write at ``t``, as the helpdesk would then show it."""
        one_group = self.base.platform in ONE_GROUP
        if write.route is not None:
            self.my_routes.append((t, write.route))
            if one_group:
                self.my_tiers.append(TierChange(t, self.ladder.default))
        elif write.tier is not None:
            self.my_tiers.append(TierChange(t, write.tier))
            if one_group:
                self.my_routes.append((t, None))
        if write.priority is not None:
            self.my_priorities.append((t, write.priority))
        self.my_tags += [tag for tag in dict.fromkeys(write.add_tags) if tag not in self.my_tags]
        self.my_followers += [f for f in write.add_followers if f not in self.my_followers]
        self.last_escalation = t

    def past(self, t: datetime) -> PastTicket:
        """The ticket at ``t`` as the ticket index would hold it."""
        return _indexed(self.at(t))

    def agents_moved_at(self, start: datetime) -> datetime | None:
        """When agents first moved the ticket up a tier or to a team, from ``start`` on."""
        routed = {at for at, route in self.routes[1:] if route is not None}
        moments = [at for at, route in self.routes[1:] if route is not None and at >= start]
        rank = self.ladder.rank(self.tiers[0].tier)
        for change in self.tiers[1:]:
            if self.base.platform in ONE_GROUP and change.at in routed:
                continue  # into a team's group: counted as a route
            if self.ladder.rank(change.tier) > rank and change.at >= start:
                moments.append(change.at)
            rank = self.ladder.rank(change.tier)
        return min(moments, default=None)


def _at(change) -> datetime:
    return change.at if isinstance(change, TierChange) else change[0]


def _merged(recorded: list, mine: list, t: datetime) -> list:
    """The helpdesk's changes and the replay's up to ``t``, in time order (at the same moment
    the helpdesk's first: the replay decides after what happened)."""
    return sorted([c for c in recorded if _at(c) <= t] + [c for c in mine if _at(c) <= t],
                  key=_at) or recorded[:1]


class Replay:
    """Evaluates the configuration at every step of every ticket, in time order across all of
    them, as the worker would have: the policies, ``decide`` with the ticket's ledger and last
    escalation, the write's note from ``tier_write``; a would-be write changes the ticket for
    its later steps, asks for the tickets it names to be looked at again, and a policy's
    deadline (``ctx.wake_at``) is a step of its own."""

    def __init__(self, policies: EnabledPolicies, ladder: TierLadder, *,
                 rules: DecisionRules | None = None,
                 calendars: Mapping[str, BusinessCalendar] | None = None,
                 public_reply: str | None = None, shadow: bool = False) -> None:
        self.policies = policies
        self.ladder = ladder
        self.rules = rules or DecisionRules()
        self.calendars = dict(calendars or {})
        self.public_reply = public_reply
        # mode = "shadow" (global): the would-be decisions are the whole configuration's;
        # per-policy shadow policies stay out of them, as live
        self.shadow = frozenset() if shadow else policies.shadow

    def run(self, tickets: Iterable[Ticket], *, start: datetime, end: datetime,
            earlier: Iterable[TicketSummary] = ()) -> Result:
        started = time.monotonic()
        stories = {}
        for ticket in tickets:
            closed = self.rules.closed_statuses.get(ticket.platform, frozenset())
            story = _Story(ticket, self.ladder, frozenset(s.lower() for s in closed))
            stories[story.key] = story
        history = MemoryHistory(_summary_past(s) for s in earlier
                                if (s.platform, s.ref) not in stories)
        for story in stories.values():
            history.put(story.past(max(start, story.base.created_at)))
        queue: list[tuple[datetime, int, tuple[str, str], str]] = []
        order = 0
        for story in sorted(stories.values(), key=lambda s: (s.base.created_at, s.key)):
            for moment in story.steps(start, end):
                queue.append((moment, order, story.key, "step"))
                order += 1
        heapq.heapify(queue)
        result = Result(start, end, self.ladder, self.policies.names, sorted(self.shadow), [])
        while queue:
            t, _, key, kind = heapq.heappop(queue)
            story = stories[key]
            if kind == "wake" and story.wake != t:
                continue  # a later evaluation asked for another moment
            if kind != "again" and story.evaluated_at == t:
                continue
            again = self._evaluate(story, t, history, result, end)
            if story.wake is not None and story.wake <= end:
                heapq.heappush(queue, (story.wake, order, key, "wake"))
                order += 1
            for ref in again:
                if (key[0], ref) in stories:
                    heapq.heappush(queue, (t, order, (key[0], ref), "again"))
                    order += 1
        for story in sorted(stories.values(), key=lambda s: (s.base.created_at, s.key)):
            final = story.at(end)
            base = story.base
            result.outcomes.append(Outcome(
                platform=base.platform, ref=base.ref, subject=base.subject,
                created_at=base.created_at, tier_now=base.tier, route_now=base.route,
                priority_now=base.priority, tier_after=final.tier, route_after=final.route,
                priority_after=final.priority, moves=story.moves,
                agents_moved_at=story.agents_moved_at(start), evaluations=story.evaluations))
        result.seconds = time.monotonic() - started
        return result

    def _evaluate(self, story: _Story, t: datetime, history: MemoryHistory,
                  result: Result, end: datetime) -> tuple[str, ...]:
        """One evaluation at ``t``; returns the refs to look at again."""
        ticket = story.at(t)
        history.put(_indexed(ticket))  # the worker indexes the ticket before evaluating it
        history.until = t
        evaluation = self.policies.evaluate(ticket, now=t, tiers=self.ladder, history=history,
                                            calendars=self.calendars)
        story.evaluations += 1
        story.evaluated_at = t
        result.evaluations += 1
        result.failures.update(f.policy for f in evaluation.failures)
        proposals = [p for p in evaluation.proposals if p.policy not in self.shadow]
        decision = decide(ticket, proposals, self.ladder, story.used, rules=self.rules, now=t,
                          last_escalation=story.last_escalation)
        story.used.update((policy, key) for policy, key, _ in decision.evidence_to_record())
        story.wake = evaluation.wake_at
        if not decision.writes:
            return ()
        related = [p for p in history.related(
            ticket.platform, requester_id=ticket.requester_id,
            organization_id=ticket.organization_id, since=t - RELATED_WINDOW)
            if p.ref != ticket.ref]
        write = tier_write(decision, ticket, related=related, public_reply=self.public_reply,
                           now=t)
        story.moves.append(Move(
            at=t, from_tier=decision.from_tier, to_tier=decision.to_tier, route=decision.route,
            priority=decision.priority,
            targets={r.proposal.policy: _target(r, decision) for r in decision.fired if r.acts},
            note=write.internal_note))
        story.apply(write, t)
        history.put(story.past(t))
        return decision.also_evaluate


def _target(resolved: Resolved, decision: Decision) -> str:
    """Where a policy that acted took the ticket."""
    if decision.route is not None and (resolved.reroutes or resolved.moves):
        return f"team {decision.route}"
    if resolved.moves and decision.to_tier is not None:
        return resolved.target
    if resolved.raises_priority and decision.priority is not None:
        return f"priority {decision.priority.name.lower()}"
    return "followers" if resolved.follows and not resolved.tags else "tags"


def _indexed(ticket: Ticket) -> PastTicket:
    """A ticket as the ticket index keeps it (``Store.index``)."""
    return PastTicket(platform=ticket.platform, ref=ticket.ref, subject=ticket.subject,
                      tags=ticket.tags, form=ticket.form, requester_id=ticket.requester_id,
                      organization_id=ticket.organization_id, created_at=ticket.created_at,
                      status=ticket.status, first_message=first_message(ticket),
                      fields=short_fields(ticket))


def _summary_past(summary: TicketSummary) -> PastTicket:
    """An earlier ticket the helpdesk's search found, as the ticket index keeps it."""
    return PastTicket(platform=summary.platform, ref=summary.ref, subject=summary.subject,
                      tags=summary.tags, form=summary.form, requester_id=summary.requester_id,
                      organization_id=summary.organization_id, created_at=summary.created_at,
                      status=summary.status,
                      first_message=summary.description[:FIRST_MESSAGE_CHARS] or None)


# -- the command --------------------------------------------------------------------------

def backtest(settings, *, since: str, cache_path: str | None = DEFAULT_CACHE,
             concurrency: int = 4, now: datetime | None = None,
             sources: Mapping[str, Source] | None = None,
             progress: IO[str] | None = None) -> Result:
    """Pull and replay with ``settings`` (its store is never opened): the whole of
    ``tierlift backtest`` but the report; the pull's progress on ``progress`` (stderr)."""
    from webhook_app.service import build_connectors, enabled_policies

    now = now or datetime.now(UTC)
    start = parse_since(since, now)
    policies = enabled_policies(settings)
    sources = sources if sources is not None else build_connectors(settings)
    cache = TicketCache(cache_path)
    try:
        pulled = pull(sources, start, policies.needs, cache, progress=Progress(progress),
                      concurrency=concurrency)
    finally:
        cache.close()
    reply = settings.escalation.public_reply
    replay = Replay(policies, settings.ladder, rules=settings.rules,
                    calendars=settings.business_calendars(),
                    public_reply=reply.template if reply.enabled else None,
                    shadow=settings.mode == "shadow")
    result = replay.run(pulled.tickets, start=start, end=now, earlier=pulled.earlier)
    result.pull = pulled
    return result
