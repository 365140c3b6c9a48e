"""Black box: a deadline escalates a ticket on time with no webhook after the first one."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime

import requests
from conftest import SECRET, sign
from emulated import ANA, L1, L2, MAYA, Tierlift, wait_for, write_config

SLA = """
[policies.sla]
enabled = true
calendar = "24x7"
[policies.sla.first_reply_minutes]
urgent = 0.05
high = 0.05
normal = 0.05
low = 0.05
"""


def test_a_ticket_without_a_first_reply_moves_up_within_seconds_of_its_deadline(tmp_path,
                                                                              zendesk):
    config = write_config(tmp_path / "tierlift.toml", zendesk, tmp_path / "tierlift.db",
                          secret=SECRET, extra=SLA)
    tl = Tierlift(tmp_path, config).start()
    try:
        ticket = zendesk.create_ticket(subject="Cannot print invoices",
                                       description="Printing fails.", requester_id=MAYA,
                                       group_id=L1, assignee_id=ANA, notify=False)
        created = datetime.fromisoformat(zendesk.tickets[ticket]["created_at"])
        deadline = created.timestamp() + 3  # 0.05 minutes
        body = json.dumps({"type": "zen:event-type:ticket.created", "id": str(uuid.uuid4()),
                           "subject": f"zen:ticket:{ticket}",
                           "detail": {"id": str(ticket), "actor_id": str(MAYA)},
                           "event": {}}).encode()
        status = requests.post(f"{tl.url}/webhooks/zendesk", data=body, headers=sign(body),
                               timeout=5).status_code
        assert status == 202  # the only webhook: no helpdesk change announces the deadline
        wait_for(lambda: zendesk.tickets[ticket]["group_id"] == L2, timeout=15,
                 what="the breach escalation")
        moved = time.time()
        assert moved - deadline < 5.0
        writes = zendesk.writes(ticket)
        # at 75 % of the target: priority and tag; at the deadline: the tier
        assert [w.body["ticket"].get("priority") for w in writes] == ["high", None]
        assert "tierlift_sla_at_risk" in writes[0].body["ticket"]["tags"]
        assert writes[1].body["ticket"]["group_id"] == L2
        assert "first reply target of 3 s missed" in writes[1].body["ticket"]["comment"]["body"]
    finally:
        tl.stop()
