"""The loopback Zendesk emulator set up as a small support team, for end-to-end tests."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

import requests
from builders import LADDER

from connector.http import ApiSession, BearerAuth
from connector.jira import JiraConnector
from webhook_app.emulator.zendesk import ZendeskEmulator
from webhook_app.store import Store

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
                 worker: dict[str, float] | None = None, extra: str = "") -> Path:
    """A config file for ``tierlift serve``/``worker`` against the emulator, customer_request on
    (``extra``: more TOML tables, e.g. another policy)."""
    # No sweep unless a test asks: it would find the tickets a test announces on purpose.
    worker_table = "\n".join(f"{k} = {v}" for k, v in {"poll_seconds": 0.2, "sweep_minutes": 0,
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
    """) + worker_table + "\n" + textwrap.dedent(extra))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Tierlift:
    """A ``tierlift serve`` subprocess with its own config file and SQLite store."""

    def __init__(self, tmp_path: Path, config: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = tmp_path / "tierlift.db"
        self.log = tmp_path / "serve.log"
        self.config = config
        self.process: subprocess.Popen | None = None

    def start(self) -> Tierlift:
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [TIERLIFT, "serve", "--config", str(self.config), "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._healthy, what=f"tierlift on {self.url}")
        return self

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"tierlift exited:\n{self.log.read_text()}")
        try:
            return requests.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def pending(self) -> int:
        store = Store(f"sqlite:///{self.db}")
        try:
            return store.inbox_counts().get("pending", 0)
        finally:
            store.close()

    def audit(self) -> list[dict]:
        store = Store(f"sqlite:///{self.db}")
        try:
            return store.audit_log(limit=1000)
        finally:
            store.close()


def write_jira_config(path: Path, jira, db: Path, *, secret: str | None = None,
                      token: str | None = None, sweep_minutes: float = 0) -> Path:
    """A config with only ``[jira]`` against the Jira emulator, customer_request on."""
    if jira.cloud:
        auth = f'email = "{jira.email}"\napi_token = "{jira.api_token}"'
    else:
        auth = f'pat = "{jira.pat}"'
    webhook = "\n".join(f'{key} = "{value}"' for key, value in
                        (("webhook_secret", secret), ("webhook_token", token)) if value)
    path.write_text(textwrap.dedent(f"""
        database_url = "sqlite:///{db}"
        [worker]
        poll_seconds = 0.2
        sweep_minutes = {sweep_minutes}
        [policies.customer_request]
        enabled = true
        [jira]
        base_url = "{jira.url}"
        tier_field = "{jira.tier_field}"
        [jira.tier_values]
        L1 = "Tier 1"
        L2 = "Tier 2"
        L3 = "Tier 3"
    """).replace("[jira]\n", f"[jira]\n{auth}\n{webhook}\n"))
    return path


@contextmanager
def served(emulator):
    """``emulator`` listening on loopback, its ``url`` set, until the block ends."""
    server = emulator.serve()
    emulator.url = server.url
    try:
        yield emulator
    finally:
        emulator.close()
        server.stop()


def jira_connector(jira) -> tuple[JiraConnector, list[str]]:
    """A connector to the served Jira emulator ``jira``, and the URLs it requests, in order."""
    auth = (jira.email, jira.api_token) if jira.cloud else BearerAuth(jira.pat)
    api = ApiSession(jira.url, auth)
    urls: list[str] = []
    api.session.hooks["response"].append(lambda r, *_, **__: urls.append(r.request.url))
    connector = JiraConnector(api, cloud=jira.cloud, tier_field=jira.tier_field,
                              tier_values={"L1": "Tier 1", "L2": "Tier 2", "L3": "Tier 3"},
                              ladder=LADDER, priorities={})
    return connector, urls
