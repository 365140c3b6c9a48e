"""The loopback Zendesk emulator set up as a small support team, for end-to-end tests."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

from webhook_app.emulator.zendesk import ZendeskEmulator

TIERLIFT = str(Path(sys.executable).parent / "tierlift")
L1, L2, L3 = 101, 102, 103
ANA, CHEN, MAYA = 501, 601, 1


def wait_for(predicate, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def team() -> ZendeskEmulator:
    """Maya the customer; Ana in the tier-1 group, Chen in tier 2; an empty tier-3 group."""
    emulator = ZendeskEmulator()
    emulator.user(MAYA, "Maya Lind")
    emulator.user(ANA, "Ana", role="agent")
    emulator.user(CHEN, "Chen", role="agent")
    emulator.group(L1, ANA)
    emulator.group(L2, CHEN)
    emulator.group(L3)
    return emulator


def manager_ticket(zendesk: ZendeskEmulator) -> int:
    ticket = zendesk.create_ticket(subject="Charged twice", description="I was charged twice.",
                                   requester_id=MAYA, group_id=L1, assignee_id=ANA,
                                   notify=False)
    zendesk.customer_comment(ticket, "I want to speak to a manager", notify=False)
    return ticket


def write_config(path: Path, zendesk: ZendeskEmulator, db: Path, *, secret: str,
                 worker: dict[str, float] | None = None) -> Path:
    """A config file for ``tierlift serve``/``worker`` against the emulator, customer_request on."""
    worker_table = "\n".join(f"{k} = {v}" for k, v in {"poll_seconds": 0.2,
                                                         **(worker or {})}.items())
    path.write_text(textwrap.dedent(f"""
        database_url = "sqlite:///{db}"
        tiers = ["L1", "L2", "L3"]
        default_tier = "L1"

        [zendesk]
        base_url = "{zendesk.url}"
        email = "{zendesk.email}"
        api_token = "{zendesk.api_token}"
        webhook_secret = "{secret}"
        [zendesk.tier_groups]
        L1 = {L1}
        L2 = {L2}
        L3 = {L3}

        [policies.customer_request]
        enabled = true
        phrases = ["speak to a manager", "escalate this"]

        [worker]
    """) + worker_table + "\n")
    return path
