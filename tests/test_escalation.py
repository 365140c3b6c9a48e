"""The worker path on one ticket: fetch, evaluate, decide, write back, audit — HTTP mocked."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import requests
import responses
from builders import zendesk_audits, zendesk_ticket
from conftest import TIER_GROUPS, ZENDESK_URL

from connector.http import ApiSession
from connector.zendesk import ZendeskConnector
from plugins import hookimpl
from plugins.manager import PolicyHost
from plugins.notification import Notification
from webhook_app.cli import describe_audit
from webhook_app.escalation import Escalator
from webhook_app.review import review, review_lines
from webhook_app.store import Delivery, Store
from webhook_app.worker import Worker

TICKET = f"{ZENDESK_URL}/api/v2/tickets/42.json"
AUDITS = f"{ZENDESK_URL}/api/v2/tickets/42/audits.json"
ME = f"{ZENDESK_URL}/api/v2/users/me.json"
BOT = 900
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ASK = (11, 1, "Honestly, I want to speak to a manager.", True, "2026-11-20T09:05:00Z")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(settings, clock) -> Store:
    store = Store(settings.database_url, clock=clock)
    store.create_schema()
    yield store
    store.close()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def host() -> PolicyHost:
    return PolicyHost(load_entry_points=False)


@pytest.fixture
def worker(store, settings, sleeps, host) -> Worker:
    api = ApiSession(ZENDESK_URL, ("bot@acme.example/token", "token"), sleep=sleeps.append)
    connector = ZendeskConnector(api, TIER_GROUPS, settings.ladder)
    escalator = Escalator(store, {"zendesk": connector},
                          host.configure({"customer_request": {"enabled": True}}),
                          settings.ladder, max_attempts=3, now=lambda: NOW)
    return Worker(store, escalator, settings.worker)


@pytest.fixture
def zd():
    with responses.RequestsMock() as mock:
        mock.get(ME, json={"user": {"id": BOT, "role": "admin"}})
        yield mock


def deliver(store: Store, key: str, actor: str | None = "1") -> None:
    assert store.receive(Delivery("zendesk", key, "42", "ticket.comment_added", "{}", actor))


def serve_ticket(zd, *, group=101, updated="2026-11-20T10:00:00Z", comments=(ASK,),
                 groups=(("2026-11-20T09:00:00Z", 101),), **kw) -> None:
    zd.get(TICKET, json=zendesk_ticket(group_id=group, updated_at=updated, **kw))
    zd.get(AUDITS, json=zendesk_audits(*groups, comments=comments))


def puts(zd) -> list[dict]:
    return [json.loads(c.request.body) for c in zd.calls if c.request.method == "PUT"]


def expected_put(*, stamp="2026-11-20T10:00:00Z", evidence="comment:11",
                 quote="Honestly, I want to speak to a manager.", at="2026-11-20 09:05 UTC",
                 in_l1_since="2026-11-20 09:00 UTC", **extra) -> dict:
    note = (
        "tierlift escalated this ticket from L1 to L2.\n\nWhy:\n"
        f'- customer_request: The customer asked: "speak to a manager" ({at})\n'
        f'    "{quote}"\n\n'
        "Ticket facts:\n"
        "- Age: 3 h 0 min (created 2026-11-20 09:00 UTC); "
        f"in L1 since {in_l1_since}\n"
        "- Agent replies in L1: 0; reopens: 0\n"
        "- Channel: email\n\n"
        "Suggested next steps:\n- customer_request: Reply personally as the next tier, "
        "acknowledge the request, and own the ticket from here.\n\n"
        f"Evidence: customer_request/{evidence}"
    )
    return {"ticket": {"tags": ["vip", "tierlift_escalated", "tierlift_customer_request"],
                       "group_id": 102, "comment": {"body": note, "public": False},
                       "safe_update": True, "updated_stamp": stamp, **extra}}


def test_a_customer_asking_for_a_manager_is_moved_to_tier_2_in_one_put(store, worker, zd):
    serve_ticket(zd)
    zd.put(TICKET, json=zendesk_ticket(group_id=102))
    deliver(store, "event:a")
    deliver(store, "event:b")  # a burst for the same ticket: one evaluation

    assert worker.run_once() is True
    assert worker.run_once() is False

    assert [(c.request.method, c.request.url.split("?")[0]) for c in zd.calls] == [
        ("GET", ME), ("GET", TICKET), ("GET", AUDITS), ("PUT", TICKET)]
    assert puts(zd) == [expected_put()]
    [entry] = store.audit_log()
    assert (entry["outcome"], entry["from_tier"], entry["to_tier"], entry["priority"]) == \
        ("escalated", "L1", "L2", None)
    assert entry["detail"]["deliveries"] == ["event:a", "event:b"]
    [round_] = entry["detail"]["rounds"]
    assert round_["ticket"] == {"tier": "L1", "status": "open", "priority": "normal",
                                "version": "2026-11-20T10:00:00Z", "language": None,
                                "channel": "email", "organization": None, "route": None}
    assert round_["proposals"] == [{
        "policy": "customer_request", "target": "L2", "priority": None, "state": "fired",
        "evidence": [{"key": "comment:11",
                      "summary": 'The customer asked: "speak to a manager"'}]}]
    assert round_["write"] == {"assignee_cleared": False, "requests": [
        {"method": "PUT", "path": "/api/v2/tickets/42.json", "body": expected_put(),
         "status": 200}]}
    assert store.used_evidence("zendesk", "42") == {("customer_request", "comment:11")}
    assert store.inbox_counts() == {"done": 2}


def test_our_own_write_coming_back_causes_no_fetch_and_no_write(store, worker, zd):
    deliver(store, "event:group", actor=str(BOT))
    deliver(store, "event:note", actor=str(BOT))
    worker.run_once()
    assert [c.request.url for c in zd.calls] == [ME]
    assert [e["outcome"] for e in store.audit_log()] == ["own_change"]


def test_after_escalating_the_same_comment_never_writes_again(store, worker, zd):
    serve_ticket(zd)
    zd.put(TICKET, json=zendesk_ticket(group_id=102))
    deliver(store, "event:a")
    worker.run_once()
    # An agent moves it back down to tier 1; a webhook about that arrives.
    zd.replace(responses.GET, TICKET, json=zendesk_ticket(group_id=101,
                                                          updated_at="2026-11-20T11:00:00Z"))
    moves = (("2026-11-20T09:00:00Z", 101), ("2026-11-20T10:00:01Z", 102),
             ("2026-11-20T11:00:00Z", 101))
    zd.replace(responses.GET, AUDITS, json=zendesk_audits(*moves, comments=(ASK,)))
    deliver(store, "event:moved-down", actor="601")
    worker.run_once()
    assert len(puts(zd)) == 1
    assert [e["outcome"] for e in store.audit_log()] == ["escalated", "no_change"]
    assert store.audit_log()[-1]["detail"]["rounds"][0]["proposals"][0]["state"] == "stale"

    # New evidence: the customer asks again. That escalates, on the new comment alone.
    again = (12, 1, "I still need to speak to a manager!", True, "2026-11-20T11:30:00Z")
    zd.replace(responses.GET, AUDITS, json=zendesk_audits(*moves, comments=(ASK, again)))
    deliver(store, "event:asked-again")
    worker.run_once()
    assert puts(zd)[-1] == expected_put(stamp="2026-11-20T11:00:00Z", evidence="comment:12",
                                        quote="I still need to speak to a manager!",
                                        at="2026-11-20 11:30 UTC",
                                        in_l1_since="2026-11-20 11:00 UTC")


def test_409_rereads_and_writes_with_the_new_stamp(store, worker, zd):
    serve_ticket(zd)
    zd.add(responses.GET, TICKET, json=zendesk_ticket(updated_at="2026-11-20T10:00:07Z",
                                                      priority="high"))
    zd.put(TICKET, status=409, json={"error": "UpdateConflict"})
    zd.put(TICKET, json=zendesk_ticket(group_id=102))
    deliver(store, "event:a")
    worker.run_once()
    assert puts(zd) == [expected_put(),
                        expected_put(stamp="2026-11-20T10:00:07Z")]
    [entry] = store.audit_log()
    assert entry["outcome"] == "escalated"
    conflict, written = (r["write"] for r in entry["detail"]["rounds"])
    assert conflict["status"] == 409 and "changed since it was read" in conflict["error"]
    assert [r["status"] for r in written["requests"]] == [200]


def test_409_because_an_agent_escalated_it_meanwhile_writes_nothing_more(store, worker, zd):
    serve_ticket(zd)
    zd.add(responses.GET, TICKET, json=zendesk_ticket(group_id=102,
                                                      updated_at="2026-11-20T10:00:07Z"))
    zd.put(TICKET, status=409, json={"error": "UpdateConflict"})
    deliver(store, "event:a")
    worker.run_once()
    assert len(puts(zd)) == 1
    [entry] = store.audit_log()
    assert entry["outcome"] == "no_change"
    assert store.used_evidence("zendesk", "42") == {("customer_request", "comment:11")}


OUR_NOTE = (12, BOT, expected_put()["ticket"]["comment"]["body"], False,
            "2026-11-20T10:00:01Z")


def test_an_ambiguous_write_is_never_repeated_blindly(store, worker, zd):
    serve_ticket(zd)
    # The PUT times out, and the re-read shows the ticket in tier 2, but not our note: an
    # agent moved it (a Zendesk update carries its note), not our write.
    zd.add(responses.GET, TICKET, json=zendesk_ticket(group_id=102,
                                                      updated_at="2026-11-20T10:00:01Z"))
    zd.put(TICKET, body=requests.ReadTimeout("read timed out"))
    deliver(store, "event:a")
    worker.run_once()
    assert len(puts(zd)) == 1
    assert [e["outcome"] for e in store.audit_log()] == ["no_change"]
    assert "confirmed_on_reread" not in store.audit_log()[0]["detail"]


def test_a_write_whose_answer_was_lost_is_audited_as_escalated_on_the_re_read(store, worker,
                                                                              zd):
    serve_ticket(zd)
    zd.add(responses.GET, TICKET, json=zendesk_ticket(group_id=102,
                                                      updated_at="2026-11-20T10:00:01Z"))
    zd.add(responses.GET, AUDITS, json=zendesk_audits(("2026-11-20T09:00:00Z", 101),
                                                      comments=(ASK, OUR_NOTE)))
    zd.put(TICKET, body=requests.ReadTimeout("read timed out"))
    told = []
    worker.escalator.notifier = SimpleNamespace(send=told.extend)
    deliver(store, "event:a")
    worker.run_once()
    assert puts(zd) == [expected_put()]
    assert told == [Notification(
        kind="escalated", platform="zendesk", ticket_ref="42", key="customer_request/comment:11",
        at=NOW, from_tier="L1", to_tier="L2", policies=("customer_request",),
        headline="tierlift escalated this ticket from L1 to L2.", subject="Printer on fire")]
    [entry] = store.audit_log()
    assert (entry["outcome"], entry["from_tier"], entry["to_tier"]) == ("escalated", "L1", "L2")
    timeout, reread = entry["detail"]["rounds"]
    assert entry["detail"]["confirmed_on_reread"] == {
        "audit_id": None, "error": timeout["write"]["error"], "policies": ["customer_request"]}
    assert "write" not in reread and reread["ticket"]["tier"] == "L2"
    assert store.used_evidence("zendesk", "42") == {("customer_request", "comment:11")}
    result = review(store)
    assert (result.escalations, result.by_policy) == (1, {"customer_request": 1})
    assert [f.recovered for f in result.write_failures] == [True]
    assert worker.escalator.metrics.registry.get_sample_value(
        "tierlift_decisions_total", {"outcome": "escalated", "mode": "live"}) == 1


def test_a_retried_delivery_confirms_the_write_an_earlier_attempt_lost(store, worker, zd,
                                                                       clock):
    """The PUT is applied, its answer lost, and the helpdesk unreachable for the re-read: the
    delivery is retried; its evaluation sees our write and audits it, writing nothing."""
    applied = []

    def applied_then_reset(request):
        applied.append(json.loads(request.body))
        raise requests.ConnectionError("connection reset by peer")

    serve_ticket(zd)
    zd.add(responses.GET, TICKET, body=requests.ConnectionError("connection refused"))
    zd.add_callback(responses.PUT, TICKET, callback=applied_then_reset)
    deliver(store, "event:a")
    worker.run_once()
    assert applied == [expected_put()]
    [first] = store.audit_log()
    assert first["outcome"] == "retry"

    zd.remove(responses.GET, TICKET)
    zd.get(TICKET, json=zendesk_ticket(group_id=102, updated_at="2026-11-20T10:00:01Z"))
    zd.replace(responses.GET, AUDITS, json=zendesk_audits(("2026-11-20T09:00:00Z", 101),
                                                          ("2026-11-20T10:00:01Z", 102),
                                                          comments=(ASK, OUR_NOTE)))
    clock.now += 1000
    calls = len(zd.calls)
    assert worker.run_once() is True
    assert [(c.request.method, c.request.url.split("?")[0]) for c in zd.calls[calls:]] == [
        ("GET", TICKET), ("GET", AUDITS)]
    assert len(applied) == 1
    _, confirmed = store.audit_log()
    assert audited(confirmed) == {
        "platform": "zendesk", "ticket_ref": "42", "outcome": "escalated", "from_tier": "L1",
        "to_tier": "L2", "route": None, "priority": None,
        "detail": {"deliveries": ["event:a"], "rounds": confirmed["detail"]["rounds"],
                   "confirmed_on_reread": {
                       "audit_id": first["id"], "policies": ["customer_request"],
                       "error": first["detail"]["rounds"][0]["write"]["error"]}}}
    assert [p["state"] for p in confirmed["detail"]["rounds"][0]["proposals"]] == ["acted_on"]
    assert store.used_evidence("zendesk", "42") == {("customer_request", "comment:11")}
    assert store.last_escalation("zendesk", "42") == clock.now
    result = review(store)
    assert (result.escalations, result.by_policy, result.evaluations) == \
        (1, {"customer_request": 1}, {"escalated": 1, "retry": 1})
    assert "tickets: 1  escalations: 1 (1 moved)" in review_lines(result)
    assert describe_audit(confirmed).endswith(
        "escalated L1 -> L2  by customer_request  (written earlier, its answer lost: confirmed "
        "on re-read)")

    deliver(store, "event:b")  # a later look: nothing to confirm twice
    worker.run_once()
    assert [e["outcome"] for e in store.audit_log()] == ["retry", "escalated", "no_change"]
    assert review(store).escalations == 1


def audited(entry: dict) -> dict:
    """An audit entry without its id and timings."""
    return {k: v for k, v in entry.items() if k not in ("id", "at", "duration_ms")}


def misdirected_count(worker, platform: str = "zendesk") -> float | None:
    return worker.escalator.metrics.registry.get_sample_value(
        "tierlift_misdirected_answers_total", {"platform": platform})


def test_an_answer_about_another_ticket_is_refused_audited_and_counted(store, worker, zd):
    zd.get(TICKET, json=zendesk_ticket(43))  # a PUT (to 42 or 43) would be unmatched: refused
    deliver(store, "event:a")
    worker.run_once()
    assert [(c.request.method, c.request.url.split("?")[0]) for c in zd.calls] == [
        ("GET", ME), ("GET", TICKET)]
    [entry] = store.audit_log()
    assert audited(entry) == {
        "platform": "zendesk", "ticket_ref": "42", "outcome": "rejected", "from_tier": None,
        "to_tier": None, "route": None, "priority": None,
        "detail": {"deliveries": ["event:a"], "rounds": [], "error": (
            "ticket 42: the helpdesk answered for ticket 43 when ticket 42 was asked; "
            "nothing written")}}
    assert store.inbox_counts() == {"done": 1}
    assert misdirected_count(worker) == 1


def test_an_audits_page_link_to_another_host_is_refused_and_nothing_written(store, worker, zd):
    page = zendesk_audits(("2026-11-20T09:00:00Z", 101), comments=(ASK,))
    page["next_page"] = "https://collector.example/api/v2/tickets/42/audits.json?page=2"
    zd.get(TICKET, json=zendesk_ticket())
    zd.get(AUDITS, json=page)
    deliver(store, "event:a")
    worker.run_once()
    assert [(c.request.method, c.request.url.split("?")[0]) for c in zd.calls] == [
        ("GET", ME), ("GET", TICKET), ("GET", AUDITS)]
    [entry] = store.audit_log()
    assert (entry["outcome"], entry["detail"]["error"]) == ("rejected", (
        "audits of ticket 42: next page "
        "'https://collector.example/api/v2/tickets/42/audits.json?page=2' is not on "
        f"{AUDITS}; not followed"))
    assert misdirected_count(worker) == 1


def test_429_on_a_read_waits_for_retry_after(store, worker, zd, sleeps):
    zd.get(TICKET, status=429, headers={"Retry-After": "2"}, json={"error": "TooManyRequests"})
    serve_ticket(zd)
    zd.put(TICKET, json=zendesk_ticket(group_id=102))
    deliver(store, "event:a")
    worker.run_once()
    assert sleeps == [2.0]
    assert puts(zd) == [expected_put()]


def test_422_for_the_assignee_clears_it_and_retries_once(store, worker, zd):
    serve_ticket(zd)
    zd.put(TICKET, status=422, json={"error": "RecordInvalid", "details": {"assignee": [
        {"description": "Assignee is not a member of the group", "error": "InvalidValue"}]}})
    zd.put(TICKET, json=zendesk_ticket(group_id=102, assignee_id=None))
    deliver(store, "event:a")
    worker.run_once()
    assert puts(zd) == [expected_put(), expected_put(assignee_id=None)]
    write = store.audit_log()[0]["detail"]["rounds"][0]["write"]
    assert write["assignee_cleared"] is True
    assert [r["status"] for r in write["requests"]] == [422, 200]


def test_another_422_is_recorded_as_rejected_and_the_evidence_kept_for_later(store, worker, zd):
    serve_ticket(zd)
    zd.put(TICKET, status=422, json={"error": "RecordInvalid",
                                     "details": {"group": [{"description": "Group is closed"}]}})
    deliver(store, "event:a")
    worker.run_once()
    assert len(puts(zd)) == 1
    [entry] = store.audit_log()
    assert entry["outcome"] == "rejected"
    assert "Group is closed" in entry["detail"]["error"]
    assert store.used_evidence("zendesk", "42") == set()
    assert store.inbox_counts() == {"done": 1}


def test_a_deleted_ticket_is_recorded_and_dropped(store, worker, zd):
    zd.get(TICKET, status=404, json={"error": "RecordNotFound", "description": "Not found"})
    deliver(store, "event:a")
    worker.run_once()
    [entry] = store.audit_log()
    assert (entry["outcome"], entry["detail"]["error"]) == ("not_found", "ticket 42: not found")
    assert store.inbox_counts() == {"done": 1}


def test_an_unavailable_helpdesk_keeps_the_delivery_and_retries_later(store, worker, zd,
                                                                      clock):
    zd.get(TICKET, status=503, headers={"Retry-After": "120"})
    deliver(store, "event:a")
    worker.run_once()
    assert [e["outcome"] for e in store.audit_log()] == ["retry"]
    assert store.audit_log()[0]["detail"]["retry_in_seconds"] == 120
    assert store.inbox_counts() == {"pending": 1}
    assert worker.run_once() is False  # not due yet
    clock.now += 121
    worker.run_once()
    clock.now += 121
    worker.run_once()  # third attempt of max_attempts=3
    assert [e["outcome"] for e in store.audit_log()] == ["retry", "retry", "failed"]
    assert store.inbox_counts() == {"failed": 1}


@pytest.mark.parametrize("retry_after", ["86400", "Fri, 01 Jan 2099 00:00:00 GMT", "inf"])
def test_a_retry_after_of_days_parks_nothing_every_wait_counts_and_it_fails_in_the_end(
        store, worker, zd, clock, retry_after):
    """Retry-After is capped (15 min by default); each wait is an attempt, so after
    max_attempts (3 here) the delivery is failed instead of parked for ever."""
    zd.get(TICKET, status=503, headers={"Retry-After": retry_after})
    deliver(store, "event:a")
    for _ in range(3):
        assert worker.run_once() is True
        clock.now += 901
    entries = store.audit_log()
    assert [e["outcome"] for e in entries] == ["retry", "retry", "failed"]
    waits = [e["detail"]["retry_in_seconds"] for e in entries]
    assert all(0 < w <= 900 for w in waits)
    assert store.inbox_counts() == {"failed": 1}


class Raising:
    @hookimpl
    def tierlift_evaluate(self, ticket, ctx):
        raise ValueError("bad regex in plugin")


def test_a_raising_policy_is_audited_and_the_others_still_escalate(store, settings, zd, host):
    host.register(Raising(), "raising")
    api = ApiSession(ZENDESK_URL, ("bot@acme.example/token", "token"))
    escalator = Escalator(store, {"zendesk": ZendeskConnector(api, TIER_GROUPS, settings.ladder)},
                          host.configure({"customer_request": {"enabled": True},
                                          "raising": {"enabled": True}}), settings.ladder,
                          now=lambda: NOW)
    serve_ticket(zd)
    zd.put(TICKET, json=zendesk_ticket(group_id=102))
    deliver(store, "event:a")
    Worker(store, escalator, settings.worker).run_once()
    assert puts(zd) == [expected_put()]
    [entry] = store.audit_log()
    assert entry["outcome"] == "escalated"
    assert entry["detail"]["policy_errors"] == [
        {"policy": "raising", "error": "ValueError: bad regex in plugin"}]


def test_a_held_proposal_books_an_evaluation_for_when_the_hold_ends(store, settings, sleeps,
                                                                    host, zd):
    """Created at 09:00, evaluated at 12:00, held until it is four hours old: the scheduler
    is told to look again at 13:00, since no webhook may come."""
    from plugins.decision import DecisionRules

    serve_ticket(zd)
    api = ApiSession(ZENDESK_URL, ("bot@acme.example/token", "token"), sleep=sleeps.append)
    escalator = Escalator(store, {"zendesk": ZendeskConnector(api, TIER_GROUPS, settings.ladder)},
                          host.configure({"customer_request": {"enabled": True}}),
                          settings.ladder, now=lambda: NOW,
                          rules=DecisionRules(min_age_minutes=240, effort_since="creation",
                                              gated=frozenset({"customer_request"})))
    deliver(store, "event:a")
    assert Worker(store, escalator, settings.worker).run_once() is True
    assert puts(zd) == []
    [entry] = store.audit_log()
    assert entry["outcome"] == "no_change"
    assert entry["detail"]["next_due"] == "2026-11-20T13:00:00+00:00"


def test_an_idle_worker_survives_a_store_outage_and_goes_on(store, worker, zd, monkeypatch):
    """The store fails while the worker is idle (asking for the next deadline): one logged
    error, and the loop carries on; work that arrives afterwards is done."""
    import threading

    calls = {"n": 0}
    next_due = store.next_due

    def flaky():
        calls["n"] += 1
        if calls["n"] <= 2:
            raise RuntimeError("connection refused")
        return next_due()

    monkeypatch.setattr(store, "next_due", flaky)
    worker.settings = worker.settings.model_copy(update={"poll_seconds": 0.02})
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    serve_ticket(zd)
    zd.put(TICKET, json=zendesk_ticket(group_id=102))
    deadline = time.monotonic() + 10
    while calls["n"] <= 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    deliver(store, "event:after-the-outage")
    worker.wake.set()
    while not store.audit_log() and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    worker.wake.set()
    thread.join(5)
    assert thread.is_alive() is False
    assert [e["outcome"] for e in store.audit_log()] == ["escalated"]
    assert puts(zd) == [expected_put()]
