"""A small Zendesk on loopback: the endpoints tierlift uses, with Zendesk's rules and failures.

It enforces ``safe_update`` (409), refuses an assignee outside the new group (422), sends
rate-limit headers, answers injected faults (429 with ``Retry-After``, 503, 409…), and, like
Zendesk, sends signed event webhooks when a ticket changes, including after tierlift's own write.
Used by ``tierlift demo`` and by the end-to-end tests.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import ClassVar
from urllib.parse import urlencode

from flask import Flask, request

from webhook_app.emulator.base import BaseEmulator, Recorded
from webhook_app.emulator.server import WebhookSender
from webhook_app.signatures import ZENDESK_SIGNATURE, ZENDESK_TIMESTAMP, zendesk_signature

BOT_ID = 900001
RATE_LIMIT = 700  # requests per minute, as Zendesk Enterprise allows


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


SEARCH_LIMIT = 1000  # results one search query can page through
# Cursor pages: "Most endpoints limit this to a maximum of 100"; offset pages hold 100 too,
# https://developer.zendesk.com/api-reference/introduction/pagination/
PAGE_SIZE = 100
FOLLOWER_ACTIONS = ("put", "delete")
_SEARCH_TERM = re.compile(r"(\w+)([:<>])(\S+)")


# Statuses in the order "status<solved" compares them (Zendesk Support search reference,
# https://support.zendesk.com/hc/en-us/articles/4408886879258).
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")


def _ticket_search(query: str) -> Callable[[dict], bool]:
    """A search query as a test on a ticket: ``type:ticket``, ``requester_id:``,
    ``organization_id:``, ``created`` or ``updated`` ``>``/``<`` a date (whole days, UTC) or a
    moment, and ``status<``/``status>`` a status."""
    tests: list[Callable[[dict], bool]] = []
    for term in query.split():
        match = _SEARCH_TERM.fullmatch(term)
        key, op, value = match.groups() if match else (term, "", "")
        if (key, op, value) == ("type", ":", "ticket"):
            continue
        if key in ("requester_id", "organization_id") and op == ":":
            tests.append(lambda t, key=key, value=value: str(t[key]) == value)
        elif key in ("created", "updated") and op in "<>":
            tests.append(lambda t, key=key, op=op, value=value: _when(t[f"{key}_at"], op, value))
        elif key == "status" and op in "<>" and value in STATUSES:
            tests.append(lambda t, op=op, value=value: _compare(
                STATUSES.index(t["status"]), op, STATUSES.index(value)))
        else:
            raise ValueError(f"the emulator does not search for {term!r}")
    return lambda ticket: all(test(ticket) for test in tests)


def _when(stamp: str, op: str, value: str) -> bool:
    moment = datetime.fromisoformat(stamp)
    if len(value) == 10:  # a date: on a later (earlier) day
        return _compare(moment.date().isoformat(), op, value)
    return _compare(moment, op, datetime.fromisoformat(value))


def _compare(mine, op: str, value) -> bool:
    return mine > value if op == ">" else mine < value


class ZendeskEmulator(BaseEmulator):
    """State and behaviour; :meth:`app` exposes it over HTTP. All methods are thread-safe."""

    rate_limit_headers = ("x-rate-limit", "x-rate-limit-remaining", "ratelimit-reset")
    search_limit = SEARCH_LIMIT  # results one query reaches (smaller in tests)
    page_size = PAGE_SIZE  # most records a comments or audits page holds (smaller in tests)
    export_page = 1000  # most tickets an incremental export page holds (smaller in tests)
    unauthorized_body: ClassVar[dict] = {"error": "Couldn't authenticate you"}
    rate_limited_body: ClassVar[dict] = {"error": "TooManyRequests"}
    fault_body: ClassVar[dict] = {"error": "EmulatedFault"}

    def __init__(self, *, email: str = "bot@acme.example", api_token: str = "emulator-token",
                 account_id: int = 12514403, rate_limit: int = RATE_LIMIT,
                 role: str = "admin") -> None:
        super().__init__(rate_limit=rate_limit)
        self.email = email
        self.api_token = api_token
        self.account_id = account_id
        self.tickets: dict[int, dict] = {}
        self.comments: dict[int, list[dict]] = {}
        self.audits: dict[int, list[dict]] = {}
        self.users: dict[int, dict] = {BOT_ID: {"id": BOT_ID, "name": "tierlift bot",
                                                "role": role, "email": email}}
        self.memberships: dict[int, set[int]] = {}
        self.groups: dict[int, dict] = {}
        self.organizations: dict[int, dict] = {}
        self.slas: dict[int, list[dict]] = {}  # ticket id -> its SLA policy metrics
        self.webhook_secret: str | None = None
        self._clock = datetime.now(UTC).replace(microsecond=0)

    # -- setting the scene ------------------------------------------------------------------

    def user(self, user_id: int, name: str, role: str = "end-user", *, locale: str = "en-US",
             organization_id: int | None = None) -> int:
        with self._lock:
            self.users[user_id] = {"id": user_id, "name": name, "role": role,
                                   "email": f"{name.lower().replace(' ', '.')}@example.com",
                                   "locale": locale, "organization_id": organization_id}
            return user_id

    def group(self, group_id: int, *members: int, name: str | None = None,
              deleted: bool = False) -> int:
        """A group (``deleted``: Zendesk keeps a deleted group, marked so) and its members."""
        with self._lock:
            self.memberships.setdefault(group_id, set()).update(members)
            stamp = _iso(self._clock)
            self.groups[group_id] = {
                "url": f"https://emulator.zendesk.com/api/v2/groups/{group_id}.json",
                "id": group_id, "name": name or f"Group {group_id}", "description": "",
                "default": False, "deleted": deleted, "is_public": True,
                "created_at": stamp, "updated_at": stamp}
            return group_id

    def organization(self, org_id: int, name: str, *, tags: tuple[str, ...] = (),
                     fields: dict | None = None) -> int:
        with self._lock:
            self.organizations[org_id] = {"id": org_id, "name": name, "tags": list(tags),
                                          "organization_fields": dict(fields or {}),
                                          "domain_names": [], "group_id": None}
            return org_id

    def create_ticket(self, *, subject: str, description: str, requester_id: int,
                      group_id: int | None, assignee_id: int | None = None,
                      priority: str | None = "normal", tags: list[str] | None = None,
                      channel: str = "email", channel_rel: str | None = None,
                      organization_id: int | None = None, form_id: int | None = None,
                      custom_fields: dict[int, object] | None = None,
                      ticket_id: int | None = None, status: str = "new",
                      at: datetime | None = None, notify: bool = True) -> int:
        """A new ticket; ``at``: created at that (past) moment instead of now."""
        with self._lock:
            ticket_id = ticket_id or next(self._ids)
            now = self._tick(at)
            self.tickets[ticket_id] = {
                "url": f"https://emulator.zendesk.com/api/v2/tickets/{ticket_id}.json",
                "id": ticket_id, "external_id": None,
                "via": {"channel": channel, "source": {"from": {}, "to": {},
                                                       "rel": channel_rel}},
                "created_at": _iso(now), "updated_at": _iso(now), "type": None,
                "subject": subject, "raw_subject": subject, "description": description,
                "priority": priority, "status": status, "requester_id": requester_id,
                "submitter_id": requester_id, "assignee_id": assignee_id,
                "organization_id": organization_id, "group_id": group_id,
                "tags": list(tags or []), "ticket_form_id": form_id, "is_public": True,
                "custom_fields": [{"id": k, "value": v}
                                  for k, v in (custom_fields or {}).items()],
                "follower_ids": [],
            }
            self.comments[ticket_id] = []
            self.audits[ticket_id] = []
            events = [{"type": "Create", "field_name": "group_id",
                       "value": None if group_id is None else str(group_id)},
                      {"type": "Create", "field_name": "status", "value": status}]
            self._comment(ticket_id, requester_id, description, public=True, at=now,
                          extra_events=events)
            if notify:
                self._emit("created", self.tickets[ticket_id], requester_id)
            return ticket_id

    # Scene helpers take ``at`` to backdate the change (comment, audit, updated_at) to a past
    # moment; without it the change happens now.

    def customer_comment(self, ticket_id: int, body: str, *, at: datetime | None = None,
                         notify: bool = True) -> None:
        """The requester writes; Zendesk reopens the ticket and fires ``comment_added``."""
        self._update_as(ticket_id, self.tickets[ticket_id]["requester_id"],
                        comment=(body, True), at=at, notify=notify)

    def agent_note(self, ticket_id: int, agent_id: int, body: str, *, public: bool = False,
                   at: datetime | None = None, notify: bool = True) -> None:
        self._update_as(ticket_id, agent_id, comment=(body, public), at=at, notify=notify)

    def agent_solves(self, ticket_id: int, agent_id: int, *, at: datetime | None = None,
                     notify: bool = True) -> None:
        """An agent marks the ticket solved (the customer's next comment reopens it)."""
        self._update_as(ticket_id, agent_id, status="solved", at=at, notify=notify)

    def agent_sets_status(self, ticket_id: int, agent_id: int, status: str, *,
                          at: datetime | None = None, notify: bool = True) -> None:
        """An agent changes the status (open, pending, hold, solved, closed)."""
        self._update_as(ticket_id, agent_id, status=status, at=at, notify=notify)

    def agent_moves(self, ticket_id: int, agent_id: int, group_id: int, *,
                    at: datetime | None = None, notify: bool = True) -> None:
        """An agent puts the ticket in another group (back down to tier 1, or a team's)."""
        self._update_as(ticket_id, agent_id, group_id=group_id, at=at, notify=notify)

    def sla_metric(self, ticket_id: int, metric: str, *, breach_at: datetime | None,
                   stage: str = "active", minutes: int | None = None) -> None:
        """A target of the SLA policy applied to the ticket, as ``include=slas`` shows it:
        ``metric`` (first_reply_time, next_reply_time, requester_wait_time…), ``stage``
        (active, paused, achieved), ``breach_at`` (null while paused) and the target's length
        (``minutes``, given as ``days`` or ``hours`` when whole)."""
        if stage not in ("active", "paused", "achieved"):
            raise ValueError(f"no SLA stage {stage!r}")
        entry: dict = {"breach_at": None if breach_at is None or stage == "paused"
                       else _iso(breach_at.astimezone(UTC)), "stage": stage, "metric": metric}
        if minutes is not None:
            unit, size = next((u, n) for u, n in (("days", 1440), ("hours", 60),
                                                   ("minutes", 1)) if minutes % n == 0)
            entry[unit] = minutes // size
        with self._lock:
            self.slas.setdefault(ticket_id, []).append(entry)

    def announce(self, ticket_id: int, kind: str = "comment_added",
                 actor: int | None = None) -> None:
        """Send the signed event webhook for the ticket as it is now (default actor: the
        requester), e.g. for a scene built with ``notify=False``."""
        with self._lock:
            ticket = self.tickets[ticket_id]
            self._emit(kind, ticket, ticket["requester_id"] if actor is None else actor)

    def send_webhooks_to(self, url: str, secret: str) -> None:
        self.sender = WebhookSender(url)
        self.webhook_secret = secret

    def writes(self, ticket_id: int | None = None) -> list[Recorded]:
        """Successful ticket updates (PUTs answered 200), optionally for one ticket."""
        suffix = f"/api/v2/tickets/{ticket_id}.json" if ticket_id is not None else ".json"
        return [r for r in list(self.requests)
                if r.method == "PUT" and r.status == 200 and r.path.endswith(suffix)]

    # -- behaviour shared by the HTTP API and the scene helpers -----------------------------

    def _tick(self, at: datetime | None = None) -> datetime:
        # Zendesk timestamps have one-second resolution; every change gets a later stamp so
        # that safe_update can tell versions apart. A backdated scene change keeps its own
        # time and never moves the clock back: later live changes still get later stamps.
        if at is not None:
            at = at.astimezone(UTC).replace(microsecond=0)
            self._clock = max(self._clock, at)
            return at
        self._clock = max(self._clock + timedelta(seconds=1),
                          datetime.now(UTC).replace(microsecond=0))
        return self._clock

    def _comment(self, ticket_id: int, author_id: int, body: str, *, public: bool,
                 at: datetime, extra_events: list[dict] | None = None) -> dict:
        comment = {"id": next(self._ids), "type": "Comment", "author_id": author_id,
                   "body": body, "html_body": f"<p>{body}</p>", "plain_body": body,
                   "public": public, "attachments": [], "created_at": _iso(at),
                   "via": {"channel": "web", "source": {"from": {}, "to": {}, "rel": None}}}
        self.comments[ticket_id].append(comment)
        events = [{"id": comment["id"], "type": "Comment", "author_id": author_id, "body": body,
                   "plain_body": body, "public": public, "attachments": []}]
        self._audit(ticket_id, author_id, at, events + (extra_events or []))
        return comment

    def _audit(self, ticket_id: int, author_id: int, at: datetime, events: list[dict]) -> None:
        audit_id = next(self._ids)
        for event in events:
            event.setdefault("id", next(self._ids))
        self.audits[ticket_id].append({"id": audit_id, "ticket_id": ticket_id,
                                       "created_at": _iso(at), "author_id": author_id,
                                       "metadata": {"system": {}, "custom": {}},
                                       "events": events})

    def _update_as(self, ticket_id: int, actor: int, *, comment: tuple[str, bool] | None = None,
                   group_id: int | None = None, status: str | None = None,
                   at: datetime | None = None, notify: bool) -> None:
        with self._lock:
            ticket = self.tickets[ticket_id]
            now = self._tick(at)
            changes: list[dict] = []
            kinds: list[str] = []
            if status is not None and status != ticket["status"]:
                changes.append({"type": "Change", "field_name": "status",
                                "previous_value": ticket["status"], "value": status})
                ticket["status"] = status
                kinds.append("status_changed")
            if group_id is not None and group_id != ticket["group_id"]:
                changes.append({"type": "Change", "field_name": "group_id",
                                "previous_value": str(ticket["group_id"]),
                                "value": str(group_id)})
                ticket["group_id"] = group_id
                kinds.append("group_assignment_changed")
            if comment is not None:
                body, public = comment
                if actor == ticket["requester_id"] and ticket["status"] in ("pending", "hold",
                                                                             "solved"):
                    changes.append({"type": "Change", "field_name": "status",
                                    "previous_value": ticket["status"], "value": "open"})
                    ticket["status"] = "open"
                self._comment(ticket_id, actor, body, public=public, at=now,
                              extra_events=changes)
                kinds.append("comment_added")
            elif changes:
                self._audit(ticket_id, actor, now, changes)
            ticket["updated_at"] = max(ticket["updated_at"], _iso(now))
            if notify:
                for kind in kinds:
                    self._emit(kind, ticket, actor)

    def _emit(self, kind: str, ticket: dict, actor: int) -> None:
        if self.sender is None:
            return
        detail = {k: (None if ticket[k] is None else str(ticket[k])) for k in
                  ("id", "group_id", "assignee_id", "requester_id", "organization_id")}
        detail.update(status=ticket["status"].upper(), subject=ticket["subject"],
                      tags=list(ticket["tags"]), priority=(ticket["priority"] or "").upper(),
                      updated_at=ticket["updated_at"], created_at=ticket["created_at"],
                      actor_id=str(actor), via={"channel": ticket["via"]["channel"]})
        event = {"type": f"zen:event-type:ticket.{kind}", "account_id": self.account_id,
                 "id": str(uuid.uuid4()), "time": ticket["updated_at"],
                 "zendesk_event_version": "2022-11-06", "subject": f"zen:ticket:{ticket['id']}",
                 "detail": detail, "event": {}}
        self.sender.send(json.dumps(event).encode(), self._sign)

    def _sign(self, body: bytes) -> dict[str, str]:
        timestamp = _iso(datetime.now(UTC))
        return {"Content-Type": "application/json",
                ZENDESK_TIMESTAMP: timestamp,
                ZENDESK_SIGNATURE: zendesk_signature(self.webhook_secret or "", timestamp, body),
                "X-Zendesk-Webhook-Id": "01EMULATORWEBHOOK0000000000",
                "X-Zendesk-Webhook-Invocation-Id": str(uuid.uuid4())}

    # -- HTTP -------------------------------------------------------------------------------

    def _routes(self, app: Flask) -> None:
        emulator = self

        @app.get("/api/v2/users/me.json")
        def me():
            """The authenticated user, with its ``role`` (end-user, agent or admin),
            https://developer.zendesk.com/api-reference/ticketing/users/users/#show-the-currently-authenticated-user."""
            return emulator._reply(200, {"user": emulator.users[BOT_ID]})

        @app.get("/api/v2/incremental/tickets/cursor.json")
        def incremental():
            """Incremental exports are "Allowed For: Admins",
            https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/:
            an agent gets 403. Cursor-based: ``per_page`` tickets (at most 1,000,
            ``export_page`` here) a page, the next by ``cursor`` from ``after_url``/
            ``after_cursor`` until ``end_of_stream``."""
            if emulator.users[BOT_ID]["role"] != "admin":
                return emulator._forbidden()
            since = request.args.get("start_time", 0, type=int)
            start = int(request.args.get("cursor") or 0)
            size = min(max(request.args.get("per_page", 1000, type=int), 1),
                       emulator.export_page)
            with emulator._lock:
                changed = sorted((t for t in emulator.tickets.values()
                                  if datetime.fromisoformat(t["updated_at"]).timestamp() >= since),
                                 key=lambda t: (t["updated_at"], t["id"]))
            end = start + size >= len(changed)
            after = None if end else str(start + size)
            return emulator._reply(200, {
                "tickets": [dict(t) for t in changed[start:start + size]],
                "after_cursor": after, "before_cursor": str(start) if start else None,
                "after_url": None if end else
                f"{request.base_url}?{urlencode({'cursor': after, 'per_page': size})}",
                "before_url": None, "end_of_stream": end})

        @app.get("/api/v2/groups.json")
        @app.get("/api/v2/groups/assignable.json")
        def groups():
            """List Groups and List Assignable Groups ("Allowed For: Admins, Agents"; deleted
            groups are listed, marked ``deleted``, unless ``exclude_deleted``; assignable ones
            never are), https://developer.zendesk.com/api-reference/ticketing/groups/groups/.
            Paged as https://developer.zendesk.com/api-reference/introduction/pagination/
            says: ``page[size]`` (at most 100) and ``page[after]`` give cursor pages
            (``meta.has_more``, ``links.next``); without them, offset pages of 100
            (``next_page``, ``count``)."""
            if emulator.users[BOT_ID]["role"] not in ("admin", "agent"):
                return emulator._forbidden()
            hide = request.path.endswith("assignable.json") or \
                request.args.get("exclude_deleted") == "true"
            with emulator._lock:
                listed = [dict(g) for _, g in sorted(emulator.groups.items())
                          if not (hide and g["deleted"])]
            return emulator._reply(200, emulator._listing("groups", listed, PAGE_SIZE))

        @app.get("/api/v2/search.json")
        def search():
            """The Search API for tickets, as documented at
            https://developer.zendesk.com/api-reference/ticketing/ticket-management/search/:
            results with ``result_type``, sorted by ``sort_by``/``sort_order``, offset paging
            (``page``, ``per_page`` up to 100, ``next_page``), ``count`` the full total, and at
            most 1,000 results (``search_limit``; a page past them: 422). Any role may search.
            Zendesk indexes a new ticket within minutes, this at once; it knows the keywords
            tierlift sends (see :func:`_ticket_search`) and refuses others (400)."""
            try:
                matches = _ticket_search(request.args.get("query", ""))
            except ValueError as exc:
                return emulator._reply(400, {"error": "InvalidSearch", "description": str(exc)})
            page = request.args.get("page", 1, type=int)
            size = min(request.args.get("per_page", 100, type=int), 100)
            limit = emulator.search_limit
            if (page - 1) * size >= limit:
                return emulator._reply(422, {"error": "InsufficientResourceError",
                                             "description": "Search results are limited to "
                                                            f"{limit} per query"})
            order = request.args.get("sort_by", "created_at")
            with emulator._lock:
                found = sorted((t for t in emulator.tickets.values() if matches(t)),
                               key=lambda t: (t.get(order) or "", t["id"]),
                               reverse=request.args.get("sort_order") == "desc")
                shown = found[(page - 1) * size:page * size]
                more = page * size < min(len(found), limit)
                args = {**request.args, "page": page + 1}
                return emulator._reply(200, {
                    "results": [{**t, "result_type": "ticket"} for t in shown], "facets": None,
                    "next_page": f"{request.base_url}?{urlencode(args)}" if more else None,
                    "previous_page": None if page == 1 else
                    f"{request.base_url}?{urlencode({**args, 'page': page - 1})}",
                    "count": len(found)})

        @app.get("/api/v2/organizations/<int:org_id>.json")
        def organization(org_id: int):
            with emulator._lock:
                if org_id not in emulator.organizations:
                    return emulator._not_found()
                return emulator._reply(200, {"organization": emulator.organizations[org_id]})

        @app.get("/api/v2/tickets/<int:ticket_id>.json")
        def show(ticket_id: int):
            """Show Ticket, with ``follower_ids``; ``include=slas`` side-loads the ticket's SLA
            policy targets as ``slas.policy_metrics`` (``breach_at``, ``stage``, ``metric``
            and the target's ``days``/``hours``/``minutes``),
            https://developer.zendesk.com/documentation/ticketing/using-the-zendesk-api/side_loading/
            and https://developer.zendesk.com/api-reference/ticketing/business-rules/sla_policies/."""
            with emulator._lock:
                if ticket_id not in emulator.tickets:
                    return emulator._not_found()
                ticket = dict(emulator.tickets[ticket_id])
                ticket["follower_ids"] = list(ticket["follower_ids"])
                if "slas" in request.args.get("include", "").split(","):
                    ticket["slas"] = {"policy_metrics": [
                        dict(m) for m in emulator.slas.get(ticket_id, ())]}
                return emulator._reply(200, {"ticket": ticket})

        @app.get("/api/v2/tickets/<int:ticket_id>/comments.json")
        def comments(ticket_id: int):
            """List Comments, oldest first, cursor or offset pages of at most ``page_size``
            (100 on Zendesk); ``include=users`` side-loads the authors of the page's comments,
            https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_comments/#list-comments."""
            with emulator._lock:
                if ticket_id not in emulator.tickets:
                    return emulator._not_found()
                body = emulator._listing("comments", list(emulator.comments[ticket_id]),
                                         emulator.page_size)
                if "users" in request.args.get("include", "").split(","):
                    ids = {c["author_id"] for c in body["comments"]}
                    body["users"] = [emulator.users[i] for i in sorted(ids)
                                     if i in emulator.users]
                return emulator._reply(200, body)

        @app.get("/api/v2/tickets/<int:ticket_id>/audits.json")
        def audits(ticket_id: int):
            """List Audits for a Ticket, oldest first, cursor or offset pages of at most
            ``page_size`` (100 on Zendesk); ``include=users`` side-loads the authors of the
            page's audits and comments,
            https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_audits/#list-audits-for-a-ticket."""
            with emulator._lock:
                if ticket_id not in emulator.tickets:
                    return emulator._not_found()
                body = emulator._listing("audits", list(emulator.audits[ticket_id]),
                                         emulator.page_size)
                if "users" in request.args.get("include", "").split(","):
                    ids = {a["author_id"] for a in body["audits"]} | {
                        e["author_id"] for a in body["audits"] for e in a["events"]
                        if e.get("type") == "Comment"}
                    body["users"] = [emulator.users[i] for i in sorted(ids)
                                     if i in emulator.users]
                return emulator._reply(200, body)

        @app.put("/api/v2/tickets/<int:ticket_id>.json")
        def update(ticket_id: int):
            return emulator._api_update(ticket_id, request.get_json(force=True) or {})

    def _listing(self, key: str, items: list[dict], limit: int) -> dict:
        """One page of ``items`` as https://developer.zendesk.com/api-reference/introduction/pagination/
        describes it: with ``page[size]`` (at most ``limit``) and ``page[after]``, a cursor
        page (``meta.has_more``, ``after_cursor``, ``links.next``); without, an offset page of
        ``per_page`` (at most ``limit``) records by ``page`` (``next_page``, ``count``)."""
        if "page[size]" not in request.args:
            page = max(request.args.get("page", 1, type=int), 1)
            size = min(max(request.args.get("per_page", limit, type=int), 1), limit)
            more = page * size < len(items)
            args = {**request.args, "page": page + 1}
            return {key: items[(page - 1) * size:page * size], "count": len(items),
                    "previous_page": None if page == 1 else
                    f"{request.base_url}?{urlencode({**args, 'page': page - 1})}",
                    "next_page": f"{request.base_url}?{urlencode(args)}" if more else None}
        size = min(max(request.args.get("page[size]", limit, type=int), 1), limit)
        start = max(request.args.get("page[after]", 0, type=int), 0)
        more = start + size < len(items)
        after = str(start + size) if more else None
        following = urlencode({**request.args, "page[size]": size, "page[after]": after})
        return {key: items[start:start + size],
                "meta": {"has_more": more, "after_cursor": after,
                         "before_cursor": str(start) if start else None},
                "links": {"next": f"{request.base_url}?{following}" if more else None,
                          "prev": None}}

    def _authorized(self, header: str) -> bool:
        expected = base64.b64encode(f"{self.email}/token:{self.api_token}".encode()).decode()
        return header in (f"Basic {expected}", f"Bearer {self.api_token}")

    def _api_update(self, ticket_id: int, body: dict):
        with self._lock:
            if ticket_id not in self.tickets:
                return self._not_found()
            ticket = self.tickets[ticket_id]
            fields = body.get("ticket") or {}
            malformed = _malformed_followers(fields.get("followers", []))
            if malformed:
                return self._reply(400, {"error": "InvalidValue", "description": malformed})
            if fields.get("safe_update") is not None and \
                    fields.get("updated_stamp") != ticket["updated_at"]:
                return self._reply(409, {"error": "UpdateConflict", "description":
                                         "Safe Update prevented the update due to outdated "
                                         "ticket data. Please fetch the latest ticket data and "
                                         "try again."})
            group = fields.get("group_id", ticket["group_id"])
            assignee = fields.get("assignee_id", ticket["assignee_id"])
            if assignee is not None and group is not None and \
                    assignee not in self.memberships.get(group, set()):
                return self._reply(422, {"error": "RecordInvalid",
                                         "description": "Record validation errors",
                                         "details": {"assignee": [{
                                             "description": "Assignee is not a member of the "
                                                            "group", "error": "InvalidValue"}]}})
            now = self._tick()
            events = []
            kinds = []
            for name in ("group_id", "assignee_id", "priority", "tags"):
                if name in fields and fields[name] != ticket[name]:
                    events.append({"type": "Change", "field_name": name,
                                   "previous_value": ticket[name], "value": fields[name]})
                    ticket[name] = fields[name]
                    kinds.append({"group_id": "group_assignment_changed",
                                  "assignee_id": "agent_assignment_changed",
                                  "priority": "priority_changed",
                                  "tags": "tags_changed"}[name])
            if fields.get("followers"):
                followers = self._follow(ticket, fields["followers"])
                if followers != ticket["follower_ids"]:
                    ticket["follower_ids"] = followers
                    kinds.append("followers_changed")
            if ticket["status"] == "new":
                ticket["status"] = "open"
            if "comment" in fields:
                comment = fields["comment"]
                self._comment(ticket_id, BOT_ID, comment.get("body", ""),
                              public=comment.get("public", True), at=now, extra_events=events)
                kinds.append("comment_added")
            else:
                self._audit(ticket_id, BOT_ID, now, events)
            ticket["updated_at"] = _iso(now)
            for kind in kinds:
                self._emit(kind, ticket, BOT_ID)
            return self._reply(200, {"ticket": dict(ticket), "audit": self.audits[ticket_id][-1]})

    def _follow(self, ticket: dict, changes: list[dict]) -> list[int]:
        """The ticket's follower ids after ``followers`` changes (``put`` adds, ``delete``
        removes; a user is named by ``user_id`` or ``user_email``)."""
        followers = list(ticket["follower_ids"])
        by_email = {u["email"]: user_id for user_id, u in self.users.items()}
        for change in changes:
            user = int(change["user_id"]) if "user_id" in change \
                else by_email.get(change["user_email"])
            if user is None:
                continue
            if change["action"] == "put" and user not in followers:
                followers.append(user)
            elif change["action"] == "delete" and user in followers:
                followers.remove(user)
        return followers

    def _forbidden(self):
        return self._reply(403, {"error": "Forbidden", "description": "You do not have access "
                                 "to this page. Please contact the account owner of this help "
                                 "desk for further help."})

    def _not_found(self):
        return self._reply(404, {"error": "RecordNotFound", "description": "Not found"})


def _malformed_followers(followers: object) -> str | None:
    """Why a ticket update's ``followers`` cannot be read (``None``: it can): a list of objects,
    each naming an agent by ``user_id`` (a number) or ``user_email`` with an ``action`` of
    ``put`` or ``delete``, "Setting followers" in
    https://developer.zendesk.com/documentation/ticketing/managing-tickets/creating-and-updating-tickets/."""
    if not isinstance(followers, list):
        return "followers must be an array of objects"
    for change in followers:
        if not isinstance(change, dict) or change.get("action") not in FOLLOWER_ACTIONS:
            return f"follower {change!r}: an object with an action of put or delete"
        user_id, email = change.get("user_id"), change.get("user_email")
        if not ((isinstance(user_id, int) and not isinstance(user_id, bool))
                or (isinstance(user_id, str) and user_id.isdigit())
                or ("user_id" not in change and isinstance(email, str) and "@" in email)):
            return f"follower {change!r}: name the user by user_id or user_email"
    return None
