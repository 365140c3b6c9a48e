"""Merge the policies' proposals for one ticket into one decision, and explain it to tier 2."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connector.ticket import Priority, Ticket, TierLadder, TierWrite
from plugins.history import RELATED_LIMIT, PastTicket
from plugins.language import ticket_language
from plugins.proposal import Proposal

ESCALATED_TAG = "tierlift_escalated"


CLOSED_STATUSES = {
    "zendesk": frozenset({"solved", "closed"}),
    "jira": frozenset({"resolved", "closed", "done", "canceled", "cancelled"}),
}


@dataclass(frozen=True)
class DecisionRules:
    """The guardrails of ``[escalation]``.

    ``gated`` policies may move a ticket only once the minimum effort is met
    (``min_age_minutes``, or ``min_agent_replies`` public agent replies; either one suffices; 0
    means not required), counted in the current tier or, with ``effort_since = "creation"``,
    over the ticket's whole life. A fresh proposal of a ``bypass`` policy lets the gated ones
    through. ``cooldown_minutes`` holds every proposal for that long after tierlift's last
    escalation of the ticket. ``top_tier`` caps hierarchical moves. When a specialist route and
    a tier bump both apply, ``route_over_tier`` picks the route. A ticket whose status is one of
    its platform's ``closed_statuses`` (lower case) is never escalated.
    """

    min_age_minutes: float = 0
    min_agent_replies: int = 0
    gated: frozenset[str] = frozenset({"complexity", "effort", "sentiment"})
    bypass: frozenset[str] = frozenset()
    effort_since: str = "tier"
    cooldown_minutes: float = 0
    top_tier: str | None = None
    route_over_tier: bool = True
    route_precedence: tuple[str, ...] = ("incident", "vip", "specialized")
    closed_statuses: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: dict(CLOSED_STATUSES))

    def effort_met(self, ticket: Ticket, now: datetime) -> bool:
        since = ticket.created_at if self.effort_since == "creation" else ticket.tier_entered_at
        checks = []
        if self.min_age_minutes:
            checks.append(now - since >= timedelta(minutes=self.min_age_minutes))
        if self.min_agent_replies:
            checks.append(ticket.agent_replies_since(since) >= self.min_agent_replies)
        return not checks or any(checks)

    def effort_clears_at(self, ticket: Ticket) -> datetime | None:
        """When the minimum age is reached (replies cannot be foreseen); ``None`` if none."""
        if not self.min_age_minutes:
            return None
        since = ticket.created_at if self.effort_since == "creation" else ticket.tier_entered_at
        return since + timedelta(minutes=self.min_age_minutes)

    def closed(self, ticket: Ticket) -> bool:
        return ticket.status.lower() in self.closed_statuses.get(ticket.platform, ())


DEFAULT_RULES = DecisionRules()


@dataclass(frozen=True, slots=True)
class Resolved:
    """A proposal measured against the ticket as it is now."""

    proposal: Proposal
    target: str
    moves: bool
    raises_priority: bool
    reroutes: bool
    tags: bool
    follows: bool = False

    @property
    def acts(self) -> bool:
        return self.moves or self.raises_priority or self.reroutes or self.tags or self.follows


@dataclass(frozen=True)
class Decision:
    """What to do with one ticket.

    ``fired``: proposals behind the write. ``satisfied``: new evidence the ticket already
    answers (it is recorded, so an agent's later move down is not undone on it). ``acted_on``:
    evidence that predates the ticket's move into its current tier (recorded the same way).
    ``stale``:
    proposals whose evidence has been used before. ``held``: proposals a guardrail holds back
    for now (their evidence is not used up). ``superseded`` explains a tier bump or route that
    gave way to the other.
    """

    from_tier: str
    to_tier: str | None
    priority: Priority | None
    route: str | None = None
    add_tags: tuple[str, ...] = ()
    fired: tuple[Resolved, ...] = ()
    satisfied: tuple[Resolved, ...] = ()
    acted_on: tuple[Resolved, ...] = ()
    stale: tuple[Proposal, ...] = ()
    held: tuple[tuple[Proposal, str], ...] = ()
    superseded: str | None = None
    also_evaluate: tuple[str, ...] = field(default=())
    add_followers: tuple[str, ...] = ()
    wake_at: datetime | None = None  # when a guardrail holding a proposal back lets go

    @property
    def writes(self) -> bool:
        return bool(self.to_tier or self.priority or self.route or self.add_tags
                    or self.add_followers)

    def evidence_to_record(self) -> list[tuple[str, str, str]]:
        """``(policy, evidence key, outcome)`` that this decision uses up once it is applied:
        outcome ``escalated`` for the evidence behind the write, ``satisfied`` for the rest."""
        return sorted({
            (r.proposal.policy, e.key, "escalated" if r.acts else "satisfied")
            for r in (*self.fired, *self.satisfied, *self.acted_on)
            for e in r.proposal.evidence
        })


def decide(
    ticket: Ticket,
    proposals: Iterable[Proposal],
    ladder: TierLadder,
    used: Collection[tuple[str, str]] = (),
    *,
    rules: DecisionRules | None = None,
    now: datetime | None = None,
    last_escalation: datetime | None = None,
) -> Decision:
    """The highest proposed tier wins, priority is the highest proposed, a specialist route wins
    over a mere tier bump (configurable), nothing moves down, evidence used before is ignored,
    and the guardrails hold back what must wait."""
    rules = rules or DEFAULT_RULES
    now = now or ticket.updated_at
    current = ladder.rank(ticket.tier)
    cooling = last_escalation is not None and rules.cooldown_minutes and \
        now - last_escalation < timedelta(minutes=rules.cooldown_minutes)
    closed = rules.closed(ticket)
    entered = ticket.tier_entered_at
    moved_since_creation = entered > ticket.created_at
    stale: list[Proposal] = []
    held: list[tuple[Proposal, str]] = []
    candidates: list[Proposal] = []
    acted_on: list[Resolved] = []  # by a move into the current tier: used up, as if satisfied
    wakes: list[datetime | None] = []  # when what holds a proposal back lets go
    for proposal in proposals:
        if all((proposal.policy, e.key) in used for e in proposal.evidence):
            stale.append(proposal)
        elif moved_since_creation and _acted_on(proposal, entered):
            acted_on.append(Resolved(proposal, ticket.tier, moves=False, raises_priority=False,
                                     reroutes=False, tags=False))
        elif closed:
            held.append((proposal, f"the ticket is {ticket.status}: never escalated"))
        elif cooling:
            held.append((proposal, f"cooldown: escalated less than {rules.cooldown_minutes:g} "
                                   "min ago"))
            wakes.append(last_escalation + timedelta(minutes=rules.cooldown_minutes))
        else:
            candidates.append(proposal)
    bypassed = any(p.policy in rules.bypass for p in candidates)
    effort_met: bool | None = None  # worked out only if a gated policy proposes
    fresh: list[Resolved] = []
    for proposal in candidates:
        if proposal.policy in rules.gated and not bypassed:
            if effort_met is None:
                effort_met = rules.effort_met(ticket, now)
            if not effort_met:
                held.append((proposal, "too early: minimum effort not met yet"
                             if rules.effort_since == "creation"
                             else "minimum effort in the current tier not met yet"))
                wakes.append(rules.effort_clears_at(ticket))
                continue
        target = _target(ticket, proposal, ladder, rules.top_tier)
        fresh.append(Resolved(
            proposal=proposal,
            target=target,
            moves=ladder.rank(target) > current,
            raises_priority=proposal.priority is not None
            and (ticket.priority is None or proposal.priority > ticket.priority),
            reroutes=proposal.route is not None and proposal.route != ticket.route,
            tags=bool(proposal.add_tags) and not set(proposal.add_tags) <= set(ticket.tags),
            follows=bool(proposal.add_followers)
            and not set(proposal.add_followers) <= set(ticket.followers),
        ))
    fired = tuple(r for r in fresh if r.acts)
    movers = [r.target for r in fired if r.moves]
    to_tier = ladder.highest(movers) if movers else None
    route = _route([r.proposal for r in fired if r.reroutes], rules.route_precedence)
    superseded = None
    if route and to_tier:
        if rules.route_over_tier:
            superseded = f"the move to {to_tier} gave way to the {route} team"
            to_tier = None
        else:
            superseded = f"the {route} team was not involved: tiers come first here"
            route = None
    elif to_tier and ticket.route and rules.route_over_tier:  # a team has it: it keeps it
        superseded = f"the {ticket.route} team has the ticket: no move to {to_tier}"
        to_tier = None
    priorities = [r.proposal.priority for r in fired if r.raises_priority]
    return Decision(
        from_tier=ticket.tier,
        to_tier=to_tier,
        priority=max(priorities) if priorities else None,
        route=route,
        add_tags=tuple(dict.fromkeys(t for r in fired for t in r.proposal.add_tags
                                     if t not in ticket.tags)),
        fired=fired,
        satisfied=tuple(r for r in fresh if not r.acts),
        acted_on=tuple(acted_on),
        stale=tuple(stale),
        held=tuple(held),
        superseded=superseded,
        also_evaluate=tuple(dict.fromkeys(ref for r in fired for ref in r.proposal.also_evaluate
                                          if ref != ticket.ref)),
        add_followers=tuple(dict.fromkeys(f for r in fired for f in r.proposal.add_followers
                                          if f not in ticket.followers)),
        wake_at=min((w for w in wakes if w is not None and w > now), default=None),
    )


def _acted_on(proposal: Proposal, entered: datetime) -> bool:
    """Evidence rule: a tier move whose every piece of evidence predates the ticket's entry into
    its current tier has been acted on already (by an agent's move, or ours). Routes and
    priorities are another matter than the tier: a move does not answer them."""
    moves = proposal.tier is not None or proposal.steps_up > 0
    return moves and all(e.at is not None and e.at < entered for e in proposal.evidence)


def _target(ticket: Ticket, proposal: Proposal, ladder: TierLadder, top: str | None) -> str:
    if proposal.tier is not None:
        target = proposal.tier
    elif proposal.steps_up == 0:  # sideways (a route) or priority only: no tier move
        return ticket.tier
    else:
        moments = [e.at for e in proposal.evidence if e.at is not None]
        base = ticket.tier_at(min(moments)) if moments else ticket.tier
        target = ladder.above(base, proposal.steps_up)
    if top is not None and ladder.rank(target) > ladder.rank(top):
        return max(top, ticket.tier, key=ladder.rank)
    return target


def _route(proposals: Sequence[Proposal], precedence: Sequence[str]) -> str | None:
    if not proposals:
        return None
    order = {policy: n for n, policy in enumerate(precedence)}
    return min(proposals, key=lambda p: order.get(p.policy, len(order))).route


def tier_write(decision: Decision, ticket: Ticket, *, related: Sequence[PastTicket] = (),
               public_reply: str | None = None, now: datetime | None = None) -> TierWrite:
    """The write-back for a decision that ``writes``: tags naming each policy, the note, and
    the optional public reply (``{tier}`` and ``{team}`` are filled in)."""
    policies = sorted({r.proposal.policy for r in decision.fired})
    reply = None
    if public_reply and (decision.to_tier or decision.route):
        reply = public_reply.format(tier=decision.to_tier or decision.from_tier,
                                    team=decision.route or "specialist")
    return TierWrite(
        tier=decision.to_tier,
        add_tags=(ESCALATED_TAG, *(f"tierlift_{p}" for p in policies), *decision.add_tags),
        internal_note=handoff_note(decision, ticket, related=related, now=now),
        priority=decision.priority,
        route=decision.route,
        public_reply=reply,
        add_followers=decision.add_followers,
    )


def handoff_note(decision: Decision, ticket: Ticket, *, related: Sequence[PastTicket] = (),
                 now: datetime | None = None) -> str:
    """The internal note: what moved, why (each policy with its evidence), the ticket's facts,
    and what to do next."""
    lines = [_headline(decision, ticket), "", "Why:"]
    for resolved in decision.fired:
        proposal = resolved.proposal
        for evidence in proposal.evidence:
            line = f"- {proposal.policy}: {evidence.summary}"
            if evidence.at is not None:
                line += f" ({_when(evidence.at)})"
            lines.append(line)
            if evidence.quote:
                lines.append(f'    "{evidence.quote}"')
    if decision.superseded:
        lines.append(f"- note: {decision.superseded}")
    lines += ["", "Ticket facts:", *_facts(ticket, related, now or ticket.updated_at)]
    suggestions = [(r.proposal.policy, r.proposal.suggestion) for r in decision.fired
                   if r.proposal.suggestion]
    if suggestions:
        lines += ["", "Suggested next steps:"]
        lines += [f"- {policy}: {text}" for policy, text in dict(suggestions).items()]
    keys = ", ".join(sorted({f"{r.proposal.policy}/{e.key}" for r in decision.fired
                             for e in r.proposal.evidence}))
    lines += ["", f"Evidence: {keys}"]
    return "\n".join(lines)


def _headline(decision: Decision, ticket: Ticket) -> str:
    if decision.route is not None:
        head = f"tierlift routed this ticket to the {decision.route} team."
    elif decision.to_tier is not None:
        head = f"tierlift escalated this ticket from {decision.from_tier} to {decision.to_tier}."
    else:
        head = f"tierlift kept this ticket in {decision.from_tier}."
    if decision.priority is not None:
        before = ticket.priority.name.lower() if ticket.priority else "none"
        head += f" Priority: {before} → {decision.priority.name.lower()}."
    if decision.add_followers:
        head += f" Now following: {', '.join(decision.add_followers)}."
    return head


def _facts(ticket: Ticket, related: Sequence[PastTicket], now: datetime) -> list[str]:
    entered = ticket.tier_entered_at
    facts = [
        f"- Age: {_duration(now - ticket.created_at)} (created {_when(ticket.created_at)}); "
        f"in {ticket.tier} since {_when(entered)}",
        f"- Agent replies in {ticket.tier}: {ticket.agent_replies_since(entered)}; "
        f"reopens: {ticket.reopens}",
    ]
    language = ticket_language(ticket)
    if language is not None:
        facts.append(f"- Language: {language.describe()}")
    if ticket.channel:
        facts.append(f"- Channel: {ticket.channel}"
                     + (f" ({ticket.channel_detail})" if ticket.channel_detail else ""))
    if ticket.organization is not None:
        facts.append(f"- Organization: {ticket.organization.name or ticket.organization.id}")
    if related:
        shown = ", ".join(f'#{p.ref} "{p.subject}" ({p.created_at:%Y-%m-%d})'
                          for p in related[:5])
        more = f" and {'at least ' if _capped(ticket, related) else ''}{len(related) - 5} more" \
            if len(related) > 5 else ""
        facts.append(f"- Earlier tickets from this requester or organization: {shown}{more}")
    return facts


def _capped(ticket: Ticket, related: Sequence[PastTicket]) -> bool:
    """The history answered as many of the requester's or the organization's tickets as it
    answers at most (this ticket left out of them): there may be more."""
    return any(owner is not None and sum(getattr(p, name) == owner for p in related)
               >= RELATED_LIMIT - 1
               for name, owner in (("requester_id", ticket.requester_id),
                                   ("organization_id", ticket.organization_id)))


def _duration(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min"]
    return " ".join(p for p in parts if p)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip()
