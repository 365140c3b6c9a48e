"""Run a WSGI app on a loopback port in a thread, and send signed webhooks from a queue."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests
from werkzeug.serving import make_server

log = logging.getLogger(__name__)


class LoopbackServer:
    """A threaded werkzeug server on 127.0.0.1; ``port=0`` picks a free port."""

    def __init__(self, app, port: int = 0) -> None:
        self._server = make_server("127.0.0.1", port, app, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name=f"loopback-{self.port}")

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)


@dataclass(frozen=True)
class SentWebhook:
    body: bytes
    headers: dict[str, str]
    status: int | None


class WebhookSender:
    """Delivers webhooks in order on a background thread, retrying like a helpdesk does when
    the receiver is unreachable, and remembers every answer."""

    def __init__(self, url: str, *, attempts: int = 5, pause: float = 0.5) -> None:
        self.url = url
        self.attempts = attempts
        self.pause = pause
        self.sent: list[SentWebhook] = []
        self._queue: queue.Queue[tuple[bytes, Callable[[bytes], dict[str, str]]] | None] = \
            queue.Queue()
        self._thread = threading.Thread(target=self._run, daemon=True, name="webhook-sender")
        self._thread.start()

    def send(self, body: bytes, sign: Callable[[bytes], dict[str, str]]) -> None:
        """Queue ``body``; ``sign`` makes its headers at send time (signatures carry a time)."""
        self._queue.put((body, sign))

    @property
    def idle(self) -> bool:
        return not self._queue.unfinished_tasks

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until everything queued so far was delivered (or given up on)."""
        deadline = time.monotonic() + timeout
        while not self.idle and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            body, sign = item
            status = None
            for _ in range(self.attempts):
                headers = sign(body)
                try:
                    status = requests.post(self.url, data=body, headers=headers,
                                           timeout=5).status_code
                    break
                except requests.RequestException as exc:
                    log.debug("webhook to %s failed: %s", self.url, exc)
                    time.sleep(self.pause)
            self.sent.append(SentWebhook(body, headers, status))
            self._queue.task_done()
        self._queue.task_done()
