"""Labelled tickets: realistic helpdesk tickets, each with what the support lead would decide
under the written escalation policy, in TOML (the format: bench/decisions/README.md).

``bench/decisions.py`` scores tierlift against them; ``tierlift demo`` plays its own
(``webhook_app/demo_tickets.toml``). :func:`parse_labels` reads one file, :func:`load_tickets`
several; every mistake is a :class:`LabelError` naming the file, the ticket and the key.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

TIERS = ("L1", "L2", "L3")
PRIORITIES = ("low", "normal", "high", "urgent")
CRITERIA = ("customer_request", "complexity", "effort", "specialized", "policy_exception",
            "repeat_issue", "vip", "channel", "sentiment", "incident")
KINDS = ("customer", "reply", "note", "move", "route", "status")
KEY_ACCOUNT_TAGS = frozenset({"vip", "enterprise_key_account"})
# the teams a ticket may be routed to: the four of the written policy, and the dedicated
# key-account and incident teams tierlift can route to
TEAMS = ("billing", "security", "compliance", "integrations", "vip", "incident")
ZENDESK_STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
ZENDESK_CHANNELS = ("email", "web", "api", "chat", "twitter", "facebook")
JIRA_STATUSES = {"waiting for support": "Waiting for support", "in progress": "In Progress",
                 "waiting for customer": "Waiting for customer", "resolved": "Resolved",
                 "closed": "Closed", "to do": "To Do"}

_OFFSET = re.compile(r"-(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


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
    at: timedelta  # before the scene's moment (negative)
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
