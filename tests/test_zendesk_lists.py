"""Every Zendesk list tierlift reads, paged by the emulator as Zendesk documents it (cursor pages
of ``page[size]`` with ``meta.has_more``/``links.next``, offset pages with ``next_page``), with
small pages: the connector follows every page and reads everything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from builders import LADDER
from emulated import served

from connector.http import ApiSession
from connector.zendesk import ZendeskConnector
from webhook_app.emulator.zendesk import ZendeskEmulator

CUSTOMER, AGENT, TIER1, TIER2 = 501, 601, 101, 102


@pytest.fixture
def zendesk():
    emulator = ZendeskEmulator()
    emulator.page_size = 2
    with served(emulator):
        yield emulator


def connect(zendesk: ZendeskEmulator) -> tuple[ZendeskConnector, list[str]]:
    api = ApiSession(zendesk.url, (f"{zendesk.email}/token", zendesk.api_token))
    urls: list[str] = []
    api.session.hooks["response"].append(lambda r, *_, **__: urls.append(r.request.url))
    return ZendeskConnector(api, {"L1": TIER1, "L2": TIER2}, LADDER), urls


def asked(urls: list[str], part: str) -> list[dict[str, str]]:
    """The query of each request whose path ends with ``part``."""
    return [dict(parse_qsl(urlsplit(u).query)) for u in urls if urlsplit(u).path.endswith(part)]


def long_ticket(zendesk: ZendeskEmulator) -> int:
    """A ticket with 5 comments (the description and 4 more) and 6 audits (its creation, 4
    comments and a move to tier 2)."""
    now = datetime.now(UTC).replace(microsecond=0)
    zendesk.user(CUSTOMER, "Cy")
    zendesk.user(AGENT, "Ari", role="agent")
    zendesk.group(TIER1, AGENT)
    zendesk.group(TIER2, AGENT)
    ticket = zendesk.create_ticket(subject="s", description="first", requester_id=CUSTOMER,
                                   group_id=TIER1, at=now - timedelta(hours=6), notify=False)
    for n in range(4):
        zendesk.customer_comment(ticket, f"more {n}", at=now - timedelta(hours=5 - n),
                                 notify=False)
    zendesk.agent_moves(ticket, AGENT, TIER2, at=now - timedelta(minutes=30), notify=False)
    return ticket


def test_comments_are_read_from_every_audits_page(zendesk):
    ticket = long_ticket(zendesk)
    connector, urls = connect(zendesk)
    read = connector.fetch(str(ticket), needs=frozenset({"comments"}))
    assert [c.body for c in read.comments] == ["first", "more 0", "more 1", "more 2", "more 3"]
    assert read.locale == "en-US"  # the requester, side-loaded with the first page
    assert asked(urls, f"/tickets/{ticket}/audits.json") == [
        {"include": "users"}, {"include": "users", "page": "2"},
        {"include": "users", "page": "3"}]
    assert asked(urls, f"/tickets/{ticket}/comments.json") == []


def test_audits_are_read_through_every_offset_page(zendesk):
    ticket = long_ticket(zendesk)
    connector, urls = connect(zendesk)
    read = connector.fetch(str(ticket), needs=frozenset({"history"}))
    assert [change.tier for change in read.tier_history] == ["L1", "L2"]  # in the 6th audit
    assert asked(urls, f"/tickets/{ticket}/audits.json") == [
        {"include": "users"}, {"include": "users", "page": "2"},
        {"include": "users", "page": "3"}]


def test_cursor_and_offset_pages_as_documented(zendesk):
    """The emulator's pages themselves: at most ``page_size`` records, links to the next."""
    ticket = long_ticket(zendesk)
    connector, _ = connect(zendesk)
    first = connector.api.get(f"/api/v2/tickets/{ticket}/audits.json",
                              **{"page[size]": 50}).json()
    assert len(first["audits"]) == 2 and first["meta"]["has_more"] is True
    assert first["links"]["next"].endswith("audits.json?page%5Bsize%5D=2&page%5Bafter%5D=2")
    last = connector.api.get(f"/api/v2/tickets/{ticket}/audits.json", page=3).json()
    assert (len(last["audits"]), last["next_page"], last["count"]) == (2, None, 6)
    assert last["previous_page"].endswith("audits.json?page=2")


def test_the_incremental_export_is_read_through_every_page(zendesk):
    zendesk.export_page = 2
    tickets = [long_ticket(zendesk)]
    tickets += [zendesk.create_ticket(subject=f"s{n}", description="d", requester_id=CUSTOMER,
                                      group_id=TIER1, notify=False) for n in range(4)]
    connector, urls = connect(zendesk)
    since = datetime.now(UTC) - timedelta(days=1)
    assert sorted(int(ref) for ref, _ in connector.recently_updated(since)) == sorted(tickets)
    assert [q.get("cursor") for q in asked(urls, "/incremental/tickets/cursor.json")] == \
        [None, "2", "4"]
