"""Every Jira list tierlift reads, paged by the emulator as Atlassian documents it, with small
pages: an issue's comments (Cloud inlines one page, Get comments pages by ``startAt``) and JQL
search (Cloud ``/search/jql`` by ``nextPageToken``, Data Center ``/search`` by ``startAt``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from emulated import jira_connector, served

from webhook_app.emulator.jira import JiraEmulator


@pytest.fixture(params=["cloud", "dc"])
def jira(request):
    emulator = JiraEmulator(cloud=request.param == "cloud")
    emulator.comment_page = 2
    emulator.search_page = 2
    with served(emulator):
        yield emulator


def asked(urls: list[str], path: str) -> list[dict[str, str]]:
    return [dict(parse_qsl(urlsplit(u).query)) for u in urls if urlsplit(u).path == path]


def test_every_comment_is_read(jira):
    now = datetime.now(UTC).replace(microsecond=0)
    jira.user("qm:c", "Cy", customer=True)
    key = jira.create_issue("s", "the description", "qm:c", at=now - timedelta(hours=6),
                            notify=False)
    for n in range(5):
        jira.customer_comment(key, f"comment {n}", at=now - timedelta(hours=5 - n),
                              notify=False)
    connector, urls = jira_connector(jira)
    ticket = connector.fetch(key)
    assert [c.body for c in ticket.comments] == \
        ["the description", *(f"comment {n}" for n in range(5))]
    rest = "/rest/api/3" if jira.cloud else "/rest/api/2"
    listed = asked(urls, f"{rest}/issue/{key}/comment")
    if jira.cloud:  # 2 of 5 inlined: all 5 read again from Get comments, 2 a page
        assert [(q["startAt"], q["maxResults"], q["orderBy"]) for q in listed] == \
            [("0", "100", "created"), ("2", "100", "created"), ("4", "100", "created")]
    else:  # Data Center inlines them all
        assert listed == []


def test_every_search_result_is_read(jira):
    jira.user("qm:c", "Cy", customer=True)
    keys = [jira.create_issue(f"s{n}", "d", "qm:c", notify=False) for n in range(5)]
    connector, urls = jira_connector(jira)
    since = datetime.now(UTC) - timedelta(hours=1)
    assert [key for key, _ in connector.recently_updated(since)] == keys
    if jira.cloud:
        pages = asked(urls, "/rest/api/3/search/jql")
        assert [q.get("nextPageToken") for q in pages] == [None, "2", "4"]
    else:
        pages = asked(urls, "/rest/api/2/search")
        assert [q["startAt"] for q in pages] == ["0", "2", "4"]
    assert {q["maxResults"] for q in pages} == {"100"}
