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
tables are still supplied from the environment). The functions are importable (tests use
``parse_labels``/``load_tickets``, ``build_scene``, ``run`` and ``score``).
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import random
import re
import shlex
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from loopback import TIERLIFT, serve

from webhook_app.emulator.jira import JiraEmulator
from webhook_app.emulator.zendesk import BOT_ID, ZendeskEmulator
from webhook_app.store import Store, inbox

HERE = Path(__file__).resolve().parent
LABELS = HERE / "decisions" / "*.toml"

TIERS = ("L1", "L2", "L3")
PRIORITIES = ("low", "normal", "high", "urgent")
CRITERIA = ("customer_request", "complexity", "effort", "specialized", "policy_exception",
            "repeat_issue", "vip", "channel", "sentiment", "incident")
KINDS = ("customer", "reply", "note", "move", "route", "status")
KEY_ACCOUNT_TAGS = frozenset({"vip", "enterprise_key_account"})

# The emulated support organisation: tier groups / options, one agent per tier, team groups /
# options for every route a policy may take (the four teams of the written policy, and the
# dedicated key-account and incident teams tierlift can route to).
ZENDESK_TIER_GROUPS = {"L1": 101, "L2": 102, "L3": 103}
ZENDESK_ROUTE_GROUPS = {"billing": 201, "security": 202, "compliance": 203, "integrations": 204,
                        "vip": 205, "incident": 206}
ZENDESK_AGENTS = {"L1": 501, "L2": 601, "L3": 701}
ZENDESK_STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
ZENDESK_CHANNELS = ("email", "web", "api", "chat", "twitter", "facebook")
ZENDESK_FIRST_USER, ZENDESK_FIRST_ORG = 10001, 9001
JIRA_TIER_VALUES = {"L1": "Tier 1", "L2": "Tier 2", "L3": "Tier 3"}
JIRA_ROUTE_VALUES = {"billing": "Billing", "security": "Security", "compliance": "Compliance",
                     "integrations": "Integrations", "vip": "Key accounts",
                     "incident": "Incident"}
JIRA_AGENTS = {"L1": "qm:agent-tier-1", "L2": "qm:agent-tier-2", "L3": "qm:agent-tier-3"}
JIRA_PRIORITIES = {"low": "Low", "normal": "Medium", "high": "High", "urgent": "Highest"}
JIRA_PRIORITY_OF = {"Lowest": "low", **{v: k for k, v in JIRA_PRIORITIES.items()}}
JIRA_STATUSES = {"waiting for support": "Waiting for support", "in progress": "In Progress",
                 "waiting for customer": "Waiting for customer", "resolved": "Resolved",
                 "closed": "Closed", "to do": "To Do"}
CLOSED = frozenset({"solved", "closed", "resolved"})  # lower case, both helpdesks
TEAMS = tuple(ZENDESK_ROUTE_GROUPS)
ZENDESK_SECRET, JIRA_SECRET = "bench-zendesk-secret", "bench-jira-secret"

_OFFSET = re.compile(r"-(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


# -- labels -------------------------------------------------------------------------------

class LabelError(ValueError):
    """A labelled-ticket file that does not follow bench/decisions/README.md."""


@dataclass(frozen=True)
class Person:
    key: str  # "<file>:<key>", unique in the whole set
    name: str
    organization: str | None = None  # key of an Organization
    locale: str = "en-US"


@dataclass(frozen=True)
class Organization:
    key: str
    name: str
    tags: tuple[str, ...] = ()

    @property
    def key_account(self) -> bool:
        return bool(KEY_ACCOUNT_TAGS.intersection(self.tags))


@dataclass(frozen=True)
class Event:
    at: timedelta  # before the benchmark moment (negative)
    kind: str
    text: str | None = None
    tier: str | None = None
    team: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class State:
    """A ticket's outcome as the labels speak of it."""

    tier: str
    team: str | None
    priority: str

    def __str__(self) -> str:
        return f"{self.tier}/{self.team or '-'}/{self.priority}"


@dataclass(frozen=True)
class Expect:
    state: State
    criteria: frozenset[str]
    why: str = ""


@dataclass(frozen=True)
class Labelled:
    name: str
    platform: str
    requester: str  # Person key
    created: timedelta
    tier: str
    priority: str
    status: str
    subject: str
    description: str
    expect: Expect
    language: str = "en"
    channel: str = "email"
    channel_detail: str | None = None
    tags: tuple[str, ...] = ()
    earlier: bool = False
    events: tuple[Event, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class LabelSet:
    tickets: tuple[Labelled, ...]
    people: dict[str, Person] = field(default_factory=dict)
    organizations: dict[str, Organization] = field(default_factory=dict)

    def __add__(self, other: LabelSet) -> LabelSet:
        names = Counter(t.name for t in (*self.tickets, *other.tickets))
        twice = sorted(n for n, c in names.items() if c > 1)
        if twice:
            raise LabelError(f"ticket names used more than once: {', '.join(twice)}")
        return LabelSet((*self.tickets, *other.tickets), {**self.people, **other.people},
                        {**self.organizations, **other.organizations})


def parse_offset(text: object, where: str) -> timedelta:
    """``-3h``, ``-2d4h``, ``-45m``, ``-1h30m``, ``-90s`` (or ``0``/``now``) as a timedelta."""
    value = str(text).strip().replace(" ", "")
    if value in ("0", "now", "-0m"):
        return timedelta(0)
    match = _OFFSET.fullmatch(value)
    if match is None or not any(match.groups()):
        raise LabelError(f"{where}: {text!r} is not a time before the run such as -3h, -2d4h, "
                         "-45m")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return -timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _take(table: dict, where: str, required: Sequence[str], optional: Sequence[str]) -> dict:
    unknown = sorted(set(table) - set(required) - set(optional))
    if unknown:
        raise LabelError(f"{where}: unknown key {', '.join(unknown)}")
    missing = [k for k in required if k not in table]
    if missing:
        raise LabelError(f"{where}: missing {', '.join(missing)}")
    return table


def _one_of(value: object, allowed: Iterable[str], where: str) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise LabelError(f"{where}: {value!r} is not one of {', '.join(allowed)}")
    return str(value)


def _status(platform: str, value: object, where: str) -> str:
    if platform == "zendesk":
        return _one_of(value, ZENDESK_STATUSES, where)
    name = JIRA_STATUSES.get(str(value).lower())
    if name is None:
        raise LabelError(f"{where}: {value!r} is not a Jira status "
                         f"({', '.join(s for s in JIRA_STATUSES.values())})")
    return name


def parse_labels(text: str, source: str = "<labels>") -> LabelSet:
    """One labelled-ticket file's TOML (``source`` names it in errors and in person keys)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LabelError(f"{source}: not valid TOML: {exc}") from None
    _take(data, source, ("ticket",), ("people", "organizations"))
    stem = Path(source).stem
    organizations = {}
    for key, raw in (data.get("organizations") or {}).items():
        where = f"{source}: organizations.{key}"
        _take(raw, where, ("name",), ("tags",))
        organizations[f"{stem}:{key}"] = Organization(f"{stem}:{key}", raw["name"],
                                                      tuple(raw.get("tags") or ()))
    people = {}
    for key, raw in (data.get("people") or {}).items():
        where = f"{source}: people.{key}"
        _take(raw, where, ("name",), ("organization", "locale"))
        org = raw.get("organization")
        if org is not None and f"{stem}:{org}" not in organizations:
            raise LabelError(f"{where}: organization {org!r} is not in [organizations]")
        people[f"{stem}:{key}"] = Person(f"{stem}:{key}", raw["name"],
                                         f"{stem}:{org}" if org else None,
                                         raw.get("locale", "en-US"))
    tickets = [_ticket(raw, source, stem, people, n)
               for n, raw in enumerate(data["ticket"], start=1)]
    return LabelSet((), people, organizations) + LabelSet(tuple(tickets))


def _ticket(raw: dict, source: str, stem: str, people: dict[str, Person], n: int) -> Labelled:
    where = f"{source}: ticket {raw.get('name', f'#{n}')}"
    _take(raw, where, ("name", "platform", "requester", "created", "subject", "description",
                       "expect"),
          ("language", "tier", "priority", "status", "channel", "channel_detail", "tags",
           "earlier", "events"))
    platform = _one_of(raw["platform"], ("zendesk", "jira"), f"{where}: platform")
    requester = f"{stem}:{raw['requester']}"
    if requester not in people:
        raise LabelError(f"{where}: requester {raw['requester']!r} is not in [people]")
    created = parse_offset(raw["created"], f"{where}: created")
    tier = _one_of(raw.get("tier", "L1"), TIERS, f"{where}: tier")
    priority = _one_of(raw.get("priority", "normal"), PRIORITIES, f"{where}: priority")
    default_status = "open" if platform == "zendesk" else "Waiting for support"
    status = _status(platform, raw.get("status", default_status), f"{where}: status")
    channel = raw.get("channel", "email")
    if platform == "zendesk":
        _one_of(channel, ZENDESK_CHANNELS, f"{where}: channel")
    tags = tuple(raw.get("tags") or ())
    if platform == "jira" and any(" " in t for t in tags):
        raise LabelError(f"{where}: Jira labels cannot contain spaces: {tags}")
    events, last = [], created
    for m, event in enumerate(raw.get("events") or (), start=1):
        at_where = f"{where}: event {m}"
        _take(event, at_where, ("at", "kind"), ("text", "tier", "team", "status"))
        at = parse_offset(event["at"], f"{at_where}: at")
        if at < last:
            raise LabelError(f"{at_where}: at {event['at']} is before the ticket's creation or "
                             "the event before it (events oldest first)")
        last = at
        kind = _one_of(event["kind"], KINDS, f"{at_where}: kind")
        needs = {"customer": "text", "reply": "text", "note": "text", "move": "tier",
                 "route": "team", "status": "status"}[kind]
        if needs not in event:
            raise LabelError(f"{at_where}: a {kind} event needs {needs}")
        events.append(Event(
            at, kind, text=event.get("text"),
            tier=_one_of(event["tier"], TIERS, f"{at_where}: tier") if kind == "move" else None,
            team=_one_of(event["team"], TEAMS, f"{at_where}: team") if kind == "route" else None,
            status=_status(platform, event["status"], f"{at_where}: status")
            if kind == "status" else None))
    expect = raw["expect"]
    _take(expect, f"{where}: expect", ("criteria",), ("tier", "team", "priority", "why"))
    criteria = frozenset(expect["criteria"])
    unknown = sorted(criteria - set(CRITERIA))
    if unknown:
        raise LabelError(f"{where}: expect.criteria: unknown {', '.join(unknown)} "
                         f"(criteria: {', '.join(CRITERIA)})")
    moved = [e.tier for e in events if e.kind == "move"]
    # omitted: the ticket stays in the tier the events left it in, with its priority
    state = State(_one_of(expect.get("tier", (moved or [tier])[-1]), TIERS,
                          f"{where}: expect.tier"),
                  _one_of(expect["team"], TEAMS, f"{where}: expect.team")
                  if expect.get("team") else None,
                  _one_of(expect.get("priority", priority), PRIORITIES,
                          f"{where}: expect.priority"))
    return Labelled(
        name=raw["name"], platform=platform, requester=requester, created=created, tier=tier,
        priority=priority, status=status, subject=raw["subject"],
        description=raw["description"], language=raw.get("language", "en"), channel=channel,
        channel_detail=raw.get("channel_detail"), tags=tags,
        earlier=bool(raw.get("earlier", False)), events=tuple(events),
        expect=Expect(state, criteria, expect.get("why", "")), source=source)


def load_tickets(paths: Iterable[str | os.PathLike]) -> LabelSet:
    """Every labelled-ticket file in ``paths``, as one set (names unique across files)."""
    labels = LabelSet(())
    for path in sorted(map(Path, paths)):
        labels += parse_labels(path.read_text(encoding="utf-8"), path.name)
    return labels


# -- the emulated helpdesks and the scene -------------------------------------------------

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
    """The labelled tickets as built in the emulators, at the benchmark moment ``now``."""

    zendesk: ZendeskEmulator
    jira: JiraEmulator
    now: datetime
    refs: dict[str, str] = field(default_factory=dict)  # ticket name -> id / issue key
    before: dict[str, State] = field(default_factory=dict)  # before tierlift saw it
    status: dict[str, str] = field(default_factory=dict)  # at the benchmark moment
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


def _writes(scene: Scene, t: Labelled) -> int:
    ref = scene.refs[t.name]
    if t.platform == "zendesk":
        return len(scene.zendesk.writes(int(ref)))
    return len(scene.jira.writes(ref))


# -- running ------------------------------------------------------------------------------

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
    status_then: str = ""  # status at the benchmark moment

    @property
    def agrees(self) -> bool:
        return self.after == self.ticket.expect.state

    @property
    def loop(self) -> bool:
        """Written because of its own echo, or twice on the same evidence (a second write on
        new evidence, e.g. an incident found after a route, is not a loop)."""
        return self.echo_writes > 0 or self.repeated > 0


def connection_env(scene: Scene, database_url: str, zendesk_url: str,
                   jira_url: str) -> dict[str, str]:
    """What the admin fills in, as ``TIERLIFT_*`` variables (tables and lists as JSON), plus
    the worker settings of a benchmark: no sweep, short polls."""
    zendesk, jira = scene.zendesk, scene.jira
    env = {
        "TIERLIFT_DATABASE_URL": database_url,
        "TIERLIFT_ZENDESK__BASE_URL": zendesk_url,
        "TIERLIFT_ZENDESK__EMAIL": zendesk.email,
        "TIERLIFT_ZENDESK__API_TOKEN": zendesk.api_token,
        "TIERLIFT_ZENDESK__WEBHOOK_SECRET": ZENDESK_SECRET,
        "TIERLIFT_ZENDESK__TIER_GROUPS": json.dumps(ZENDESK_TIER_GROUPS),
        "TIERLIFT_ZENDESK__ROUTE_GROUPS": json.dumps(ZENDESK_ROUTE_GROUPS),
        "TIERLIFT_JIRA__BASE_URL": jira_url,
        "TIERLIFT_JIRA__EMAIL": jira.email,
        "TIERLIFT_JIRA__API_TOKEN": jira.api_token,
        "TIERLIFT_JIRA__WEBHOOK_SECRET": JIRA_SECRET,
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
    raise SystemExit(f"tierlift did not become idle within {timeout:.0f}s: "
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
        writes, status = _writes(scene, t), scene.status[t.name]
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
