"""Background loops never stop silently: back-off on store errors, restart of a loop that ended,
/readyz 503 when a loop stopped, work stalls or the store refuses writes; absurd timings
refused by the configuration."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

import pytest
from conftest import make_settings
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from connector.errors import one_line
from webhook_app import create_app
from webhook_app.service import Service
from webhook_app.settings import EscalationSettings, WorkerSettings
from webhook_app.store import AuditRecord, Delivery, Store
from webhook_app.supervisor import Backoff, Supervisor
from webhook_app.worker import Worker


def store_down() -> OperationalError:
    return OperationalError("SELECT ...", {}, sqlite3.OperationalError("database is locked"))


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- back-off -------------------------------------------------------------------------------


def test_backoff_doubles_up_to_its_cap_and_starts_again_after_a_success():
    backoff = Backoff(first=1.0, cap=10.0)
    assert [backoff.failed() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    backoff.succeeded()
    assert backoff.failed() == 1.0


def test_backoff_survives_a_very_long_outage():
    backoff = Backoff(first=1.0, cap=60.0)
    assert [backoff.failed() for _ in range(2000)][-1] == 60.0


def test_one_line_keeps_the_type_and_the_first_line_only():
    assert one_line(store_down()) == "OperationalError: (sqlite3.OperationalError) database is " \
        "locked"
    assert one_line(ValueError()) == "ValueError"


# -- the worker loop ------------------------------------------------------------------------


class RecordingWake:
    """The worker's wake event: records each wait's timeout, sets ``stop`` after ``calls``."""

    def __init__(self, stop: threading.Event, calls: int) -> None:
        self.stop, self.calls, self.timeouts = stop, calls, []

    def wait(self, timeout: float) -> bool:
        self.timeouts.append(timeout)
        if len(self.timeouts) >= self.calls:
            self.stop.set()
        return False

    def clear(self) -> None:
        pass


class NoConnectors:
    def warm_up(self) -> None:
        pass


def test_a_worker_backs_off_on_store_errors_with_one_line_each_and_recovers(store, caplog):
    outage = iter([store_down()] * 4)

    def claim(owner: str, lease: float):
        error = next(outage, None)
        if error is not None:
            raise error
        return None

    store.claim = claim
    stop = threading.Event()
    worker = Worker(store, NoConnectors(), WorkerSettings(poll_seconds=5))
    worker.wake = RecordingWake(stop, calls=6)
    with caplog.at_level(logging.WARNING, logger="webhook_app.worker"):
        worker.run(stop)
    assert worker.wake.timeouts == [1.0, 2.0, 4.0, 8.0, 5, 5]  # back-off, then polling again
    lines = [r for r in caplog.records if "store error" in r.getMessage()]
    assert [r.getMessage().split(" (", 1)[1] for r in lines] == [
        "OperationalError: (sqlite3.OperationalError) database is locked); trying again in "
        f"{pause} s" for pause in (1, 2, 4, 8)]
    assert all(r.exc_info is None for r in lines)  # one line, no traceback


# -- the supervisor -------------------------------------------------------------------------


def test_a_loop_that_ends_is_named_then_restarted_after_a_growing_pause(caplog):
    stop, clock = threading.Event(), FakeClock()
    runs: list[int] = []
    release = threading.Event()

    def loop(stop: threading.Event) -> None:
        runs.append(len(runs))
        if len(runs) <= 2:
            raise RuntimeError("boom\nsecond line")
        release.wait(5)

    supervisor = Supervisor(stop, check_seconds=3600, clock=clock)  # checks run by the test
    with caplog.at_level(logging.WARNING, logger="webhook_app.supervisor"):
        supervisor.start("worker-0", loop)
        _until(lambda: supervisor.stopped() == ["worker-0"])
        supervisor.check()  # dead: restart in 1 s
        supervisor.check()
        assert runs == [0] and supervisor.restarts() == {"worker-0": 0}
        clock.now += 1
        supervisor.check()
        _until(lambda: len(runs) == 2 and supervisor.stopped() == ["worker-0"])
        supervisor.check()  # dead again at once: 2 s this time
        clock.now += 1.5
        supervisor.check()
        assert len(runs) == 2
        clock.now += 0.5
        supervisor.check()
        _until(lambda: len(runs) == 3)
        assert supervisor.stopped() == [] and supervisor.restarts() == {"worker-0": 2}
    release.set()
    stop.set()
    supervisor.join(timeout=5)
    assert [r.getMessage() for r in caplog.records] == [
        "loop worker-0 ended: RuntimeError: boom",
        "loop worker-0 stopped unexpectedly; restarting it in 1 s",
        "loop worker-0 restarted (restart 1)",
        "loop worker-0 ended: RuntimeError: boom",
        "loop worker-0 stopped unexpectedly; restarting it in 2 s",
        "loop worker-0 restarted (restart 2)",
    ]


def test_a_loop_that_ends_at_shutdown_is_not_restarted():
    stop = threading.Event()
    supervisor = Supervisor(stop, check_seconds=3600)
    supervisor.start("scheduler", lambda stop: stop.wait(5))
    stop.set()
    supervisor.join(timeout=5)
    supervisor.check()
    assert supervisor.restarts() == {"scheduler": 0}


def test_the_service_restarts_a_worker_whose_start_failed_and_readyz_says_so(tmp_path):
    """A worker that died at start (here its warm-up) made /readyz 503 until it was back."""
    settings = make_settings(tmp_path, worker={"sweep_minutes": 0, "coalesce_seconds": 0})
    service = Service.build(settings)
    failures = iter([RuntimeError("helpdesk unreachable")])
    warm_up = service.escalator.warm_up

    def failing_warm_up() -> None:
        error = next(failures, None)
        if error is not None:
            raise error
        warm_up()

    service.escalator.warm_up = failing_warm_up
    client = create_app(settings, store=service.store, loops=service.supervisor.stopped,
                        metrics=service.escalator.metrics).test_client()
    service.start_workers()
    try:
        _until(lambda: client.get("/readyz").status_code == 503)
        assert client.get("/readyz").json == {"status": "background loop stopped",
                                              "loops": ["worker-0"]}
        _until(lambda: client.get("/readyz").status_code == 200, timeout=10)
        assert service.supervisor.restarts() == {"scheduler": 0, "worker-0": 1}
    finally:
        service.shutdown()


# -- /readyz --------------------------------------------------------------------------------


def test_readyz_is_503_while_the_store_refuses_writes(settings, tmp_path):
    Store(settings.database_url).create_schema()
    read_only = Store(f"sqlite:///file:{tmp_path / 'tierlift.db'}?mode=ro&uri=true")
    response = create_app(settings, store=read_only).test_client().get("/readyz")
    assert (response.status_code, response.json) == (
        503, {"status": "store refuses writes", "error": "OperationalError"})
    read_only.close()


def test_readyz_is_503_when_due_work_waits_longer_than_the_bound(tmp_path):
    settings = make_settings(tmp_path, worker={"stall_seconds": 600, "coalesce_seconds": 0})
    clock = FakeClock()
    store = Store(settings.database_url, clock=clock)
    store.create_schema()
    client = create_app(settings, store=store).test_client()
    store.receive(Delivery("zendesk", "event:1", "42", "ticket.created", "{}"), delay=5)
    clock.now += 605  # due for 600 s: at the bound
    assert client.get("/readyz").json == {"status": "ready"}
    clock.now += 1
    response = client.get("/readyz")
    assert (response.status_code, response.json) == (
        503, {"status": "stalled", "waiting_seconds": 601, "bound_seconds": 600})
    store.close()


def test_an_overdue_deadline_counts_as_stalled_work(tmp_path):
    settings = make_settings(tmp_path, worker={"stall_seconds": 60, "coalesce_seconds": 0})
    clock = FakeClock()
    store = Store(settings.database_url, clock=clock)
    store.create_schema()
    store.receive(Delivery("zendesk", "event:1", "42", "ticket.created", "{}"))
    claim = store.claim("w", 30)
    store.finish(claim, AuditRecord("no_change"), next_due=clock.now + 10)
    client = create_app(settings, store=store).test_client()
    clock.now += 70
    assert client.get("/readyz").json == {"status": "ready"}  # 60 s past the deadline
    clock.now += 1
    assert client.get("/readyz").json == {"status": "stalled", "waiting_seconds": 61,
                                          "bound_seconds": 60}
    store.close()


def test_stall_seconds_zero_turns_the_stall_check_off(tmp_path):
    settings = make_settings(tmp_path, worker={"stall_seconds": 0, "coalesce_seconds": 0})
    clock = FakeClock()
    store = Store(settings.database_url, clock=clock)
    store.create_schema()
    store.receive(Delivery("zendesk", "event:1", "42", "ticket.created", "{}"))
    clock.now += 86_400
    assert create_app(settings, store=store).test_client().get("/readyz").status_code == 200
    store.close()


# -- absurd timings -------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "key", "value"), [
    (WorkerSettings, "poll_seconds", 1e308),
    (WorkerSettings, "lease_seconds", float("inf")),
    (WorkerSettings, "coalesce_seconds", 1e308),
    (WorkerSettings, "sweep_minutes", float("inf")),
    (WorkerSettings, "sweep_lookback_hours", 1e308),
    (WorkerSettings, "stall_seconds", 1e9),
    (EscalationSettings, "min_age_minutes", float("inf")),
    (EscalationSettings, "cooldown_minutes", 1e308),
])
def test_absurd_timings_are_refused(model, key, value):
    with pytest.raises(ValidationError, match=key):
        model(**{key: value})


def _until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)
