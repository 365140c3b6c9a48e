"""What the benchmarks share: an emulated Zendesk team and ``tierlift serve`` as its own
process against it, with signed deliveries."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import faults
import requests

from webhook_app.emulator.base import BaseEmulator, Recorded
from webhook_app.emulator.jira import JiraEmulator
from webhook_app.emulator.zendesk import ZendeskEmulator
from webhook_app.signatures import ZENDESK_SIGNATURE, ZENDESK_TIMESTAMP, zendesk_signature

SECRET = "bench-secret"
TIERLIFT = str(Path(sys.executable).parent / "tierlift")
CONFIG = """
database_url = "sqlite:///{db}"
[zendesk]
base_url = "{url}"
email = "{email}"
api_token = "{token}"
webhook_secret = "{secret}"
[zendesk.tier_groups]
L1 = 101
L2 = 102
L3 = 103
"""


def zendesk_team(rate_limit: int) -> ZendeskEmulator:
    """A Zendesk with one customer (user 1) and the three tier groups 101-103."""
    zendesk = ZendeskEmulator(rate_limit=rate_limit)
    zendesk.user(1, "Maya")
    for group in (101, 102, 103):
        zendesk.group(group)
    return zendesk


def start_tierlift(zendesk: ZendeskEmulator, url: str, policies: str,
                   prefix: str) -> tuple[subprocess.Popen, str]:
    """``tierlift serve`` on a free port with ``policies`` (TOML tables); returns the process
    and its base URL once it is ready."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    config = workdir / "tierlift.toml"
    config.write_text(CONFIG.format(db=workdir / "tierlift.db", url=url, email=zendesk.email,
                                    token=zendesk.api_token, secret=SECRET) + policies)
    return serve(config)


def serve(config: Path, *, env: dict[str, str] | None = None,
          workers: int = 1) -> tuple[subprocess.Popen, str]:
    """``tierlift serve --config config`` on a free port (``env``: its whole environment,
    default this one's); returns the process and its base URL once it is ready."""
    port = _free_port()
    process = subprocess.Popen([TIERLIFT, "serve", "--config", str(config), "--port", str(port),
                                "--workers", str(workers), "--log-level", "warning"], env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        if process.poll() is not None:
            raise SystemExit("tierlift serve exited")
        try:
            if requests.get(f"{base}/readyz", timeout=1).status_code == 200:
                return process, base
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    raise SystemExit("tierlift serve did not become ready")


def signed(body: bytes) -> dict[str, str]:
    """Headers of a Zendesk delivery of ``body`` signed now."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"Content-Type": "application/json", ZENDESK_TIMESTAMP: stamp,
            ZENDESK_SIGNATURE: zendesk_signature(SECRET, stamp, body)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- both helpdesks, their webhooks captured, for the scale-out and end-to-end benchmarks -------

RATE_LIMIT_OFF = 1_000_000_000  # requests a minute: the emulators never answer 429


class Captured:
    """An emulator's webhook sender that keeps each signed delivery for the benchmark to post
    (``deliveries``: (platform, body, sign) in the order the helpdesk made them)."""

    def __init__(self, platform: str, deliveries: list) -> None:
        self._platform, self._deliveries = platform, deliveries

    def send(self, body: bytes, sign) -> None:
        self._deliveries.append((self._platform, body, sign))

    def close(self) -> None:
        pass


def helpdesks(deliveries: list) -> tuple[ZendeskEmulator, JiraEmulator]:
    """The fault suite's Zendesk and Jira on loopback with no rate limit and no faults, their
    webhooks (signed with faults.SECRET) appended to ``deliveries``."""
    zendesk = ZendeskEmulator(rate_limit=RATE_LIMIT_OFF)
    zendesk.user(faults.MAYA, "Maya Lind")
    zendesk.user(faults.ANA, "Ana", role="agent")
    zendesk.group(faults.L1, faults.ANA)
    zendesk.group(faults.L2)
    zendesk.group(faults.L3)
    jira = JiraEmulator(rate_limit=RATE_LIMIT_OFF)
    jira.user(faults.CUSTOMER, "Maya Lind", customer=True)
    jira.user(faults.AGENT, "Chen")
    for emulator, platform in ((zendesk, "zendesk"), (jira, "jira")):
        emulator.webhook_secret = faults.SECRET
        emulator.sender = Captured(platform, deliveries)
        emulator.server = emulator.serve()
        emulator.url = emulator.server.url
    return zendesk, jira


def asking_ticket(zendesk: ZendeskEmulator, jira: JiraEmulator, platform: str) -> str:
    """A new ticket whose customer then asks for a manager (two webhooks captured: created,
    commented); returns its reference."""
    if platform == "zendesk":
        ticket = zendesk.create_ticket(subject="Charged twice", description="I was charged "
                                       "twice.", requester_id=faults.MAYA, group_id=faults.L1,
                                       assignee_id=faults.ANA)
        zendesk.customer_comment(ticket, faults.ASK)
        return str(ticket)
    key = jira.create_issue("Invoices export fails", "Export gives error 500.", faults.CUSTOMER)
    jira.customer_comment(key, faults.ASK)
    return key


def requests_by_ticket(zendesk: ZendeskEmulator,
                       jira: JiraEmulator) -> dict[tuple[str, str], list[Recorded]]:
    """Every API request the emulators recorded, by the ticket its path names (one pass: the
    emulators' ``writes(ticket)`` scans the whole log per call)."""
    keys = {issue.id: key for key, issue in jira.issues.items()}  # a path may name the id
    found: dict[tuple[str, str], list[Recorded]] = defaultdict(list)
    for platform, emulator, pattern in (("zendesk", zendesk, _ZENDESK_TICKET),
                                        ("jira", jira, _JIRA_ISSUE)):
        for recorded in list(emulator.requests):
            if match := pattern.search(recorded.path):
                ref = match.group(1)
                found[platform, keys.get(ref, ref)].append(recorded)
    return found


_ZENDESK_TICKET = re.compile(r"/tickets/(\d+)(?:\.json|/)")
_JIRA_ISSUE = re.compile(r"/(?:issue|request)/([^/]+)")


def close_helpdesks(*emulators: BaseEmulator) -> None:
    for emulator in emulators:
        emulator.server.stop()
        emulator.close()


