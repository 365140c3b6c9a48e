"""Labelled tickets built in the loopback Zendesk and Jira emulators, and what became of them.

The emulated support organisation (:func:`helpdesks`: tier groups / options, one agent per tier,
a group / option per team), :func:`build_scene` (every person, organization and ticket with its
events, backdated to their offsets from one moment; nothing announced), the connection details
an admin would give tierlift (:func:`connection_env`), :func:`announce` (one signed webhook per
ticket), :func:`wait_idle`, and :func:`collect`: each ticket's state, the policies that fired
per the audit, and the safety counts. Shared by ``bench/decisions.py`` and ``tierlift demo``.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa

from webhook_app.emulator.jira import JiraEmulator
from webhook_app.emulator.labels import TIERS, Labelled, LabelSet, Person, State
from webhook_app.emulator.zendesk import BOT_ID, ZendeskEmulator
from webhook_app.store import Store, inbox

# The emulated support organisation: tier groups / options, one agent per tier, team groups /
# options for every route a policy may take (the four teams of the written policy, and the
# dedicated key-account and incident teams tierlift can route to).
ZENDESK_TIER_GROUPS = {"L1": 101, "L2": 102, "L3": 103}
ZENDESK_ROUTE_GROUPS = {"billing": 201, "security": 202, "compliance": 203, "integrations": 204,
                        "vip": 205, "incident": 206}
ZENDESK_AGENTS = {"L1": 501, "L2": 601, "L3": 701}
ZENDESK_FIRST_USER, ZENDESK_FIRST_ORG = 10001, 9001
JIRA_TIER_VALUES = {"L1": "Tier 1", "L2": "Tier 2", "L3": "Tier 3"}
JIRA_ROUTE_VALUES = {"billing": "Billing", "security": "Security", "compliance": "Compliance",
                     "integrations": "Integrations", "vip": "Key accounts",
                     "incident": "Incident"}
JIRA_AGENTS = {"L1": "qm:agent-tier-1", "L2": "qm:agent-tier-2", "L3": "qm:agent-tier-3"}
JIRA_PRIORITIES = {"low": "Low", "normal": "Medium", "high": "High", "urgent": "Highest"}
JIRA_PRIORITY_OF = {"Lowest": "low", **{v: k for k, v in JIRA_PRIORITIES.items()}}
CLOSED = frozenset({"solved", "closed", "resolved"})  # lower case, both helpdesks
ZENDESK_SECRET, JIRA_SECRET = "bench-zendesk-secret", "bench-jira-secret"  # the defaults


def helpdesks(rate_limit: int = 100_000) -> tuple[ZendeskEmulator, JiraEmulator]:
    """Zendesk and Jira Cloud with one agent per tier, the tier groups / options and a group /
    option per team; ``rate_limit`` requests per minute each."""
    zendesk = ZendeskEmulator(rate_limit=rate_limit)
    for tier, agent in ZENDESK_AGENTS.items():
        zendesk.user(agent, f"Agent {tier}", role="agent")
        zendesk.group(ZENDESK_TIER_GROUPS[tier], agent)
    for group in ZENDESK_ROUTE_GROUPS.values():
        zendesk.group(group)
    jira = JiraEmulator(cloud=True, rate_limit=rate_limit,
                        tier_options=tuple(JIRA_TIER_VALUES.values()),
                        team_options=tuple(JIRA_ROUTE_VALUES.values()))
    for tier, agent in JIRA_AGENTS.items():
        jira.user(agent, f"Agent {tier}")
    return zendesk, jira


@dataclass
class Scene:
    """The labelled tickets as built in the emulators, at the scene's moment ``now``."""

    zendesk: ZendeskEmulator
    jira: JiraEmulator
    now: datetime
    refs: dict[str, str] = field(default_factory=dict)  # ticket name -> id / issue key
    before: dict[str, State] = field(default_factory=dict)  # before tierlift saw it
    status: dict[str, str] = field(default_factory=dict)  # at the scene's moment
    zendesk_users: dict[str, int] = field(default_factory=dict)  # person key -> user id
    jira_users: dict[str, str] = field(default_factory=dict)  # person key -> accountId
    people: dict[str, Person] = field(default_factory=dict)  # person key -> the person
    jira_orgs: dict[str, str] = field(default_factory=dict)  # organization key -> JSM id
    # JSM organizations that are key accounts, listed by name for vip: an admin lists them
    # (JSM organizations carry no tags)
    jira_key_accounts: list[str] = field(default_factory=list)


def build_scene(labels: LabelSet, zendesk: ZendeskEmulator, jira: JiraEmulator, *,
                now: datetime | None = None) -> Scene:
    """Create every person, organization and ticket, with the ticket's events, backdated to
    ``now`` + their offsets; nothing is announced (no webhooks)."""
    scene = Scene(zendesk, jira, now or datetime.now(UTC).replace(microsecond=0),
                  people=dict(labels.people))
    org_ids = {}
    for n, (key, org) in enumerate(sorted(labels.organizations.items())):
        org_ids[key] = zendesk.organization(ZENDESK_FIRST_ORG + n, org.name, tags=org.tags)
    for n, (key, person) in enumerate(sorted(labels.people.items())):
        scene.zendesk_users[key] = zendesk.user(
            ZENDESK_FIRST_USER + n, person.name, locale=person.locale,
            organization_id=org_ids.get(person.organization))
        scene.jira_users[key] = jira.user(f"qm:{key.replace(':', '-')}", person.name,
                                          customer=True)
    for key, org in sorted(labels.organizations.items()):
        scene.jira_orgs[key] = jira.organization(org.name)
    scene.jira_key_accounts = sorted(org.name for org in labels.organizations.values()
                                     if org.key_account)
    for ticket in sorted(labels.tickets, key=lambda t: (t.created, t.name)):
        build = _zendesk_ticket if ticket.platform == "zendesk" else _jira_issue
        scene.refs[ticket.name] = build(scene, ticket)
        scene.before[ticket.name] = state_of(scene, ticket)
        scene.status[ticket.name] = _status_now(scene, ticket)
    return scene


def _zendesk_ticket(scene: Scene, t: Labelled) -> str:
    zendesk = scene.zendesk
    ticket = zendesk.create_ticket(
        subject=t.subject, description=t.description,
        requester_id=scene.zendesk_users[t.requester], group_id=ZENDESK_TIER_GROUPS[t.tier],
        priority=t.priority, tags=list(t.tags), channel=t.channel,
        channel_rel=t.channel_detail,
        organization_id=zendesk.users[scene.zendesk_users[t.requester]]["organization_id"],
        status=t.status, at=scene.now + t.created, notify=False)
    tier = t.tier
    for e in t.events:
        at, agent = scene.now + e.at, ZENDESK_AGENTS[tier]
        if e.kind == "customer":
            zendesk.customer_comment(ticket, e.text, at=at, notify=False)
        elif e.kind in ("reply", "note"):
            zendesk.agent_note(ticket, agent, e.text, public=e.kind == "reply", at=at,
                               notify=False)
        elif e.kind == "move":
            zendesk.agent_moves(ticket, agent, ZENDESK_TIER_GROUPS[e.tier], at=at,
                                notify=False)
            tier = e.tier
        elif e.kind == "route":
            zendesk.agent_moves(ticket, agent, ZENDESK_ROUTE_GROUPS[e.team], at=at,
                                notify=False)
        else:
            zendesk.agent_sets_status(ticket, agent, e.status, at=at, notify=False)
    return str(ticket)


def _jira_issue(scene: Scene, t: Labelled) -> str:
    jira = scene.jira
    org = scene.people[t.requester].organization
    key = jira.create_issue(t.subject, t.description, scene.jira_users[t.requester],
                            tier=JIRA_TIER_VALUES[t.tier], priority=JIRA_PRIORITIES[t.priority],
                            labels=t.tags, status=t.status, at=scene.now + t.created,
                            organizations=(scene.jira_orgs[org],) if org else (),
                            notify=False)
    tier = t.tier
    for e in t.events:
        at, agent = scene.now + e.at, JIRA_AGENTS[tier]
        if e.kind == "customer":
            if jira.issues[key].status in ("Resolved", "Closed"):
                # A customer writing on a resolved request reopens it: the rule service projects
                # run for that ("re-open on customer comment"), as Zendesk does by itself.
                jira.agent_sets_status(key, agent, "Waiting for support", at=at, notify=False)
            jira.customer_comment(key, e.text, at=at, notify=False)
        elif e.kind in ("reply", "note"):
            jira.agent_comment(key, agent, e.text, internal=e.kind == "note", at=at,
                               notify=False)
        elif e.kind == "move":
            jira.agent_sets_tier(key, agent, JIRA_TIER_VALUES[e.tier], at=at, notify=False)
            tier = e.tier
        elif e.kind == "route":
            jira.agent_sets_team(key, agent, JIRA_ROUTE_VALUES[e.team], at=at, notify=False)
        else:
            jira.agent_sets_status(key, agent, e.status, at=at, notify=False)
    return key


def _status_now(scene: Scene, t: Labelled) -> str:
    ref = scene.refs[t.name]
    if t.platform == "zendesk":
        return scene.zendesk.tickets[int(ref)]["status"]
    return scene.jira.issues[ref].status


_TIER_OF_GROUP = {group: tier for tier, group in ZENDESK_TIER_GROUPS.items()}
_ROUTE_OF_GROUP = {group: route for route, group in ZENDESK_ROUTE_GROUPS.items()}
_TIER_OF_VALUE = {value: tier for tier, value in JIRA_TIER_VALUES.items()}
_ROUTE_OF_VALUE = {value: route for route, value in JIRA_ROUTE_VALUES.items()}


def _group(value: object) -> int | None:
    return int(value) if value not in (None, "", "None") else None


def state_of(scene: Scene, t: Labelled) -> State:
    """The ticket's tier, team and priority as the helpdesk holds them now. Zendesk keeps a
    ticket in one group: in a team's group, its tier is that of the last tier group it was in."""
    ref = scene.refs[t.name]
    if t.platform == "zendesk":
        ticket = scene.zendesk.tickets[int(ref)]
        tier = "L1"
        for _, change in _zendesk_group_changes(scene.zendesk, int(ref)):
            tier = _TIER_OF_GROUP.get(_group(change.get("value")), tier)
        return State(tier, _ROUTE_OF_GROUP.get(ticket["group_id"]),
                     ticket["priority"] or "normal")
    issue = scene.jira.issues[ref]
    return State(_TIER_OF_VALUE.get(issue.tier, "L1"), _ROUTE_OF_VALUE.get(issue.team),
                 JIRA_PRIORITY_OF[issue.priority])


def _zendesk_group_changes(zendesk: ZendeskEmulator, ticket: int):
    """``(author, event)`` of every group event in the ticket's audits, oldest first."""
    for audit in list(zendesk.audits[ticket]):
        for event in audit["events"]:
            if event.get("field_name") == "group_id":
                yield audit["author_id"], event


def downward_moves(scene: Scene, t: Labelled) -> int:
    """tierlift's writes that moved the ticket to a lower tier than it was in."""
    ref = scene.refs[t.name]
    rank = TIERS.index
    count = 0
    if t.platform == "zendesk":
        tier = "L1"
        for author, change in _zendesk_group_changes(scene.zendesk, int(ref)):
            target = _TIER_OF_GROUP.get(_group(change.get("value")))
            if target is None:
                continue
            if author == BOT_ID and rank(target) < rank(tier):
                count += 1
            tier = target
        return count
    jira = scene.jira
    for history in list(jira.issues[ref].histories):
        for item in history.items:
            if item["field"] != jira.tier_field_name or history.author != jira.bot:
                continue
            before = _TIER_OF_VALUE.get(item["fromString"], "L1")
            after = _TIER_OF_VALUE.get(item["toString"], "L1")
            count += rank(after) < rank(before)
    return count


def writes_to(scene: Scene, t: Labelled) -> int:
    """tierlift's successful writes to the ticket."""
    ref = scene.refs[t.name]
    if t.platform == "zendesk":
        return len(scene.zendesk.writes(int(ref)))
    return len(scene.jira.writes(ref))


@dataclass(frozen=True)
class Outcome:
    """One labelled ticket after the run."""

    ticket: Labelled
    before: State
    after: State
    fired: frozenset[str] = frozenset()  # policies fired or satisfied per the audit
    held: tuple[str, ...] = ()  # "policy: reason" held back by a guardrail
    writes: int = 0
    downward: int = 0
    echo_writes: int = 0  # writes caused by nothing but our own changes coming back
    repeated: int = 0  # writes on evidence that an earlier write had already used
    closed_writes: int = 0  # writes to a ticket that was solved / closed
    ref: str = ""  # Zendesk ticket id / Jira issue key
    status_then: str = ""  # status at the scene's moment

    @property
    def agrees(self) -> bool:
        return self.after == self.ticket.expect.state

    @property
    def loop(self) -> bool:
        """Written because of its own echo, or twice on the same evidence (a second write on
        new evidence, e.g. an incident found after a route, is not a loop)."""
        return self.echo_writes > 0 or self.repeated > 0


def connection_env(scene: Scene, database_url: str, zendesk_url: str, jira_url: str, *,
                   zendesk_secret: str = ZENDESK_SECRET,
                   jira_secret: str = JIRA_SECRET) -> dict[str, str]:
    """What the admin fills in, as ``TIERLIFT_*`` variables (tables and lists as JSON), plus
    the worker settings of a scene played at once: no sweep, short polls."""
    zendesk, jira = scene.zendesk, scene.jira
    env = {
        "TIERLIFT_DATABASE_URL": database_url,
        "TIERLIFT_ZENDESK__BASE_URL": zendesk_url,
        "TIERLIFT_ZENDESK__EMAIL": zendesk.email,
        "TIERLIFT_ZENDESK__API_TOKEN": zendesk.api_token,
        "TIERLIFT_ZENDESK__WEBHOOK_SECRET": zendesk_secret,
        "TIERLIFT_ZENDESK__TIER_GROUPS": json.dumps(ZENDESK_TIER_GROUPS),
        "TIERLIFT_ZENDESK__ROUTE_GROUPS": json.dumps(ZENDESK_ROUTE_GROUPS),
        "TIERLIFT_JIRA__BASE_URL": jira_url,
        "TIERLIFT_JIRA__EMAIL": jira.email,
        "TIERLIFT_JIRA__API_TOKEN": jira.api_token,
        "TIERLIFT_JIRA__WEBHOOK_SECRET": jira_secret,
        "TIERLIFT_JIRA__TIER_FIELD": jira.tier_field,
        "TIERLIFT_JIRA__TIER_VALUES": json.dumps(JIRA_TIER_VALUES),
        "TIERLIFT_JIRA__ROUTE_FIELD": jira.team_field,
        "TIERLIFT_JIRA__ROUTE_VALUES": json.dumps(JIRA_ROUTE_VALUES),
        "TIERLIFT_WORKER__SWEEP_MINUTES": "0",
        "TIERLIFT_WORKER__POLL_SECONDS": "0.1",
        "TIERLIFT_WORKER__COALESCE_SECONDS": "0.05",
    }
    if scene.jira_key_accounts:
        env["TIERLIFT_POLICIES__VIP__ORGANIZATIONS"] = json.dumps(scene.jira_key_accounts)
    return env


def announce(scene: Scene, tickets: Iterable[Labelled]) -> None:
    """One signed webhook per ticket, oldest first, from the requester."""
    for t in sorted(tickets, key=lambda t: (t.created, t.name)):
        ref = scene.refs[t.name]
        if t.platform == "zendesk":
            scene.zendesk.announce(int(ref), "comment_added" if t.events else "created")
        else:
            scene.jira.announce(ref)


def wait_idle(store: Store, scene: Scene, *, quiet: float = 0.5, timeout: float = 120) -> None:
    """Until every webhook was delivered and no delivery is pending, for ``quiet`` seconds."""
    senders = [e.sender for e in (scene.zendesk, scene.jira) if e.sender is not None]
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        idle = all(s.idle for s in senders) and not store.inbox_counts().get("pending", 0)
        quiet_since = (quiet_since or time.monotonic()) if idle else None
        if quiet_since is not None and time.monotonic() - quiet_since >= quiet:
            return
        time.sleep(0.05)
    raise TimeoutError(f"tierlift did not become idle within {timeout:.0f}s: "
                       f"{store.inbox_counts()}")


ORDERS = ("file", "reversed", "shuffled", "together")


def announcement_order(labels: LabelSet, order: str) -> list[list[Labelled]]:
    """The tickets in the waves they are announced in: the earlier tickets first (a month of
    normal operation), then the rest, in file order, reversed, or shuffled (seeded); or
    ``together``: everything at once, as after an outage or on the first reconciliation sweep."""
    tickets = list(labels.tickets)
    if order == "reversed":
        tickets.reverse()
    elif order == "shuffled":
        random.Random(8).shuffle(tickets)
    elif order != "together" and order != "file":
        raise ValueError(f"order must be one of {', '.join(ORDERS)}")
    if order == "together":
        return [tickets]
    return [[t for t in tickets if t.earlier], [t for t in tickets if not t.earlier]]


def collect(scene: Scene, labels: LabelSet, store: Store) -> list[Outcome]:
    """Each ticket's state, the policies that fired per the audit, and the safety counts."""
    entries = defaultdict(list)
    for entry in store.audit_log(limit=1_000_000):
        entries[entry["platform"], entry["ticket_ref"]].append(entry)
    with store.engine.connect() as conn:
        actors = {(p, k): a for p, k, a in conn.execute(
            sa.select(inbox.c.platform, inbox.c.dedupe_key, inbox.c.actor))}
    bots = {"zendesk": str(BOT_ID), "jira": scene.jira.bot}
    outcomes = []
    for t in labels.tickets:
        audit = entries[t.platform, scene.refs[t.name]]
        fired, held = audited_policies(audit)
        echo = sum(1 for e in audit if e["outcome"] == "escalated" and
                   _only_echo(e, actors, t.platform, bots[t.platform]))
        writes, status = writes_to(scene, t), scene.status[t.name]
        outcomes.append(Outcome(
            t, scene.before[t.name], state_of(scene, t), fired, held, writes,
            downward_moves(scene, t), echo, repeated_evidence(audit),
            writes if status.lower() in CLOSED else 0, scene.refs[t.name], status))
    return outcomes


def audited_policies(entries: Iterable[dict]) -> tuple[frozenset[str], tuple[str, ...]]:
    """Policies whose proposal was fired or satisfied in any evaluation (criteria that applied
    and acted), and those only ever held back (by a guardrail, or as evidence acted on before
    the ticket's last move), with the reason."""
    fired, held = set(), {}
    for entry in entries:
        for round_ in entry["detail"].get("rounds") or ():
            for proposal in round_.get("proposals") or ():
                if proposal["state"] in ("fired", "satisfied"):
                    fired.add(proposal["policy"])
                elif proposal["state"] == "held":
                    held[proposal["policy"]] = proposal.get("held") or "held"
                elif proposal["state"] == "acted_on":
                    held[proposal["policy"]] = "acted on before the ticket's last move"
    return frozenset(fired), tuple(f"{p}: {r}" for p, r in sorted(held.items())
                                   if p not in fired)


def repeated_evidence(entries: Iterable[dict]) -> int:
    """Writes that fired on a piece of evidence an earlier write of the ticket had fired on."""
    seen: set[tuple[str, str]] = set()
    repeated = 0
    for entry in sorted(entries, key=lambda e: e["id"]):
        if entry["outcome"] != "escalated":
            continue
        fired = {(p["policy"], e["key"]) for p in entry["detail"]["rounds"][-1]["proposals"]
                 if p["state"] == "fired" for e in p["evidence"]}
        repeated += bool(fired & seen)
        seen |= fired
    return repeated


def _only_echo(entry: dict, actors: dict, platform: str, bot: str) -> bool:
    keys = entry["detail"].get("deliveries") or ()
    return bool(keys) and all(actors.get((platform, k)) == bot for k in keys)
