"""Black box: ``tierlift serve`` as a subprocess against the loopback Zendesk emulator."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import pytest
import requests
from conftest import SECRET, sign
from emulated import CHEN, L1, L2, MAYA, Tierlift, manager_ticket, wait_for, write_config

from webhook_app.emulator.zendesk import BOT_ID, ZendeskEmulator


@pytest.fixture
def tierlift(tmp_path, zendesk):
    instances: list[Tierlift] = []

    def make(**worker: float) -> Tierlift:
        config = write_config(tmp_path / "tierlift.toml", zendesk, tmp_path / "tierlift.db",
                              secret=SECRET, worker=worker)
        instance = Tierlift(tmp_path, config)
        instances.append(instance)
        return instance

    yield make
    for instance in instances:
        instance.stop()


def comment_added(ticket_id: int, actor: int) -> bytes:
    return json.dumps({
        "type": "zen:event-type:ticket.comment_added", "account_id": 12514403,
        "id": str(uuid.uuid4()), "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "zendesk_event_version": "2022-11-06", "subject": f"zen:ticket:{ticket_id}",
        "detail": {"id": str(ticket_id), "actor_id": str(actor), "group_id": str(L1),
                   "status": "OPEN"},
        "event": {},
    }).encode()


def post(tl: Tierlift, body: bytes) -> tuple[int, float]:
    started = time.monotonic()
    status = requests.post(f"{tl.url}/webhooks/zendesk", data=body, headers=sign(body),
                           timeout=5).status_code
    return status, time.monotonic() - started


def assert_one_escalation(zendesk: ZendeskEmulator, ticket: int) -> dict:
    [put] = zendesk.writes(ticket)
    fields = put.body["ticket"]
    assert fields["group_id"] == L2
    assert fields["comment"]["public"] is False
    assert "customer_request" in fields["comment"]["body"]
    assert '"I want to speak to a manager"' in fields["comment"]["body"]
    assert zendesk.tickets[ticket]["group_id"] == L2
    return fields


def test_a_signed_delivery_is_acknowledged_fast_and_escalates_exactly_once(zendesk, tierlift):
    ticket = manager_ticket(zendesk)
    tl = tierlift().start()
    zendesk.send_webhooks_to(f"{tl.url}/webhooks/zendesk", SECRET)  # echoes our own write
    body = comment_added(ticket, MAYA)

    status, elapsed = post(tl, body)
    assert status == 202 and elapsed < 1.0
    assert post(tl, body)[0] == 200  # Zendesk retried the same delivery

    wait_for(lambda: zendesk.writes(ticket), what="the escalation PUT")
    zendesk.sender.drain()
    wait_for(lambda: tl.pending() == 0, what="the echoed webhooks to be processed")
    fields = assert_one_escalation(zendesk, ticket)
    assert fields["assignee_id"] is None  # Ana is not in the tier-2 group
    assert fields["tags"] == ["tierlift_escalated", "tierlift_customer_request"]
    outcomes = [e["outcome"] for e in tl.audit()]
    assert outcomes[0] == "escalated" and set(outcomes[1:]) == {"own_change"}

    # Tier 2 hands it back down; the same words must not bounce it up again.
    zendesk.agent_moves(ticket, CHEN, L1)
    zendesk.sender.drain()
    wait_for(lambda: tl.pending() == 0 and tl.audit()[-1]["outcome"] == "no_change",
             what="the move down to be evaluated")
    assert len(zendesk.writes(ticket)) == 1
    assert zendesk.tickets[ticket]["group_id"] == L1


def test_a_forged_delivery_gets_401_and_causes_no_api_call(zendesk, tierlift):
    ticket = manager_ticket(zendesk)
    tl = tierlift().start()
    # At start the worker asks Zendesk who it is (users/me), and nothing else.
    wait_for(lambda: zendesk.requests, what="the worker to identify its API user")
    assert [r.path for r in zendesk.requests] == ["/api/v2/users/me.json"]
    body = comment_added(ticket, MAYA)
    forged = requests.post(f"{tl.url}/webhooks/zendesk", data=body,
                           headers=sign(body, secret="guessed"), timeout=5)
    unsigned = requests.post(f"{tl.url}/webhooks/zendesk", data=body,
                             headers={"Content-Type": "application/json"}, timeout=5)
    assert (forged.status_code, unsigned.status_code) == (401, 401)
    time.sleep(1.0)  # longer than the coalescing window: a stored delivery would be processed
    assert [r.path for r in zendesk.requests] == ["/api/v2/users/me.json"]


def test_a_delivery_acknowledged_before_a_kill_is_processed_after_restart(zendesk, tierlift):
    ticket = manager_ticket(zendesk)
    # A long coalescing window keeps the delivery waiting in the inbox when the process dies.
    tl = tierlift(coalesce_seconds=3.0).start()
    status, _ = post(tl, comment_added(ticket, MAYA))
    assert status == 202
    tl.kill()
    assert zendesk.writes(ticket) == []

    tl.start()
    wait_for(lambda: zendesk.writes(ticket), what="the escalation after restart")
    wait_for(lambda: tl.pending() == 0, what="the inbox to drain")
    assert_one_escalation(zendesk, ticket)


def test_a_kill_in_the_middle_of_processing_is_finished_once_after_restart(zendesk, tierlift):
    ticket = manager_ticket(zendesk)
    zendesk.slow_next("GET", rf"/tickets/{ticket}/audits\.json", 30)
    tl = tierlift(coalesce_seconds=0, lease_seconds=2).start()
    assert post(tl, comment_added(ticket, MAYA))[0] == 202
    wait_for(lambda: any(r.method == "GET" and r.path == f"/api/v2/tickets/{ticket}.json"
                         for r in zendesk.requests),
             what="the worker to be mid-ticket")
    tl.kill()
    assert zendesk.writes(ticket) == []

    tl.start()  # the dead worker's lease runs out after 2 s, then the ticket is taken again
    wait_for(lambda: zendesk.writes(ticket), what="the escalation after restart")
    wait_for(lambda: tl.pending() == 0, what="the inbox to drain")
    assert_one_escalation(zendesk, ticket)
    assert zendesk.tickets[ticket]["updated_at"] >= zendesk.tickets[ticket]["created_at"]


def test_our_note_and_group_change_echoed_as_trigger_webhooks_write_nothing(zendesk, tierlift):
    ticket = manager_ticket(zendesk)
    tl = tierlift().start()
    assert post(tl, comment_added(ticket, MAYA))[0] == 202
    wait_for(lambda: zendesk.writes(ticket), what="the escalation PUT")
    # A trigger webhook for the change we made, naming our bot as the actor.
    echo = json.dumps({"ticket_id": str(ticket), "actor": str(BOT_ID),
                       "updated_at": zendesk.tickets[ticket]["updated_at"]}).encode()
    assert post(tl, echo)[0] == 202
    wait_for(lambda: len(tl.audit()) == 2, what="the echo")
    # And one without an actor (an older trigger template): evaluated, evidence already used.
    bare = json.dumps({"ticket_id": str(ticket), "updated_at": "later"}).encode()
    assert post(tl, bare)[0] == 202
    wait_for(lambda: tl.pending() == 0 and len(tl.audit()) == 3, what="the echoes")
    assert [e["outcome"] for e in tl.audit()] == ["escalated", "own_change", "no_change"]
    assert len(zendesk.writes(ticket)) == 1
