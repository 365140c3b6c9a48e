"""Zendesk Support: read a ticket into a :class:`Ticket`, write a tier move back in one PUT."""

from __future__ import annotations

import copy
import email.utils
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import chain, islice
from typing import Any
from urllib.parse import urlsplit

from connector.errors import AuthError, HelpdeskError, Misdirected, Rejected, raise_for_status
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

PLATFORM = "zendesk"
DONE = frozenset({"solved", "closed"})
ORGANIZATION_TTL = 300.0
MAX_PAGES = 60  # 100 per page: Zendesk caps a ticket at 5,000 comments
NEEDS = frozenset({"comments", "history"})  # what fetch() can add to the ticket itself
COMMENT_EVENTS = frozenset({"Comment", "VoiceComment"})  # audit events that are comments
# The Search API answers 100 results a page and 1,000 a query (page 11 is refused with 422):
# https://developer.zendesk.com/api-reference/ticketing/ticket-management/search/
SEARCH_PAGES = 10
SEARCH_LIMIT = 1000
# How far past our clock a sweep's search looks: the helpdesk's clock may be ahead of ours.
SEARCH_SKEW = timedelta(hours=1)
SEARCH_KEYS = {"requester": "requester_id", "organization": "organization_id"}
ID = re.compile(r"[0-9]+")  # Zendesk ids, the only refs a URL is built from
SLA_UNITS = (("minutes", 60), ("hours", 3600), ("days", 86400))  # an SLA target's length


# Ticket versions whose comments and history a worker process keeps, and how long after a
# version's ``updated_at`` (whole seconds) a read must come to be kept: a change within the
# same second would not change the version.
VERSIONS_KEPT = 2048
SETTLED = timedelta(seconds=2)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


class VersionCache:
    """A bounded LRU of what was read about one version of a ticket (a version's comments and
    history never change), so that re-evaluating an unchanged ticket reads the ticket alone."""

    def __init__(self, size: int = VERSIONS_KEPT) -> None:
        self._size = size
        self._items: OrderedDict[Hashable, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> dict[str, Any] | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: Hashable, value: dict[str, Any]) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


class ZendeskConnector:
    """Talks to one Zendesk account through an :class:`ApiSession`.

    ``tier_groups`` maps each tier to the Zendesk group that works it; a ticket in any other group
    (or none) is in the ladder's default tier. ``route_groups`` maps specialist teams (routes)
    to their groups.
    """

    platform = PLATFORM

    def __init__(self, api: ApiSession, tier_groups: Mapping[str, int], ladder: TierLadder,
                 route_groups: Mapping[str, int] | None = None):
        self.api = api
        self.ladder = ladder
        self.tier_groups = dict(tier_groups)
        self.route_groups = dict(route_groups or {})
        self._tier_of_group = {str(group): tier for tier, group in self.tier_groups.items()}
        self._route_of_group = {str(group): r for r, group in self.route_groups.items()}
        self._me: str | None = None
        self._organizations: dict[str, tuple[float, Organization]] = {}
        self._export_refused = False  # the export answered 403: the sweep searches instead
        self.search_page_size = 100  # smaller in tests
        self.search_limit = SEARCH_LIMIT
        self.versions = VersionCache()

    def tier_of_group(self, group_id: object) -> str:
        return self._tier_of_group.get(str(group_id), self.ladder.default)

    def whoami(self) -> str:
        """The user id of our API user, asked once: its changes are our own."""
        if self._me is None:
            response = self.api.get("/api/v2/users/me.json")
            raise_for_status(response, "users/me")
            self._me = str(response.json()["user"]["id"])
        return self._me

    def fetch(self, ref: str, *, needs: frozenset[str] = NEEDS, reuse: bool = False) -> Ticket:
        """The ticket as it is now; ``needs`` says which extra reads policies asked for.

        Comments and history come from one read, the ticket's audits (:meth:`_trail`). They
        are kept per version (once settled, see ``SETTLED``) in
        :attr:`versions`; with ``reuse`` (nothing reported a change) those of the version the
        ticket read shows are taken from there: an unchanged ticket costs one read.
        Raises :class:`Misdirected` when the answer is about another ticket than ``ref``.
        """
        if not ID.fullmatch(ref):
            raise Misdirected(f"ticket {ref!r} is not a Zendesk ticket id")
        params = {"include": "slas"} if "platform_sla" in needs else {}
        response = self.api.get(f"/api/v2/tickets/{ref}.json", **params)
        raise_for_status(response, f"ticket {ref}")
        raw = response.json()["ticket"]
        if str(raw.get("id")) != ref:
            raise Misdirected(f"ticket {ref}: the helpdesk answered for ticket "
                              f"{raw.get('id')} when ticket {ref} was asked; nothing written")
        ticket = self.parse_ticket(raw)
        settled = _server_time(response) - ticket.updated_at >= SETTLED
        if "platform_sla" in needs:
            ticket = replace(ticket, platform_deadlines=tuple(_slas(raw)))
        if needs & {"comments", "history"}:
            trail = self._of_version(ticket, "comments" in needs, settled, reuse)
            for part in ("comments", "history"):
                if part in needs:
                    ticket = replace(ticket, **trail[part])
        if "organization" in needs and ticket.organization_id:
            ticket = replace(ticket, organization=self._organization(ticket.organization_id))
        return ticket

    def _of_version(self, ticket: Ticket, comments: bool, settled: bool,
                    reuse: bool) -> dict[str, dict]:
        """:meth:`_trail`, or (``reuse``) what it gave for this version of the ticket before."""
        key = (PLATFORM, ticket.ref, ticket.version)
        found = self.versions.get(key) if reuse else None
        if found is None or (comments and found["comments"] is None):
            found = self._trail(ticket, comments=comments)
            if settled:
                self.versions.put(key, found)
        return found

    def _organization(self, org_id: str) -> Organization:
        """The organization, cached for a few minutes: it rarely changes, tickets come often."""
        cached = self._organizations.get(org_id)
        if cached is not None and time.monotonic() - cached[0] < ORGANIZATION_TTL:
            return cached[1]
        if not ID.fullmatch(org_id):
            raise Misdirected(f"organization {org_id!r} is not a Zendesk organization id")
        response = self.api.get(f"/api/v2/organizations/{org_id}.json")
        raise_for_status(response, f"organization {org_id}")
        raw = response.json()["organization"]
        organization = Organization(id=str(raw["id"]), name=raw.get("name") or "",
                                    tags=tuple(raw.get("tags") or ()),
                                    fields=dict(raw.get("organization_fields") or {}))
        self._organizations[org_id] = (time.monotonic(), organization)
        return organization

    def parse_ticket(self, raw: Mapping[str, Any]) -> Ticket:
        return Ticket(
            platform=PLATFORM,
            ref=str(raw["id"]),
            subject=raw.get("subject") or "",
            status=raw.get("status") or "",
            priority=Priority.parse(raw.get("priority")),
            tier=self.tier_of_group(raw.get("group_id")),
            tags=tuple(raw.get("tags") or ()),
            requester_id=_str_or_none(raw.get("requester_id")),
            assignee_id=_str_or_none(raw.get("assignee_id")),
            organization_id=_str_or_none(raw.get("organization_id")),
            channel=(raw.get("via") or {}).get("channel"),
            created_at=parse_time(raw["created_at"]),
            updated_at=parse_time(raw["updated_at"]),
            version=raw["updated_at"],
            custom_fields={str(f["id"]): f.get("value") for f in raw.get("custom_fields") or ()},
            form=_str_or_none(raw.get("ticket_form_id")),
            channel_detail=((raw.get("via") or {}).get("source") or {}).get("rel"),
            route=self._route_of_group.get(str(raw.get("group_id"))),
            followers=tuple(str(f) for f in raw.get("follower_ids") or ()),
        )

    def _trail(self, ticket: Ticket, *, comments: bool) -> dict[str, dict | None]:
        """What the ticket's audits (List Audits for a Ticket, users side-loaded) say, as
        :class:`Ticket` fields.

        ``comments``: every comment (``Comment`` and ``VoiceComment`` events: id, author,
        public flag and body, at their audit's time; a later ``CommentPrivacyChange`` makes one
        private), oldest first, and the requester's ``locale`` (the side-loaded users: the
        helpdesk's own word on the customer's language). ``history``: group changes as tier
        changes and team (route) changes, each starting with the group the ticket was created
        in; how often it was reopened (solved or closed, then open again); status and priority
        changes. Without ``comments`` (history alone), ``comments`` is ``None``.
        """
        me = self.whoami() if comments else ""
        said: dict[str, Comment] = {}
        locale = None
        changes: list[TierChange] = []
        routes: list[tuple[datetime, str | None]] = []
        statuses: list[tuple] = []
        priorities: list[tuple[datetime, Priority | None]] = []
        reopens = 0
        path = f"/api/v2/tickets/{ticket.ref}/audits.json"
        for page in self._pages(path, {"include": "users"}, what=f"audits of ticket {ticket.ref}"):
            users = {str(u["id"]): u for u in page.get("users") or ()}
            locale = locale or (users.get(str(ticket.requester_id)) or {}).get("locale")
            for audit in page.get("audits") or ():
                at = parse_time(audit["created_at"])
                for event in audit.get("events") or ():
                    kind = event.get("type")
                    if kind in COMMENT_EVENTS:
                        author = str(event.get("author_id"))
                        said[str(event["id"])] = Comment(
                            id=str(event["id"]),
                            author_id=author,
                            author_role=_role(author, (users.get(author) or {}).get("role"),
                                              ticket.requester_id, me),
                            public=bool(event.get("public")),
                            body=event.get("plain_body") or event.get("body") or "",
                            created_at=at,
                        )
                        continue
                    if kind == "CommentPrivacyChange":
                        made = said.get(str(event.get("comment_id")))
                        if made is not None:
                            said[made.id] = replace(made, public=bool(event.get("public")))
                        continue
                    field_name = event.get("field_name")
                    if field_name == "status" and event.get("value"):
                        statuses.append((at, str(event["value"])))
                    if field_name == "status" and kind == "Change" and \
                            event.get("previous_value") in DONE and \
                            event.get("value") not in DONE:
                        reopens += 1
                    if field_name == "priority":
                        if not priorities and at > ticket.created_at:
                            priorities.append((ticket.created_at,
                                               Priority.parse(event.get("previous_value"))))
                        priorities.append((at, Priority.parse(event.get("value"))))
                    if field_name != "group_id":
                        continue
                    if not changes and at > ticket.created_at:
                        changes.append(TierChange(ticket.created_at, self.ladder.default))
                        routes.append((ticket.created_at, self._route_of_group.get(
                            str(event.get("previous_value")))))
                    changes.append(TierChange(at, self.tier_of_group(event.get("value"))))
                    routes.append((at, self._route_of_group.get(str(event.get("value")))))
        return {
            "comments": {"comments": tuple(said.values()), "locale": locale} if comments
            else None,
            "history": {
                "tier_history": tuple(changes or [TierChange(ticket.created_at, ticket.tier)]),
                "reopens": reopens, "status_history": tuple(statuses),
                "route_history": tuple(routes or [(ticket.created_at, ticket.route)]),
                "priority_history": tuple(priorities or [(ticket.created_at, ticket.priority)])},
        }

    def recently_updated(self, since: datetime, *,
                         open_only: bool = True) -> Iterator[tuple[str, str]]:
        """``(ticket id, updated_at)`` of tickets updated since ``since``: open ones for the
        reconciliation sweep, solved and closed ones too with ``open_only=False`` (the
        backtest); never deleted ones.

        Read from the incremental export, which is "Allowed For: Admins"
        (https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/);
        once it answers 403 (an agent bot), from the Search API for the rest of the process's
        life (:meth:`_search_updated`).
        """
        if not self._export_refused:
            try:
                yield from self._exported(since, open_only)
                return
            except AuthError as exc:
                if exc.status != 403:
                    raise
                self._export_refused = True
                log.warning("zendesk: the incremental ticket export answered 403 (it is for "
                            "admins; the API user is not one): sweeping through the Search API "
                            "from now on")
        yield from self._search_updated(since, open_only)

    def _exported(self, since: datetime, open_only: bool) -> Iterator[tuple[str, str]]:
        """The incremental ticket export (cursor paging) from ``since``."""
        params = {"start_time": int(since.timestamp())}
        what = "incremental ticket export"
        for page in self._pages("/api/v2/incremental/tickets/cursor.json", params, what=what):
            for raw in page.get("tickets") or ():
                status = raw.get("status")
                if status != "deleted" and not (open_only and status in DONE) and \
                        raw.get("updated_at"):
                    yield str(raw["id"]), raw["updated_at"]

    def _search_updated(self, since: datetime, open_only: bool) -> Iterator[tuple[str, str]]:
        """Tickets updated since ``since`` through the Search API, any role may search
        (https://developer.zendesk.com/api-reference/ticketing/ticket-management/search/).

        A query pages by ``next_page`` and reaches at most its first 1,000 results, so the
        time since ``since`` is cut into windows ``updated>A updated<B`` (UTC, ISO 8601 to the
        second, as "Searching by date and time" in the Zendesk Support search reference,
        https://support.zendesk.com/hc/en-us/articles/4408886879258, allows), oldest first,
        each sorted by ``updated_at``; a window holding more than the limit is halved first.
        ``status<solved`` (the reference's own example) leaves solved and closed ones out.
        """
        start = since.astimezone(UTC).replace(microsecond=0)
        end = (datetime.now(UTC) + SEARCH_SKEW).replace(microsecond=0) + timedelta(seconds=1)
        windows = [(start, end)]  # [from, to): "updated>" is exclusive, so ask from - 1 s
        seen: set[tuple[str, str]] = set()  # offset paging may repeat a result
        pages_per_query = -(-self.search_limit // self.search_page_size)
        while windows:
            low, high = windows.pop(0)
            query = (f"type:ticket updated>{_search_time(low - timedelta(seconds=1))} "
                     f"updated<{_search_time(high)}" + (" status<solved" if open_only else ""))
            params = {"query": query, "sort_by": "updated_at", "sort_order": "asc",
                      "per_page": self.search_page_size}
            pages = self._pages("/api/v2/search.json", params,
                                what=f"search for tickets updated {low:%Y-%m-%dT%H:%M:%S}Z "
                                     f"to {high:%Y-%m-%dT%H:%M:%S}Z")
            first = next(pages)
            count = first.get("count") or 0
            if count > self.search_limit:
                if high - low > timedelta(seconds=1):
                    middle = low + timedelta(seconds=(high - low).total_seconds() // 2)
                    windows[:0] = [(low, middle), (middle, high)]
                    pages.close()
                    continue
                log.warning("zendesk: %d tickets updated within one second (%s); the search "
                            "reaches %d of them", count, _search_time(low), self.search_limit)
            for page in chain((first,), islice(pages, pages_per_query - 1)):
                for raw in page.get("results") or ():
                    found = (str(raw.get("id")), raw.get("updated_at"))
                    if raw.get("result_type") == "ticket" and found[1] and found not in seen \
                            and not (open_only and raw.get("status") in DONE):
                        seen.add(found)
                        yield found
            pages.close()

    def tickets_of(self, kind: str, ident: str, since: datetime) -> list[TicketSummary]:
        """The tickets of a ``"requester"`` or an ``"organization"`` created since ``since``,
        newest first, read through the Search API (``type:ticket requester_id:… created>…``,
        offset paging by ``next_page``, at most its 1,000 results). The query counts in whole
        days, so it asks from the day before and the tickets are filtered here.
        """
        if not ident.isdigit():  # Zendesk ids are numbers; anything else would change the query
            return []
        day = (since - timedelta(days=1)).astimezone(UTC).date().isoformat()
        params = {"query": f"type:ticket {SEARCH_KEYS[kind]}:{ident} created>{day}",
                  "sort_by": "created_at", "sort_order": "desc", "per_page": 100}
        pages = self._pages("/api/v2/search.json", params, what=f"search for tickets of {kind} "
                            f"{ident}")
        found = [_summary(raw) for page in islice(pages, SEARCH_PAGES)
                 for raw in page.get("results") or () if raw.get("result_type") == "ticket"]
        return [summary for summary in found if summary.created_at >= since]

    def _pages(self, path: str, params: dict, *, what: str) -> Iterator[dict]:
        """Follow cursor (``meta.has_more`` + ``links.next``) or offset (``next_page``) paging.

        A next-page link is followed only when it is the same listing on the configured
        helpdesk; any other raises :class:`Misdirected` (credentials never go to a host named
        in a response body, nor to another path on ours).
        """
        url: str | None = path
        for _ in range(MAX_PAGES):
            if url is None:
                return
            if url == path:
                response = self.api.get(path, **params)
            else:
                response = self.api.get(self._next_page(url, path, what))
            raise_for_status(response, what)
            page = response.json()
            yield page
            meta = page.get("meta") or {}
            if "has_more" in meta:
                url = (page.get("links") or {}).get("next") if meta["has_more"] else None
            elif "after_url" in page:  # incremental export
                url = None if page.get("end_of_stream") else page.get("after_url")
            else:
                url = page.get("next_page")
        raise HelpdeskError(f"{what}: more than {MAX_PAGES} pages")

    def _next_page(self, url: str, path: str, what: str) -> str:
        """``url`` (a next-page link) as a path on our base URL, if it is a page of ``path``."""
        base, parts = urlsplit(self.api.base_url), urlsplit(url)
        if (parts.scheme, parts.netloc.lower(), parts.path) != \
                (base.scheme, base.netloc.lower(), base.path + path):
            raise Misdirected(f"{what}: next page {url!r} is not on {self.api.base_url}{path}; "
                              "not followed")
        return f"{path}?{parts.query}" if parts.query else path

    def escalate(self, ticket: Ticket, write: TierWrite) -> WriteResult:
        """Move the ticket to ``write.tier`` in one safe-update PUT, with an internal note.

        Raises :class:`Conflict` when the ticket changed since ``ticket`` was read. A 422 about
        the assignee (not a member of the target group) is retried once with the assignee cleared.
        """
        path = f"/api/v2/tickets/{ticket.ref}.json"
        tags = list(dict.fromkeys((*ticket.tags, *write.add_tags)))
        fields: dict[str, Any] = {"tags": tags}
        if write.route is not None:
            if write.route not in self.route_groups:
                raise Rejected(f"ticket {ticket.ref}: route {write.route!r} has no group in "
                               "[zendesk.route_groups]")
            fields["group_id"] = self.route_groups[write.route]
        elif write.tier is not None:
            fields["group_id"] = self.tier_groups[write.tier]
        if write.priority is not None:
            fields["priority"] = write.priority.name.lower()
        if write.add_followers:  # "Setting followers": an agent by user_id or user_email
            fields["followers"] = [{"user_id": int(f), "action": "put"} if f.isdigit() else
                                   {"user_email": f, "action": "put"}
                                   for f in write.add_followers]
        fields["comment"] = {"body": write.internal_note, "public": False}
        fields["safe_update"] = True
        fields["updated_stamp"] = ticket.version
        body = {"ticket": fields}
        response = self.api.request("PUT", path, json=body)
        sent = [SentRequest("PUT", path, body, response.status_code)]
        cleared = response.status_code == 422 and _about_assignee(response) and \
            ticket.assignee_id is not None
        if cleared:
            body = copy.deepcopy(body)
            body["ticket"]["assignee_id"] = None
            response = self.api.request("PUT", path, json=body)
            sent.append(SentRequest("PUT", path, body, response.status_code))
        raise_for_status(response, f"update of ticket {ticket.ref}")
        if write.public_reply:
            sent.append(self._public_reply(path, write.public_reply, response))
        return WriteResult(tuple(sent), assignee_cleared=cleared)

    def _public_reply(self, path: str, reply: str, written) -> SentRequest:
        """The courtesy reply to the customer, a second update on top of the one just made (a
        Zendesk update carries one comment). Best effort: a failure is logged, not retried,
        so the customer never gets it twice."""
        stamp = (written.json().get("ticket") or {}).get("updated_at")
        body = {"ticket": {"comment": {"body": reply, "public": True},
                           **({"safe_update": True, "updated_stamp": stamp} if stamp else {})}}
        try:
            response = self.api.request("PUT", path, json=body)
        except HelpdeskError as exc:
            log.warning("public reply on %s not sent: %s", path, exc)
            return SentRequest("PUT", path, body, exc.status or 0)
        if response.status_code >= 400:
            log.warning("public reply on %s refused: HTTP %s", path, response.status_code)
        return SentRequest("PUT", path, body, response.status_code)


def _server_time(response) -> datetime:
    """When the helpdesk answered (its ``Date`` header), else now by our clock."""
    try:
        when = email.utils.parsedate_to_datetime(response.headers["Date"])
    except (KeyError, TypeError, ValueError):
        return datetime.now(UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)  # "-0000": UTC, no zone given


def _search_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _summary(raw: Mapping[str, Any]) -> TicketSummary:
    """A search result as an earlier ticket (``description`` is the first comment's text)."""
    return TicketSummary(
        platform=PLATFORM, ref=str(raw["id"]), subject=raw.get("subject") or "",
        description=raw.get("description") or "", tags=tuple(raw.get("tags") or ()),
        form=_str_or_none(raw.get("ticket_form_id")),
        requester_id=_str_or_none(raw.get("requester_id")),
        organization_id=_str_or_none(raw.get("organization_id")),
        created_at=parse_time(raw["created_at"]), status=raw.get("status") or "")


def _slas(raw: Mapping[str, Any]) -> Iterator[PlatformDeadline]:
    """Active SLA targets of the ticket's Zendesk SLA policy (``include=slas``)."""
    for metric in ((raw.get("slas") or {}).get("policy_metrics") or ()):
        if metric.get("stage") not in ("active", "paused"):
            continue  # "achieved" targets are met
        due = metric.get("breach_at")
        length = next((metric[unit] * seconds for unit, seconds in SLA_UNITS
                       if metric.get(unit)), None)
        yield PlatformDeadline(
            metric=str(metric.get("metric", "")),
            due_at=parse_time(due) if due and metric.get("stage") == "active" else None,
            goal_seconds=length)


def _role(author: str, role: str | None, requester: str | None, me: str) -> AuthorRole:
    if author == me:
        return AuthorRole.SELF
    if role is None:  # user not side-loaded: only the requester is known to be an end user
        return AuthorRole.CUSTOMER if author == requester else AuthorRole.AGENT
    return AuthorRole.CUSTOMER if role == "end-user" else AuthorRole.AGENT


def _about_assignee(response) -> bool:
    try:
        details = response.json().get("details") or {}
    except ValueError:
        return False
    return isinstance(details, dict) and "assignee" in details


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)

