"""Policy evaluation speed: every built-in policy enabled, tickets with 20 comments, one core.

Evaluates a corpus of realistic tickets through the same host call and merge the worker uses
(``EnabledPolicies.evaluate`` + ``decide``), with an in-memory history of 200 tickets of the
last 20 days (200 requesters in 50 organizations), and reports evaluations per second overall
and the time each policy takes. ``--hot`` is the
share of tickets whose customer writes escalation-worthy things (the rest are routine
conversations); 1.0 is the worst case, where every ticket fires several policies.

    .venv/bin/python bench/evaluate.py [--evaluations 20000] [--comments 20] [--hot 0.2]
"""

from __future__ import annotations

import argparse
import random
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from connector.ticket import (
    AuthorRole,
    Comment,
    Organization,
    Priority,
    Ticket,
    TierChange,
    TierLadder,
)
from plugins.decision import decide
from plugins.history import PastTicket
from plugins.manager import PolicyHost

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LADDER = TierLadder(("L1", "L2", "L3"), "L1")
ROUTINE_LINES = [
    "Hi, how do I change the email address on my account?",
    "Thanks, I found the setting.",
    "The export finished now, all good.",
    "Could you send me the link to the user guide?",
    "We added two new colleagues, where do they sign in?",
    "Is there a way to change the date format in reports?",
]
CUSTOMER_LINES = [
    "Hi, the export to CSV stops at 10,000 rows, is that expected?",
    "I tried again this morning and it still fails with error 500.",
    "Our SSO login via SAML loops back to the start page for every user.",
    "This is the third time I write about this. It is unacceptable!!",
    "Can you please refund the $250 we were charged twice this month?",
    "Thanks, that worked.",
    "We are losing data after the migration, half of our projects are gone.",
    "I want to speak to a manager.",
    "The webhook integration with our CRM stopped sending events yesterday.",
    "Could you send me the invoice for October as a PDF?",
]
AGENT_LINES = [
    "Thanks for reaching out! Could you send a screenshot?",
    "I have passed this on to our engineers and will update you soon.",
    "Could you try clearing the browser cache and logging in again?",
    "Here is the article that explains the export limits.",
]
SUBJECTS = ["Export fails", "SSO login loop", "Charged twice", "Data missing after migration",
            "Webhook not firing", "Invoice copy", "Cannot add teammate", "Outage: app down"]


def ticket(n: int, comments: int, hot: bool, rng: random.Random) -> Ticket:
    created = NOW - timedelta(hours=rng.randint(1, 72))
    lines = CUSTOMER_LINES if hot else ROUTINE_LINES
    items = []
    for i in range(comments):
        customer = i % 2 == 0
        items.append(Comment(
            id=f"{n}-{i}", author_id="1" if customer else "501",
            author_role=AuthorRole.CUSTOMER if customer else AuthorRole.AGENT,
            public=rng.random() > 0.1, body=rng.choice(lines if customer else AGENT_LINES),
            created_at=created + timedelta(minutes=10 * i)))
    return Ticket(
        platform="zendesk", ref=str(1000 + n),
        subject=rng.choice(SUBJECTS) if hot else f"Question {n}", status="open",
        priority=Priority.NORMAL, tier="L1", tags=tuple(rng.sample(["billing", "sso", "vip",
                                                                     "export", "api"], 2)),
        requester_id=str(rng.randint(1, 200)), assignee_id="501",
        organization_id=str(rng.randint(1, 50)), channel=rng.choice(["email", "web", "twitter"]),
        created_at=created, updated_at=NOW, version="v", comments=tuple(items),
        tier_history=(TierChange(created, "L1"),), reopens=rng.randint(0, 2),
        organization=Organization(str(rng.randint(1, 50)), "Acme",
                                  tags=tuple(rng.sample(["enterprise", "smb", "trial"], 1))),
    )


class MemoryHistory:
    """Indexed by requester and organization, as the store's table is."""

    def __init__(self, tickets: list[PastTicket]) -> None:
        self.tickets = tickets
        self.by_owner: dict[str, list[PastTicket]] = defaultdict(list)
        for t in tickets:
            self.by_owner[f"r{t.requester_id}"].append(t)
            self.by_owner[f"o{t.organization_id}"].append(t)

    def related(self, platform, *, requester_id, organization_id, since):
        found = {t.ref: t for key in (f"r{requester_id}", f"o{organization_id}")
                 for t in self.by_owner.get(key, ()) if t.created_at >= since}
        return list(found.values())

    def recent(self, platform, *, since):
        return [t for t in self.tickets if t.created_at >= since]

    def created_between(self, platform, start, end):
        return sorted((t for t in self.tickets if start <= t.created_at <= end),
                      key=lambda t: (t.created_at, t.ref))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=20_000)
    parser.add_argument("--comments", type=int, default=20)
    parser.add_argument("--hot", type=float, default=0.2)
    args = parser.parse_args()
    rng = random.Random(7)
    corpus = [ticket(n, args.comments, rng.random() < args.hot, rng) for n in range(200)]
    history = MemoryHistory([
        PastTicket("zendesk", str(n), rng.choice(SUBJECTS), ("export",), None,
                   str(rng.randint(1, 200)), str(rng.randint(1, 50)),
                   NOW - timedelta(minutes=rng.randint(1, 60 * 24 * 20)), "open")
        for n in range(200)])
    host = PolicyHost(load_entry_points=False)
    names = sorted(host.specs())
    policies = host.configure({name: {"enabled": True} for name in names})

    # Per-policy cost: each policy alone over the corpus.
    per_policy: dict[str, float] = defaultdict(float)
    rounds = max(1, args.evaluations // len(corpus) // 10)
    for name in names:
        alone = host.configure({name: {"enabled": True}})
        started = time.perf_counter()
        for _ in range(rounds):
            for t in corpus:
                alone.evaluate(t, now=NOW, tiers=LADDER, history=history)
        per_policy[name] = (time.perf_counter() - started) / (rounds * len(corpus)) * 1e6

    # Best of five rounds (as timeit does): the figure a quiet core gives, not the noise of
    # whatever else shares the machine.
    fired = sum(decide(t, policies.evaluate(t, now=NOW, tiers=LADDER, history=history).proposals,
                       LADDER, now=NOW).writes for t in corpus)
    per_round = max(1, args.evaluations // 5)
    elapsed = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for i in range(per_round):
            t = corpus[i % len(corpus)]
            evaluation = policies.evaluate(t, now=NOW, tiers=LADDER, history=history)
            decide(t, evaluation.proposals, LADDER, now=NOW)
        elapsed = min(elapsed, time.perf_counter() - started)
    args.evaluations = per_round
    print(f"{args.evaluations} evaluations per round, tickets with {args.comments} comments "
          f"({args.hot:.0%} escalation-worthy), {len(names)} policies enabled "
          f"({', '.join(names)}), one thread:")
    each = elapsed / args.evaluations * 1e6
    print(f"  {args.evaluations / elapsed:,.0f} evaluations/s ({each:.1f} µs each, policies + "
          f"merge; best of 5 rounds); {fired / len(corpus):.0%} of the tickets would be written")
    for name, micros in sorted(per_policy.items(), key=lambda item: -item[1]):
        print(f"  {name:18} {micros:6.1f} µs")


if __name__ == "__main__":
    main()
