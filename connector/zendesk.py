"""Zendesk Support: read a ticket into a :class:`Ticket`, write a tier move back in one PUT."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from connector.errors import HelpdeskError, raise_for_status
from connector.http import ApiSession
from connector.ticket import (
    AuthorRole,
    Comment,
    Priority,
    SentRequest,
    Ticket,
    TierChange,
    TierLadder,
    TierWrite,
    WriteResult,
)

PLATFORM = "zendesk"
MAX_PAGES = 60  # 100 per page: Zendesk caps a ticket at 5,000 comments
NEEDS = frozenset({"comments", "history"})  # what fetch() can add to the ticket itself


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


class ZendeskConnector:
    """Talks to one Zendesk account through an :class:`ApiSession`.

    ``tier_groups`` maps each tier to the Zendesk group that works it; a ticket in any other group
    (or none) is in the ladder's default tier.
    """

    platform = PLATFORM

    def __init__(self, api: ApiSession, tier_groups: Mapping[str, int], ladder: TierLadder):
        self.api = api
        self.ladder = ladder
        self.tier_groups = dict(tier_groups)
        self._tier_of_group = {str(group): tier for tier, group in self.tier_groups.items()}
        self._me: str | None = None

    def tier_of_group(self, group_id: object) -> str:
        return self._tier_of_group.get(str(group_id), self.ladder.default)

    def whoami(self) -> str:
        """The user id of our API user, asked once: its changes are our own."""
        if self._me is None:
            response = self.api.get("/api/v2/users/me.json")
            raise_for_status(response, "users/me")
            self._me = str(response.json()["user"]["id"])
        return self._me

    def fetch(self, ref: str, *, needs: frozenset[str] = NEEDS) -> Ticket:
        """The ticket as it is now; ``needs`` says which extra reads policies asked for."""
        response = self.api.get(f"/api/v2/tickets/{ref}.json")
        raise_for_status(response, f"ticket {ref}")
        ticket = self.parse_ticket(response.json()["ticket"])
        if "comments" in needs:
            ticket = replace(ticket, comments=tuple(self._comments(ticket)))
        if "history" in needs:
            ticket = replace(ticket, tier_history=tuple(self._tier_history(ticket)))
        return ticket

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
        )

    def _comments(self, ticket: Ticket) -> Iterator[Comment]:
        me = self.whoami()
        path = f"/api/v2/tickets/{ticket.ref}/comments.json"
        params = {"include": "users", "page[size]": 100}
        for page in self._pages(path, params, what=f"comments of ticket {ticket.ref}"):
            roles = {str(u["id"]): u.get("role") for u in page.get("users") or ()}
            for raw in page.get("comments") or ():
                author = str(raw.get("author_id"))
                yield Comment(
                    id=str(raw["id"]),
                    author_id=author,
                    author_role=_role(author, roles.get(author), ticket.requester_id, me),
                    public=bool(raw.get("public")),
                    body=raw.get("plain_body") or raw.get("body") or "",
                    created_at=parse_time(raw["created_at"]),
                )

    def _tier_history(self, ticket: Ticket) -> Iterator[TierChange]:
        """Group changes from the audit trail, starting with the group the ticket was created in."""
        started = False
        path = f"/api/v2/tickets/{ticket.ref}/audits.json"
        for page in self._pages(path, {}, what=f"audits of ticket {ticket.ref}"):
            for audit in page.get("audits") or ():
                at = parse_time(audit["created_at"])
                for event in audit.get("events") or ():
                    if event.get("field_name") != "group_id":
                        continue
                    if not started and at > ticket.created_at:
                        yield TierChange(ticket.created_at, self.ladder.default)
                    started = True
                    yield TierChange(at, self.tier_of_group(event.get("value")))
        if not started:
            yield TierChange(ticket.created_at, ticket.tier)

    def _pages(self, path: str, params: dict, *, what: str) -> Iterator[dict]:
        """Follow cursor (``meta.has_more`` + ``links.next``) or offset (``next_page``) paging.

        Next-page links are followed on our own base URL only, so credentials never go to a
        host named in a response body.
        """
        url: str | None = path
        for _ in range(MAX_PAGES):
            if url is None:
                return
            if url == path:
                response = self.api.get(path, **params)
            else:
                parts = urlsplit(url)
                response = self.api.get(f"{parts.path}?{parts.query}" if parts.query
                                        else parts.path)
            raise_for_status(response, what)
            page = response.json()
            yield page
            meta = page.get("meta") or {}
            if "has_more" in meta:
                url = (page.get("links") or {}).get("next") if meta["has_more"] else None
            else:
                url = page.get("next_page")
        raise HelpdeskError(f"{what}: more than {MAX_PAGES} pages")

    def escalate(self, ticket: Ticket, write: TierWrite) -> WriteResult:
        """Move the ticket to ``write.tier`` in one safe-update PUT, with an internal note.

        Raises :class:`Conflict` when the ticket changed since ``ticket`` was read. A 422 about
        the assignee (not a member of the target group) is retried once with the assignee cleared.
        """
        path = f"/api/v2/tickets/{ticket.ref}.json"
        tags = list(dict.fromkeys((*ticket.tags, *write.add_tags)))
        fields: dict[str, Any] = {"tags": tags}
        if write.tier is not None:
            fields["group_id"] = self.tier_groups[write.tier]
        if write.priority is not None:
            fields["priority"] = write.priority.name.lower()
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
        return WriteResult(tuple(sent), assignee_cleared=cleared)


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

