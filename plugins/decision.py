"""Merge the policies' proposals for one ticket into one decision, and explain it to tier 2."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from connector.ticket import Priority, Ticket, TierLadder, TierWrite
from plugins.proposal import Proposal

ESCALATED_TAG = "tierlift_escalated"


@dataclass(frozen=True)
class Resolved:
    """A proposal measured against the ticket as it is now."""

    proposal: Proposal
    target: str
    moves: bool
    raises_priority: bool

    @property
    def acts(self) -> bool:
        return self.moves or self.raises_priority


@dataclass(frozen=True)
class Decision:
    """What to do with one ticket.

    ``fired``: proposals behind the write. ``satisfied``: new evidence the ticket already
    answers (it is recorded, so an agent's later move down is not undone on it). ``stale``:
    proposals whose evidence has been used before.
    """

    from_tier: str
    to_tier: str | None
    priority: Priority | None
    fired: tuple[Resolved, ...] = ()
    satisfied: tuple[Resolved, ...] = ()
    stale: tuple[Proposal, ...] = ()

    @property
    def writes(self) -> bool:
        return self.to_tier is not None or self.priority is not None

    def evidence_to_record(self) -> list[tuple[str, str, str]]:
        """``(policy, evidence key, outcome)`` that this decision uses up once it is applied:
        outcome ``escalated`` for the evidence behind the write, ``satisfied`` for the rest."""
        return sorted({
            (r.proposal.policy, e.key, "escalated" if r.acts else "satisfied")
            for r in (*self.fired, *self.satisfied)
            for e in r.proposal.evidence
        })


def decide(
    ticket: Ticket,
    proposals: Iterable[Proposal],
    ladder: TierLadder,
    used: Collection[tuple[str, str]] = (),
) -> Decision:
    """The highest proposed tier wins, priority is the highest proposed, nothing moves down, and
    evidence that was used before is ignored."""
    current = ladder.rank(ticket.tier)
    fresh: list[Resolved] = []
    stale: list[Proposal] = []
    for proposal in proposals:
        if all((proposal.policy, e.key) in used for e in proposal.evidence):
            stale.append(proposal)
            continue
        target = _target(ticket, proposal, ladder)
        fresh.append(Resolved(
            proposal=proposal,
            target=target,
            moves=ladder.rank(target) > current,
            raises_priority=proposal.priority is not None
            and (ticket.priority is None or proposal.priority > ticket.priority),
        ))
    fired = tuple(r for r in fresh if r.acts)
    movers = [r.target for r in fired if r.moves]
    priorities = [r.proposal.priority for r in fired if r.raises_priority]
    return Decision(
        from_tier=ticket.tier,
        to_tier=ladder.highest(movers) if movers else None,
        priority=max(priorities) if priorities else None,
        fired=fired,
        satisfied=tuple(r for r in fresh if not r.acts),
        stale=tuple(stale),
    )


def _target(ticket: Ticket, proposal: Proposal, ladder: TierLadder) -> str:
    if proposal.tier is not None:
        return proposal.tier
    moments = [e.at for e in proposal.evidence if e.at is not None]
    base = ticket.tier_at(min(moments)) if moments else ticket.tier
    return ladder.above(base, proposal.steps_up)


def tier_write(decision: Decision, ticket: Ticket) -> TierWrite:
    """The write-back for a decision that ``writes``: tags naming each policy, and the note."""
    policies = sorted({r.proposal.policy for r in decision.fired})
    return TierWrite(
        tier=decision.to_tier,
        add_tags=(ESCALATED_TAG, *(f"tierlift_{p}" for p in policies)),
        internal_note=handoff_note(decision, ticket),
        priority=decision.priority,
    )


def handoff_note(decision: Decision, ticket: Ticket) -> str:
    """The internal note: what moved, why (each policy with its evidence), what to do next."""
    if decision.to_tier is not None:
        head = f"tierlift escalated this ticket from {decision.from_tier} to {decision.to_tier}."
    else:
        head = f"tierlift kept this ticket in {decision.from_tier}."
    if decision.priority is not None:
        before = ticket.priority.name.lower() if ticket.priority else "none"
        head += f" Priority: {before} → {decision.priority.name.lower()}."
    lines = [head, "", "Why:"]
    for resolved in decision.fired:
        proposal = resolved.proposal
        for evidence in proposal.evidence:
            line = f"- {proposal.policy}: {evidence.summary}"
            if evidence.at is not None:
                line += f" ({_when(evidence.at)})"
            lines.append(line)
            if evidence.quote:
                lines.append(f'    "{evidence.quote}"')
    suggestions = [(r.proposal.policy, r.proposal.suggestion) for r in decision.fired
                   if r.proposal.suggestion]
    if suggestions:
        lines += ["", "Suggested next steps:"]
        lines += [f"- {policy}: {text}" for policy, text in dict(suggestions).items()]
    keys = ", ".join(sorted({f"{r.proposal.policy}/{e.key}" for r in decision.fired
                             for e in r.proposal.evidence}))
    lines += ["", f"Evidence: {keys}"]
    return "\n".join(lines)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip()
