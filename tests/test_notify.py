"""Notifications: the tierlift_notify hook, the Slack and e-mail notifiers, at most once each."""

from __future__ import annotations

import base64
import json
import logging
import smtplib
import socket
import threading
from datetime import UTC, datetime

import pytest
import responses
from builders import zendesk_ticket
from conftest import TIER_GROUPS, ZENDESK_URL, make_settings
from test_escalation import ME, NOW, TICKET, deliver, puts, serve_ticket

from connector.http import ApiSession
from connector.zendesk import ZendeskConnector
from plugins import hookimpl
from plugins.manager import ConfigError, PolicyHost
from plugins.notification import Notification
from webhook_app.escalation import Escalator
from webhook_app.notify import (
    EmailNotifier,
    EmailSettings,
    Notifier,
    build_notifier,
    email_message,
)
from webhook_app.settings import load_settings
from webhook_app.store import Store
from webhook_app.worker import Worker

SLACK = "https://hooks.slack.com/services/T000/B000/XXXX"
LINK = f"{ZENDESK_URL}/agent/tickets/42"
ESCALATED_TEXT = (
    "*zendesk ticket 42 escalated from L1 to L2*\n"
    "Subject: Printer on fire\n"
    "Policies: customer_request\n"
    "tierlift escalated this ticket from L1 to L2.\n"
    f"<{LINK}|Open zendesk ticket 42>"
)
EVENT = Notification(kind="escalated", platform="zendesk", ticket_ref="42",
                     key="customer_request/comment:11", at=NOW, from_tier="L1", to_tier="L2",
                     policies=("customer_request",),
                     headline="tierlift escalated this ticket from L1 to L2.",
                     subject="Printer on fire")


@pytest.fixture
def store(settings) -> Store:
    store = Store(settings.database_url)
    store.create_schema()
    yield store
    store.close()


@pytest.fixture
def zd():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(ME, json={"user": {"id": 900, "role": "admin"}})
        yield mock


def notify_settings(tmp_path, **notify):
    return make_settings(tmp_path, notify=notify)


def make_worker(store, settings, policies=None, *, host: PolicyHost | None = None) -> Worker:
    host = host or PolicyHost(load_entry_points=False)
    policies = host.configure(policies or {"customer_request": {"enabled": True}})
    api = ApiSession(ZENDESK_URL, ("bot@acme.example/token", "token"), sleep=lambda _: None)
    escalator = Escalator(store, {"zendesk": ZendeskConnector(api, TIER_GROUPS, settings.ladder)},
                          policies, settings.ladder, now=lambda: NOW, max_attempts=1,
                          notifier=build_notifier(settings, host.pm, store))
    return Worker(store, escalator, settings.worker)


def slack_bodies(zd) -> list[dict]:
    return [json.loads(c.request.body) for c in zd.calls if c.request.url == SLACK]


# -- Slack ----------------------------------------------------------------------------------


def test_an_escalation_posts_the_exact_slack_message_once(tmp_path, store, zd):
    settings = notify_settings(tmp_path, slack={"webhook_url": SLACK})
    serve_ticket(zd)
    zd.put(TICKET, json=zendesk_ticket(group_id=102))
    zd.post(SLACK, body="ok")
    worker = make_worker(store, settings)
    deliver(store, "event:a")
    worker.run_once()

    [call] = [c for c in zd.calls if c.request.url == SLACK]
    assert call.request.headers["Content-Type"] == "application/json"
    assert json.loads(call.request.body) == {"text": ESCALATED_TEXT}
    [row] = store.notification_log()
    assert (row["kind"], row["notifier"], row["status"], row["description"]) == \
        ("escalated", "notify.slack", "sent", "customer_request/comment:11")

    # The same webhook again, and our own write coming back, to another worker: no second
    # write, no second post.
    other = make_worker(store, settings)
    deliver(store, "event:a-again")
    other.run_once()
    deliver(store, "event:ours", actor="900")
    other.run_once()
    assert len(puts(zd)) == 1
    assert len(slack_bodies(zd)) == 1


def test_slack_escapes_its_control_characters(tmp_path):
    from webhook_app.notify import slack_text

    event = Notification(kind="breached", platform="jira", ticket_ref="SUP-7", key="k", at=NOW,
                         headline="reply <now> & fix", subject="A & B <c>")
    assert slack_text(event) == ("*jira ticket SUP-7: deadline missed*\n"
                                 "Subject: A &amp; B &lt;c&gt;\nreply &lt;now&gt; &amp; fix")


def test_at_most_once_across_two_workers_sending_the_same_event(tmp_path, settings):
    """Two workers (each with its own connection to the shared store) race on one event."""
    stores = [Store(settings.database_url) for _ in range(2)]
    stores[0].create_schema()
    posted = []
    barrier = threading.Barrier(2)

    class Recorder:
        notify_events = frozenset({"escalated"})

        @hookimpl
        def tierlift_notify(self, event):
            posted.append(event)

    notifiers = []
    for store in stores:
        host = PolicyHost(load_entry_points=False)
        host.register(Recorder(), "recorder")
        notifiers.append(Notifier(store, host.pm, links={"zendesk": LINK.replace("42",
                                                                                   "{ref}")}))

    def send(notifier):
        barrier.wait()
        notifier.send([EVENT])

    threads = [threading.Thread(target=send, args=(n,)) for n in notifiers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    notifiers[1].send([EVENT])  # and once more, later

    assert [e.url for e in posted] == [LINK]
    assert [r["status"] for r in stores[0].notification_log()] == ["sent"]
    for store in stores:
        store.close()


def test_a_failing_notifier_is_logged_once_and_the_evaluation_still_escalates(
        tmp_path, store, zd, caplog):
    settings = notify_settings(tmp_path, slack={"webhook_url": SLACK})
    serve_ticket(zd)
    zd.put(TICKET, json=zendesk_ticket(group_id=102))
    zd.post(SLACK, status=404, body="channel_not_found")
    worker = make_worker(store, settings)
    deliver(store, "event:a")
    with caplog.at_level(logging.WARNING):
        record = worker.escalator.process(store.claim("w", 30))

    assert record.outcome == "escalated"
    assert [r.getMessage() for r in caplog.records if r.name == "webhook_app.notify"] == [
        "notifier notify.slack could not send escalated for zendesk ticket 42: NotifyError: "
        "Slack answered HTTP 404: channel_not_found"]
    [row] = store.notification_log()
    assert (row["status"], row["error"]) == ("failed", "NotifyError: Slack answered HTTP 404: "
                                                       "channel_not_found")
    worker.escalator.notifier.send([EVENT])  # the same event again: not retried
    assert len(slack_bodies(zd)) == 1


def test_one_notifier_raising_does_not_stop_another(tmp_path, store):
    received = []

    class Broken:
        @hookimpl
        def tierlift_notify(self, event):
            raise RuntimeError("pager down")

    class Working:
        @hookimpl
        def tierlift_notify(self, event):
            received.append(event.kind)

    host = PolicyHost(load_entry_points=False)
    host.register(Broken(), "broken")
    host.register(Working(), "working")
    Notifier(store, host.pm).send([EVENT])
    assert received == ["escalated"]
    assert sorted((r["notifier"], r["status"]) for r in store.notification_log()) == [
        ("broken", "failed"), ("working", "sent")]


def test_a_missed_deadline_notifies_breached_with_the_sla_evidence(tmp_path, store, zd):
    settings = notify_settings(tmp_path, slack={"webhook_url": SLACK})
    serve_ticket(zd)
    zd.put(TICKET, json=zendesk_ticket(group_id=102))
    zd.post(SLACK, body="ok")
    worker = make_worker(store, settings,
                         {"sla": {"enabled": True, "first_reply_minutes": {"normal": 60}}})
    deliver(store, "event:a")
    worker.run_once()

    escalated, breached = (b["text"] for b in slack_bodies(zd))
    assert escalated.splitlines()[:3] == ["*zendesk ticket 42 escalated from L1 to L2*",
                                          "Subject: Printer on fire", "Policies: sla"]
    assert breached == (
        "*zendesk ticket 42: deadline missed*\nSubject: Printer on fire\nPolicies: sla\n"
        "first reply target of 1:00 missed: due 2026-11-20 10:00:00 UTC, 2:00 ago\n"
        f"<{LINK}|Open zendesk ticket 42>")
    assert sorted(r["description"] for r in store.notification_log()) == [
        "sla/first_reply:2026-11-20T09:00:00+00:00:breached",
        "sla/first_reply:2026-11-20T09:00:00+00:00:breached"]


def test_a_breach_at_the_top_tier_is_reported_though_nothing_is_written(tmp_path, store, zd):
    settings = notify_settings(tmp_path, slack={"webhook_url": SLACK, "events": ["breached"]})
    serve_ticket(zd, group=103, groups=(("2026-11-20T09:00:00Z", 103),))
    zd.post(SLACK, body="ok")
    worker = make_worker(store, settings,
                         {"sla": {"enabled": True, "first_reply_minutes": {"normal": 60}}})
    deliver(store, "event:a")
    worker.run_once()
    deliver(store, "event:b")
    worker.run_once()

    assert puts(zd) == []
    assert [b["text"].splitlines()[0] for b in slack_bodies(zd)] == [
        "*zendesk ticket 42: deadline missed*"]


def test_a_refused_write_notifies_write_failed_when_asked_to(tmp_path, store, zd):
    settings = notify_settings(tmp_path, slack={"webhook_url": SLACK,
                                                "events": ["write_failed"]})
    serve_ticket(zd)
    zd.put(TICKET, status=400, json={"error": "RecordInvalid"})
    zd.post(SLACK, body="ok")
    worker = make_worker(store, settings)
    deliver(store, "event:a")
    worker.run_once()

    assert [e["outcome"] for e in store.audit_log()] == ["failed"]
    [body] = slack_bodies(zd)
    lines = body["text"].splitlines()
    assert lines[:2] == ["*zendesk ticket 42: tierlift could not write its decision*",
                         "Policies: customer_request"]
    assert "HTTP 400" in lines[2]


def test_nothing_is_notified_unless_configured(tmp_path, settings, store):
    assert build_notifier(settings, PolicyHost(load_entry_points=False).pm, store) is None


# -- e-mail ---------------------------------------------------------------------------------


class FakeSMTPServer:
    """Just enough SMTP on loopback for smtplib: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.commands: list[str] = []
        self.data: bytes = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b"220 fake ESMTP\r\n")
            for raw in lines:
                line = raw.decode().rstrip("\r\n")
                self.commands.append(line)
                verb = line.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    conn.sendall(b"250-fake\r\n250 AUTH PLAIN\r\n")
                elif verb == "AUTH":
                    conn.sendall(b"235 2.7.0 Authentication successful\r\n")
                elif verb == "DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    data = b""
                    while not data.endswith(b"\r\n.\r\n"):
                        data += lines.readline()
                    self.data = data
                    conn.sendall(b"250 queued\r\n")
                elif verb == "QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 ok\r\n")

    def close(self) -> None:
        self.thread.join(timeout=5)
        self.sock.close()


def test_an_email_goes_over_smtp_with_login_and_the_exact_message(tmp_path):
    server = FakeSMTPServer()
    email = EmailSettings.model_validate({
        "host": "127.0.0.1", "port": server.port, "security": "none", "username": "tierlift",
        "password": "s3cret", "from": "tierlift@acme.example",
        "to": ["head-of-support@acme.example", "l2-lead@acme.example"]})
    EmailNotifier(email).tierlift_notify(event=EVENT)
    server.close()

    auth = base64.b64encode(b"\0tierlift\0s3cret").decode()
    assert [c for c in server.commands if not c.upper().startswith("EHLO")] == [
        f"AUTH PLAIN {auth}", "mail FROM:<tierlift@acme.example>",
        "rcpt TO:<head-of-support@acme.example>", "rcpt TO:<l2-lead@acme.example>", "data",
        "QUIT"]
    assert server.data.decode() == (
        "Subject: [tierlift] zendesk ticket 42 escalated from L1 to L2\r\n"
        "From: tierlift@acme.example\r\n"
        "To: head-of-support@acme.example, l2-lead@acme.example\r\n"
        "Date: Fri, 20 Nov 2026 12:00:00 +0000\r\n"
        f"Message-ID: {email_message(EVENT, 'x', ['y'])['Message-ID']}\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: 7bit\r\n"
        "MIME-Version: 1.0\r\n"
        "\r\n"
        "zendesk ticket 42 escalated from L1 to L2\r\n"
        "Subject: Printer on fire\r\n"
        "Policies: customer_request\r\n"
        "tierlift escalated this ticket from L1 to L2.\r\n"
        ".\r\n")


def test_starttls_comes_before_the_login(monkeypatch):
    calls = []

    class FakeSMTP:
        def __init__(self, host, port, timeout):
            calls.append(("connect", host, port, timeout))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            calls.append(("quit",))

        def starttls(self, context):
            calls.append(("starttls", context.verify_mode.name))

        def login(self, user, password):
            calls.append(("login", user, password))

        def send_message(self, message):
            calls.append(("send", message["To"], message["Subject"]))

    monkeypatch.setattr(smtplib, "SMTP", FakeSMTP)
    email = EmailSettings.model_validate({
        "host": "smtp.acme.example", "username": "bot", "password": "pw",
        "from": "tierlift@acme.example", "to": ["head@acme.example"]})
    EmailNotifier(email).tierlift_notify(event=EVENT)
    assert calls == [("connect", "smtp.acme.example", 587, 10.0),
                     ("starttls", "CERT_REQUIRED"), ("login", "bot", "pw"),
                     ("send", "head@acme.example",
                      "[tierlift] zendesk ticket 42 escalated from L1 to L2"),
                     ("quit",)]


def test_email_is_sent_only_for_its_events(tmp_path, store, monkeypatch):
    sent = []
    monkeypatch.setattr(EmailNotifier, "tierlift_notify",
                        hookimpl(lambda self, event: sent.append(event.kind)))
    settings = notify_settings(tmp_path, email={"host": "smtp.acme.example",
                                                "from": "t@acme.example",
                                                "to": ["h@acme.example"],
                                                "events": ["breached"]})
    notifier = build_notifier(settings, PolicyHost(load_entry_points=False).pm, store)
    breach = Notification(kind="breached", platform="zendesk", ticket_ref="42", key="b",
                          at=datetime(2026, 11, 20, tzinfo=UTC))
    notifier.send([EVENT, breach])
    assert sent == ["breached"]
    assert [r["kind"] for r in store.notification_log()] == ["breached"]


# -- configuration --------------------------------------------------------------------------


def write_config(tmp_path, text: str):
    path = tmp_path / "tierlift.toml"
    path.write_text(
        'database_url = "sqlite:///x.db"\n[zendesk]\nsubdomain = "acme"\noauth_token = "t"\n'
        'webhook_secret = "s"\n[zendesk.tier_groups]\nL1 = 1\nL2 = 2\nL3 = 3\n' + text)
    return path


def test_notify_tables_and_environment(tmp_path, monkeypatch):
    path = write_config(tmp_path, '[notify.email]\nhost = "smtp.acme.example"\n'
                                  'from = "tierlift@acme.example"\nto = ["h@acme.example"]\n'
                                  'username = "bot"\n')
    monkeypatch.setenv("TIERLIFT_NOTIFY__EMAIL__PASSWORD", "pw")
    monkeypatch.setenv("TIERLIFT_NOTIFY__SLACK__WEBHOOK_URL", SLACK)
    settings = load_settings(path)
    assert settings.notify.email.sender == "tierlift@acme.example"
    assert settings.notify.email.password.get_secret_value() == "pw"
    assert settings.notify.email.events == ["escalated", "breached"]
    assert settings.notify.slack.webhook_url.get_secret_value() == SLACK
    assert SLACK not in repr(settings)


def test_notify_problems_name_the_key_and_never_the_secret(tmp_path):
    path = write_config(tmp_path, '[notify.slack]\nwebhook_url = 5\nevents = ["paged"]\n'
                                  '[notify.email]\nhost = "smtp"\nfrom = "a@b"\nto = ["c@d"]\n'
                                  'password = "pw"\n')
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    problems = error.value.problems
    assert "notify.slack.webhook_url: Input should be a valid string" in problems
    assert any(p.startswith("notify.slack.events.0: Input should be 'escalated'")
               for p in problems)
    assert "notify.email: set username and password together (or neither: no login)" \
        in problems
    assert not any("pw" in p for p in problems)
