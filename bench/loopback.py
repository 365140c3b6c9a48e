"""What the benchmarks share: an emulated Zendesk team and ``tierlift serve`` as its own
process against it, with signed deliveries."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

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
