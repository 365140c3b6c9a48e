"""Jira Cloud inlines at most the first 100 histories of an issue's changelog; the rest are read
from Get changelogs (``/rest/api/3/issue/{key}/changelog?startAt=``)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from emulated import jira_connector, served

from webhook_app.emulator.jira import JiraEmulator

TIERS = ("Tier 1", "Tier 2", "Tier 3")


@pytest.fixture(params=["cloud", "dc"])
def jira(request):
    emulator = JiraEmulator(cloud=request.param == "cloud")
    emulator.changelog_page = 3
    with served(emulator):
        yield emulator


def seven_changes(jira: JiraEmulator) -> str:
    """An issue whose tier changed 7 times, an hour apart: 7 histories."""
    now = datetime.now(UTC).replace(microsecond=0)
    jira.user("qm:c", "Cy", customer=True)
    jira.user("agent", "Ari")
    key = jira.create_issue("s", "d", "qm:c", at=now - timedelta(hours=10), notify=False)
    for n in range(7):
        jira.agent_sets_tier(key, "agent", TIERS[(n + 1) % 3], at=now - timedelta(hours=9 - n),
                             notify=False)
    return key


def test_every_history_is_read_through_the_documented_requests(jira, caplog):
    key = seven_changes(jira)
    connector, urls = jira_connector(jira)
    ticket = connector.fetch(key, needs=frozenset({"history"}))
    assert [change.tier for change in ticket.tier_history] == \
        ["L1", "L2", "L3", "L1", "L2", "L3", "L1", "L2"]  # at creation, then all 7 changes
    asked = [(urlsplit(u).path, dict(parse_qsl(urlsplit(u).query))) for u in urls]
    issue = [(path, params) for path, params in asked if "/issue/" in path]
    if jira.cloud:
        base = f"/rest/api/3/issue/{key}"
        assert [(path, params.get("expand"), params.get("startAt"), params.get("maxResults"))
                for path, params in issue] == [
            (base, "changelog,names", None, None),  # histories 0-2 inlined, total 7
            (f"{base}/changelog", None, "3", "100"),  # 3-5
            (f"{base}/changelog", None, "6", "100"),  # 6, isLast
        ]
    else:  # Data Center inlines every history
        assert [path for path, _ in issue] == [f"/rest/api/2/issue/{key}"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_changelog_without_history_needs_sends_no_changelog_request(jira):
    key = seven_changes(jira)
    connector, urls = jira_connector(jira)
    connector.fetch(key)
    assert not [u for u in urls if "changelog" in u]
