"""Jira Cloud and Data Center (incl. Service Management): read an issue into a :class:`Ticket`,
write a tier move back as one field update plus one internal comment."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from connector import adf
from connector.errors import HelpdeskError, Misdirected, Rejected, raise_for_status
from connector.http import ApiSession
from connector.ticket import (
    AuthorRole,
    Comment,
    Organization,
    PlatformDeadline,
    Priority,
    SentRequest,
    Ticket,
    TicketSummary,
    TierChange,
    TierLadder,
    TierWrite,
    WriteResult,
)

log = logging.getLogger(__name__)

# An issue key (PROJECT-123) or a numeric issue id, the only refs a URL is built from.
ISSUE_REF = re.compile(r"[A-Z][A-Z0-9_]*-[0-9]+|[0-9]+")

PLATFORM = "jira"
PAGE = 100
MAX_PAGES = 50
LISTING_PAGES = 2000  # the issues updated in a window (sweep, backtest): up to 200,000
INTERNAL = {"key": "sd.public.comment", "value": {"internal": True}}
REFUSED = (400, 422)  # Jira answers an invalid write with 400
# Priority names of Jira's default schemes, old and new, for reading an issue's priority.
KNOWN_PRIORITIES = {
    "highest": Priority.URGENT, "blocker": Priority.URGENT, "critical": Priority.URGENT,
    "high": Priority.HIGH, "major": Priority.HIGH,
    "medium": Priority.NORMAL,
    "low": Priority.LOW, "minor": Priority.LOW, "lowest": Priority.LOW, "trivial": Priority.LOW,
}
ISSUE_FIELDS = ("summary", "status", "priority", "labels", "reporter", "assignee", "created",
                "updated", "project", "comment", "description", "issuetype")
SUMMARY_FIELDS = "summary,description,labels,issuetype,reporter,created,status"
# The JSM "Organizations" field (``GET /rest/api/3/field`` lists it with this schema type; its
# value on an issue is ``[{"id": "27", "name": "…", "_links": {…}}]``, e.g.
# https://github.com/AtlassianPS/JiraPS/issues/434), and how long an organization is cached.
ORGANIZATIONS_TYPE = "com.atlassian.servicedesk:sd-customer-organizations"
ORGANIZATION_TTL = 300.0


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def user_id(user: Mapping[str, Any] | None) -> str | None:
    """Cloud ``accountId``, else the Data Center user ``key`` or ``name``."""
    if not user:
        return None
    ident = user.get("accountId") or user.get("key") or user.get("name")
    return str(ident) if ident else None


class JiraConnector:
    """Talks to one Jira site. Cloud: REST v3 and ADF; Data Center: REST v2 and plain text.

    The tier lives in a single-select custom field: ``tier_values`` maps each tier to its option;
    an empty or unmapped value is the ladder's default tier.
    """

    platform = PLATFORM

    def __init__(
        self,
        api: ApiSession,
        *,
        cloud: bool,
        tier_field: str,
        tier_values: Mapping[str, str],
        ladder: TierLadder,
        priorities: Mapping[str, str],
        transition: str | None = None,
        route_field: str | None = None,
        route_values: Mapping[str, str] | None = None,
        organizations_field: str | None = None,
    ) -> None:
        self.api = api
        self.cloud = cloud
        self.rest = "/rest/api/3" if cloud else "/rest/api/2"
        self.tier_field = tier_field
        self.tier_values = dict(tier_values)
        self._tier_of_value = {v.casefold(): k for k, v in self.tier_values.items()}
        self.ladder = ladder
        self.priorities = {Priority[k.upper()]: v for k, v in priorities.items()}
        self._priority_of_name = {**KNOWN_PRIORITIES,
                                  **{v.casefold(): k for k, v in self.priorities.items()}}
        self.transition = transition
        self.route_field = route_field
        self.route_values = dict(route_values or {})
        self._route_of_value = {v.casefold(): k for k, v in self.route_values.items()}
        self._me: str | None = None
        self._service_desk: dict[str, bool] = {}  # project key (or issue id) -> a JSM project
        # The Organizations field: configured, or looked up (None: not found, asked at most
        # every ORGANIZATION_TTL seconds); the organizations read, per id, cached like Zendesk's.
        self._org_field = organizations_field
        self._org_field_missed: float | None = None
        self._organizations: dict[str, tuple[float, Organization]] = {}
        self._lock = threading.Lock()

    def tier_of_value(self, value: object) -> str:
        """The tier of a tier-field value (an option object or its text); default if unset."""
        text = _option(value)
        return self._tier_of_value.get(text.casefold(), self.ladder.default) if text \
            else self.ladder.default

    def whoami(self) -> str:
        """Our API user (``/myself``), asked once: its changes and comments are our own."""
        if self._me is None:
            response = self.api.get(f"{self.rest}/myself")
            raise_for_status(response, "myself")
            self._me = user_id(response.json())
        return self._me

    def fetch(self, ref: str, *, needs: frozenset[str] = frozenset(),
              reuse: bool = False) -> Ticket:
        """The issue as it is now, with comments and tier history (one request, usually; so
        ``reuse``, which lets Zendesk's connector skip reads of an unchanged ticket, changes
        nothing here).

        Comments are always read: they also show whether our own note is already there. With
        the ``organization`` need, a JSM issue's first organization is read too. An answer
        about another issue (neither the key nor the id asked) raises :class:`Misdirected`: a
        moved issue answering for its old key under a new one is refused too, as nothing known
        beforehand ties the two. Every later URL is built from ``ref``, never from the answer.
        """
        if not ISSUE_REF.fullmatch(ref):  # a URL is built from it: nothing but a key or an id
            raise Rejected(f"issue {ref!r} is neither an issue key nor an issue id")
        expand = "changelog,names" if "history" in needs else "names"
        org_field = self._organizations_field() if "organization" in needs else None
        extra = (self.tier_field, *((self.route_field,) if self.route_field else ()),
                 *((org_field,) if org_field else ()))
        response = self.api.get(f"{self.rest}/issue/{quote(ref)}",
                                fields=",".join((*ISSUE_FIELDS, *extra)), expand=expand)
        raise_for_status(response, f"issue {ref}")
        raw = response.json()
        answered = str(raw.get("id") if ref.isdigit() else raw.get("key"))
        if answered != ref:
            raise Misdirected(f"issue {ref}: the helpdesk answered for issue {raw.get('key')} "
                              f"(id {raw.get('id')}) when {ref} was asked; nothing written")
        if "history" in needs:
            self._complete_changelog(ref, raw)
        fields = raw.get("fields") or {}
        project = fields.get("project") or {}
        with self._lock:
            self._service_desk[_project(ref)] = \
                project.get("projectTypeKey") == "service_desk"
        reporter = user_id(fields.get("reporter"))
        created = parse_time(fields["created"])
        tier = self.tier_of_value(fields.get(self.tier_field))
        comments = [*self._description(fields, reporter, created),
                    *self._comments(ref, fields, reporter)]
        history = self._tier_history(raw, tier, created) if "history" in needs else ()
        route = _option(fields.get(self.route_field)) if self.route_field else None
        route = self._route_of_value.get(route.casefold()) if route else None
        priority = self._priority(fields.get("priority"))
        service_desk = project.get("projectTypeKey") == "service_desk"
        deadlines = tuple(self._slas(ref)) if "platform_sla" in needs and service_desk \
            else ()
        organization = self._organization(fields.get(org_field)) \
            if org_field and service_desk else None
        return Ticket(
            platform=PLATFORM,
            ref=ref,
            subject=fields.get("summary") or "",
            status=(fields.get("status") or {}).get("name", ""),
            priority=priority,
            tier=tier,
            tags=tuple(fields.get("labels") or ()),
            requester_id=reporter,
            assignee_id=user_id(fields.get("assignee")),
            organization_id=organization.id if organization else None,
            channel=None,
            created_at=created,
            updated_at=parse_time(fields["updated"]),
            version=fields["updated"],
            comments=tuple(comments),
            tier_history=tuple(history),
            custom_fields={k: _simple(v) for k, v in fields.items()
                           if k.startswith("customfield_")},
            form=(fields.get("issuetype") or {}).get("name"),
            reopens=_reopens(raw) if "history" in needs else 0,
            status_history=_statuses(raw, created) if "history" in needs else (),
            platform_deadlines=deadlines,
            route=route,
            organization=organization,
            route_history=self._route_history(raw, route, created) if "history" in needs else (),
            priority_history=self._priority_history(raw, priority, created)
            if "history" in needs else (),
        )

    def _organizations_field(self) -> str | None:
        """The id of the JSM Organizations field, found in ``GET /field`` by its type (its name
        may be translated) and kept; ``None`` without Service Management.
        https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-fields/#api-rest-api-3-field-get"""
        with self._lock:
            if self._org_field or (self._org_field_missed is not None and
                                   time.monotonic() - self._org_field_missed < ORGANIZATION_TTL):
                return self._org_field
        response = self.api.get(f"{self.rest}/field")
        raise_for_status(response, "fields")
        found = next((str(f["id"]) for f in response.json()
                      if (f.get("schema") or {}).get("custom") == ORGANIZATIONS_TYPE), None)
        with self._lock:
            self._org_field = found
            self._org_field_missed = None if found else time.monotonic()
        return found

    def _organization(self, value: Any) -> Organization | None:
        """The first organization of an Organizations field value, from
        ``GET /rest/servicedeskapi/organization/{id}`` and cached for a few minutes. JSM
        organizations have no tags; one that is gone (404) keeps the id and name the issue shows.
        https://developer.atlassian.com/cloud/jira/service-desk/rest/api-group-organization/#api-rest-servicedeskapi-organization-organizationid-get"""
        first = next((v for v in value or () if isinstance(v, dict) and v.get("id") is not None),
                     None)
        if first is None:
            return None
        org_id = str(first["id"])
        with self._lock:
            cached = self._organizations.get(org_id)
        if cached is not None and time.monotonic() - cached[0] < ORGANIZATION_TTL:
            return cached[1]
        response = self.api.get(f"/rest/servicedeskapi/organization/{quote(org_id, safe='')}")
        if response.status_code == 404:
            log.warning("JSM organization %s not found; using the issue's name for it", org_id)
            raw = first
        else:
            raise_for_status(response, f"organization {org_id}")
            raw = response.json()
        organization = Organization(id=org_id, name=str(raw.get("name") or ""))
        with self._lock:
            self._organizations[org_id] = (time.monotonic(), organization)
        return organization

    def _slas(self, key: str) -> Iterator[PlatformDeadline]:
        """The request's running JSM SLA cycles, every page of Get SLA information
        (``start``/``limit``, until ``isLastPage``),
        https://developer.atlassian.com/cloud/jira/service-desk/rest/api-group-request/#api-rest-servicedeskapi-request-issueidorkey-sla-get."""
        start = 0
        for _ in range(MAX_PAGES):
            response = self.api.get(f"/rest/servicedeskapi/request/{quote(key)}/sla",
                                    start=start, limit=50)
            raise_for_status(response, f"SLAs of request {key}")
            page = response.json()
            values = page.get("values") or []
            for sla in values:
                cycle = sla.get("ongoingCycle")
                if not cycle:
                    continue  # completed, or not started
                yield PlatformDeadline(
                    metric=str(sla.get("name", "")),
                    due_at=None if cycle.get("paused") else _sla_time(cycle.get("breachTime")),
                    breached=bool(cycle.get("breached")),
                    goal_seconds=((cycle.get("goalDuration") or {}).get("millis") or 0) / 1000
                    or None)
            start += len(values)
            if page.get("isLastPage", True) or not values:
                return

    def _priority(self, raw: Mapping[str, Any] | None) -> Priority | None:
        name = (raw or {}).get("name")
        return self._priority_of_name.get(name.casefold()) if name else None

    def _description(self, fields: Mapping[str, Any], reporter: str | None,
                     created: datetime) -> Iterator[Comment]:
        """The description is the customer's first message: policies read it as a comment."""
        text = adf.to_text(fields.get("description"))
        if text and reporter:
            yield Comment(id="description", author_id=reporter,
                          author_role=AuthorRole.CUSTOMER, public=True, body=text,
                          created_at=created)

    def _comments(self, key: str, fields: Mapping[str, Any],
                  reporter: str | None) -> Iterator[Comment]:
        """Every comment, oldest first. The issue inlines a page of them (Cloud at most 100,
        ``total`` the true count); when that is not all, they are read from Get comments,
        ``GET .../issue/{key}/comment?startAt=&maxResults=&orderBy=created`` (``PageOfComments``,
        https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-comments/#api-rest-api-3-issue-issueidorkey-comment-get,
        https://docs.atlassian.com/software/jira/docs/api/REST/latest/#api/2/issue-getComments),
        from the first: which ones the issue left out is not documented."""
        me = self.whoami()
        page = fields.get("comment") or {}
        raws = list(page.get("comments") or ())
        total = page.get("total", len(raws))
        if len(raws) < total:
            raws = []
            for _ in range(MAX_PAGES):
                response = self.api.get(f"{self.rest}/issue/{quote(key)}/comment",
                                        startAt=len(raws), maxResults=PAGE, orderBy="created")
                raise_for_status(response, f"comments of issue {key}")
                listing = response.json()
                more = listing.get("comments") or []
                raws += more
                if not more or len(raws) >= listing.get("total", total):
                    break
        for raw in raws:
            author = raw.get("author") or {}
            ident = user_id(author)
            yield Comment(
                id=str(raw["id"]),
                author_id=ident or "",
                author_role=_role(author, ident, reporter, me),
                public=raw.get("jsdPublic", not raw.get("visibility")),
                body=adf.to_text(raw.get("body")),
                created_at=parse_time(raw["created"]),
            )

    def _complete_changelog(self, ref: str, raw: dict) -> None:
        """Add the histories the issue's inlined changelog left out.

        Cloud inlines at most the first 100 (``changelog.total`` says how many there are) and
        pages the rest by Get changelogs, ``GET /rest/api/3/issue/{key}/changelog?startAt=``
        (oldest first, at most 100 a page, ``isLast``),
        https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-changelog-get.
        Data Center inlines them all and its REST reference has no such resource
        (https://docs.atlassian.com/software/jira/docs/api/REST/latest/): a short one there is
        logged and used as it is.
        """
        changelog = raw.get("changelog")
        if not isinstance(changelog, dict):
            return
        histories = list(changelog.get("histories") or ())
        total = changelog.get("total")
        start = (changelog.get("startAt") or 0) + len(histories)
        if not isinstance(total, int) or start >= total:
            return
        if not self.cloud:
            log.warning("issue %s: its changelog holds %d of %d histories", ref,
                        len(histories), total)
            return
        for _ in range(MAX_PAGES):
            response = self.api.get(f"{self.rest}/issue/{quote(ref)}/changelog",
                                    startAt=start, maxResults=PAGE)
            raise_for_status(response, f"changelog of issue {ref}")
            page = response.json()
            values = page.get("values") or []
            histories.extend(values)
            start += len(values)
            if not values or page.get("isLast") or start >= page.get("total", total):
                break
        else:
            raise HelpdeskError(f"changelog of issue {ref}: more than {MAX_PAGES} pages")
        raw["changelog"] = {**changelog, "histories": histories, "maxResults": len(histories)}

    def _changes(self, raw: Mapping[str, Any], field_id: str) -> list[tuple[datetime, dict]]:
        """``(when, changelog item)`` of a field's changes, oldest first (Data Center's items
        have no ``fieldId``: a custom field is named by its name, a system field by its id)."""
        names = {field_id, (raw.get("names") or {}).get(field_id)} - {None}
        changes = []
        for history in (raw.get("changelog") or {}).get("histories") or ():
            for item in history.get("items") or ():
                if item.get("fieldId") == field_id or \
                        (not item.get("fieldId") and item.get("field") in names):
                    changes.append((parse_time(history["created"]), item))
        changes.sort(key=lambda change: change[0])
        return changes

    def _tier_history(self, raw: Mapping[str, Any], tier: str,
                      created: datetime) -> list[TierChange]:
        """Tier field changes from the changelog, starting with the tier at creation."""
        changes = self._changes(raw, self.tier_field)
        if not changes:
            return [TierChange(created, tier)]
        first = self.tier_of_value(changes[0][1].get("fromString"))
        return [TierChange(created, first),
                *(TierChange(at, self.tier_of_value(item.get("toString")))
                  for at, item in changes)]

    def _route_history(self, raw: Mapping[str, Any], route: str | None,
                       created: datetime) -> tuple[tuple[datetime, str | None], ...]:
        """``(from, team)``: the team field's changes, starting with the team at creation."""
        changes = self._changes(raw, self.route_field) if self.route_field else []
        if not changes:
            return ((created, route),)

        def team(text: str | None) -> str | None:
            return self._route_of_value.get(text.casefold()) if text else None

        return ((created, team(changes[0][1].get("fromString"))),
                *((at, team(item.get("toString"))) for at, item in changes))

    def _priority_history(self, raw: Mapping[str, Any], priority: Priority | None,
                          created: datetime) -> tuple[tuple[datetime, Priority | None], ...]:
        """``(from, priority)``: priority changes, starting with the priority at creation."""
        changes = self._changes(raw, "priority")
        if not changes:
            return ((created, priority),)
        return ((created, self._priority({"name": changes[0][1].get("fromString")})),
                *((at, self._priority({"name": item.get("toString")})) for at, item in changes))

    def escalate(self, ticket: Ticket, write: TierWrite) -> WriteResult:
        """Leave the internal note, then set the tier field, labels and priority in one PUT,
        then run the configured transition, if any.

        The note goes first and is recognised by its evidence line, and the PUT sets absolute
        values: repeating an interrupted escalation never duplicates the note or the move. So
        that a note never announces a move Jira will refuse, the tier field's edit metadata is
        checked before anything is written.
        """
        sent: list[SentRequest] = []
        options = self._options(ticket.ref, write)
        if options:
            sent.append(self._check_editable(ticket.ref, options))
        if not ticket.has_own_note(write.marker):
            sent.append(self._add_comment(ticket.ref, write.internal_note, internal=True))
        fields: dict[str, Any] = {field: {"value": value} for field, value in options.items()}
        if write.priority is not None:
            fields["priority"] = {"name": self.priorities[write.priority]}
        body = {"fields": fields,
                "update": {"labels": [{"add": t} for t in dict.fromkeys(write.add_tags)
                                      if t not in ticket.tags]}}
        path = f"{self.rest}/issue/{quote(ticket.ref)}"
        response = self.api.request("PUT", path, json=body)
        sent.append(SentRequest("PUT", path, body, response.status_code))
        raise_for_status(response, f"update of issue {ticket.ref}", rejected=REFUSED)
        if self.transition and write.tier is not None:
            sent += self._transition(ticket.ref)
        for follower in write.add_followers:  # adding a watcher twice is harmless
            path = f"{self.rest}/issue/{quote(ticket.ref)}/watchers"
            response = self.api.request("POST", path, json=follower)
            sent.append(SentRequest("POST", path, {"watcher": follower}, response.status_code))
            raise_for_status(response, f"watcher {follower} on issue {ticket.ref}",
                             rejected=REFUSED)
        if write.public_reply:
            sent.append(self._public_reply(ticket.ref, write.public_reply))
        return WriteResult(tuple(sent))

    def recently_updated(self, since: datetime, *,
                         open_only: bool = True) -> Iterator[tuple[str, str]]:
        """``(issue key, updated)`` of issues updated since ``since``: unresolved ones for the
        reconciliation sweep, resolved ones too with ``open_only=False`` (the backtest)."""
        unresolved = " AND statusCategory != Done" if open_only else ""
        jql = f'updated >= "-{_minutes_back(since)}m"{unresolved} ORDER BY updated ASC'
        for issue in self._search(jql, "updated", what="search for recently updated issues",
                                  pages=LISTING_PAGES):
            yield issue["key"], (issue.get("fields") or {}).get("updated", "")

    def tickets_of(self, kind: str, ident: str, since: datetime) -> list[TicketSummary]:
        """The issues reported by a user (``"requester"``: ``reporter = "…"``, the accountId on
        Cloud, the user name on Data Center) or shared with a JSM organization
        (``"organization"``: ``organizations = …``, see
        https://confluence.atlassian.com/servicedeskcloud/blog/2016/09/group-customers-in-organizations)
        created since ``since``, newest first. The window is relative (``created >= "-Nm"``)
        so that the bot user's time zone does not matter."""
        field = "reporter" if kind == "requester" else "organizations"
        value = ident if kind == "organization" and ident.isdigit() else _jql_string(ident)
        jql = f'{field} = {value} AND created >= "-{_minutes_back(since)}m" ' \
            "ORDER BY created DESC"
        found = [self._summary(issue, ident if kind == "organization" else None)
                 for issue in self._search(jql, SUMMARY_FIELDS,
                                           what=f"search for issues of {kind} {ident}")]
        return [summary for summary in found if summary.created_at >= since]

    def _summary(self, issue: Mapping[str, Any], organization: str | None) -> TicketSummary:
        """A search result as an earlier ticket (``description``: the customer's first message)."""
        fields = issue.get("fields") or {}
        return TicketSummary(
            platform=PLATFORM, ref=issue["key"], subject=fields.get("summary") or "",
            description=adf.to_text(fields.get("description")),
            tags=tuple(fields.get("labels") or ()),
            form=(fields.get("issuetype") or {}).get("name"),
            requester_id=user_id(fields.get("reporter")), organization_id=organization,
            created_at=parse_time(fields["created"]),
            status=(fields.get("status") or {}).get("name", ""))

    def _search(self, jql: str, fields: str, *, what: str,
                pages: int = MAX_PAGES) -> Iterator[dict]:
        """The issues a JQL search finds, page after page (Cloud: ``/search/jql`` with
        ``nextPageToken``; Data Center: ``/search`` with ``startAt``), at most
        ``pages`` pages."""
        token: str | None = None
        start = 0
        for _ in range(pages):
            if self.cloud:
                params = {"jql": jql, "fields": fields, "maxResults": PAGE,
                          **({"nextPageToken": token} if token else {})}
                response = self.api.get(f"{self.rest}/search/jql", **params)
            else:
                response = self.api.get(f"{self.rest}/search", jql=jql, fields=fields,
                                        maxResults=PAGE, startAt=start)
            raise_for_status(response, what)
            page = response.json()
            issues = page.get("issues") or []
            yield from issues
            token = page.get("nextPageToken")
            start += len(issues)
            done = not token if self.cloud else (not issues or start >= page.get("total", 0))
            if done:
                return

    def _options(self, key: str, write: TierWrite) -> dict[str, str]:
        """The single-select options to set: the tier field, and the team field for a route."""
        options = {}
        if write.tier is not None:
            options[self.tier_field] = self.tier_values[write.tier]
        if write.route is not None:
            if not self.route_field or write.route not in self.route_values:
                raise Rejected(f"issue {key}: route {write.route!r} has no option in "
                               "[jira.route_values] (and route_field)")
            options[self.route_field] = self.route_values[write.route]
        return options

    def _public_reply(self, key: str, reply: str) -> SentRequest:
        """Best effort, never repeated: a failure is logged, the customer never gets it twice."""
        try:
            return self._add_comment(key, reply, internal=False)
        except HelpdeskError as exc:
            log.warning("public reply on issue %s not sent: %s", key, exc)
            return SentRequest("POST", f"issue/{key}/comment", None, exc.status or 0)

    def _check_editable(self, key: str, options: Mapping[str, str]) -> SentRequest:
        """Raise :class:`Rejected` unless the issue's edit screen has each field with the
        wanted value among its options."""
        path = f"{self.rest}/issue/{quote(key)}/editmeta"
        response = self.api.get(path)
        raise_for_status(response, f"edit metadata of issue {key}")
        editable = response.json().get("fields") or {}
        for field, value in options.items():
            meta = editable.get(field)
            if meta is None:
                raise Rejected(f"issue {key}: {field} cannot be edited (not on the issue's "
                               "edit screen, or no permission): add it to the screen")
            allowed = [o.get("value") for o in meta.get("allowedValues") or ()]
            if allowed and value not in allowed:
                raise Rejected(f"issue {key}: {value!r} is not an option of {field} "
                               f"(options: {allowed}); check the [jira] option mapping")
        return SentRequest("GET", path, None, response.status_code)

    def _add_comment(self, key: str, text: str, *, internal: bool) -> SentRequest:
        """JSM projects: a service-desk comment (``public: false`` when internal). Other
        projects: a Jira comment, with the ``sd.public.comment`` property set to internal."""
        with self._lock:
            service_desk = self._service_desk.get(_project(key), False)
        if service_desk:
            path = f"/rest/servicedeskapi/request/{quote(key)}/comment"
            body: dict[str, Any] = {"body": text, "public": not internal}
        else:
            path = f"{self.rest}/issue/{quote(key)}/comment"
            body = {"body": adf.from_text(text) if self.cloud else text}
            if internal:
                body["properties"] = [INTERNAL]
        response = self.api.request("POST", path, json=body)
        raise_for_status(response, f"comment on issue {key}", rejected=REFUSED)
        return SentRequest("POST", path, body, response.status_code)

    def _transition(self, key: str) -> list[SentRequest]:
        path = f"{self.rest}/issue/{quote(key)}/transitions"
        response = self.api.get(path)
        raise_for_status(response, f"transitions of issue {key}")
        sent = [SentRequest("GET", path, None, response.status_code)]
        wanted = self.transition.casefold()
        match = next((t for t in response.json().get("transitions") or ()
                      if str(t.get("name", "")).casefold() == wanted), None)
        if match is None:  # e.g. the issue is already past it: the tier move still stands
            log.warning("issue %s: no transition named %r available", key, self.transition)
            return sent
        body = {"transition": {"id": str(match["id"])}}
        response = self.api.request("POST", path, json=body)
        sent.append(SentRequest("POST", path, body, response.status_code))
        raise_for_status(response, f"transition {self.transition!r} of issue {key}",
                         rejected=REFUSED)
        return sent


def _sla_time(value: Mapping[str, Any] | None) -> datetime | None:
    """A JSM ``DateDTO``: its ``epochMillis``, else its ``iso8601``."""
    value = value or {}
    if isinstance(value.get("epochMillis"), int):
        return datetime.fromtimestamp(value["epochMillis"] / 1000, UTC)
    return parse_time(value["iso8601"]) if value.get("iso8601") else None


def _project(ref: str) -> str:
    """What the service-desk cache knows an issue's project by: the project key of an issue
    key; an issue asked for by id, by that id (its own answer said which kind it is)."""
    return ref if ref.isdigit() else ref.rpartition("-")[0]


def _minutes_back(since: datetime) -> int:
    """Whole minutes from ``since`` to now, rounded up, for a relative JQL date."""
    return max(1, int((datetime.now(since.tzinfo) - since).total_seconds() // 60) + 1)


def _jql_string(value: str) -> str:
    """``value`` as a quoted JQL string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _role(author: Mapping[str, Any], ident: str | None, reporter: str | None,
          me: str) -> AuthorRole:
    if ident is not None and ident == me:
        return AuthorRole.SELF
    kind = author.get("accountType")
    if kind == "customer":
        return AuthorRole.CUSTOMER
    if kind == "app":
        return AuthorRole.AGENT
    return AuthorRole.CUSTOMER if ident is not None and ident == reporter else AuthorRole.AGENT


def _option(value: Any) -> str | None:
    """The text of a single-select value (an option object, or already text)."""
    if isinstance(value, dict):
        value = value.get("value")
    return str(value) if value else None


def _reopens(raw: Mapping[str, Any]) -> int:
    """Times the resolution was cleared (resolved, then reopened), from the changelog."""
    return sum(1 for history in (raw.get("changelog") or {}).get("histories") or ()
               for item in history.get("items") or ()
               if item.get("field") == "resolution" and item.get("from") is not None
               and item.get("to") is None)


def _statuses(raw: Mapping[str, Any], created: datetime) -> tuple[tuple[datetime, str], ...]:
    """``(from, status)`` from the changelog, starting with the status at creation."""
    changes = sorted(((parse_time(h["created"]), item)
                      for h in (raw.get("changelog") or {}).get("histories") or ()
                      for item in h.get("items") or () if item.get("field") == "status"),
                     key=lambda change: change[0])
    if not changes:
        return ((created, ((raw.get("fields") or {}).get("status") or {}).get("name", "")),)
    first = changes[0][1].get("fromString") or ""
    return ((created, first), *((at, item.get("toString") or "") for at, item in changes))


def _simple(value: Any) -> Any:
    """Option objects to their value, so policies see ``"Gold"``, not ``{"value": "Gold"}``."""
    if isinstance(value, dict) and "value" in value:
        return value["value"]
    if isinstance(value, list):
        return [_simple(v) for v in value]
    return value
