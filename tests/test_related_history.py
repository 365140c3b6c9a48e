"""repeat_issue from the helpdesk's history: the connectors' searches (HTTP served by
``responses``), the Escalator copying a requester's and organization's earlier tickets into the
ticket index (cached in the store), and end to end against both emulators with earlier tickets
that only the helpdesk knows."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
import responses
from builders import zendesk_audits, zendesk_ticket
from conftest import TIER_GROUPS, ZENDESK_URL
from emulated import L1, L2, MAYA, team, wait_for
from responses import matchers

from connector.http import ApiSession, BearerAuth
from connector.jira import JiraConnector
from connector.ticket import TicketSummary, TierLadder
from connector.zendesk import ZendeskConnector
from plugins.manager import PolicyHost
from webhook_app.emulator.jira import JiraEmulator
from webhook_app.escalation import BACKFILL_TTL, Escalator
from webhook_app.service import Service
from webhook_app.settings import JiraSettings, Settings, ZendeskSettings
from webhook_app.store import Delivery, Store, StoreHistory
from webhook_app.worker import Worker

LADDER = TierLadder(("L1", "L2", "L3"), "L1")
SEARCH = f"{ZENDESK_URL}/api/v2/search.json"
TICKET = f"{ZENDESK_URL}/api/v2/tickets/42.json"
JIRA = "https://acme.atlassian.net"
JIRA_DC = "https://jira.acme.example"
TIER_VALUES = {"L1": "Tier 1", "L2": "Tier 2", "L3": "Tier 3"}
PRIORITIES = {"low": "Low", "normal": "Medium", "high": "High", "urgent": "Highest"}
CUSTOMER = "557058:customer-maya"
SINCE = datetime(2026, 10, 21, 9, 0, tzinfo=UTC)


def no_sleep(_seconds: float) -> None:
    """ApiSession's sleep in tests: retries happen at once."""


def zendesk_connector() -> ZendeskConnector:
    api = ApiSession(ZENDESK_URL, ("bot@acme.example/token", "token"), sleep=no_sleep)
    return ZendeskConnector(api, TIER_GROUPS, LADDER)


def jira_connector(*, cloud: bool) -> JiraConnector:
    auth = ("bot@acme.example", "token") if cloud else BearerAuth("pat")
    api = ApiSession(JIRA if cloud else JIRA_DC, auth, sleep=no_sleep)
    return JiraConnector(api, cloud=cloud, tier_field="customfield_10050",
                         tier_values=TIER_VALUES, ladder=LADDER, priorities=PRIORITIES)


def zd_result(tid: int, subject: str, created: str, *, requester: int = 1,
              organization: int | None = 77, description: str = "It broke again.") -> dict:
    """A ticket as the Search API lists it."""
    return {"url": f"{ZENDESK_URL}/api/v2/tickets/{tid}.json", "id": tid,
            "result_type": "ticket", "subject": subject, "raw_subject": subject,
            "description": description, "status": "solved", "tags": ["billing"],
            "ticket_form_id": 360001, "requester_id": requester, "organization_id": organization,
            "group_id": 101, "created_at": created, "updated_at": created}


def search_params(query: str, **more: str) -> dict[str, str]:
    return {"query": query, "sort_by": "created_at", "sort_order": "desc", "per_page": "100",
            **more}


# -- Zendesk: the Search API ------------------------------------------------------------------

def test_zendesk_lists_a_requesters_tickets_through_the_search_api_page_by_page():
    query = "type:ticket requester_id:1 created>2026-10-20"  # the day before: whole days
    second = search_params(query, page="2")
    with responses.RequestsMock() as rsps:
        rsps.get(SEARCH, match=[matchers.query_param_matcher(search_params(query))], json={
            "results": [zd_result(301, "Invoice missing", "2026-11-12T10:00:00Z",
                                  description="The October invoice is missing.")],
            "facets": None, "next_page": f"{SEARCH}?{urlencode(second)}",
            "previous_page": None, "count": 3})
        rsps.get(SEARCH, match=[matchers.query_param_matcher(second)], json={
            "results": [zd_result(290, "Invoice missing", "2026-10-22T08:00:00Z"),
                        zd_result(280, "Invoice missing", "2026-10-21T08:59:59Z")],
            "facets": None, "next_page": None, "previous_page": SEARCH, "count": 3})
        found = zendesk_connector().tickets_of("requester", "1", SINCE)
        assert len(rsps.calls) == 2
    assert [summary.ref for summary in found] == ["301", "290"]  # 280 is before SINCE
    assert found[0] == TicketSummary(
        platform="zendesk", ref="301", subject="Invoice missing",
        description="The October invoice is missing.", tags=("billing",), form="360001",
        requester_id="1", organization_id="77",
        created_at=datetime(2026, 11, 12, 10, 0, tzinfo=UTC), status="solved")


def test_zendesk_searches_an_organizations_tickets_by_its_id():
    query = "type:ticket organization_id:77 created>2026-10-20"
    with responses.RequestsMock() as rsps:
        rsps.get(SEARCH, match=[matchers.query_param_matcher(search_params(query))],
                 json={"results": [], "facets": None, "next_page": None, "count": 0})
        assert zendesk_connector().tickets_of("organization", "77", SINCE) == []


def test_zendesk_reads_at_most_the_1000_results_a_search_allows():
    def page(request):
        number = int(request.params.get("page", 1))
        results = [zd_result(10000 - number * 100 - n, "Invoice missing", "2026-11-12T10:00:00Z")
                   for n in range(100)]
        body = {"results": results, "facets": None, "count": 2500,
                "next_page": f"{SEARCH}?{urlencode({**request.params, 'page': number + 1})}"}
        return 200, {}, json.dumps(body)

    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.GET, SEARCH, callback=page)
        found = zendesk_connector().tickets_of("requester", "1", SINCE)
        assert len(rsps.calls) == 10  # page 11 would be answered 422
    assert len(found) == 1000


def test_zendesk_never_puts_anything_but_an_id_into_the_query():
    with responses.RequestsMock():  # any request would fail: none is registered
        assert zendesk_connector().tickets_of("requester", "1 OR type:user", SINCE) == []


# -- Jira: JQL search ------------------------------------------------------------------------

def jira_issue(key: str, summary: str, days_ago: float, *, cloud: bool) -> dict:
    created = datetime.now(UTC) - timedelta(days=days_ago)
    text = "The invoice export fails with error 500."
    description = {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": text}]}]} if cloud else text
    reporter = {"accountId": CUSTOMER} if cloud else {"key": "maya", "name": "maya"}
    return {"id": "10001", "key": key, "fields": {
        "summary": summary, "description": description, "labels": ["export"],
        "issuetype": {"name": "Service Request"}, "reporter": reporter,
        "created": created.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "status": {"name": "Resolved"}}}


FIELDS = "summary,description,labels,issuetype,reporter,created,status"
WINDOW = timedelta(days=90, seconds=30)  # 129,601 whole minutes back, rounded up
JQL = f'reporter = "{CUSTOMER}" AND created >= "-129601m" ORDER BY created DESC'


def test_jira_cloud_lists_a_reporters_issues_with_jql_and_next_page_tokens():
    url = f"{JIRA}/rest/api/3/search/jql"
    first = {"jql": JQL, "fields": FIELDS, "maxResults": "100"}
    with responses.RequestsMock() as rsps:
        rsps.get(url, match=[matchers.query_param_matcher(first)], json={
            "issues": [jira_issue("SUP-9", "Invoice export fails", 3, cloud=True)],
            "nextPageToken": "CAEaAggD"})
        rsps.get(url, match=[matchers.query_param_matcher({**first, "nextPageToken": "CAEaAggD"})],
                 json={"issues": [jira_issue("SUP-4", "Invoice export fails", 20, cloud=True),
                                  jira_issue("SUP-1", "Invoice export fails", 91, cloud=True)],
                       "isLast": True})
        found = jira_connector(cloud=True).tickets_of("requester", CUSTOMER,
                                                       datetime.now(UTC) - WINDOW)
    assert [s.ref for s in found] == ["SUP-9", "SUP-4"]  # SUP-1 is older than the window
    assert (found[0].platform, found[0].description, found[0].tags, found[0].form,
            found[0].requester_id, found[0].organization_id, found[0].status) == (
        "jira", "The invoice export fails with error 500.", ("export",), "Service Request",
        CUSTOMER, None, "Resolved")


def test_jira_data_center_pages_the_same_search_with_start_at():
    url = f"{JIRA_DC}/rest/api/2/search"
    jql = JQL.replace(CUSTOMER, "maya")
    page = {"jql": jql, "fields": FIELDS, "maxResults": "100"}
    with responses.RequestsMock() as rsps:
        rsps.get(url, match=[matchers.query_param_matcher({**page, "startAt": "0"})], json={
            "issues": [jira_issue("SUP-9", "Invoice export fails", 3, cloud=False)],
            "startAt": 0, "maxResults": 1, "total": 2})
        rsps.get(url, match=[matchers.query_param_matcher({**page, "startAt": "1"})], json={
            "issues": [jira_issue("SUP-4", "Invoice export fails", 20, cloud=False)],
            "startAt": 1, "maxResults": 1, "total": 2})
        found = jira_connector(cloud=False).tickets_of("requester", "maya",
                                                        datetime.now(UTC) - WINDOW)
    assert [(s.ref, s.requester_id, s.description) for s in found] == [
        ("SUP-9", "maya", "The invoice export fails with error 500."),
        ("SUP-4", "maya", "The invoice export fails with error 500.")]


def test_jira_searches_a_service_management_organization_and_quotes_reporters():
    url = f"{JIRA}/rest/api/3/search/jql"
    organization = 'organizations = 42 AND created >= "-129601m" ORDER BY created DESC'
    odd = r'reporter = "a\"b\\c" AND created >= "-129601m" ORDER BY created DESC'
    with responses.RequestsMock() as rsps:
        for jql in (organization, odd):
            rsps.get(url, match=[matchers.query_param_matcher(
                {"jql": jql, "fields": FIELDS, "maxResults": "100"})],
                json={"issues": [jira_issue("SUP-9", "Export fails", 3, cloud=True)],
                      "isLast": True})
        connector = jira_connector(cloud=True)
        [summary] = connector.tickets_of("organization", "42", datetime.now(UTC) - WINDOW)
        assert summary.organization_id == "42"  # the search was for this organization
        connector.tickets_of("requester", 'a"b\\c', datetime.now(UTC) - WINDOW)


# -- the store: backfilled tickets and the cache -------------------------------------------------

def summary(ref: str, *, requester: str | None = "1", organization: str | None = "77",
            subject: str = "Invoice missing") -> TicketSummary:
    return TicketSummary(platform="jira", ref=ref, subject=subject, description="",
                         tags=(), form=None, requester_id=requester,
                         organization_id=organization,
                         created_at=datetime(2026, 11, 12, tzinfo=UTC), status="Resolved")


def test_backfilled_tickets_are_what_the_history_finds_and_a_missing_owner_is_kept(store):
    store.backfill("jira", "organization", "77", [summary("SUP-1")], since=0.0)
    # A search by reporter does not say the organization: the one known stays.
    store.backfill("jira", "requester", "1",
                   [summary("SUP-1", organization=None, subject="Invoice still missing")],
                   since=0.0)
    [past] = StoreHistory(store).related("jira", requester_id=None, organization_id="77",
                                         since=datetime(2026, 11, 1, tzinfo=UTC))
    assert (past.ref, past.subject, past.requester_id, past.organization_id) == \
        ("SUP-1", "Invoice still missing", "1", "77")


def test_the_cache_covers_a_window_for_a_while(settings):
    now = [1_000_000.0]
    store = Store(settings.database_url, clock=lambda: now[0])
    store.create_schema()
    store.backfill("zendesk", "requester", "1", [], since=500.0)
    assert store.backfilled("zendesk", "requester", "1", since=600.0, within=3600)
    assert not store.backfilled("zendesk", "requester", "1", since=400.0, within=3600)
    assert not store.backfilled("zendesk", "organization", "1", since=600.0, within=3600)
    assert not store.backfilled("jira", "requester", "1", since=600.0, within=3600)
    now[0] += 3601
    assert not store.backfilled("zendesk", "requester", "1", since=600.0, within=3600)
    store.close()


# -- the Escalator: backfill before evaluation -----------------------------------------------

REQUESTER_QUERY = "type:ticket requester_id:1 created>2026-08-21"  # 90 days before creation
ORGANIZATION_QUERY = "type:ticket organization_id:77 created>2026-08-21"
EARLIER = [zd_result(31, "Printer on fire", "2026-11-12T10:00:00Z"),
           zd_result(22, "Printer on fire!", "2026-11-05T10:00:00Z")]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(settings, clock):
    store = Store(settings.database_url, clock=clock)
    store.create_schema()
    yield store
    store.close()


def make_worker(store: Store, settings) -> Worker:
    policies = PolicyHost(load_entry_points=False).configure({"repeat_issue": {"enabled": True}})
    escalator = Escalator(store, {"zendesk": zendesk_connector()}, policies, settings.ladder,
                          now=lambda: datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    return Worker(store, escalator, settings.worker)


@pytest.fixture
def zd():
    ticket = zendesk_ticket(tags=[])
    ticket["ticket"]["organization_id"] = 77
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{ZENDESK_URL}/api/v2/users/me.json", json={"user": {"id": 900}})
        mock.get(TICKET, json=ticket)
        mock.get(f"{ZENDESK_URL}/api/v2/tickets/42/audits.json", json=zendesk_audits(
            ("2026-11-20T09:00:00Z", 101),
            comments=((11, 1, "The printer is on fire again.", True, "2026-11-20T09:00:00Z"),)))
        mock.put(TICKET, json=zendesk_ticket(group_id=102))
        yield mock


def serve_searches(zd, results=EARLIER, **reply) -> None:
    for query in (REQUESTER_QUERY, ORGANIZATION_QUERY):
        zd.get(SEARCH, match=[matchers.query_param_matcher(search_params(query))],
               **(reply or {"json": {"results": results, "facets": None, "next_page": None,
                                     "count": len(results)}}))


def searches(zd) -> list[str]:
    return [call.request.params["query"] for call in zd.calls
            if call.request.url.startswith(SEARCH)]


def deliver(store: Store, key: str) -> None:
    assert store.receive(Delivery("zendesk", key, "42", "ticket.created", "{}", "1"))


def test_earlier_tickets_only_the_helpdesk_knows_make_repeat_issue_fire(store, settings, zd):
    serve_searches(zd)
    deliver(store, "event:a")
    make_worker(store, settings).run_once()
    assert searches(zd) == [REQUESTER_QUERY, ORGANIZATION_QUERY]
    [entry] = store.audit_log()
    assert (entry["outcome"], entry["to_tier"]) == ("escalated", "L2")
    [proposal] = entry["detail"]["rounds"][0]["proposals"]
    assert proposal["evidence"][0]["summary"] == "3 similar tickets from the same requester in " \
        "30 days (this one included); earlier: #22 (2026-11-05), #31 (2026-11-12)"


def test_a_second_evaluation_within_the_hour_asks_the_helpdesk_nothing(store, settings, zd,
                                                                        clock):
    serve_searches(zd)
    deliver(store, "event:a")
    make_worker(store, settings).run_once()
    deliver(store, "event:b")
    make_worker(store, settings).run_once()  # another worker, or after a restart: the store
    assert len(searches(zd)) == 2
    clock.now += BACKFILL_TTL + 1
    deliver(store, "event:c")
    make_worker(store, settings).run_once()
    assert searches(zd) == [REQUESTER_QUERY, ORGANIZATION_QUERY] * 2


def test_a_failing_search_is_logged_once_and_the_evaluation_goes_on(store, settings, zd,
                                                                    caplog):
    serve_searches(zd, status=500, json={"error": "InternalError"})
    worker = make_worker(store, settings)
    with caplog.at_level(logging.WARNING, logger="webhook_app.escalation"):
        for key in ("event:a", "event:b"):
            deliver(store, key)
            worker.run_once()
    assert [e["outcome"] for e in store.audit_log()] == ["no_change", "no_change"]
    assert all(e["detail"]["history_error"].startswith("Unavailable: GET /api/v2/search.json")
               for e in store.audit_log())
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "could not read earlier tickets of requester 1" in caplog.records[0].message
    assert set(searches(zd)) == {REQUESTER_QUERY}  # the organization is not tried after it


# -- end to end: tierlift in process, the emulators, earlier tickets without webhooks ----------

SECRET = "history-secret"
TOKEN = "a-long-random-data-center-token"


def start(settings: Settings) -> tuple[Service, str]:
    service = Service.build(settings, host=PolicyHost(load_entry_points=False))
    ready = threading.Event()
    threading.Thread(target=service.serve, args=("127.0.0.1", 0), kwargs={"ready": ready},
                     daemon=True).start()
    assert ready.wait(10)
    return service, f"http://127.0.0.1:{service.server.effective_port}"


WORKER = {"coalesce_seconds": 0.1, "poll_seconds": 0.1, "sweep_minutes": 0}


@pytest.fixture
def zendesk_stack(tmp_path):
    emulator = team()
    server = emulator.serve()
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'tierlift.db'}",
        zendesk=ZendeskSettings(base_url=server.url, email=emulator.email,
                                api_token=emulator.api_token, webhook_secret=SECRET,
                                tier_groups=TIER_GROUPS),
        policies={"repeat_issue": {"enabled": True}}, worker=WORKER)
    service, url = start(settings)
    emulator.send_webhooks_to(f"{url}/webhooks/zendesk", SECRET)
    yield emulator, service
    service.shutdown()
    emulator.close()
    server.stop()


def zendesk_earlier(emulator, subject: str, description: str, days: int) -> int:
    return emulator.create_ticket(subject=subject, description=description, requester_id=MAYA,
                                  group_id=L1, status="solved", notify=False,
                                  at=datetime.now(UTC) - timedelta(days=days))


def evaluated(service: Service, ref: str) -> list[dict]:
    """The audit of the ticket's evaluations (none yet: empty)."""
    return service.store.audit_log(ticket_ref=ref)


def assert_nothing_proposed(service: Service, ref: str) -> None:
    [entry] = evaluated(service, ref)
    assert entry["outcome"] == "no_change" and "policy_errors" not in entry["detail"]
    assert entry["detail"]["rounds"][0]["proposals"] == []


def test_zendesk_emulator_repeat_issue_fires_on_tickets_filed_without_webhooks(zendesk_stack):
    emulator, _ = zendesk_stack
    first = zendesk_earlier(emulator, "Invoice PDF download broken", "The PDF won't open.", 12)
    second = zendesk_earlier(emulator, "Invoice PDF download broken", "Still no PDF.", 5)
    third = emulator.create_ticket(subject="Invoice PDF download broken again",
                                   description="Cannot open the invoice PDF.",
                                   requester_id=MAYA, group_id=L1)
    wait_for(lambda: emulator.writes(third), what="the escalation")
    [write] = emulator.writes(third)
    assert write.body["ticket"]["group_id"] == L2
    assert "tierlift_repeat_issue" in write.body["ticket"]["tags"]
    assert f"#{first}" in write.body["ticket"]["comment"]["body"]
    assert f"#{second}" in write.body["ticket"]["comment"]["body"]
    assert any(r.path == "/api/v2/search.json" for r in emulator.requests)


def test_zendesk_emulator_earlier_first_messages_count_as_much_as_subjects(zendesk_stack):
    emulator, _ = zendesk_stack
    zendesk_earlier(emulator, "Billing", "The invoice PDF download is broken.", 12)
    zendesk_earlier(emulator, "Urgent!!", "Invoice PDF: download still broken.", 5)
    third = emulator.create_ticket(subject="Invoice PDF download broken",
                                   description="Same as before.", requester_id=MAYA,
                                   group_id=L1)
    wait_for(lambda: emulator.writes(third), what="the escalation")
    assert "tierlift_repeat_issue" in emulator.writes(third)[0].body["ticket"]["tags"]


def test_zendesk_emulator_earlier_tickets_about_another_problem_change_nothing(zendesk_stack):
    emulator, service = zendesk_stack
    zendesk_earlier(emulator, "Cannot log in to the dashboard", "Login fails.", 12)
    zendesk_earlier(emulator, "Password reset mail never arrives", "No mail.", 5)
    third = emulator.create_ticket(subject="Invoice PDF download broken",
                                   description="Cannot open the invoice PDF.",
                                   requester_id=MAYA, group_id=L1)
    wait_for(lambda: evaluated(service, str(third)), what="the evaluation")
    assert_nothing_proposed(service, str(third))
    assert any(r.path == "/api/v2/search.json" for r in emulator.requests)


@pytest.fixture(params=["cloud", "datacenter"])
def jira_stack(request, tmp_path):
    cloud = request.param == "cloud"
    emulator = JiraEmulator(cloud=cloud)
    emulator.user(CUSTOMER, "Maya Lind", customer=True)
    server = emulator.serve()
    auth = {"email": emulator.email, "api_token": emulator.api_token,
            "webhook_secret": SECRET} if cloud else {"pat": emulator.pat, "webhook_token": TOKEN}
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'tierlift.db'}",
        jira=JiraSettings(base_url=server.url, tier_field=emulator.tier_field,
                          tier_values=TIER_VALUES, **auth),
        policies={"repeat_issue": {"enabled": True}}, worker=WORKER)
    service, url = start(settings)
    emulator.send_webhooks_to(f"{url}/webhooks/jira", secret=SECRET if cloud else None,
                              token=None if cloud else TOKEN)
    yield emulator, service
    service.shutdown()
    emulator.close()
    server.stop()


def jira_earlier(emulator: JiraEmulator, summary: str, description: str, days: int) -> str:
    return emulator.create_issue(summary, description, CUSTOMER, status="Resolved",
                                 notify=False, at=datetime.now(UTC) - timedelta(days=days))


def jira_searches(emulator: JiraEmulator) -> list:
    return [r for r in emulator.requests if r.path.endswith(("/search", "/search/jql"))]


def test_jira_emulator_repeat_issue_fires_on_issues_filed_without_webhooks(jira_stack):
    emulator, _ = jira_stack
    jira_earlier(emulator, "Invoice export fails", "Export gives error 500.", 12)
    jira_earlier(emulator, "Invoice export fails", "Again error 500.", 5)
    key = emulator.create_issue("Billing portal", "The invoice export fails once more.",
                                CUSTOMER)  # about the same thing: its first message says so
    wait_for(lambda: emulator.writes(key), what="the escalation")
    assert emulator.issues[key].tier == "Tier 2"
    assert "tierlift_repeat_issue" in emulator.issues[key].labels
    assert jira_searches(emulator)


def test_jira_emulator_earlier_issues_about_another_problem_change_nothing(jira_stack):
    emulator, service = jira_stack
    jira_earlier(emulator, "Cannot log in to the portal", "Login fails.", 12)
    jira_earlier(emulator, "Password reset mail never arrives", "No mail.", 5)
    key = emulator.create_issue("Invoice export fails", "Export gives error 500.", CUSTOMER)
    wait_for(lambda: evaluated(service, key), what="the evaluation")
    assert_nothing_proposed(service, key)
    assert jira_searches(emulator)
