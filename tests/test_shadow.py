"""Shadow mode: decide, write the note and audit exactly as live, never write; a shadow policy's
proposals never mix into a live decision, and going live later still acts on what shadow saw."""

from __future__ import annotations

import pytest
import responses
from builders import zendesk_ticket
from conftest import TIER_GROUPS, ZENDESK_URL
from test_escalation import (
    ME,
    NOW,
    TICKET,
    deliver,
    expected_put,
    puts,
    serve_ticket,
)

from connector.http import ApiSession
from connector.zendesk import ZendeskConnector
from plugins import hookimpl
from plugins.manager import ConfigError, PolicyHost
from webhook_app.escalation import Escalator
from webhook_app.store import Store
from webhook_app.worker import Worker


class Loud:
    """A policy that wants every ticket asking anything in L3."""

    @hookimpl
    def tierlift_evaluate(self, ticket, ctx):
        return ctx.propose(ctx.evidence("loud", "everything is urgent to me"), tier="L3")


@pytest.fixture
def store(settings) -> Store:
    store = Store(settings.database_url)
    store.create_schema()
    yield store
    store.close()


def make_worker(store, settings, policies: dict, *, shadow: bool = False) -> Worker:
    host = PolicyHost(load_entry_points=False)
    host.register(Loud(), "loud")
    api = ApiSession(ZENDESK_URL, ("bot@acme.example/token", "token"), sleep=lambda _: None)
    escalator = Escalator(store, {"zendesk": ZendeskConnector(api, TIER_GROUPS, settings.ladder)},
                          host.configure(policies), settings.ladder, now=lambda: NOW,
                          shadow=shadow)
    return Worker(store, escalator, settings.worker)


@pytest.fixture
def zd():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(ME, json={"user": {"id": 900, "role": "admin"}})
        yield mock


def test_global_shadow_audits_the_exact_write_and_never_sends_it(store, settings, zd):
    serve_ticket(zd)
    worker = make_worker(store, settings, {"customer_request": {"enabled": True}}, shadow=True)
    deliver(store, "event:a")
    assert worker.run_once() is True

    assert puts(zd) == []
    [entry] = store.audit_log()
    assert (entry["outcome"], entry["from_tier"], entry["to_tier"]) == ("shadow", "L1", None)
    [round_] = entry["detail"]["rounds"]
    assert round_["mode"] == "shadow"
    assert round_["decision"] == {"to_tier": "L2", "route": None, "priority": None}
    assert [p["state"] for p in round_["proposals"]] == ["fired"]
    would = round_["shadow"]
    assert would["policies"] == ["customer_request"]
    live = expected_put()["ticket"]
    assert (would["would_write"]["tier"], would["would_write"]["internal_note"]) == \
        ("L2", live["comment"]["body"])
    assert would["would_write"]["add_tags"] == ["tierlift_escalated",
                                                "tierlift_customer_request"]

    deliver(store, "event:b")  # the same evidence again: no second would-be write
    assert worker.run_once() is True
    assert store.audit_log()[-1]["outcome"] == "no_change"
    assert puts(zd) == []


def test_going_live_after_shadow_still_acts_on_what_shadow_saw(store, settings, zd):
    serve_ticket(zd)
    deliver(store, "event:a")
    make_worker(store, settings, {"customer_request": {"enabled": True}},
                shadow=True).run_once()
    zd.put(TICKET, json=zendesk_ticket(group_id=102))
    deliver(store, "event:b")
    assert make_worker(store, settings, {"customer_request": {"enabled": True}}).run_once()
    assert puts(zd) == [expected_put()]
    assert store.audit_log()[-1]["outcome"] == "escalated"


def test_a_shadow_policy_never_changes_the_live_write_and_is_audited_beside_it(store, settings,
                                                                                zd):
    serve_ticket(zd)
    zd.put(TICKET, json=zendesk_ticket(group_id=102))
    worker = make_worker(store, settings, {"customer_request": {"enabled": True},
                                           "loud": {"enabled": True, "mode": "shadow"}})
    deliver(store, "event:a")
    assert worker.run_once() is True

    assert puts(zd) == [expected_put()]  # L2 as customer_request says, not loud's L3
    [entry] = store.audit_log()
    assert (entry["outcome"], entry["to_tier"]) == ("escalated", "L2")
    [round_] = entry["detail"]["rounds"]
    assert {p["policy"]: p["state"] for p in round_["proposals"]} == \
        {"customer_request": "fired", "loud": "shadow"}
    assert round_["decision"]["to_tier"] == "L2"
    assert round_["shadow"]["policies"] == ["loud"]
    assert round_["shadow"]["would_write"]["tier"] == "L3"


def test_a_ticket_only_a_shadow_policy_would_move_is_not_written(store, settings, zd):
    serve_ticket(zd, comments=((11, 1, "Where is the export button?", True,
                                "2026-11-20T09:05:00Z"),))
    worker = make_worker(store, settings, {"customer_request": {"enabled": True},
                                           "loud": {"enabled": True, "mode": "shadow"}})
    deliver(store, "event:a")
    assert worker.run_once() is True
    assert puts(zd) == []
    [entry] = store.audit_log()
    assert entry["outcome"] == "shadow"
    assert entry["detail"]["rounds"][0]["shadow"]["would_write"]["tier"] == "L3"


def test_a_policys_mode_is_live_or_shadow():
    host = PolicyHost(load_entry_points=False)
    assert host.configure({"vip": {"enabled": True, "mode": "shadow"}}).shadow == {"vip"}
    assert host.configure({"vip": {"enabled": True, "mode": "live"}}).shadow == frozenset()
    with pytest.raises(ConfigError) as caught:
        host.configure({"vip": {"enabled": True, "mode": "dry"}})
    assert caught.value.problems == ["policies.vip.mode: expected live or shadow, got 'dry'"]
