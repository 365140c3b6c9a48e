"""The reconciliation sweep: tickets changed without a webhook reaching tierlift."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import responses
from builders import LADDER
from conftest import TIER_GROUPS, ZENDESK_URL

from connector.http import ApiSession
from connector.jira import JiraConnector
from connector.zendesk import ZendeskConnector
from webhook_app.store import AuditRecord, Delivery, Store
from webhook_app.sweep import OVERLAP_SECONDS, Sweeper

NOW = 1_795_000_000.0
EXPORT = f"{ZENDESK_URL}/api/v2/incremental/tickets/cursor.json"
JIRA = "https://acme.atlassian.net"


@pytest.fixture
def store(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 't.db'}", clock=lambda: NOW)
    store.create_schema()
    yield store
    store.close()


def zendesk() -> ZendeskConnector:
    return ZendeskConnector(ApiSession(ZENDESK_URL, ("bot@acme.example/token", "t")),
                            TIER_GROUPS, LADDER)


def test_zendesk_lists_open_tickets_from_the_incremental_export_across_pages():
    with responses.RequestsMock() as mock:
        mock.get(EXPORT, match=[responses.matchers.query_param_matcher(
            {"start_time": "1794990000"})], json={
            "tickets": [{"id": 1, "status": "open", "updated_at": "2026-11-18T10:00:00Z"},
                        {"id": 2, "status": "solved", "updated_at": "2026-11-18T10:01:00Z"}],
            "after_url": f"{EXPORT}?cursor=abc", "end_of_stream": False})
        mock.get(EXPORT, match=[responses.matchers.query_param_matcher({"cursor": "abc"})],
                 json={"tickets": [{"id": 3, "status": "new",
                                    "updated_at": "2026-11-18T10:02:00Z"}],
                       "after_url": None, "end_of_stream": True})
        found = list(zendesk().recently_updated(datetime.fromtimestamp(1794990000, UTC)))
    assert found == [("1", "2026-11-18T10:00:00Z"), ("3", "2026-11-18T10:02:00Z")]


@pytest.mark.parametrize("cloud", [True, False])
def test_jira_searches_unresolved_issues_updated_recently(cloud):
    api = ApiSession(JIRA, ("bot@acme.example", "t"))
    connector = JiraConnector(api, cloud=cloud, tier_field="customfield_1",
                              tier_values={"L1": "T1", "L2": "T2", "L3": "T3"}, ladder=LADDER,
                              priorities={})
    since = datetime.now(UTC).replace(microsecond=0)
    with responses.RequestsMock() as mock:
        if cloud:
            url = f"{JIRA}/rest/api/3/search/jql"
            mock.get(url, json={"issues": [{"key": "SUP-1", "fields": {"updated": "u1"}}],
                                "nextPageToken": "next"})
            mock.get(url, json={"issues": [{"key": "SUP-2", "fields": {"updated": "u2"}}]})
        else:
            url = f"{JIRA}/rest/api/2/search"
            mock.get(url, json={"issues": [{"key": "SUP-1", "fields": {"updated": "u1"}}],
                                "startAt": 0, "total": 2})
            mock.get(url, json={"issues": [{"key": "SUP-2", "fields": {"updated": "u2"}}],
                                "startAt": 1, "total": 2})
        found = list(connector.recently_updated(since))
        queries = [c.request.params for c in mock.calls]
    assert found == [("SUP-1", "u1"), ("SUP-2", "u2")]
    assert queries[0]["jql"] == 'updated >= "-1m" AND statusCategory != Done ORDER BY updated ASC'
    assert queries[1].get("nextPageToken" if cloud else "startAt") == ("next" if cloud else "1")


class Helpdesk:
    def __init__(self, versions, fail: bool = False) -> None:
        self.versions, self.fail, self.asked = versions, fail, []

    def recently_updated(self, since):
        self.asked.append(since)
        if self.fail:
            raise OSError("helpdesk down")
        yield from self.versions


def test_only_versions_tierlift_has_not_evaluated_are_enqueued_once(store):
    store.receive(Delivery("zendesk", "event:1", "1", "ticket.created", "{}"))
    store.finish(store.claim("w", 30), AuditRecord("no_change"), version="v1")
    helpdesk = Helpdesk([("1", "v1"), ("2", "v7")])
    found = threading.Event()
    sweeper = Sweeper(store, {"zendesk": helpdesk}, every_seconds=600,
                      lookback_seconds=3600, on_found=found)
    assert sweeper.run_once() == 1 and found.is_set()
    assert helpdesk.asked == [datetime.fromtimestamp(NOW - 3600 - OVERLAP_SECONDS, UTC)]
    assert store.claim("w", 30).entries[0].dedupe_key == "sweep:2:v7"
    assert sweeper.run_once() == 0  # the same version again: already in the inbox
    # the next sweep starts where the last one began (minus the overlap)
    assert helpdesk.asked[-1] == datetime.fromtimestamp(NOW - OVERLAP_SECONDS, UTC)


def test_a_failing_helpdesk_is_retried_next_time_from_the_same_point(store):
    helpdesk = Helpdesk([], fail=True)
    sweeper = Sweeper(store, {"zendesk": helpdesk}, every_seconds=600, lookback_seconds=60,
                      on_found=threading.Event())
    assert sweeper.run_once() == 0
    assert store.last_sweep("zendesk") is None


def test_the_sweep_loop_survives_a_store_outage(store, monkeypatch):
    """The store fails when the sweep asks where it stopped: one logged error, and the next
    round sweeps as usual (the loop used to end for good)."""
    helpdesk = Helpdesk([("2", "v7")])
    found = threading.Event()
    sweeper = Sweeper(store, {"zendesk": helpdesk}, every_seconds=0.01, lookback_seconds=60,
                      on_found=found)
    last_sweep, calls = store.last_sweep, []

    def flaky(platform):
        calls.append(platform)
        if len(calls) == 1:
            raise RuntimeError("connection refused")
        return last_sweep(platform)

    monkeypatch.setattr(store, "last_sweep", flaky)
    stop = threading.Event()
    thread = threading.Thread(target=sweeper.run, args=(stop,), daemon=True)
    thread.start()
    assert found.wait(5)
    stop.set()
    thread.join(5)
    assert len(calls) >= 2 and not thread.is_alive()
