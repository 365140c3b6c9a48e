"""Small builders for platform-neutral tickets and Zendesk API bodies used across tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.ticket import AuthorRole, Comment, Priority, Ticket, TierChange, TierLadder

LADDER = TierLadder(("L1", "L2", "L3"), "L1")
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def comment(cid: int, body: str, *, role: AuthorRole = AuthorRole.CUSTOMER, public: bool = True,
            minutes: int = 0, author: str = "1") -> Comment:
    return Comment(id=str(cid), author_id=author, author_role=role, public=public, body=body,
                   created_at=T0 + timedelta(minutes=minutes))


def ticket(*comments: Comment, tier: str = "L1", history: tuple[TierChange, ...] = (),
           priority: Priority | None = Priority.NORMAL, tags: tuple[str, ...] = ("vip",),
           ref: str = "42") -> Ticket:
    return Ticket(
        platform="zendesk", ref=ref, subject="Printer on fire", status="open", priority=priority,
        tier=tier, tags=tags, requester_id="1", assignee_id="501", organization_id=None,
        channel="email", created_at=T0, updated_at=T0 + timedelta(hours=1),
        version="2026-11-20T10:00:00Z", comments=tuple(comments),
        tier_history=history or (TierChange(T0, tier),),
    )


def zendesk_ticket(tid: int = 42, *, group_id: int = 101, updated_at: str = "2026-11-20T10:00:00Z",
                   assignee_id: int | None = 501, tags: list[str] | None = None,
                   priority: str = "normal") -> dict:
    """A Zendesk ticket body in the shape of the recorded ticket-show fixture."""
    return {"ticket": {
        "id": tid, "subject": "Printer on fire", "status": "open", "priority": priority,
        "group_id": group_id, "assignee_id": assignee_id, "requester_id": 1,
        "organization_id": None, "tags": tags if tags is not None else ["vip"],
        "via": {"channel": "email", "source": {"from": {}, "to": {}, "rel": None}},
        "created_at": "2026-11-20T09:00:00Z", "updated_at": updated_at, "custom_fields": [],
    }}


ZENDESK_USERS = [{"id": 1, "role": "end-user"}, {"id": 501, "role": "agent"},
                 {"id": 601, "role": "agent"}, {"id": 900, "role": "admin"}]


def zendesk_comments(*items: tuple[int, int, str, bool, str]) -> dict:
    """``(comment id, author id, body, public, created_at)`` tuples, users side-loaded."""
    return {
        "comments": [{"id": cid, "type": "Comment", "author_id": author, "body": body,
                      "plain_body": body, "public": public, "created_at": at}
                     for cid, author, body, public, at in items],
        "users": [dict(u) for u in ZENDESK_USERS],
        "meta": {"has_more": False}, "links": {},
    }


def zendesk_audits(*group_changes: tuple[str, int],
                   comments: tuple[tuple[int, int, str, bool, str], ...] = ()) -> dict:
    """``(created_at, group id)`` changes (the first is the creation) and ``comments``, as
    :func:`zendesk_comments` takes them, each a ``Comment`` event in an audit of its own; oldest
    first, users side-loaded."""
    audits = []
    for n, (at, group) in enumerate(group_changes):
        kind = "Create" if n == 0 else "Change"
        audits.append({"id": 7000 + n, "ticket_id": 42, "created_at": at, "author_id": 1,
                       "events": [{"id": 8000 + n, "type": kind, "field_name": "group_id",
                                   "value": str(group)}]})
    for n, (cid, author, body, public, at) in enumerate(comments):
        audits.append({"id": 7500 + n, "ticket_id": 42, "created_at": at, "author_id": author,
                       "events": [{"id": cid, "type": "Comment", "author_id": author,
                                   "body": body, "plain_body": body, "public": public}]})
    audits.sort(key=lambda audit: audit["created_at"])
    return {"audits": audits, "users": [dict(u) for u in ZENDESK_USERS],
            "next_page": None, "previous_page": None, "count": len(audits)}
