"""The operator's commands: the demo, separate workers, and the report."""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
import time
import tomllib

from click.testing import CliRunner
from conftest import FIXTURES, SECRET
from emulated import MAYA, TIERLIFT, manager_ticket, wait_for, write_config

from webhook_app.cli import main
from webhook_app.demo import demo_tickets
from webhook_app.emulator.labels import CRITERIA
from webhook_app.presets import render
from webhook_app.store import AuditRecord, Delivery, Store


def test_the_demo_tours_the_whole_standard_preset_on_both_helpdesks_in_under_a_minute():
    started = time.monotonic()
    done = subprocess.run([TIERLIFT, "demo", "--no-wait"], capture_output=True, text=True,
                          timeout=180, check=False)
    seconds = time.monotonic() - started
    text = done.stdout
    assert done.returncode == 0, text + done.stderr
    assert seconds < 60, f"the tour took {seconds:.1f} s"
    # every policy the preset enables acted at least once, on realistic tickets
    preset = tomllib.loads(render("standard"))
    enabled = sorted(n for n, o in preset["policies"].items() if o.get("enabled"))
    assert len(enabled) == 10
    [line] = [x for x in text.splitlines() if x.startswith("Policies of the preset that acted")]
    acted = {name: int(n) for name, n in re.findall(r"(\w+) (\d+)", line.split(":", 1)[1])}
    assert sorted(acted) == enabled and min(acted.values()) >= 1, line
    assert "every one of the 10 policies acted at least once" in text
    assert "NOT AS LABELLED" not in text and "DID NOT ACT" not in text
    # both helpdesks, in the summary table with languages and moves
    row = re.compile(r"(zendesk #\d+|jira #SUP-\d+) +[a-z]{2}  ")
    rows = [x for x in text.splitlines() if row.match(x)]
    assert len(rows) == len([t for t in demo_tickets().tickets if not t.earlier])
    assert any(r.startswith("jira #SUP-") and " -> L2/-/" in r for r in rows)
    assert any(r.startswith("zendesk #") and "-> L3/-/urgent" in r for r in rows)
    assert sum("(stays)" in r for r in rows) >= 5  # the near misses stay put
    assert "safety: 0 moves down, 0 loops, 0 writes to solved or closed tickets" in text
    # handoff notes as tier 2 reads them: text, not JSON
    assert text.count("the internal note tierlift left for the next tier:") == 3
    assert "\n    Why:\n" in text and "\n    Suggested next steps:\n" in text
    assert '"comment"' not in text and "\\n" not in text
    # the helpdesks' hiccups, and an agent undoing a move
    assert "re-sent its first delivery unchanged: HTTP 200" in text
    assert "429 Too Many Requests" in text and "refused a write with 409" in text
    assert "tierlift left it there" in text
    # the tier mix against the guide, the backtest (read-only), the dashboard
    assert re.search(r"\n  L1 +\d+ +[\d.]+ %  \(guide ~80 %\)", text)
    assert "$ tierlift backtest --since 30d" in text and "all GET: nothing written" in text
    assert "Would write to" in text and "Per policy (tickets):" in text
    assert re.search(r"\ndashboard: http://127\.0\.0\.1:\d+/admin\n", text)


def test_the_demo_tickets_are_labelled_for_every_criterion_in_several_languages():
    labels = demo_tickets()
    live = [t for t in labels.tickets if not t.earlier]
    assert 25 <= len(labels.tickets) <= 35
    assert {c for t in live for c in t.expect.criteria} == set(CRITERIA)
    assert {t.platform for t in live} == {"zendesk", "jira"}
    assert len({t.language for t in live}) >= 6
    near_misses = [t for t in live if not t.expect.criteria]
    assert len(near_misses) >= 5 and all(t.expect.why for t in near_misses)


def test_a_separate_worker_process_processes_what_a_receiver_stored(tmp_path, zendesk):
    ticket = manager_ticket(zendesk)
    db = tmp_path / "shared.db"
    config = write_config(tmp_path / "tierlift.toml", zendesk, db, secret=SECRET,
                          worker={"poll_seconds": 0.1})
    receiver_side = Store(f"sqlite:///{db}")
    receiver_side.create_schema()
    assert receiver_side.receive(Delivery("zendesk", "event:x", str(ticket),
                                          "ticket.comment_added", "{}", str(MAYA)))
    worker = subprocess.Popen([TIERLIFT, "worker", "--config", str(config)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: zendesk.writes(ticket), what="the worker's escalation")
        wait_for(lambda: receiver_side.inbox_counts() == {"done": 1}, what="the inbox")
    finally:
        worker.terminate()
        assert worker.wait(10) == 0
    assert [e["outcome"] for e in receiver_side.audit_log()] == ["escalated"]
    receiver_side.close()


def offline_config(tmp_path):
    """A store and a config for commands that never call the helpdesk."""
    db = tmp_path / "tierlift.db"
    config = tmp_path / "tierlift.toml"
    config.write_text(textwrap.dedent(f"""
        database_url = "sqlite:///{db}"
        [zendesk]
        subdomain = "acme"
        oauth_token = "t"
        webhook_secret = "s"
        [zendesk.tier_groups]
        L1 = 1
        L2 = 2
        L3 = 3
    """))
    return db, config


def test_report_summarises_deliveries_and_decisions(tmp_path):
    db, config = offline_config(tmp_path)
    store = Store(f"sqlite:///{db}", clock=lambda: 1_795_000_000.0)
    store.create_schema()
    for key in ("event:1", "event:2"):
        store.receive(Delivery("zendesk", key, "42", "ticket.comment_added", "{}"))
    claim = store.claim("w", 30)
    store.finish(claim, AuditRecord(
        outcome="escalated", from_tier="L1", to_tier="L2",
        detail={"rounds": [{"proposals": [{"policy": "customer_request", "state": "fired"}]}]}))
    store.receive(Delivery("zendesk", "event:3", "43", "ticket.created", "{}"))
    store.close()

    result = CliRunner().invoke(main, ["report", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "deliveries: done 2, pending 1",
        "evaluations: escalated 1",
        "tickets: 1  escalations: 1 (1 moved)",
        "escalations per tier: L2 1",
        "escalations per policy: customer_request 1",
        "escalations per channel: unknown 1",
        "escalations per organization: none 1",
        "tier mix (tickets by tier as last seen, against the playbooks' guide):",
        "  L1           0    0.0 %  (guide ~80 %)  off guide",
        "  L2           1  100.0 %  (guide 15-20 %)  off guide",
        "  L3           0    0.0 %  (guide ~5 %)  off guide",
        "overrides (taken back within 7 days): 0",
        "  customer_request: 0 of 1 moves (0.0 %)",
        "write failures: 0 (0 not written since)",
        "deadline lateness: 0 run, median -, 95th percentile -, max -; 0 failed, 0 pending, "
        "0 overdue",
        "2026-11-18 11:06:40  zendesk #42  escalated L1 -> L2  by customer_request",
    ]


def test_replay_feeds_recorded_deliveries_into_the_inbox_once(tmp_path):
    db, config = offline_config(tmp_path)
    jira = (FIXTURES / "jira-webhooks" / "cloud-issue-updated-minimal.json").read_text()
    lines = tmp_path / "deliveries.jsonl"
    lines.write_text("\n".join([
        json.dumps({"platform": "zendesk", "headers": {}, "body": {
            "ticket_id": "42", "updated_at": "2026-11-22T10:00:00Z"}}),
        json.dumps({"platform": "jira", "headers": {"X-Atlassian-Webhook-Identifier": "w-1"},
                    "body": jira}),
        json.dumps({"platform": "zendesk", "body": {"type": "zen:event-type:user.deleted",
                                                     "id": "u1", "detail": {}}}),
        "not json",
    ]) + "\n")
    first = CliRunner().invoke(main, ["replay", "--config", str(config), str(lines)])
    assert first.exit_code == 1
    assert first.stdout.splitlines() == ["replayed: ignored 1, refused 1, stored 2"]
    assert "line 4: not replayed" in first.stderr
    again = CliRunner().invoke(main, ["replay", "--config", str(config), str(lines)])
    assert again.stdout.splitlines() == ["replayed: duplicate 2, ignored 1, refused 1"]
    store = Store(f"sqlite:///{db}")
    assert store.inbox_counts() == {"pending": 2}
    store.close()
