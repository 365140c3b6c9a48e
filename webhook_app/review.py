"""The review of what tierlift did, read from the store alone: escalations per tier, policy,
channel and organization, the tier mix against the playbooks' guide, the tickets agents took
back (overrides), write failures and deadline lateness; and one ticket's whole story.

Plain functions over a :class:`Store` that return dataclasses: ``tierlift report`` prints them
and ``/admin`` renders them, so both show the same numbers. Nothing here needs a helpdesk.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from webhook_app.store import Store

DAY = 86400.0
# The support playbooks' tier mix for three tiers, lowest first: (label, low %, high %).
GUIDE = (("~80 %", 75.0, 85.0), ("15-20 %", 15.0, 20.0), ("~5 %", 3.0, 7.0))
FAILED = ("failed", "rejected", "retry")  # outcomes of an evaluation that ended in an error
OVERDUE_GRACE = 60.0  # seconds past its deadline before a ticket counts as overdue
LATEST = 20
NO_CHANNEL, NO_ORGANIZATION = "unknown", "none"


@dataclass(frozen=True)
class Escalation:
    """One write-back tierlift made, or in shadow mode would have made."""

    audit_id: int
    at: float
    platform: str
    ticket_ref: str
    from_tier: str | None
    to_tier: str | None
    route: str | None
    priority: str | None
    policies: tuple[str, ...]
    channel: str
    organization: str
    overridden_at: float | None = None  # when tierlift saw an agent had taken it back
    overridden_to: str | None = None  # the tier (or team) the agent moved it to

    @property
    def target(self) -> str:
        if self.to_tier:
            return self.to_tier
        return f"team {self.route}" if self.route else "priority/tags only"

    @property
    def moves(self) -> bool:
        """It moved the ticket (tier or team), so an agent can move it back."""
        return bool(self.to_tier or self.route)


@dataclass(frozen=True)
class TierShare:
    tier: str
    tickets: int
    percent: float
    guide: str | None = None  # e.g. "15-20 %"
    guide_low: float | None = None
    guide_high: float | None = None
    on_guide: bool | None = None  # None: no guide for this tier


@dataclass(frozen=True)
class PolicyReview:
    policy: str
    escalations: int  # write-backs it fired in
    moves: int  # ...of which moved the ticket (tier or team)
    overridden: int  # ...of which an agent took back within the override window
    override_percent: float  # of moves


@dataclass(frozen=True)
class WriteFailure:
    audit_id: int
    at: float
    platform: str
    ticket_ref: str
    outcome: str
    status: int | None  # the helpdesk's answer, when there was one (409, 5xx...)
    error: str
    recovered: bool  # written later (a re-read after a conflict, or a retry)


@dataclass(frozen=True)
class Lateness:
    """Evaluations scheduled by a deadline: how long after the deadline they started."""

    ran: int
    failed: int
    pending: int  # due, enqueued, not evaluated yet
    overdue: int  # tickets past their deadline (by OVERDUE_GRACE) not enqueued yet
    median_seconds: float | None
    p95_seconds: float | None
    max_seconds: float | None


@dataclass(frozen=True)
class Review:
    generated_at: float
    since: float | None  # None: the whole store
    override_days: float
    deliveries: dict[str, int]  # by inbox status
    evaluations: dict[str, int]  # by outcome
    tickets: int  # tickets evaluated
    escalations: int
    moves: int  # escalations that moved the ticket to a tier or a team
    by_tier: dict[str, int]  # by target: a tier, "team X", or "priority/tags only"
    by_policy: dict[str, int]
    by_channel: dict[str, int]
    by_organization: dict[str, int]
    tier_mix: tuple[TierShare, ...]
    policies: tuple[PolicyReview, ...]
    overrides: tuple[Escalation, ...]
    write_failures: tuple[WriteFailure, ...]
    lateness: Lateness
    shadow: int  # would-be write-backs (mode = "shadow", or a shadow policy)
    shadow_by_tier: dict[str, int]
    shadow_by_policy: dict[str, int]
    latest: tuple[Escalation, ...]  # newest first



def review(store: Store, tiers: Sequence[str] = ("L1", "L2", "L3"), *,
           since: float | None = None, override_days: float = 7.0,
           now: float | None = None) -> Review:
    """The review of everything evaluated since ``since`` (epoch seconds; None: ever).

    ``tiers``: the ladder, lowest first (tiers seen in the store but not listed come last).
    An escalation counts as overridden when a later evaluation, within ``override_days`` of
    it, saw the ticket below the tier tierlift moved it to, or out of the team it routed it to.
    """
    now = time.time() if now is None else now
    entries = store.audit_log(since=since, limit=None)
    index = {(row["platform"], row["ticket_ref"]): row for row in store.indexed()}
    by_ticket: dict[tuple[str, str], list[dict]] = {}
    for entry in entries:
        by_ticket.setdefault((entry["platform"], entry["ticket_ref"]), []).append(entry)

    ladder = list(tiers)
    escalations: list[Escalation] = []
    shadow: list[Escalation] = []
    last_tier: dict[tuple[str, str], str] = {}
    for key, history in by_ticket.items():
        current: int | None = None  # the latest move, until an agent takes it back
        for entry in history:
            rounds = entry["detail"].get("rounds") or []
            if not rounds:
                continue
            if current is not None:
                moved = escalations[current]
                taken = _taken_back(moved, _seen(rounds[0]), ladder)
                if taken and entry["at"] - moved.at <= override_days * DAY:
                    escalations[current] = replace(moved, overridden_at=entry["at"],
                                                   overridden_to=taken)
                    current = None
            if _seen(rounds[-1]).get("tier"):
                last_tier[key] = _seen(rounds[-1])["tier"]
            if entry["outcome"] == "escalated":
                escalation = _escalation(entry, rounds[-1], index.get(key))
                escalations.append(escalation)
                if escalation.to_tier:
                    last_tier[key] = escalation.to_tier
                if escalation.moves:
                    current = len(escalations) - 1
            for round_ in rounds:
                if round_.get("shadow"):
                    shadow.append(_would_be(entry, round_, index.get(key)))

    policies = _policies(escalations)
    tier_counts = Counter(last_tier.values())
    return Review(
        generated_at=now,
        since=since,
        override_days=override_days,
        deliveries=dict(sorted(store.inbox_counts(since=since).items())),
        evaluations=dict(sorted(Counter(e["outcome"] for e in entries).items())),
        tickets=len(last_tier),
        escalations=len(escalations),
        moves=sum(e.moves for e in escalations),
        by_tier=_ordered(Counter(e.target for e in escalations), ladder),
        by_policy=_most(Counter(p for e in escalations for p in e.policies)),
        by_channel=_most(Counter(e.channel for e in escalations)),
        by_organization=_most(Counter(e.organization for e in escalations)),
        tier_mix=_tier_mix(tier_counts, ladder),
        policies=policies,
        overrides=tuple(e for e in escalations if e.overridden_at is not None),
        write_failures=_write_failures(entries),
        lateness=_lateness(store, entries, since, now),
        shadow=len(shadow),
        shadow_by_tier=_ordered(Counter(e.target for e in shadow), ladder),
        shadow_by_policy=_most(Counter(p for e in shadow for p in e.policies)),
        latest=tuple(reversed(escalations[-LATEST:])) if escalations else (),
    )


def _escalation(entry: dict, round_: dict, indexed: dict | None) -> Escalation:
    """An escalated evaluation: its last round's fired policies, or those of the write it
    confirmed on re-reading the ticket (its answer had been lost)."""
    confirmed = entry["detail"].get("confirmed_on_reread")
    fired = tuple(confirmed["policies"]) if confirmed else \
        tuple(sorted({p["policy"] for p in round_.get("proposals") or ()
                      if p["state"] == "fired"}))
    return Escalation(entry["id"], entry["at"], entry["platform"], entry["ticket_ref"],
                      entry["from_tier"], entry["to_tier"], entry["route"], entry["priority"],
                      fired, *_where(_seen(round_), indexed))


def _would_be(entry: dict, round_: dict, indexed: dict | None) -> Escalation:
    write = round_["shadow"].get("would_write") or {}
    priority = write.get("priority")
    return Escalation(entry["id"], entry["at"], entry["platform"], entry["ticket_ref"],
                      _seen(round_).get("tier"), write.get("tier"), write.get("route"),
                      None if priority is None else str(priority),
                      tuple(round_["shadow"].get("policies") or ()),
                      *_where(_seen(round_), indexed))


def _seen(round_: dict) -> dict:
    """The ticket as a round of an evaluation read it."""
    return round_.get("ticket") or {}


def _where(seen: dict, indexed: dict | None) -> tuple[str, str]:
    """The channel and organization of a ticket as an evaluation saw it (audits written before
    they were recorded: the organization the ticket index holds)."""
    organization = seen.get("organization_name") or seen.get("organization")
    if "organization" not in seen and indexed is not None:
        organization = indexed.get("organization_id")
    return seen.get("channel") or NO_CHANNEL, organization or NO_ORGANIZATION


def _taken_back(escalation: Escalation, seen: dict, ladder: list[str]) -> str | None:
    """Where an agent moved the ticket, if ``seen`` (a later look at it) is below the tier
    ``escalation`` moved it to, or out of the team it routed it to; else None."""
    tier, target = seen.get("tier"), escalation.to_tier
    lower = tier not in ladder or target not in ladder or ladder.index(tier) < ladder.index(target)
    if target and tier and tier != target and lower:
        return tier
    if escalation.route and "route" in seen and seen["route"] != escalation.route:
        return f"team {seen['route']}" if seen["route"] else tier
    return None


def _policies(escalations: list[Escalation]) -> tuple[PolicyReview, ...]:
    fired, moves, overridden = Counter(), Counter(), Counter()
    for e in escalations:
        for policy in e.policies:
            fired[policy] += 1
            moves[policy] += e.moves
            overridden[policy] += e.overridden_at is not None
    return tuple(PolicyReview(policy, count, moves[policy], overridden[policy],
                              _percent(overridden[policy], moves[policy]))
                 for policy, count in _most(fired).items())


def _tier_mix(counts: Counter, ladder: list[str]) -> tuple[TierShare, ...]:
    total = sum(counts.values())
    tiers = ladder + sorted(set(counts) - set(ladder))
    shares = []
    for position, tier in enumerate(tiers):
        guide = None
        if tier in ladder and (len(ladder) == 3 or position == 0):
            guide = GUIDE[position]
        percent = _percent(counts[tier], total)
        shares.append(TierShare(tier, counts[tier], percent, *(guide or (None, None, None)),
                                on_guide=None if guide is None or not total
                                else guide[1] <= percent <= guide[2]))
    return tuple(shares)


def _write_failures(entries: list[dict]) -> tuple[WriteFailure, ...]:
    """Write-backs the helpdesk refused or left unanswered: a conflict or an ambiguous answer
    (re-read and decided again), or an error while writing (the evaluation failed). A write
    the re-read showed applied after all is recovered."""
    failures = []
    for entry in entries:
        rounds = entry["detail"].get("rounds") or []
        for number, round_ in enumerate(rounds):
            write = round_.get("write") or {}
            if "error" in write:
                wrote_later = "confirmed_on_reread" in entry["detail"] or \
                    any("requests" in (r.get("write") or {}) for r in rounds[number + 1:])
                failures.append(WriteFailure(entry["id"], entry["at"], entry["platform"],
                                             entry["ticket_ref"], entry["outcome"],
                                             write.get("status"), write["error"], wrote_later))
        if entry["outcome"] in FAILED and rounds and "write" not in rounds[-1] and \
                any(p["state"] == "fired" for p in rounds[-1].get("proposals") or ()):
            failures.append(WriteFailure(entry["id"], entry["at"], entry["platform"],
                                         entry["ticket_ref"], entry["outcome"], None,
                                         entry["detail"].get("error", ""), False))
    written = {}  # the last write-back of each ticket
    for entry in entries:
        if entry["outcome"] == "escalated":
            written[entry["platform"], entry["ticket_ref"]] = entry["id"]
    return tuple(f if f.recovered or written.get((f.platform, f.ticket_ref), 0) <= f.audit_id
                 else replace(f, recovered=True) for f in failures)


def _lateness(store: Store, entries: list[dict], since: float | None, now: float) -> Lateness:
    durations = {e["id"]: e["duration_ms"] / 1000 for e in entries}
    late, failed, pending = [], 0, 0
    for delivery in store.inbox_entries(kind="deadline", since=since):
        try:
            due = float(delivery["dedupe_key"].rsplit(":", 1)[1])
        except (IndexError, ValueError):
            continue
        if delivery["status"] == "failed":
            failed += 1
        elif delivery["status"] != "done":
            pending += 1
        elif delivery["processed_at"] is not None:
            started = delivery["processed_at"] - durations.get(delivery["audit_id"], 0.0)
            late.append(max(0.0, started - due))
    late.sort()
    return Lateness(
        ran=len(late), failed=failed, pending=pending,
        overdue=store.overdue_deadlines(now - OVERDUE_GRACE),
        median_seconds=round(statistics.median(late), 3) if late else None,
        p95_seconds=round(late[math.ceil(0.95 * len(late)) - 1], 3) if late else None,
        max_seconds=round(late[-1], 3) if late else None,
    )


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


def _most(counts: Counter) -> dict[str, int]:
    """Most first, then by name."""
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _ordered(counts: Counter, ladder: list[str]) -> dict[str, int]:
    """Tiers in ladder order, then teams and the rest by name."""
    def rank(name: str) -> tuple[int, str]:
        return (ladder.index(name), "") if name in ladder else (len(ladder), name)
    return {name: counts[name] for name in sorted(counts, key=rank)}


# -- one ticket's story ----------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """A delivery for the ticket, as the inbox holds it."""

    id: int
    at: float
    kind: str
    key: str
    actor: str | None
    status: str
    attempts: int
    processed_at: float | None
    audit_id: int | None

    @property
    def started(self) -> float:
        return self.at


@dataclass(frozen=True)
class Proposed:
    policy: str
    state: str  # fired, satisfied, held, stale, acted_on, shadow
    target: str | None
    priority: str | None
    route: str | None
    held: str | None  # the guardrail's reason
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class Round:
    """One read-decide-write round of an evaluation."""

    tier: str | None
    status: str | None
    language: str | None
    channel: str | None
    mode: str  # live or shadow
    proposals: tuple[Proposed, ...]
    decision: dict
    write: tuple[str, ...]  # each request sent and the answer, or the error
    would_write: dict | None  # shadow: the write-back that was not sent


@dataclass(frozen=True)
class Evaluated:
    id: int
    at: float
    outcome: str
    from_tier: str | None
    to_tier: str | None
    route: str | None
    priority: str | None
    duration_ms: float
    deliveries: tuple[str, ...]
    rounds: tuple[Round, ...]
    error: str | None
    next_due: str | None

    @property
    def started(self) -> float:
        return self.at - self.duration_ms / 1000


@dataclass(frozen=True)
class TicketStory:
    platform: str
    ref: str
    subject: str | None
    status: str | None
    organization: str | None
    tier: str | None  # as tierlift last saw it (after its own write)
    events: tuple[Received | Evaluated, ...]  # in order


def ticket_stories(store: Store, ref: str, platform: str | None = None) -> list[TicketStory]:
    """Every delivery and evaluation of ticket ``ref`` (on each platform that has one of
    that name, unless ``platform`` is given), in order."""
    received = store.inbox_entries(platform=platform, ticket_ref=ref)
    audited = store.audit_log(ticket_ref=ref, platform=platform, limit=None)
    platforms = sorted({r["platform"] for r in received} | {e["platform"] for e in audited})
    stories = []
    for name in platforms:
        events: list[Received | Evaluated] = [
            Received(r["id"], r["received_at"], r["kind"], r["dedupe_key"], r["actor"],
                     r["status"], r["attempts"], r["processed_at"], r["audit_id"])
            for r in received if r["platform"] == name]
        events += [_evaluated(e) for e in audited if e["platform"] == name]
        # in the order they began (an evaluation is audited when it ends); a delivery comes
        # before the evaluation that took it up, even within one timestamp
        events.sort(key=lambda e: (e.started, isinstance(e, Evaluated)))
        [indexed] = store.indexed(platform=name, ticket_ref=ref) or [None]
        tier = None
        for event in events:
            if isinstance(event, Evaluated) and event.rounds:
                tier = event.to_tier if event.outcome == "escalated" and event.to_tier \
                    else event.rounds[-1].tier
        stories.append(TicketStory(
            name, ref, indexed and indexed["subject"], indexed and indexed["status"],
            indexed and indexed["organization_id"], tier, tuple(events)))
    return stories


def _evaluated(entry: dict) -> Evaluated:
    detail = entry["detail"]
    return Evaluated(entry["id"], entry["at"], entry["outcome"], entry["from_tier"],
                     entry["to_tier"], entry["route"], entry["priority"], entry["duration_ms"],
                     tuple(detail.get("deliveries") or ()),
                     tuple(_round(r) for r in detail.get("rounds") or ()),
                     detail.get("error"), detail.get("next_due"))


def _round(round_: dict) -> Round:
    seen = round_.get("ticket") or {}
    write = round_.get("write") or {}
    if "error" in write:
        sent = (f"{write.get('status') or 'no answer'}: {write['error']}",)
    else:
        sent = tuple(f"{r['method']} {r['path']} -> {r['status']}"
                     for r in write.get("requests") or ())
    shadow = round_.get("shadow")
    return Round(
        seen.get("tier"), seen.get("status"), seen.get("language"), seen.get("channel"),
        round_.get("mode", "live"),
        tuple(Proposed(p["policy"], p["state"], p.get("target"), p.get("priority"),
                       p.get("route"), p.get("held"),
                       tuple(e["summary"] for e in p.get("evidence") or ()))
              for p in round_.get("proposals") or ()),
        round_.get("decision") or {}, sent,
        shadow.get("would_write") if shadow else None)


# -- as text -----------------------------------------------------------------------------------


def when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


def seconds(value: float | None) -> str:
    """A duration as people read it: 40 ms, 2.5 s, 90.0 min, 3.0 h, 9.0 d."""
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    for below, size, unit in ((120, 1, "s"), (7200, 60, "min"), (2 * DAY, 3600, "h")):
        if value < below:
            return f"{value / size:.1f} {unit}"
    return f"{value / DAY:.1f} d"


def counts(mapping: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in mapping.items()) or "none"


def review_lines(r: Review) -> list[str]:
    """The review as ``tierlift report`` prints it."""
    lines = [
        f"deliveries: {counts(r.deliveries)}",
        f"evaluations: {counts(r.evaluations)}",
        f"tickets: {r.tickets}  escalations: {r.escalations} ({r.moves} moved)",
        f"escalations per tier: {counts(r.by_tier)}",
        f"escalations per policy: {counts(r.by_policy)}",
        f"escalations per channel: {counts(r.by_channel)}",
        f"escalations per organization: {counts(r.by_organization)}",
        "tier mix (tickets by tier as last seen, against the playbooks' guide):",
    ]
    for share in r.tier_mix:
        line = f"  {share.tier:<8} {share.tickets:>5}  {share.percent:5.1f} %"
        if share.guide:
            verdict = "" if share.on_guide is None else \
                "  on guide" if share.on_guide else "  off guide"
            line += f"  (guide {share.guide}){verdict}"
        lines.append(line)
    lines.append(f"overrides (taken back within {r.override_days:g} days): "
                 f"{len(r.overrides)}")
    for p in r.policies:
        lines.append(f"  {p.policy}: {p.overridden} of {p.moves} moves "
                     f"({p.override_percent:.1f} %)")
    for e in r.overrides:
        lines.append(f"    {e.platform} #{e.ticket_ref}: {e.target} by "
                     f"{', '.join(e.policies) or '?'}, back to {e.overridden_to} "
                     f"{seconds(e.overridden_at - e.at)} later")
    unrecovered = sum(not f.recovered for f in r.write_failures)
    lines.append(f"write failures: {len(r.write_failures)} ({unrecovered} not written since)")
    for f in r.write_failures:
        lines.append(f"  {when(f.at)}  {f.platform} #{f.ticket_ref}  "
                     f"{f.status or f.outcome}: {f.error}"
                     + ("  (written later)" if f.recovered else ""))
    lt = r.lateness
    lines.append(f"deadline lateness: {lt.ran} run, median {seconds(lt.median_seconds)}, "
                 f"95th percentile {seconds(lt.p95_seconds)}, max {seconds(lt.max_seconds)}; "
                 f"{lt.failed} failed, {lt.pending} pending, {lt.overdue} overdue")
    if r.shadow:
        lines.append(f"shadow (would have written): {r.shadow}; per tier "
                     f"{counts(r.shadow_by_tier)}; per policy {counts(r.shadow_by_policy)}")
    return lines


def story_lines(story: TicketStory) -> list[str]:
    """One ticket's story as ``tierlift report --ticket`` prints it."""
    head = f"{story.platform} #{story.ref}"
    if story.subject:
        head += f"  {story.subject!r}"
    facts = [f"status {story.status}" if story.status else "",
             f"organization {story.organization}" if story.organization else "",
             f"tier {story.tier} as last seen" if story.tier else ""]
    lines = [head + "".join(f"  {fact}" for fact in facts if fact)]
    for event in story.events:
        if isinstance(event, Received):
            line = (f"{when(event.at)}  delivery {event.key} ({event.kind}"
                    + (f", by {event.actor}" if event.actor else "") + f"): {event.status}")
            if event.attempts:
                line += f" after {event.attempts} failed attempt(s)"
            lines.append(line)
            continue
        line = f"{when(event.at)}  evaluation {event.id}: {event.outcome}"
        if event.to_tier or event.route:
            line += f" {event.from_tier} -> {event.to_tier or 'team ' + event.route}"
        if event.priority:
            line += f" priority {event.priority}"
        lines.append(line + f"  ({event.duration_ms:.0f} ms)")
        for number, round_ in enumerate(event.rounds, start=1):
            seen = ", ".join(x for x in (round_.tier, round_.status, round_.language,
                                         round_.channel) if x)
            lines.append(f"    round {number}{' (shadow)' if round_.mode == 'shadow' else ''}:"
                         f" ticket {seen}")
            for p in round_.proposals:
                target = p.target or (f"team {p.route}" if p.route else "")
                line = f"      {p.policy} {p.state}" + (f" -> {target}" if target else "")
                if p.priority:
                    line += f" priority {p.priority}"
                if p.held:
                    line += f" ({p.held})"
                lines.append(line + (f": {'; '.join(p.evidence)}" if p.evidence else ""))
            decided = [f"{k} {v}" for k, v in round_.decision.items() if v]
            lines.append(f"      decision: {', '.join(decided) or 'no change'}")
            lines += [f"      write: {w}" for w in round_.write]
            if round_.would_write is not None:
                would = round_.would_write
                lines.append("      would write (shadow): "
                             + ", ".join(f"{k} {would[k]}" for k in ("tier", "route",
                                                                      "priority")
                                         if would.get(k)))
        if event.error:
            lines.append(f"    error: {event.error}")
        if event.next_due:
            lines.append(f"    next look at it: {event.next_due}")
    return lines
