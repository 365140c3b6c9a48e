"""One ticket, start to finish: fetch fresh state, run the policies, decide, write back, audit."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from connector.errors import (
    AmbiguousWrite,
    Conflict,
    HelpdeskError,
    Misdirected,
    NotFound,
    Rejected,
)
from connector.ticket import Priority, Ticket, TicketSummary, TierLadder, TierWrite, WriteResult
from plugins.calendars import BusinessCalendar
from plugins.decision import Decision, DecisionRules, decide, tier_write
from plugins.language import ticket_language
from plugins.manager import EnabledPolicies, Evaluation
from plugins.notification import Notification
from webhook_app.metrics import Metrics
from webhook_app.notify import Notifier, decision_events, write_failed_event
from webhook_app.store import AuditRecord, Claim, Store, StoreHistory, deadline_of

log = logging.getLogger(__name__)

SHADOW = "shadow:"  # the evidence ledger's prefix for what shadow policies have seen
MAX_ROUNDS = 3  # read-decide-write rounds after 409 or an ambiguous write before backing off
MAX_BACKOFF = 600.0
# Earlier tickets listed in the handoff note, and read from the helpdesk (counted back from a
# ticket's creation) for policies that need "related".
RELATED_WINDOW = timedelta(days=90)
BACKFILL_TTL = 3600.0  # seconds: how long a requester's or organization's search is reused
UNCONFIRMED_LOOKBACK = 20  # a ticket's latest audits searched for a write left unconfirmed
# Deliveries tierlift enqueues itself (a deadline, the sweep, a look after another ticket):
# they report no change, so an unchanged ticket's comments and history read before are reused.
# A helpdesk's delivery is always read afresh: not every change is known to bump the version.
REEVALUATIONS = frozenset({"deadline", "sweep", "reevaluate"})


class Connector(Protocol):
    platform: str

    def whoami(self) -> str: ...
    def fetch(self, ref: str, *, needs: frozenset[str], reuse: bool) -> Ticket: ...
    def escalate(self, ticket: Ticket, write: TierWrite) -> WriteResult: ...
    def tickets_of(self, kind: str, ident: str, since: datetime) -> list[TicketSummary]: ...


class Escalator:
    """Processes a worker's claim on one ticket and closes it in the store, whatever happens."""

    def __init__(
        self,
        store: Store,
        connectors: Mapping[str, Connector],
        policies: EnabledPolicies,
        ladder: TierLadder,
        *,
        rules: DecisionRules | None = None,
        calendars: Mapping[str, BusinessCalendar] | None = None,
        public_reply: str | None = None,
        max_attempts: int = 10,
        max_retry_after: float = 900.0,
        shadow: bool = False,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
        on_deadline: Callable[[], None] | None = None,
        metrics: Metrics | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.store = store
        self.connectors = dict(connectors)
        self.policies = policies
        self.ladder = ladder
        self.rules = rules or DecisionRules()
        self.calendars = dict(calendars or {})
        self.public_reply = public_reply
        self.history = StoreHistory(store)
        self.max_attempts = max_attempts
        self.max_retry_after = max_retry_after
        self.shadow = shadow  # mode = "shadow": decide and audit, never write
        self.now = now
        self.rng = rng or random.Random()
        self.on_deadline = on_deadline  # told when a ticket got a deadline (the scheduler)
        self._search_failing: set[str] = set()  # platforms whose search failed last time
        self.metrics = metrics or Metrics()
        self.notifier = notifier  # None: nobody to notify

    def warm_up(self) -> None:
        """Identify our API user on each helpdesk once at start (loop safety needs it), and say
        so in the log; a helpdesk that cannot be reached now is asked again when needed."""
        for name, connector in self.connectors.items():
            try:
                log.info("%s: acting as user %s", name, connector.whoami())
            except Exception as exc:
                log.warning("%s: could not identify our API user yet: %s", name, exc)

    def process(self, claim: Claim) -> AuditRecord:
        started = time.monotonic()
        self._deadline_lateness(claim)
        record = AuditRecord(outcome="no_change",
                             detail={"deliveries": [e.dedupe_key for e in claim.entries]})
        applied = _Applied()
        try:
            connector = self.connectors[claim.platform]
            if self._only_our_own_changes(claim, connector):
                record.outcome = "own_change"
            else:
                applied = self._evaluate_and_apply(claim, connector, record)
        except NotFound as exc:
            record.outcome, record.detail["error"] = "not_found", str(exc)
        except Rejected as exc:
            record.outcome, record.detail["error"] = "rejected", str(exc)
            if isinstance(exc, Misdirected):
                self.metrics.misdirected(claim.platform)
        except Exception as exc:
            transient = getattr(exc, "transient", False) or not isinstance(exc, HelpdeskError)
            record.detail["error"] = f"{type(exc).__name__}: {exc}"
            if transient:
                record = self._retry_later(claim, record, exc, started)
                self._report(claim, record, ())
                return record
            record.outcome = "failed"
        record.duration_ms = (time.monotonic() - started) * 1000
        if applied.wake_at is not None:
            record.detail["next_due"] = applied.wake_at.isoformat()
        self.store.finish(claim, record, used=applied.used, version=applied.version,
                          then_evaluate=applied.then,
                          next_due=applied.wake_at.timestamp() if applied.wake_at else None)
        if applied.wake_at is not None and self.on_deadline is not None:
            self.on_deadline()
        log.info("%s ticket %s: %s %s", claim.platform, claim.ticket_ref, record.outcome,
                 f"{record.from_tier}->{record.to_tier}" if record.to_tier else "")
        self._report(claim, record, applied.events)
        return record

    def _deadline_lateness(self, claim: Claim) -> None:
        """How long after its deadline a ticket the scheduler enqueued is being evaluated."""
        now = self.store.clock()
        for entry in claim.entries:
            due = deadline_of(entry)
            if due is not None:
                self.metrics.deadline_late(claim.platform, now - due)

    def _report(self, claim: Claim, record: AuditRecord,
                events: tuple[Notification, ...]) -> None:
        """Once the store has the evaluation: its metrics, and its notifications (a failed
        write-back too, once tierlift gave up on it)."""
        self.metrics.evaluated(claim.platform, record.outcome, record.duration_ms / 1000)
        if self.notifier is None:
            return
        failed = write_failed_event(claim.platform, claim.ticket_ref, record, at=self.now())
        self.notifier.send([*events, *([failed] if failed else [])])

    def _count_decisions(self, seen: _Shadow, *, escalated: bool) -> None:
        if self.shadow or seen.decision is not None:
            self.metrics.decided("escalated" if seen.would_write else "no_change", "shadow")
        if not self.shadow:
            self.metrics.decided("escalated" if escalated else "no_change", "live")

    def _only_our_own_changes(self, claim: Claim, connector: Connector) -> bool:
        """Every delivery names our API user as the actor: our own write coming back."""
        actors = {e.actor for e in claim.entries}
        return None not in actors and actors == {connector.whoami()}

    def _evaluate_and_apply(
        self, claim: Claim, connector: Connector, record: AuditRecord
    ) -> _Applied:
        """Read, decide, write; again after a conflict or an ambiguous write. A write whose
        answer was lost (here or in an earlier evaluation) that the re-read shows applied is
        audited as the escalation it was, never written again."""
        rounds = record.detail.setdefault("rounds", [])
        unconfirmed = self._unconfirmed_write(claim)
        reuse = all(e.kind in REEVALUATIONS for e in claim.entries)
        for _ in range(MAX_ROUNDS):
            # our note tells our write: read the comments to look for it
            needs = self.policies.needs | {"comments"} if unconfirmed else self.policies.needs
            ticket = connector.fetch(claim.ticket_ref, needs=needs, reuse=reuse)
            self.store.index(ticket)
            if "related" in self.policies.needs:
                self._backfill(ticket, connector, record)
            now = self.now()
            evaluation = self.policies.evaluate(ticket, now=now, tiers=self.ladder,
                                                history=self.history,
                                                calendars=self.calendars)
            last = self.store.last_escalation(claim.platform, claim.ticket_ref)
            last_at = None if last is None else datetime.fromtimestamp(last, UTC)
            used = self.store.used_evidence(claim.platform, claim.ticket_ref)
            live_used = {(p, k) for p, k in used if not p.startswith(SHADOW)}
            shadow = self.policies.shadow if not self.shadow else \
                frozenset(p.policy for p in evaluation.proposals)
            decision = decide(ticket, [p for p in evaluation.proposals if p.policy not in shadow],
                              self.ladder, live_used, rules=self.rules, now=now,
                              last_escalation=last_at)
            record.from_tier = ticket.tier
            if evaluation.failures:
                record.detail["policy_errors"] = [asdict(f) for f in evaluation.failures]
            seen = _Shadow.none()
            if shadow.intersection(p.policy for p in evaluation.proposals):
                seen = self._shadow(ticket, evaluation, shadow, used, now, last_at)
            if self.shadow:  # everything as if live, nothing written
                round_detail = _describe(ticket, evaluation, seen.decision or decision)
                round_detail["mode"] = "shadow"
            else:
                round_detail = _describe(ticket, evaluation, decision, shadow=shadow)
            if seen.would_write is not None:
                round_detail["shadow"] = seen.would_write
            rounds.append(round_detail)
            if unconfirmed is not None and not decision.writes and \
                    unconfirmed.applied_on(ticket):
                return self._confirmed(unconfirmed, ticket, evaluation, decision, seen, record,
                                       now)
            if self.shadow or not decision.writes:
                record.outcome = "shadow" if seen.would_write else "no_change"
                self._count_decisions(seen, escalated=False)
                return _Applied(ticket.version, [*decision.evidence_to_record(), *seen.used],
                                seen.decision.also_evaluate if seen.decision else (),
                                _earliest(evaluation.wake_at, decision.wake_at),
                                tuple(decision_events(ticket, decision, None, at=now)))
            write = self._write(decision, ticket, now)
            try:
                with self.metrics.write_back(claim.platform):
                    result = connector.escalate(ticket, write)
            except Conflict as exc:
                round_detail["write"] = {"status": 409, "error": str(exc)}
                continue
            except AmbiguousWrite as exc:  # re-read: it may have been applied
                round_detail["write"] = {"status": exc.status, "error": str(exc), "unconfirmed": {
                    "headline": write.internal_note.split("\n", 1)[0], "marker": write.marker}}
                unconfirmed = _Unconfirmed.of(round_detail, None)
                continue
            except Exception as exc:  # the audit (and a write_failed notification) say so
                round_detail["write"] = {"status": getattr(exc, "status", None),
                                         "error": str(exc)}
                raise
            round_detail["write"] = asdict(result)
            record.outcome = "escalated"
            record.to_tier = decision.to_tier
            record.route = decision.route
            record.priority = decision.priority.name.lower() if decision.priority else None
            self._count_decisions(seen, escalated=True)
            return _Applied(ticket.version, [*decision.evidence_to_record(), *seen.used],
                            decision.also_evaluate,
                            _earliest(evaluation.wake_at, decision.wake_at),
                            tuple(decision_events(ticket, decision, write, at=now)))
        raise _StillConflicting(f"ticket kept changing under us for {MAX_ROUNDS} rounds")

    def _unconfirmed_write(self, claim: Claim) -> _Unconfirmed | None:
        """The write-back of the ticket's latest evaluation that wrote, if its answer was lost
        (an ambiguous write) and no escalation was audited since."""
        for entry in reversed(self.store.audit_log(ticket_ref=claim.ticket_ref,
                                                   platform=claim.platform,
                                                   limit=UNCONFIRMED_LOOKBACK)):
            if entry["outcome"] == "escalated":
                return None
            written = [r for r in entry["detail"].get("rounds") or () if "write" in r]
            if written:
                return _Unconfirmed.of(written[-1], entry["id"])
        return None

    def _confirmed(self, unconfirmed: _Unconfirmed, ticket: Ticket, evaluation: Evaluation,
                   decision: Decision, seen: _Shadow, record: AuditRecord,
                   now: datetime) -> _Applied:
        """Audit the write-back the re-read shows applied as the escalation it was
        (``detail["confirmed_on_reread"]``), its evidence used up as escalated, and tell whom
        an escalation is told."""
        record.outcome = "escalated"
        record.from_tier, record.to_tier = unconfirmed.from_tier, unconfirmed.to_tier
        record.route, record.priority = unconfirmed.route, unconfirmed.priority
        record.detail["confirmed_on_reread"] = {
            "audit_id": unconfirmed.audit_id, "error": unconfirmed.error,
            "policies": list(unconfirmed.policies)}
        self._count_decisions(seen, escalated=True)
        used = {(p, k): o for p, k, o in decision.evidence_to_record()}
        used.update(dict.fromkeys(unconfirmed.evidence, "escalated"))
        return _Applied(ticket.version, [*((p, k, o) for (p, k), o in sorted(used.items())),
                                         *seen.used], (),
                        _earliest(evaluation.wake_at, decision.wake_at),
                        (*unconfirmed.events(ticket, now),
                         *decision_events(ticket, decision, None, at=now)))

    def _write(self, decision: Decision, ticket: Ticket, now: datetime) -> TierWrite:
        """The write-back of ``decision``, its note listing the requester's earlier tickets."""
        related = [p for p in self.history.related(
            ticket.platform, requester_id=ticket.requester_id,
            organization_id=ticket.organization_id, since=now - RELATED_WINDOW)
            if p.ref != ticket.ref]
        return tier_write(decision, ticket, related=related, public_reply=self.public_reply,
                          now=now)

    def _shadow(self, ticket: Ticket, evaluation: Evaluation, shadow: frozenset[str],
                used: set[tuple[str, str]], now: datetime,
                last_at: datetime | None) -> _Shadow:
        """What the decision would be with the shadow policies live: every proposal, against
        the evidence used live or already seen in shadow. Its would-be write is audited and the
        shadow policies' evidence kept in a shadow ledger (``shadow:<policy>``), so the same
        would-be write is not audited again, and going live later still acts on it."""
        seen_used = {(p.removeprefix(SHADOW), k) for p, k in used}
        decision = decide(ticket, evaluation.proposals, self.ladder, seen_used,
                          rules=self.rules, now=now, last_escalation=last_at)
        mine = [(SHADOW + p, k, o) for p, k, o in decision.evidence_to_record() if p in shadow]
        if not decision.writes or not any(r.proposal.policy in shadow for r in decision.fired):
            return _Shadow(decision, None, mine)
        write = self._write(decision, ticket, now)
        would = {"policies": sorted({r.proposal.policy for r in decision.fired
                                     if r.proposal.policy in shadow}),
                 "would_write": asdict(write)}
        return _Shadow(decision, would, mine)

    def _backfill(self, ticket: Ticket, connector: Connector, record: AuditRecord) -> None:
        """Make sure the ticket index holds the helpdesk's tickets of this ticket's requester
        and organization from ``RELATED_WINDOW`` before its creation on, asking the helpdesk at
        most every ``BACKFILL_TTL`` seconds for each. A failed search is logged once (until a
        search works again) and noted in the audit; the evaluation goes on with the index."""
        since = ticket.created_at - RELATED_WINDOW
        for kind, ident in (("requester", ticket.requester_id),
                            ("organization", ticket.organization_id)):
            if ident is None or self.store.backfilled(ticket.platform, kind, ident,
                                                      since=since.timestamp(),
                                                      within=BACKFILL_TTL):
                continue
            try:
                found = connector.tickets_of(kind, ident, since)
            except Exception as exc:  # never fail the ticket for its history
                record.detail["history_error"] = f"{type(exc).__name__}: {exc}"
                if ticket.platform not in self._search_failing:
                    self._search_failing.add(ticket.platform)
                    log.warning("%s: could not read earlier tickets of %s %s (%s); policies see "
                                "the tickets tierlift indexed until a search works again",
                                ticket.platform, kind, ident, record.detail["history_error"])
                return
            self.store.backfill(ticket.platform, kind, ident, found, since=since.timestamp())
            if ticket.platform in self._search_failing:
                self._search_failing.discard(ticket.platform)
                log.info("%s: reading earlier tickets works again", ticket.platform)

    def _retry_later(self, claim: Claim, record: AuditRecord, exc: Exception,
                     started: float) -> AuditRecord:
        attempts = max(e.attempts for e in claim.entries) + 1
        delay = getattr(exc, "retry_after", None)
        if delay is None:
            delay = self.rng.uniform(0.5, 1.0) * min(MAX_BACKOFF, 2.0 ** attempts)
        delay = min(delay, self.max_retry_after)  # a helpdesk asking for days parks nothing
        record.outcome = "failed" if attempts >= self.max_attempts else "retry"
        record.detail["retry_in_seconds"] = round(delay, 2)
        record.duration_ms = (time.monotonic() - started) * 1000
        self.store.retry_later(claim, record, delay=delay, max_attempts=self.max_attempts)
        log.warning("%s ticket %s: %s (%s)", claim.platform, claim.ticket_ref, record.outcome,
                    record.detail["error"])
        return record


@dataclass(frozen=True)
class _Shadow:
    """A shadow decision, its would-be write for the audit (``None``: nothing a shadow policy
    would change), and the shadow ledger entries it uses up."""

    decision: Decision | None
    would_write: dict | None
    used: list[tuple[str, str, str]]

    @classmethod
    def none(cls) -> _Shadow:
        return cls(None, None, [])


@dataclass(frozen=True)
class _Unconfirmed:
    """A write-back whose answer was lost (an ambiguous write), as its round audited it; from
    ``audit_id`` (``None``: the evaluation under way)."""

    from_tier: str | None
    to_tier: str | None
    route: str | None
    priority: str | None
    policies: tuple[str, ...]
    evidence: tuple[tuple[str, str], ...]  # (policy, evidence key) behind the write
    headline: str  # the note's first line
    marker: str  # the note's evidence line
    error: str
    audit_id: int | None

    @classmethod
    def of(cls, round_: dict, audit_id: int | None) -> _Unconfirmed | None:
        """The unconfirmed write-back of an audited round (``None``: its write was answered)."""
        write = round_.get("write") or {}
        if "unconfirmed" not in write:
            return None
        decision = round_.get("decision") or {}
        fired = [p for p in round_.get("proposals") or () if p.get("state") == "fired"]
        return cls((round_.get("ticket") or {}).get("tier"), decision.get("to_tier"),
                   decision.get("route"), decision.get("priority"),
                   tuple(sorted({p["policy"] for p in fired})),
                   tuple(sorted({(p["policy"], e["key"]) for p in fired
                                 for e in p.get("evidence") or ()})),
                   write["unconfirmed"]["headline"], write["unconfirmed"]["marker"],
                   write.get("error", ""), audit_id)

    def applied_on(self, ticket: Ticket) -> bool:
        """The ticket shows it: our note, and the tier, team and priority it set."""
        priority = Priority[self.priority.upper()] if self.priority else None
        return ticket.has_own_note(self.marker) and self.to_tier in (None, ticket.tier) and \
            self.route in (None, ticket.route) and \
            (priority is None or (ticket.priority or 0) >= priority)

    def events(self, ticket: Ticket, at: datetime) -> list[Notification]:
        """The ``escalated`` event the write would have raised had its answer come."""
        if not (self.to_tier or self.route):
            return []
        return [Notification(
            kind="escalated", platform=ticket.platform, ticket_ref=ticket.ref,
            key=" ".join(sorted(f"{p}/{k}" for p, k in self.evidence)), at=at,
            from_tier=self.from_tier, to_tier=self.to_tier, route=self.route,
            priority=self.priority, policies=self.policies, headline=self.headline,
            subject=ticket.subject)]


@dataclass(frozen=True)
class _Applied:
    """What an evaluation leaves for the store: the version seen, the evidence used up, other
    tickets to look at again, when to look at this one again, and whom to tell."""

    version: str | None = None
    used: list[tuple[str, str, str]] = field(default_factory=list)
    then: tuple[str, ...] = ()
    wake_at: datetime | None = None
    events: tuple[Notification, ...] = ()


class _StillConflicting(HelpdeskError):
    transient = True


def _earliest(*moments: datetime | None) -> datetime | None:
    return min((m for m in moments if m is not None), default=None)


def _describe(ticket: Ticket, evaluation: Evaluation, decision: Decision,
              shadow: frozenset[str] = frozenset()) -> dict:
    """The audit's view of one round: what we saw, what each policy proposed (``shadow``
    policies' proposals are marked so, outside the live decision), what we decided."""
    targets = {id(r.proposal): r.target for r in (*decision.fired, *decision.satisfied)}
    language = ticket_language(ticket)
    held = {id(p): reason for p, reason in decision.held}
    return {
        "ticket": {"tier": ticket.tier, "status": ticket.status, "version": ticket.version,
                   "priority": ticket.priority.name.lower() if ticket.priority else None,
                   "language": language.code if language else None,
                   # for the review: escalations per channel and organization, and whether an
                   # agent took the ticket out of the team tierlift routed it to
                   "channel": ticket.channel, "organization": ticket.organization_id,
                   **({"organization_name": ticket.organization.name}
                      if ticket.organization and ticket.organization.name else {}),
                   "route": ticket.route},
        "proposals": [
            {
                "policy": p.policy,
                "target": targets.get(id(p)),
                "priority": p.priority.name.lower() if p.priority else None,
                "evidence": [{"key": e.key, "summary": e.summary} for e in p.evidence],
                "state": "shadow" if p.policy in shadow else _state(p, decision, held),
                **({"route": p.route} if p.route else {}),
                **({"held": held[id(p)]} if id(p) in held else {}),
            }
            for p in evaluation.proposals
        ],
        "decision": {"to_tier": decision.to_tier, "route": decision.route,
                     "priority": decision.priority.name.lower() if decision.priority else None,
                     **({"superseded": decision.superseded} if decision.superseded else {})},
    }


def _state(proposal, decision: Decision, held: dict[int, str]) -> str:
    if id(proposal) in held:
        return "held"
    if proposal in decision.stale:
        return "stale"
    if any(r.proposal is proposal for r in decision.acted_on):
        return "acted_on"
    return "fired" if any(r.proposal is proposal for r in decision.fired) else "satisfied"
