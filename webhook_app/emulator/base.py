"""What every loopback helpdesk emulator shares: injected faults, a per-minute rate limit,
request recording, and the gate in front of every route (auth, then rate limit, then faults).

Fault kinds: an error answer (:meth:`BaseEmulator.fail_next`), an answer given late before the
request is carried out (:meth:`BaseEmulator.slow_next`), and a request carried out at once but
answered late (:meth:`BaseEmulator.stall_after_next`: past the client's timeout, a write that was
applied though the client saw it time out). Each takes the next ``times`` matching requests, or
with ``times=None`` every one from now on; ``chance`` makes it take each one at random.

A subclass keeps the helpdesk's state, adds its routes in :meth:`BaseEmulator._routes`, checks
credentials in :meth:`BaseEmulator._authorized` and names its rate-limit headers and error bodies.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

from flask import Flask, Response, g, jsonify, request

from webhook_app.emulator.server import LoopbackServer, WebhookSender


@dataclass
class Fault:
    """Answer ``status``; or, with ``status=None``, answer normally ``delay`` seconds late:
    before carrying the request out, or with ``after`` once it is carried out. It takes the next
    ``times`` matching requests (``None``: no end), each with probability ``chance``."""

    method: str
    path: re.Pattern[str]
    status: int | None
    times: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: dict = field(default_factory=dict)
    delay: float = 0.0
    after: bool = False
    chance: float = 1.0


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    body: dict | None
    status: int
    at: float = field(default_factory=time.time, compare=False)  # when it was answered


class BaseEmulator(ABC):
    """Faults, rate limit and request log of an emulated helpdesk. All methods are thread-safe."""

    #: Names of the headers carrying the per-minute limit, what is left of it, and the seconds
    #: until the window resets (``None``: not sent).
    rate_limit_headers: ClassVar[tuple[str, str, str | None]]
    unauthorized_body: ClassVar[dict]
    rate_limited_body: ClassVar[dict]
    fault_body: ClassVar[dict]  # what fail_next answers unless given a body

    def __init__(self, *, rate_limit: int, first_id: int = 1000) -> None:
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.sender: WebhookSender | None = None
        self.rate_limit = rate_limit  # requests per minute
        self._rate_remaining = rate_limit
        self._rate_window_start = time.monotonic()
        self._ids = itertools.count(first_id)
        self._lock = threading.RLock()
        self.rng = random.Random()  # draws the faults given a chance below 1
        self.held = 0  # answers stall_after_next holds back right now

    def fail_next(self, method: str, path: str, status: int, *, times: int | None = 1,
                  headers: dict[str, str] | None = None, body: dict | None = None,
                  chance: float = 1.0) -> Fault:
        """The next ``times`` requests matching ``method`` and the ``path`` regex get ``status``."""
        return self._add(Fault(method.upper(), re.compile(path), status, times, headers or {},
                               body or self.fault_body, chance=chance))

    def slow_next(self, method: str, path: str, seconds: float, *, times: int | None = 1,
                  chance: float = 1.0) -> Fault:
        """The next ``times`` matching requests are answered normally, ``seconds`` late."""
        return self._add(Fault(method.upper(), re.compile(path), None, times, delay=seconds,
                               chance=chance))

    def stall_after_next(self, method: str, path: str, seconds: float, *,
                         times: int | None = 1, chance: float = 1.0) -> Fault:
        """The next ``times`` matching requests are carried out at once (a write is applied, its
        webhooks sent), then their answer is held back ``seconds``: beyond the client's read
        timeout, the client sees a timeout for a write that happened."""
        return self._add(Fault(method.upper(), re.compile(path), None, times, delay=seconds,
                               after=True, chance=chance))

    def clear_faults(self) -> None:
        """No more injected faults (an answer already held back still comes late)."""
        with self._lock:
            self.faults.clear()

    def _add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def close(self) -> None:
        if self.sender is not None:
            self.sender.close()

    def app(self) -> Flask:
        """The emulator as a WSGI app: the gate, then the subclass's routes."""
        app = Flask(type(self).__module__)
        app.before_request(self._gate)
        app.after_request(self._hold)
        self._routes(app)
        return app

    def serve(self) -> LoopbackServer:
        return LoopbackServer(self.app()).start()

    @abstractmethod
    def _authorized(self, header: str) -> bool:
        """Whether the ``Authorization`` header carries valid credentials."""

    @abstractmethod
    def _routes(self, app: Flask) -> None:
        """Add the helpdesk's endpoints to ``app``."""

    def _gate(self) -> Response | None:
        if not self._authorized(request.headers.get("Authorization", "")):
            return self._reply(401, self.unauthorized_body)
        wait = self._spend()
        if wait is not None:
            return self._reply(429, self.rate_limited_body, {"Retry-After": str(math.ceil(wait))})
        with self._lock:
            fault = next((f for f in self.faults if f.times != 0 and f.method == request.method
                          and f.path.search(request.path)
                          and (f.chance >= 1 or self.rng.random() < f.chance)), None)
            if fault is not None and fault.times is not None:
                fault.times -= 1
        if fault is None:
            return None
        if fault.status is None:
            if fault.after:
                g.hold_answer = fault.delay
            else:
                time.sleep(fault.delay)
            return None
        return self._reply(fault.status, fault.body, fault.headers)

    def _hold(self, response: Response) -> Response:
        """Hold back the answer of a request a stall_after_next fault took."""
        seconds = g.pop("hold_answer", 0.0)
        if seconds:
            with self._lock:
                self.held += 1
            try:
                time.sleep(seconds)
            finally:
                with self._lock:
                    self.held -= 1
        return response

    def _spend(self) -> float | None:
        """Count a request against the per-minute budget; seconds until reset if it is spent."""
        with self._lock:
            now = time.monotonic()
            if now - self._rate_window_start >= 60:
                self._rate_window_start, self._rate_remaining = now, self.rate_limit
            if self._rate_remaining == 0:
                return 60 - (now - self._rate_window_start)
            self._rate_remaining -= 1
            return None

    def _reply(self, status: int, body: dict | None,
               headers: dict[str, str] | None = None) -> Response:
        """A JSON response (``body=None``: empty) with rate-limit headers, recorded."""
        with self._lock:
            elapsed = time.monotonic() - self._rate_window_start
            self.requests.append(Recorded(request.method, request.path,
                                          request.get_json(silent=True), status))
            if body is None:
                response = Response()
                response.headers.remove("Content-Type")
            else:
                response = jsonify(body)
            response.status_code = status
            limit, remaining, reset = self.rate_limit_headers
            response.headers.update({limit: str(self.rate_limit),
                                     remaining: str(self._rate_remaining)})
            if reset is not None:
                response.headers[reset] = str(int(60 - elapsed))
            response.headers.update(headers or {})
            return response
