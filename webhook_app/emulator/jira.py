"""A small Jira (Cloud or Data Center, with Service Management) on loopback.

Cloud: basic auth with an API token, REST v3 (and v2) with ADF bodies on v3, users by
``accountId``. Data Center: a personal access token, REST v2 with plain-text bodies, users by
``name``/``key``. Both serve ``/rest/servicedeskapi``. After every change, tierlift's own writes
included, it sends the webhook Jira would send (``jira:issue_created``, ``jira:issue_updated``,
``comment_created``), signed with ``X-Hub-Signature`` when a secret is set.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from webhook_app.emulator.base import BaseEmulator, Recorded
from webhook_app.emulator.server import WebhookSender

BOT_ACCOUNT_ID = "712020:5c1e0b7d-1a2b-4c3d-8e9f-7a6b5c4d3e2f"
BOT_NAME = "tierlift-bot"
RATE_LIMIT = 600  # requests per minute; Jira publishes no fixed figure for API-token traffic
PRIORITIES = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5"}
STATUSES = {"To Do": ("10000", "new"), "Waiting for support": ("10001", "new"),
            "In Progress": ("3", "indeterminate"),
            "Waiting for customer": ("10002", "indeterminate"),
            "Escalated": ("10010", "indeterminate"), "Resolved": ("10011", "done"),
            "Closed": ("6", "done")}
CATEGORIES = {"new": (2, "To Do"), "indeterminate": (4, "In Progress"), "done": (3, "Done")}
TRANSITIONS = {"31": ("Escalate", "Escalated"), "41": ("Resolve", "Resolved")}
FIELD_NAMES = {"summary": "Summary", "description": "Description", "issuetype": "Issue Type",
               "project": "Project", "reporter": "Reporter", "creator": "Creator",
               "assignee": "Assignee", "priority": "Priority", "status": "Status",
               "labels": "Labels", "created": "Created", "updated": "Updated",
               "comment": "Comment"}
# Schema types of the system fields, as GET /rest/api/{2,3}/field lists them.
FIELD_TYPES = {"summary": "string", "description": "string", "issuetype": "issuetype",
               "project": "project", "reporter": "user", "creator": "user", "assignee": "user",
               "priority": "priority", "status": "status", "labels": "array",
               "created": "datetime", "updated": "datetime", "comment": "comments-page"}
SELECT_TYPE = "com.atlassian.jira.plugin.system.customfieldtypes:select"
# The JSM Organizations field: an array of organizations on the issue, each as
# GET /rest/servicedeskapi/organization/{id} shows it (the JSM OpenAPI spec's OrganizationDTO,
# https://developer.atlassian.com/cloud/jira/service-desk/rest/api-group-organization/).
ORGANIZATIONS_TYPE = "com.atlassian.servicedesk:sd-customer-organizations"
EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"
NOT_FOUND = {"errorMessages": ["Issue does not exist or you do not have permission to see it."],
             "errors": {}}
UNKNOWN_FIELD = "Field '{}' cannot be set. It is not on the appropriate screen, or unknown."
ADMIN_ONLY = {"errorMessages": ["You are not allowed to perform this action."], "errors": {}}
ISSUE_PATH = re.compile(r"/rest/api/[23]/issue/([^/]+)")
COMMENT_PATH = re.compile(r"/rest/(?:api/[23]/issue|servicedeskapi/request)/([^/]+)/comment")


def adf(text: str) -> dict:
    """``text`` as an Atlassian Document: one paragraph per line."""
    return {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": line}] if line else []}
        for line in text.split("\n")]}


def adf_text(node: dict) -> str:
    """The text of an ADF node; top-level blocks become lines."""
    if node.get("type") == "text":
        return node.get("text", "")
    if node.get("type") == "hardBreak":
        return "\n"
    glue = "\n" if node.get("type") == "doc" else ""
    return glue.join(adf_text(child) for child in node.get("content") or ())


def _stamp(moment: datetime) -> str:
    """Jira's time format: ``2024-09-23T10:30:43.918+0000``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _millis(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _sla_date(moment: datetime) -> dict:
    """A JSM ``DateDTO``."""
    return {"iso8601": moment.strftime("%Y-%m-%dT%H:%M:%S+0000"), "jira": _stamp(moment),
            "friendly": moment.strftime("%d/%b/%y %I:%M %p"), "epochMillis": _millis(moment)}


def _sla_duration(span: timedelta) -> dict:
    """A JSM ``DurationDTO`` (negative once past the goal)."""
    millis = round(span.total_seconds() * 1000)
    minutes = abs(millis) // 60000
    return {"millis": millis, "friendly": f"{'-' if millis < 0 else ''}{minutes // 60}h "
                                          f"{minutes % 60}m"}


@dataclass(frozen=True)
class User:
    ident: str  # Cloud accountId, Data Center name (and key)
    display_name: str
    customer: bool
    email: str


@dataclass
class Comment:
    id: str
    author: str
    body: str
    created: datetime
    public: bool


@dataclass
class History:
    id: str
    author: str
    created: datetime
    items: list[dict]


@dataclass
class Issue:
    id: str
    key: str
    project: str
    service_desk: bool
    summary: str
    description: str | None
    reporter: str
    priority: str
    tier: str | None
    labels: list[str]
    status: str
    created: datetime
    updated: datetime
    comments: list[Comment] = field(default_factory=list)
    histories: list[History] = field(default_factory=list)
    team: str | None = None
    resolution: str | None = None  # set while the status is in the done category
    organizations: list[str] = field(default_factory=list)  # JSM organization ids
    watchers: list[str] = field(default_factory=list)  # accountIds (Cloud), user names (DC)
    slas: list[dict] = field(default_factory=list)  # JSM SLAs: name, goal, start, paused


class _Invalid(Exception):
    """A field value Jira would reject; the message is Jira's."""


def _priority(value: Any) -> str:
    if isinstance(value, dict):
        for name, priority_id in PRIORITIES.items():
            if value.get("name") == name or value.get("id") == priority_id:
                return name
    raise _Invalid("Specify a valid 'id' or 'name' for Priority")


def _labels(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(label, str) for label in value):
        raise _Invalid("data was not an array")
    for label in value:
        if " " in label:
            raise _Invalid(f"The label '{label}' contains spaces which is invalid.")
    return list(value)


def _edit_labels(labels: list[str], operations: list[dict]) -> list[str]:
    """``labels`` after a PUT's ``update`` operations (``add``, ``remove``, ``set``)."""
    labels = list(labels)
    for operation in operations:
        for verb, value in operation.items():
            if verb == "set":
                labels = _labels(value)
            elif verb == "add" and _labels([value])[0] not in labels:
                labels.append(value)
            elif verb == "remove" and value in labels:
                labels.remove(value)
    return labels


class JiraEmulator(BaseEmulator):
    """State and behaviour; :meth:`app` exposes it over HTTP. All methods are thread-safe."""

    rate_limit_headers = ("X-RateLimit-Limit", "X-RateLimit-Remaining", None)
    changelog_page = 100  # histories Cloud inlines in an issue and pages by (smaller in tests)
    comment_page = 100  # comments Cloud inlines in an issue and pages by (smaller in tests)
    sla_page = 50  # the default and here the most SLAs a /sla page holds (smaller in tests)
    unauthorized_body: ClassVar[dict] = {
        "errorMessages": ["Client must be authenticated to access this resource."], "errors": {}}
    rate_limited_body: ClassVar[dict] = {"errorMessages": ["Rate limit exceeded."], "errors": {}}
    fault_body: ClassVar[dict] = {"errorMessages": ["Emulated fault"], "errors": {}}

    def __init__(self, *, cloud: bool = True, email: str = "bot@acme.example",
                 api_token: str = "emulator-token", pat: str = "emulator-pat",
                 tier_field: str = "customfield_10050", tier_field_name: str = "Support Tier",
                 tier_options: tuple[str, ...] = ("Tier 1", "Tier 2", "Tier 3"),
                 team_field: str = "customfield_10060", team_field_name: str = "Team",
                 team_options: tuple[str, ...] = ("Billing", "Security", "Compliance",
                                                  "Integrations", "Key accounts", "Incident"),
                 organizations_field: str = "customfield_10002",
                 rate_limit: int = RATE_LIMIT, admin: bool = True) -> None:
        super().__init__(rate_limit=rate_limit, first_id=10000)
        self.cloud = cloud
        self.admin = admin  # the bot holds the Administer Jira global permission
        self.off_screen: set[str] = set()  # fields the issues' edit screen does not hold
        self.email = email
        self.api_token = api_token
        self.pat = pat
        self.tier_field = tier_field
        self.tier_field_name = tier_field_name
        self.tier_options = {value: str(10100 + n) for n, value in enumerate(tier_options)}
        self.team_field = team_field
        self.team_field_name = team_field_name
        self.team_options = {value: str(10200 + n) for n, value in enumerate(team_options)}
        # the single-select custom fields: issue attribute -> (field id, name, options)
        self._selects = {"tier": (tier_field, tier_field_name, self.tier_options),
                         "team": (team_field, team_field_name, self.team_options)}
        self.site = "https://acme.atlassian.net" if cloud else "https://jira.acme.example"
        self.bot = BOT_ACCOUNT_ID if cloud else BOT_NAME
        self.users: dict[str, User] = {self.bot: User(self.bot, "tierlift bot", False, email)}
        self.issues: dict[str, Issue] = {}
        self.organizations_field = organizations_field
        self.organizations: dict[str, str] = {}  # JSM organization id -> name
        self.webhook_secret: str | None = None
        self._projects: dict[str, str] = {}  # key -> id
        # Most issues a JQL search page holds: Cloud's /search/jql 100 with fields asked for,
        # Data Center's jira.search.views.default.max, 1,000 unless changed (smaller in tests)
        self.search_page = 100 if cloud else 1000
        self._clock = datetime.now(UTC).replace(microsecond=0)

    # -- setting the scene ------------------------------------------------------------------

    def user(self, ident: str, display_name: str, customer: bool = False) -> str:
        """A user: ``ident`` is the Cloud accountId or the Data Center user name."""
        with self._lock:
            email = f"{display_name.lower().replace(' ', '.')}@example.com"
            self.users[ident] = User(ident, display_name, customer, email)
            return ident

    def organization(self, name: str) -> str:
        """A JSM organization; returns its id (``"1"``, ``"2"``, …)."""
        with self._lock:
            org_id = str(len(self.organizations) + 1)
            self.organizations[org_id] = name
            return org_id

    def create_issue(self, summary: str, description: str | None, reporter: str, *,
                     tier: str | None = "Tier 1", project: str = "SUP",
                     service_desk: bool = True, priority: str = "Medium",
                     labels: tuple[str, ...] = (), status: str | None = None,
                     organizations: tuple[str, ...] = (), at: datetime | None = None,
                     notify: bool = True) -> str:
        """A new issue reported by ``reporter``, shared with JSM ``organizations`` (ids); returns
        its key (``SUP-1``). ``at``: created at that (past) moment instead of now."""
        with self._lock:
            self._check(reporter, tier)
            unknown = [o for o in organizations if o not in self.organizations]
            if unknown or (organizations and not service_desk):
                raise ValueError(f"organizations {list(organizations)}: unknown {unknown} or "
                                 "not a service desk project")
            if priority not in PRIORITIES:
                raise ValueError(f"no priority {priority!r}")
            status = status or ("Waiting for support" if service_desk else "To Do")
            if status not in STATUSES:
                raise ValueError(f"no status {status!r}")
            number = 1 + sum(issue.project == project for issue in self.issues.values())
            self._projects.setdefault(project, str(10000 + len(self._projects)))
            now = self._tick(at)
            issue = Issue(str(next(self._ids)), f"{project}-{number}", project, service_desk,
                          summary, description, reporter, priority, tier, list(labels),
                          status, now, now,
                          resolution="Done" if STATUSES[status][1] == "done" else None,
                          organizations=list(organizations))
            self.issues[issue.key] = issue
            if notify:
                self._issue_event(issue, "jira:issue_created", "issue_created", reporter, now,
                                  self._creation_items(issue) if self.cloud else None)
            return issue.key

    # Scene helpers take ``at`` to backdate the change (comment, changelog, updated) to a past
    # moment; without it the change happens now.

    def customer_comment(self, key: str, body: str, *, at: datetime | None = None,
                         notify: bool = True) -> None:
        """The reporter writes a (public) comment."""
        with self._lock:
            issue = self.issues[key]
            self._comment(issue, issue.reporter, body, public=True, at=at, notify=notify)

    def agent_comment(self, key: str, agent: str, body: str, *, internal: bool = True,
                      at: datetime | None = None, notify: bool = True) -> None:
        with self._lock:
            self._check(agent)
            self._comment(self.issues[key], agent, body, public=not internal, at=at,
                          notify=notify)

    def agent_sets_tier(self, key: str, agent: str, value: str | None, *,
                        at: datetime | None = None, notify: bool = True) -> None:
        """An agent edits the tier field (e.g. hands the issue back down to tier 1)."""
        with self._lock:
            self._check(agent, value)
            self._set(self.issues[key], agent, {"tier": value}, "issue_updated", at=at,
                      notify=notify)

    def agent_sets_team(self, key: str, agent: str, value: str | None, *,
                        at: datetime | None = None, notify: bool = True) -> None:
        """An agent hands the issue to a team (an option of the team field), or clears it."""
        with self._lock:
            self._check(agent)
            if value is not None and value not in self.team_options:
                raise ValueError(f"no team option {value!r}")
            self._set(self.issues[key], agent, {"team": value}, "issue_updated", at=at,
                      notify=notify)

    def agent_sets_status(self, key: str, agent: str, status: str, *,
                          at: datetime | None = None, notify: bool = True) -> None:
        """An agent moves the issue to ``status``; into or out of the done category, the
        resolution is set or cleared too (how Jira's changelog shows a reopen)."""
        with self._lock:
            self._check(agent)
            if status not in STATUSES:
                raise ValueError(f"no status {status!r}")
            issue = self.issues[key]
            done = STATUSES[status][1] == "done"
            self._set(issue, agent, {"status": status,
                                     "resolution": (issue.resolution or "Done") if done
                                     else None},
                      "issue_resolved" if done else "issue_generic", at=at, notify=notify)

    def sla(self, key: str, name: str, *, goal_minutes: float, started: datetime,
            paused: bool = False) -> None:
        """A JSM SLA of the request (e.g. "Time to first response") with an ongoing cycle of
        ``goal_minutes`` from ``started`` (24/7 calendar), paused or running."""
        with self._lock:
            issue = self.issues[key]
            if not issue.service_desk:
                raise ValueError(f"{key} is not a service desk request")
            issue.slas.append({"id": str(len(issue.slas) + 1), "name": name,
                               "goal": timedelta(minutes=goal_minutes),
                               "started": started.astimezone(UTC), "paused": paused})

    def announce(self, key: str, actor: str | None = None) -> None:
        """Send the signed ``jira:issue_updated`` webhook for the issue as it is now (default
        actor: the reporter), e.g. for a scene built with ``notify=False``."""
        with self._lock:
            issue = self.issues[key]
            self._issue_event(issue, "jira:issue_updated", "issue_generic",
                              actor or issue.reporter, issue.updated, None)

    def send_webhooks_to(self, url: str, secret: str | None = None,
                         token: str | None = None) -> None:
        """Deliver webhooks to ``url``: signed with ``secret`` (Cloud), or with ``?token=``
        appended (the Data Center way, which cannot sign)."""
        if token is not None:
            url += ("&" if "?" in url else "?") + urlencode({"token": token})
        self.sender = WebhookSender(url)
        self.webhook_secret = secret

    def writes(self, key: str | None = None) -> list[Recorded]:
        """Successful issue edits (PUTs answered 204), optionally for one issue."""
        return [r for r in list(self.requests) if r.method == "PUT" and r.status == 204
                and self._concerns(ISSUE_PATH, r.path, key)]

    def comments_posted(self, key: str | None = None) -> list[Recorded]:
        """Comments added over either API (POSTs answered 201), optionally for one issue."""
        return [r for r in list(self.requests) if r.method == "POST" and r.status == 201
                and self._concerns(COMMENT_PATH, r.path, key)]

    # -- behaviour shared by the HTTP API and the scene helpers -----------------------------

    def _tick(self, at: datetime | None = None) -> datetime:
        # Millisecond resolution, like Jira; every change gets a later stamp. A backdated scene
        # change keeps its own time and never moves the clock back.
        if at is not None:
            at = at.astimezone(UTC)
            at = at.replace(microsecond=at.microsecond // 1000 * 1000)
            self._clock = max(self._clock, at)
            return at
        now = datetime.now(UTC)
        self._clock = max(self._clock + timedelta(milliseconds=1),
                          now.replace(microsecond=now.microsecond // 1000 * 1000))
        return self._clock

    def _check(self, ident: str, tier: str | None = None) -> None:
        """Scene helpers refuse unknown users and tier values (the HTTP API would fail later)."""
        if ident not in self.users:
            raise ValueError(f"unknown user {ident!r}: add it with user() first")
        if tier is not None and tier not in self.tier_options:
            raise ValueError(f"no tier option {tier!r}")

    def _find(self, id_or_key: str) -> Issue | None:
        with self._lock:
            return self.issues.get(id_or_key) or next(
                (issue for issue in self.issues.values() if issue.id == id_or_key), None)

    def _concerns(self, pattern: re.Pattern[str], path: str, key: str | None) -> bool:
        match = pattern.fullmatch(path)
        if match is None or key is None:
            return match is not None
        issue = self._find(match[1])
        return issue is not None and issue.key == key

    def _comment(self, issue: Issue, author: str, body: str, *, public: bool,
                 notify: bool, at: datetime | None = None) -> Comment:
        now = self._tick(at)
        comment = Comment(str(next(self._ids)), author, body, now, public)
        issue.comments.append(comment)
        issue.updated = max(issue.updated, now)
        if notify:  # the issue in comment events carries a few fields only
            brief = {"summary", "issuetype", "project", "assignee", "priority", "status"}
            self._send({"timestamp": None, "webhookEvent": "comment_created",
                        "user": self._user_json(author, "2"),
                        "comment": self._comment_json(issue, comment, "2"),
                        "issue": self._hook_issue(issue, brief)})
        return comment

    def _set(self, issue: Issue, actor: str, values: dict[str, Any], event_type: str, *,
             notify: bool, at: datetime | None = None) -> None:
        """Change issue attributes, record a changelog history, send ``jira:issue_updated``."""
        items = []
        for attr, value in values.items():
            if getattr(issue, attr) != value:
                items.append(self._item(attr, getattr(issue, attr), value))
                setattr(issue, attr, value)
        if not items:
            return
        now = self._tick(at)
        history = History(str(next(self._ids)), actor, now, items)
        issue.histories.append(history)
        issue.updated = max(issue.updated, now)
        if notify:
            self._issue_event(issue, "jira:issue_updated", event_type, actor, now,
                              {"id": history.id, "items": items})

    def _item(self, attr: str, old: Any, new: Any) -> dict:
        """A changelog item; Cloud adds ``fieldId``."""
        select = self._selects.get(attr)
        item = {"field": select[1] if select else attr,
                "fieldtype": "custom" if select else "jira"}
        if self.cloud:
            item["fieldId"] = select[0] if select else attr
        (before, before_text), (after, after_text) = self._raw(attr, old), self._raw(attr, new)
        return {**item, "from": before, "fromString": before_text, "to": after,
                "toString": after_text}

    def _raw(self, attr: str, value: Any) -> tuple[str | None, str | None]:
        """A value as a changelog item holds it: (id, display string)."""
        if value is None:
            return None, None
        if attr in self._selects:
            return self._selects[attr][2].get(value), value
        if attr == "priority":
            return PRIORITIES[value], value
        if attr == "status":
            return STATUSES[value][0], value
        if attr == "reporter":
            return value, self.users[value].display_name
        if attr == "labels":
            return None, " ".join(value)
        if attr == "resolution":
            return "10000", value
        return None, value  # summary, description

    def _creation_items(self, issue: Issue) -> dict:
        """The changelog Cloud puts in ``jira:issue_created``: the initial values."""
        attrs = ["description", "priority", "reporter", "status", "summary"]
        attrs += [attr for attr in ("tier", "team", "labels") if getattr(issue, attr)]
        return {"id": str(next(self._ids)),
                "items": [self._item(attr, None, getattr(issue, attr)) for attr in attrs]}

    def _issue_event(self, issue: Issue, event: str, event_type: str, actor: str,
                     at: datetime, changelog: dict | None) -> None:
        payload = {"timestamp": None, "webhookEvent": event,
                   "issue_event_type_name": event_type, "user": self._user_json(actor, "2"),
                   "issue": self._hook_issue(issue)}
        if self.cloud:  # Cloud leaves comments out of the issue in webhooks; DC includes them
            del payload["issue"]["fields"]["comment"]
        if changelog is not None:
            payload["changelog"] = changelog
        self._send(payload)

    def _hook_issue(self, issue: Issue, wanted: set[str] | None = None) -> dict:
        """The issue as webhooks carry it: the REST v2 shape without ``expand``."""
        body = self._issue_json(issue, "2", wanted)
        del body["expand"]
        return body

    def _send(self, payload: dict) -> None:
        # Jira stamps a webhook when the event fires, which is when it sends it: a change
        # written in the past (a backdated scene) is announced now.
        payload["timestamp"] = _millis(datetime.now(UTC))
        if self.sender is not None:
            identifier = str(uuid.uuid4())  # one per delivery, the same on retries
            self.sender.send(json.dumps(payload).encode(), partial(self._sign, identifier))

    def _sign(self, identifier: str, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json",
                   "X-Atlassian-Webhook-Identifier": identifier}
        if self.webhook_secret is not None:
            digest = hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Hub-Signature"] = f"sha256={digest}"
        return headers

    # -- representations --------------------------------------------------------------------

    def _user_json(self, ident: str, version: str) -> dict:
        user = self.users[ident]
        if self.cloud:
            return {"self": f"{self.site}/rest/api/{version}/user?accountId={quote(ident)}",
                    "accountId": ident, "displayName": user.display_name, "active": True,
                    "timeZone": "Etc/UTC",
                    "accountType": "customer" if user.customer else "atlassian"}
        return {"self": f"{self.site}/rest/api/2/user?username={quote(ident)}", "name": ident,
                "key": ident, "emailAddress": user.email, "displayName": user.display_name,
                "active": True, "timeZone": "Etc/UTC"}

    def _body(self, text: str | None, version: str) -> dict | str | None:
        return adf(text) if version == "3" and text is not None else text

    def _status_json(self, name: str, version: str) -> dict:
        status_id, category = STATUSES[name]
        category_id, category_name = CATEGORIES[category]
        return {"self": f"{self.site}/rest/api/{version}/status/{status_id}", "name": name,
                "id": status_id, "statusCategory": {"id": category_id, "key": category,
                                                    "name": category_name}}

    def _fields(self, issue: Issue, version: str) -> dict:
        api = f"{self.site}/rest/api/{version}"
        kind = ("10002", "Service Request") if issue.service_desk else ("10001", "Task")
        project = {"self": f"{api}/project/{self._projects[issue.project]}",
                   "id": self._projects[issue.project], "key": issue.project,
                   "name": issue.project,
                   "projectTypeKey": "service_desk" if issue.service_desk else "software"}
        selects = {
            field_id: None if getattr(issue, attr) is None else {
                "self": f"{api}/customFieldOption/{options[getattr(issue, attr)]}",
                "value": getattr(issue, attr), "id": options[getattr(issue, attr)]}
            for attr, (field_id, _, options) in self._selects.items()}
        # Cloud inlines one page of comments (``total`` the true count), Data Center all of them
        shown = issue.comments[:self.comment_page] if self.cloud else issue.comments
        comments = [self._comment_json(issue, c, version) for c in shown]
        return {
            "summary": issue.summary,
            "description": self._body(issue.description, version),
            "issuetype": {"self": f"{api}/issuetype/{kind[0]}", "id": kind[0], "name": kind[1],
                          "subtask": False},
            "project": project,
            "reporter": self._user_json(issue.reporter, version),
            "creator": self._user_json(issue.reporter, version),
            "assignee": None,
            "priority": {"self": f"{api}/priority/{PRIORITIES[issue.priority]}",
                         "name": issue.priority, "id": PRIORITIES[issue.priority]},
            "status": self._status_json(issue.status, version),
            "labels": list(issue.labels),
            **selects,
            **({self.organizations_field: [self._organization_json(o)
                                           for o in issue.organizations]}
               if issue.service_desk else {}),
            "created": _stamp(issue.created),
            "updated": _stamp(issue.updated),
            "comment": {"comments": comments, "self": f"{api}/issue/{issue.id}/comment",
                        "maxResults": len(comments), "total": len(issue.comments),
                        "startAt": 0},
        }

    def _issue_json(self, issue: Issue, version: str, wanted: set[str] | None = None,
                    expand: set[str] | frozenset[str] = frozenset()) -> dict:
        fields = {k: v for k, v in self._fields(issue, version).items()
                  if wanted is None or k in wanted}
        body = {"expand": EXPAND, "id": issue.id,
                "self": f"{self.site}/rest/api/{version}/issue/{issue.id}", "key": issue.key,
                "fields": fields}
        if "names" in expand:
            names = {**FIELD_NAMES, **{f: n for f, n, _ in self._selects.values()},
                     self.organizations_field: "Organizations"}
            body["names"] = {k: names[k] for k in fields}
        if "changelog" in expand:
            # Cloud inlines the first 100 histories, the rest are paged by Get changelogs;
            # Data Center inlines them all.
            histories = self._histories_json(issue, version)
            shown = histories[:self.changelog_page] if self.cloud else histories
            body["changelog"] = {"startAt": 0, "maxResults": len(shown),
                                 "total": len(histories), "histories": shown}
        return body

    def _histories_json(self, issue: Issue, version: str) -> list[dict]:
        return [{"id": h.id, "author": self._user_json(h.author, version),
                 "created": _stamp(h.created), "items": h.items} for h in issue.histories]

    def _organization_json(self, org_id: str) -> dict:
        return {"id": org_id, "name": self.organizations[org_id],
                "_links": {"self": f"{self.site}/rest/servicedeskapi/organization/{org_id}"}}

    def _comment_json(self, issue: Issue, comment: Comment, version: str) -> dict:
        author = self._user_json(comment.author, version)
        body = {"self": f"{self.site}/rest/api/{version}/issue/{issue.id}/comment/{comment.id}",
                "id": comment.id, "author": author, "body": self._body(comment.body, version),
                "updateAuthor": author, "created": _stamp(comment.created),
                "updated": _stamp(comment.created)}
        if issue.service_desk:
            body["jsdPublic"] = comment.public
        return body

    def _sla_json(self, issue: Issue, sla: dict) -> dict:
        """A JSM SLA as Get SLA information shows it, its ongoing cycle as of now."""
        now = datetime.now(UTC)
        breach = sla["started"] + sla["goal"]
        elapsed = min(now, breach) - sla["started"] if sla["paused"] else now - sla["started"]
        cycle = {"startTime": _sla_date(sla["started"]), "breached": now >= breach,
                 "paused": sla["paused"], "withinCalendarHours": True,
                 "goalDuration": _sla_duration(sla["goal"]),
                 "elapsedTime": _sla_duration(elapsed),
                 "remainingTime": _sla_duration(sla["goal"] - elapsed)}
        if not sla["paused"]:
            cycle["breachTime"] = _sla_date(breach)
        return {"id": sla["id"], "name": sla["name"], "completedCycles": [],
                "ongoingCycle": cycle, "slaDisplayFormat": "NEW_SLA_FORMAT",
                "_links": {"self": f"{self.site}/rest/servicedeskapi/request/{issue.id}/sla/"
                                   f"{sla['id']}"}}

    def _request_comment_json(self, comment: Comment) -> dict:
        """A comment as ``/rest/servicedeskapi`` shows it."""
        user = self.users[comment.author]
        ident = {"accountId": user.ident} if self.cloud else {"key": user.ident,
                                                                "name": user.ident}
        created = comment.created
        return {"id": comment.id, "body": comment.body, "public": comment.public,
                "author": {**ident, "emailAddress": user.email,
                           "displayName": user.display_name, "active": True,
                           "timeZone": "Etc/UTC"},
                "created": {"iso8601": created.strftime("%Y-%m-%dT%H:%M:%S+0000"),
                            "jira": _stamp(created),
                            "friendly": created.strftime("%d/%b/%y %I:%M %p"),
                            "epochMillis": _millis(created)}}

    # -- HTTP -------------------------------------------------------------------------------

    def _authorized(self, header: str) -> bool:
        if self.cloud:
            token = base64.b64encode(f"{self.email}:{self.api_token}".encode()).decode()
            return header == f"Basic {token}"
        return header == f"Bearer {self.pat}"

    def _routes(self, app: Flask) -> None:
        api = '/rest/api/<any("2", "3"):version>' if self.cloud else '/rest/api/<any("2"):version>'

        @app.errorhandler(404)
        @app.errorhandler(405)
        def no_route(error: HTTPException) -> Response:
            """A path or method the emulator does not serve: Jira's error collection (JSON, not
            an HTML page), the body of every REST error,
            https://developer.atlassian.com/cloud/jira/platform/rest/v3/intro/#status-codes."""
            return self._reply(error.code or 404, {
                "errorMessages": [f"{error.name}: {request.method} {request.path}"],
                "errors": {}})

        @app.get(f"{api}/serverInfo")
        def server_info(version: str) -> Response:
            """Get Jira instance info: ``baseUrl``, ``version``, ``versionNumbers``,
            ``deploymentType`` ("Cloud"; "Server" on Data Center), ``buildNumber``,
            ``serverTitle``,
            https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-server-info/#api-rest-api-3-serverinfo-get;
            Data Center: https://docs.atlassian.com/software/jira/docs/api/REST/latest/#api/2/serverInfo."""
            numbers = [1001, 0, 0] if self.cloud else [9, 12, 15]
            return self._reply(200, {
                "baseUrl": self.site, "displayUrl": self.site,
                "version": ".".join(map(str, numbers)) + ("-SNAPSHOT" if self.cloud else ""),
                "versionNumbers": numbers,
                "deploymentType": "Cloud" if self.cloud else "Server",
                "buildNumber": 100291 if self.cloud else 9120015,
                "buildDate": "2025-01-01T00:00:00.000+0000",
                "serverTime": _stamp(datetime.now(UTC)), "scmInfo": "emulator",
                "serverTitle": "Jira", "defaultLocale": {"locale": "en_US"}})

        @app.get(f"{api}/search/jql")
        @app.get(f"{api}/search")
        def search(version: str) -> Response:
            """JQL search as tierlift uses it (see :func:`_jql`), with the requested ``fields``.
            Cloud's ``/search/jql`` pages with an opaque ``nextPageToken`` (left out on the last
            page, ``isLast``), https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/;
            Data Center's ``/search`` with ``startAt`` and ``total``,
            https://docs.atlassian.com/software/jira/docs/api/REST/latest/#api/2/search."""
            try:
                matches, order, descending = _jql(request.args.get("jql", ""),
                                                  dict(self.organizations))
            except _Invalid as exc:
                return self._reply(400, {"errorMessages": [str(exc)], "errors": {}})
            # ``fields`` comma-separated or repeated (``fields=a&fields=b``, as clients send a
            # list); ``*all``/``*navigable``: every field
            wanted = {f.strip() for value in request.args.getlist("fields")
                      for f in value.split(",") if f.strip()}
            if wanted & {"*all", "*navigable"}:
                wanted = set()
            size = min(max(request.args.get("maxResults", 50, type=int), 1), self.search_page)
            cloud = request.path.endswith("/jql")
            start = int(request.args.get("nextPageToken") or 0) if cloud \
                else request.args.get("startAt", 0, type=int)
            with self._lock:
                found = sorted((i for i in self.issues.values() if matches(i)),
                               key=lambda i: (getattr(i, order), int(i.id)), reverse=descending)
                issues = [self._issue_json(i, version, wanted or None)
                          for i in found[start:start + size]]
                if not cloud:
                    return self._reply(200, {"issues": issues, "startAt": start,
                                             "maxResults": size, "total": len(found)})
                last = start + size >= len(found)
                return self._reply(200, {"issues": issues, "isLast": last,
                                         **({} if last else {"nextPageToken": str(start + size)})})

        @app.get(f"{api}/myself")
        def myself(version: str) -> Response:
            """The bot itself,
            https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-myself/#api-rest-api-3-myself-get."""
            return self._reply(200, {**self._user_json(self.bot, version),
                                     "emailAddress": self.email, "locale": "en_US"})

        @app.get(f"{api}/field")
        def fields(version: str) -> Response:
            """The issue fields, custom ones with their type (``schema.custom``),
            https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-fields/#api-rest-api-3-field-get."""
            system = [{"id": f, "key": f, "name": name, "custom": False, "orderable": True,
                       "navigable": True, "searchable": True, "clauseNames": [f],
                       "schema": {"type": FIELD_TYPES[f], "system": f}}
                      for f, name in FIELD_NAMES.items()]
            custom = [(f, name, {"type": "option", "custom": SELECT_TYPE})
                      for f, name, _ in self._selects.values()]
            custom.append((self.organizations_field, "Organizations",
                           {"type": "array", "items": "sd-customerorganization",
                            "custom": ORGANIZATIONS_TYPE}))
            return self._reply(200, system + [
                {"id": f, "key": f, "name": name, "custom": True, "orderable": True,
                 "navigable": True, "searchable": True,
                 "clauseNames": [f"cf[{f.rpartition('_')[2]}]", name],
                 "schema": {**schema, "customId": int(f.rpartition("_")[2])}}
                for f, name, schema in custom])

        @app.get(f"{api}/field/<field_id>/context")
        def contexts(version: str, field_id: str) -> Response:
            """Cloud's custom field contexts ("Permissions required: Administer Jira global
            permission"), one global context per select field here, paged like every
            ``PageBean``,
            https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-custom-field-contexts/#api-rest-api-3-field-fieldid-context-get."""
            if not self.cloud:  # Data Center has no context resource
                return self._reply(404, {"errorMessages": ["Not found"], "errors": {}})
            if not self.admin:
                return self._reply(403, ADMIN_ONLY)
            select = self._select_of(field_id)
            if select is None:
                return self._reply(404, {"errorMessages": ["The custom field was not found."],
                                         "errors": {}})
            values = [{"id": str(int(field_id.rpartition("_")[2]) + 100),
                       "name": f"Default Configuration Scheme for {select[1]}",
                       "description": "", "isGlobalContext": True, "isAnyIssueType": True}]
            return self._reply(200, {"maxResults": 50, "startAt": 0, "total": len(values),
                                     "isLast": True, "values": values})

        @app.get(f"{api}/field/<field_id>/context/<context_id>/option")
        def context_options(version: str, field_id: str, context_id: str) -> Response:
            """The options of a context, first to last ("Permissions required: Administer Jira
            global permission"), paged by ``startAt``/``maxResults`` (``isLast``),
            https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-custom-field-options/#api-rest-api-3-field-fieldid-context-contextid-option-get."""
            if not self.cloud:
                return self._reply(404, {"errorMessages": ["Not found"], "errors": {}})
            if not self.admin:
                return self._reply(403, ADMIN_ONLY)
            select = self._select_of(field_id)
            if select is None or context_id != str(int(field_id.rpartition("_")[2]) + 100):
                return self._reply(404, {"errorMessages": ["The custom field was not found."],
                                         "errors": {}})
            start = request.args.get("startAt", 0, type=int)
            size = min(request.args.get("maxResults", 100, type=int), 100)
            options = [{"id": oid, "value": value, "disabled": False}
                       for value, oid in select[2].items()]
            return self._reply(200, {"maxResults": size, "startAt": start,
                                     "total": len(options),
                                     "isLast": start + size >= len(options),
                                     "values": options[start:start + size]})

        @app.get(f"{api}/priority")
        def priorities(version: str) -> Response:
            """Every priority (any user may list them),
            https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-priorities/#api-rest-api-3-priority-get;
            Data Center: https://docs.atlassian.com/software/jira/docs/api/REST/latest/#api/2/priority."""
            return self._reply(200, [
                {"self": f"{self.site}/rest/api/{version}/priority/{pid}", "statusColor": "",
                 "description": name, "iconUrl": f"{self.site}/images/icons/priorities/"
                 f"{name.lower()}.svg", "name": name, "id": pid}
                for name, pid in PRIORITIES.items()])

        @app.get("/rest/servicedeskapi/organization/<org_id>")
        def organization(org_id: str) -> Response:
            """An organization, or 404 "Returned if the organization does not exist" with the
            spec's ErrorResponse body,
            https://developer.atlassian.com/cloud/jira/service-desk/rest/api-group-organization/#api-rest-servicedeskapi-organization-organizationid-get."""
            with self._lock:
                if org_id not in self.organizations:
                    return self._reply(404, {"errorMessage": f"Organization {org_id} does not "
                                                             "exist."})
                return self._reply(200, self._organization_json(org_id))

        @app.get(f"{api}/issue/<ref>")
        def show(version: str, ref: str) -> Response:
            wanted = {f.strip() for f in request.args.get("fields", "*all").split(",")}
            expand = {e.strip() for e in request.args.get("expand", "").split(",")}
            with self._lock:
                issue = self._find(ref)
                if issue is None:
                    return self._reply(404, NOT_FOUND)
                all_fields = wanted & {"*all", "*navigable"}
                return self._reply(200, self._issue_json(issue, version,
                                                         None if all_fields else wanted, expand))

        @app.get(f"{api}/issue/<ref>/changelog")
        def changelog(version: str, ref: str) -> Response:
            """Cloud's Get changelogs: "a paginated list of all changelogs for an issue sorted
            by date, starting from the oldest", ``startAt``, ``maxResults`` (at most 100,
            ``changelog_page`` here), ``total``, ``isLast``, ``values``,
            https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-changelog-get.
            Data Center's REST reference lists no such resource: 404 here."""
            if not self.cloud:
                return self._reply(404, {"errorMessages": ["Not found"], "errors": {}})
            start = max(request.args.get("startAt", 0, type=int), 0)
            size = min(max(request.args.get("maxResults", 100, type=int), 1),
                       self.changelog_page)
            with self._lock:
                issue = self._find(ref)
                if issue is None:
                    return self._reply(404, NOT_FOUND)
                histories = self._histories_json(issue, version)
            last = start + size >= len(histories)
            base = f"{self.site}/rest/api/{version}/issue/{ref}/changelog"
            return self._reply(200, {
                "self": f"{base}?startAt={start}&maxResults={size}",
                **({} if last else {"nextPage": f"{base}?startAt={start + size}"
                                                f"&maxResults={size}"}),
                "maxResults": size, "startAt": start, "total": len(histories),
                "isLast": last, "values": histories[start:start + size]})

        @app.put(f"{api}/issue/<ref>")
        def edit(version: str, ref: str) -> Response:
            with self._lock:
                issue = self._find(ref)
                if issue is None:
                    return self._reply(404, NOT_FOUND)
                body = request.get_json(silent=True)
                malformed = _malformed_edit(body)
                if malformed:  # Jira answers a body it cannot read with 400, not 500
                    return self._reply(400, {"errorMessages": [malformed], "errors": {}})
                errors = self._edit(issue, body)
                if errors:
                    return self._reply(400, {"errorMessages": [], "errors": errors})
                return self._reply(204, None)

        @app.get(f"{api}/issue/<ref>/editmeta")
        def editmeta(version: str, ref: str) -> Response:
            """The fields of the issue's edit screen the bot may set, with ``allowedValues``
            (a field in ``off_screen`` is left out),
            https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-editmeta-get."""
            with self._lock:
                if self._find(ref) is None:
                    return self._reply(404, NOT_FOUND)
                return self._reply(200, {"fields": {
                    **{field_id: {
                        "required": False, "name": name, "key": field_id,
                        "operations": ["set"],
                        "schema": {"type": "option", "custom": "com.atlassian.jira.plugin."
                                   "system.customfieldtypes:select"},
                        "allowedValues": [{"id": oid, "value": value}
                                          for value, oid in options.items()]}
                       for field_id, name, options in self._selects.values()
                       if field_id not in self.off_screen},
                    "priority": {"required": False, "name": "Priority", "key": "priority",
                                 "operations": ["set"],
                                 "allowedValues": [{"id": str(n), "name": name}
                                                   for n, name in enumerate(PRIORITIES, 1)]},
                    "labels": {"required": False, "name": "Labels", "key": "labels",
                               "operations": ["add", "set", "remove"]},
                }})

        @app.get(f"{api}/issue/<ref>/comment")
        def comments(version: str, ref: str) -> Response:
            """Get comments: a ``PageOfComments`` (``startAt``, ``maxResults``, ``total``)
            ordered by ``orderBy`` (``created``, ``+created``, ``-created``); Cloud answers at
            most 100 a page (``comment_page`` here), Data Center all unless ``maxResults`` says,
            https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-comments/#api-rest-api-3-issue-issueidorkey-comment-get,
            https://docs.atlassian.com/software/jira/docs/api/REST/latest/#api/2/issue-getComments."""
            start = max(request.args.get("startAt", 0, type=int), 0)
            size = max(request.args.get("maxResults", self.comment_page if self.cloud
                                        else 5000, type=int), 1)
            if self.cloud:
                size = min(size, self.comment_page)
            order = request.args.get("orderBy", "created")
            if order not in ("created", "+created", "-created"):
                return self._reply(400, {"errorMessages": [
                    f"Invalid orderBy parameter: {order}"], "errors": {}})
            with self._lock:
                issue = self._find(ref)
                if issue is None:
                    return self._reply(404, NOT_FOUND)
                ordered = issue.comments[::-1] if order == "-created" else issue.comments
                page = ordered[start:start + size]
                return self._reply(200, {
                    "startAt": start, "maxResults": size, "total": len(issue.comments),
                    "comments": [self._comment_json(issue, c, version) for c in page]})

        @app.post(f"{api}/issue/<ref>/comment")
        def add_comment(version: str, ref: str) -> Response:
            body = request.get_json(silent=True) or {}
            text = body.get("body")
            if version == "3":
                if not (isinstance(text, dict) and text.get("type") == "doc"):
                    return self._reply(400, {"errorMessages": [], "errors": {
                        "comment": "Operation value must be an Atlassian Document "
                                   "(see the Atlassian Document Format)"}})
                text = adf_text(text)
            if not isinstance(text, str) or not text.strip():
                return self._reply(400, {"errorMessages": [],
                                         "errors": {"comment": "Comment body can not be empty!"}})
            internal = any(p.get("key") == "sd.public.comment"
                           and (p.get("value") or {}).get("internal") is True
                           for p in body.get("properties") or ())
            with self._lock:
                issue = self._find(ref)
                if issue is None:
                    return self._reply(404, NOT_FOUND)
                comment = self._comment(issue, self.bot, text, public=not internal, notify=True)
                return self._reply(201, self._comment_json(issue, comment, version))

        @app.post("/rest/servicedeskapi/request/<ref>/comment")
        def add_request_comment(ref: str) -> Response:
            body = request.get_json(silent=True) or {}
            text, public = body.get("body"), body.get("public", True)
            with self._lock:
                issue = self._find(ref)
                if issue is None or not issue.service_desk:
                    return self._reply(404, {"errorMessage": "Request does not exist or you "
                                                             "do not have permission to see it."})
                if not isinstance(text, str) or not text.strip() or not isinstance(public, bool):
                    return self._reply(400, {"errorMessage": "The comment body and 'public' "
                                                             "flag are not valid."})
                comment = self._comment(issue, self.bot, text, public=public, notify=True)
                return self._reply(201, self._request_comment_json(comment))

        @app.get("/rest/servicedeskapi/request/<ref>/sla")
        def slas(ref: str) -> Response:
            """Get SLA information: a page (``start``, ``limit``, default 50; ``size``,
            ``isLastPage``, ``_links``) of ``values``, each SLA with ``completedCycles`` and an
            ``ongoingCycle`` (``startTime``, ``breachTime``, ``breached``, ``paused``,
            ``withinCalendarHours``, ``goalDuration``, ``elapsedTime``, ``remainingTime``;
            times as ``iso8601``/``jira``/``friendly``/``epochMillis``, durations as
            ``millis``/``friendly``),
            https://developer.atlassian.com/cloud/jira/service-desk/rest/api-group-request/#api-rest-servicedeskapi-request-issueidorkey-sla-get;
            Data Center: https://docs.atlassian.com/jira-servicedesk/REST/5.12.0/#servicedeskapi/request/{issueIdOrKey}/sla-getSlaInformation."""
            start = max(request.args.get("start", 0, type=int), 0)
            limit = min(max(request.args.get("limit", self.sla_page, type=int), 1),
                        self.sla_page)
            with self._lock:
                issue = self._find(ref)
                if issue is None or not issue.service_desk:
                    return self._reply(404, {"errorMessage": "Request does not exist or you "
                                                             "do not have permission to see it."})
                values = [self._sla_json(issue, sla) for sla in issue.slas]
            shown = values[start:start + limit]
            last = start + limit >= len(values)
            base = f"{self.site}/rest/servicedeskapi"
            links = {"base": self.site, "context": "",
                     "self": f"{base}/request/{issue.id}/sla?start={start}&limit={limit}"}
            if not last:
                links["next"] = f"{base}/request/{issue.id}/sla?start={start + limit}" \
                    f"&limit={limit}"
            return self._reply(200, {"size": len(shown), "start": start, "limit": limit,
                                     "isLastPage": last, "values": shown, "_links": links})

        @app.get(f"{api}/issue/<ref>/watchers")
        def watchers(version: str, ref: str) -> Response:
            """Get issue watchers: ``isWatching`` (the caller), ``watchCount``, ``watchers``,
            https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-watchers/#api-rest-api-3-issue-issueidorkey-watchers-get,
            https://docs.atlassian.com/software/jira/docs/api/REST/latest/#api/2/issue-getIssueWatchers."""
            with self._lock:
                issue = self._find(ref)
                if issue is None:
                    return self._reply(404, NOT_FOUND)
                return self._reply(200, {
                    "self": f"{self.site}/rest/api/{version}/issue/{issue.key}/watchers",
                    "isWatching": self.bot in issue.watchers,
                    "watchCount": len(issue.watchers),
                    "watchers": [self._user_json(w, version) for w in issue.watchers]})

        @app.post(f"{api}/issue/<ref>/watchers")
        def add_watcher(version: str, ref: str) -> Response:
            """Add watcher: the body is the user as a JSON string, the accountId on Cloud, the
            user name on Data Center (no body: the caller); 204, 400 for another body, 404
            for an unknown issue or user,
            https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-watchers/#api-rest-api-3-issue-issueidorkey-watchers-post,
            https://docs.atlassian.com/software/jira/docs/api/REST/latest/#api/2/issue-addWatcher."""
            raw = request.get_data()
            user = self.bot if not raw.strip() else request.get_json(silent=True)
            if not isinstance(user, str) or not user:
                kind = "an accountId" if self.cloud else "a user name"
                return self._reply(400, {"errorMessages": [
                    f"The request body must be {kind} as a JSON string."], "errors": {}})
            with self._lock:
                issue = self._find(ref)
                if issue is None:
                    return self._reply(404, NOT_FOUND)
                if user not in self.users:
                    return self._reply(404, {"errorMessages": [
                        f"The user \"{user}\" does not exist."], "errors": {}})
                if user not in issue.watchers:
                    issue.watchers.append(user)
                return self._reply(204, None)

        @app.get(f"{api}/issue/<ref>/transitions")
        def transitions(version: str, ref: str) -> Response:
            """The transitions available from the issue's status,
            https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-transitions-get."""
            with self._lock:
                issue = self._find(ref)
                if issue is None:
                    return self._reply(404, NOT_FOUND)
                return self._reply(200, {"expand": "transitions", "transitions": [
                    {"id": tid, "name": name, "to": self._status_json(target, version),
                     "hasScreen": False, "isGlobal": True, "isInitial": False,
                     "isConditional": False}
                    for tid, (name, target) in TRANSITIONS.items() if target != issue.status]})

        @app.post(f"{api}/issue/<ref>/transitions")
        def transition(version: str, ref: str) -> Response:
            wanted = str(((request.get_json(silent=True) or {}).get("transition") or {})
                         .get("id"))
            with self._lock:
                issue = self._find(ref)
                if issue is None:
                    return self._reply(404, NOT_FOUND)
                target = TRANSITIONS.get(wanted, ("", issue.status))[1]
                if target == issue.status:  # unknown, or not available from here
                    return self._reply(400, {"errorMessages": [
                        f"Transition id '{wanted}' is not valid for this issue."], "errors": {}})
                self._set(issue, self.bot, {"status": target},
                          "issue_resolved" if target == "Resolved" else "issue_generic",
                          notify=True)
                return self._reply(204, None)

    def _select_of(self, field_id: str) -> tuple[str, str, dict[str, str]] | None:
        """The single-select custom field ``field_id``: (id, name, options)."""
        return next((s for s in self._selects.values() if s[0] == field_id), None)

    def _edit(self, issue: Issue, body: dict) -> dict[str, str]:
        """Apply a PUT body as the bot; Jira's field errors if it is invalid (nothing changes)."""
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name, value in (body.get("fields") or {}).items():
            try:
                attr, parsed = self._parse(name, value)
                values[attr] = parsed
            except _Invalid as exc:
                errors[name] = str(exc)
        for name, operations in (body.get("update") or {}).items():
            if name != "labels":
                errors[name] = UNKNOWN_FIELD.format(name)
                continue
            try:
                values["labels"] = _edit_labels(values.get("labels", issue.labels), operations)
            except _Invalid as exc:
                errors[name] = str(exc)
        if not errors:
            self._set(issue, self.bot, values, "issue_updated", notify=True)
        return errors

    def _parse(self, name: str, value: Any) -> tuple[str, Any]:
        """The issue attribute a PUT's ``fields`` entry sets, and its value."""
        for attr, (field_id, field_name, options) in self._selects.items():
            if name == field_id:
                return attr, _select(value, options, field_name)
        if name == "priority":
            return "priority", _priority(value)
        if name == "labels":
            return "labels", _labels(value)
        raise _Invalid(UNKNOWN_FIELD.format(name))


_JQL_CLAUSE = re.compile(r'(\w+)\s*(>=|!=|=)\s*("(?:[^"\\]|\\.)*"|\S+)')


def _jql(jql: str, names: dict[str, str] | None = None,
         ) -> tuple[Callable[[Issue], bool], str, bool]:
    """A JQL query of clauses joined by AND as a test on an issue, with its ``ORDER BY`` field
    and direction. Clauses: ``updated`` or ``created >= "-Nm"``, ``statusCategory != Done``,
    ``reporter = "…"``, ``organizations = …`` (``names``: JSM organization id -> name);
    anything else is refused as Jira refuses a field it does not know."""
    names = names or {}
    ordered = re.search(r"\border\s+by\s+(.*)$", jql, flags=re.IGNORECASE)
    query, order = (jql[:ordered.start()], ordered[1]) if ordered else (jql, "")
    field, *direction = order.split() or ["created"]
    if field not in ("created", "updated"):
        raise _Invalid(f"The emulator cannot order by '{field}'.")
    tests: list[Callable[[Issue], bool]] = []
    for clause in filter(None, re.split(r"\s+and\s+", query, flags=re.IGNORECASE)):
        match = _JQL_CLAUSE.fullmatch(clause.strip())
        if match is None:
            raise _Invalid(f"Error in the JQL Query: '{clause}'")
        name, op, value = match.groups()
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        back = re.fullmatch(r"-(\d+)m", value)
        if name in ("created", "updated") and op == ">=" and back:
            since = datetime.now(UTC) - timedelta(minutes=int(back[1]))
            tests.append(lambda i, name=name, since=since: getattr(i, name) >= since)
        elif (name, op, value.lower()) == ("statusCategory", "!=", "done"):
            tests.append(lambda i: STATUSES[i.status][1] != "done")
        elif (name, op) == ("reporter", "="):
            tests.append(lambda i, value=value: i.reporter == value)
        elif (name.lower(), op) == ("organizations", "="):
            # JSM's Organizations field, by name as Atlassian documents it
            # (https://support.atlassian.com/jira-service-management-cloud/docs/jql-fields/);
            # by id too, which is what tierlift knows of an issue's organization.
            tests.append(lambda i, value=value, names=names: value in i.organizations
                         or value in (names.get(o) for o in i.organizations))
        else:
            raise _Invalid(f"Field '{name}' does not exist or you do not have permission to "
                           "view it.")
    descending = bool(direction) and direction[0].upper() == "DESC"
    return (lambda issue: all(test(issue) for test in tests)), field, descending


def _malformed_edit(body: Any) -> str | None:
    """Why an Edit issue body cannot be read (``None``: it can): ``fields`` an object of values,
    ``update`` an object of lists of operations (an object each),
    https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-put.
    """
    if not isinstance(body, dict):
        return "Can not deserialize the request body: expected a JSON object"
    if not isinstance(body.get("fields") or {}, dict):
        return "Can not deserialize 'fields': expected a JSON object"
    update = body.get("update") or {}
    if not isinstance(update, dict) or not all(
            isinstance(ops, list) and all(isinstance(op, dict) for op in ops)
            for ops in update.values()):
        return "Can not deserialize 'update': expected an object of arrays of operations"
    return None


def _select(value: Any, options: dict[str, str], field_name: str) -> str | None:
    """A single-select value from a PUT (``{"value": …}``, ``{"id": …}`` or null)."""
    if value is None:
        return None
    if isinstance(value, dict) and "value" in value:
        if value["value"] in options:
            return value["value"]
        raise _Invalid(f"Option value '{value['value']}' is not valid")
    if isinstance(value, dict) and "id" in value:
        match = [v for v, option_id in options.items() if option_id == value["id"]]
        if match:
            return match[0]
        raise _Invalid(f"Option id '{value['id']}' is not valid")
    raise _Invalid(f"Specify a valid 'id' or 'value' for {field_name}")
