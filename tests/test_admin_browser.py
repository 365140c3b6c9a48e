"""/admin in a real headless browser (Debian's chromium, driven from the command line): after
the demo scenario (``tierlift demo``: both helpdesks, the whole standard preset) and after a
small support day played through ``tierlift serve`` with an admin token, the dashboard must show
exactly what ``tierlift report`` says. The screenshots are kept (``build/screenshots``)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import time
import tomllib
from pathlib import Path

import pytest
from conftest import SECRET
from emulated import ANA, CHEN, L1, L2, L3, MAYA, TIERLIFT, Tierlift, wait_for, write_config
from test_admin import expected, shown

from webhook_app.presets import render

TOKEN = "browser-test-admin-token-0123456789"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "build" / "screenshots"
EXTRA = f"""
[admin]
token = "{TOKEN}"

[policies.sla]
enabled = true
calendar = "24x7"
at_risk_percent = 0
[policies.sla.first_reply_minutes]
urgent = 0.05
"""


def chromium() -> str | None:
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                                "google-chrome"))), None)


BROWSER = chromium()
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no chromium on PATH: `make browser` installs Debian's chromium "
                            "(make test and CI do)")


def browse(url: str, profile: Path, *args: str) -> str:
    """Load ``url`` in a fresh headless chromium and return what it printed."""
    done = subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}", *args, url],
        capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def report(db: Path, *args: str) -> str:
    return subprocess.run([TIERLIFT, "report", "--database-url", f"sqlite:///{db}", *args],
                          capture_output=True, text=True, timeout=60, check=True).stdout


def play_a_support_day(zendesk, tl: Tierlift) -> dict[str, int]:
    """Customers ask for managers by email and chat, an urgent ticket gets no first reply in
    time, tier 2 hands one escalation back down; one routine question."""
    zendesk.send_webhooks_to(f"{tl.url}/webhooks/zendesk", SECRET)
    zendesk.organization(300, "Globex")
    zendesk.user(2, "Omar Haddad", organization_id=300)
    zendesk.user(3, "Sofia Rossi")
    tickets = {
        "email": zendesk.create_ticket(subject="Charged twice", description="I was charged "
                                       "twice this month.", requester_id=MAYA, group_id=L1,
                                       assignee_id=ANA),
        "chat": zendesk.create_ticket(subject="Sync stuck", description="Our sync is stuck "
                                      "since Monday. Please escalate this.", requester_id=3,
                                      group_id=L1, channel="chat"),
        "tier2": zendesk.create_ticket(subject="Data missing after migration", description=
                                       "Half of our projects are gone.", requester_id=2,
                                       group_id=L2, assignee_id=CHEN, organization_id=300),
        "routine": zendesk.create_ticket(subject="Dark mode", description="Is there a dark "
                                         "mode in the app?", requester_id=3, group_id=L1),
        "urgent": zendesk.create_ticket(subject="Checkout down", description="Nobody can pay "
                                        "in our shop.", requester_id=MAYA, group_id=L1,
                                        priority="urgent"),
    }
    zendesk.customer_comment(tickets["email"], "This is the third time. I want to speak to a "
                                               "manager.")
    zendesk.customer_comment(tickets["tier2"], "Nothing works. I need to speak to a manager.")
    for name in ("email", "chat", "tier2", "urgent"):  # urgent: at its deadline, 3 s in
        wait_for(lambda n=name: zendesk.writes(tickets[n]), timeout=30, what=f"{name} written")
    zendesk.agent_moves(tickets["email"], CHEN, L1)  # tier 2 hands it back: an override
    wait_for(lambda: settled(zendesk, tl) and tl.audit()[-1]["ticket_ref"] ==
             str(tickets["email"]), timeout=30, what="the move back down to be evaluated")
    assert zendesk.tickets[tickets["tier2"]]["group_id"] == L3
    return tickets


def settled(zendesk, tl: Tierlift) -> bool:
    zendesk.sender.drain()
    return zendesk.sender.idle and tl.pending() == 0


def test_the_dashboard_in_a_browser_shows_what_tierlift_report_says(tmp_path, zendesk):
    config = write_config(tmp_path / "tierlift.toml", zendesk, tmp_path / "tierlift.db",
                          secret=SECRET, extra=EXTRA)
    tl = Tierlift(tmp_path, config).start()
    try:
        tickets = play_a_support_day(zendesk, tl)
        before = json.loads(report(tl.db, "--json"))
        dom = browse(f"{tl.url}/admin?token={TOKEN}", tmp_path / "profile-1", "--dump-dom")
        screenshot = tmp_path / "admin.png"
        browse(f"{tl.url}/admin?token={TOKEN}", tmp_path / "profile-2",
               f"--screenshot={screenshot}", "--window-size=1280,1900")
        story = browse(f"{tl.url}/admin/ticket/zendesk/{tickets['email']}?token={TOKEN}",
                       tmp_path / "profile-3", "--dump-dom")
        refused = browse(f"{tl.url}/admin?token=wrong", tmp_path / "profile-4", "--dump-dom")
        after = json.loads(report(tl.db, "--json"))
        text = report(tl.db)
    finally:
        tl.stop()

    assert before == {**after, "generated_at": before["generated_at"]}  # nothing moved meanwhile
    numbers = shown(dom)
    assert numbers == expected(after)
    # and what the browser shows is what the text report says
    assert (numbers["escalations"], numbers["overrides"]) == ("4", "1")
    assert f"tickets: {numbers['tickets']}  escalations: 4 (4 moved)" in text
    assert numbers["policy.customer_request.overridden"] == "1"
    assert "  customer_request: 1 of 3 moves (33.3 %)" in text.splitlines()
    assert numbers["policy.sla.escalations"] == "1" and int(numbers["deadlines.ran"]) >= 1
    assert f"deadline lateness: {numbers['deadlines.ran']} run, median " \
           f"{numbers['deadlines.median']}" in text
    for share in after["tier_mix"]:
        assert numbers[f"tier.{share['tier']}.percent"] == f"{share['percent']:.1f}"
        assert f"{share['percent']:5.1f} %" in text
    assert numbers["by_channel.chat"] == "1" and numbers["by_organization.300"] == "1"
    assert "customer_request" in story and "fired" in story and "PUT /api/v2/tickets" in story
    assert "data-metric" not in refused and "401" not in numbers.values()

    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000  # a rendered page, not a blank one
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(screenshot, SCREENSHOTS / "admin-support-day.png")


class Demo:
    """``tierlift demo`` as the admin runs it: the tour, then the dashboard until Ctrl-C."""

    def __init__(self, tmp_path: Path) -> None:
        self.output = tmp_path / "demo.out"
        self.process = subprocess.Popen([TIERLIFT, "demo"], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.served = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            self.output.write_text("".join(self.lines))
            if line.startswith("dashboard: "):
                self.served.set()

    def wait_for_the_dashboard(self, timeout: float = 120) -> tuple[str, str]:
        """The dashboard's URL and the store's, once the tour is done."""
        if not self.served.wait(timeout):
            raise AssertionError("no dashboard line from tierlift demo:\n"
                                 + "".join(self.lines))
        text = "".join(self.lines)
        [store] = [x.split()[1] for x in text.splitlines() if x.startswith("store: ")]
        [url] = [x.split()[1] for x in text.splitlines() if x.startswith("dashboard: ")]
        return url, store

    def interrupt(self) -> int:
        """Ctrl-C; the exit status."""
        self.process.send_signal(signal.SIGINT)
        status = self.process.wait(30)
        self.reader.join(10)
        self.process.stdout.close()
        return status


def test_the_dashboard_after_the_demo_shows_what_tierlift_report_says(tmp_path):
    started = time.monotonic()
    demo = Demo(tmp_path)
    try:
        url, store = demo.wait_for_the_dashboard()
        toured = time.monotonic() - started
        db = Path(store.removeprefix("sqlite:///"))
        before = json.loads(report(db, "--json"))
        dom = browse(url, tmp_path / "profile-1", "--dump-dom")
        screenshot = tmp_path / "admin.png"
        browse(url, tmp_path / "profile-2", f"--screenshot={screenshot}",
               "--window-size=1280,2200")
        handed_back = before["overrides"][0]
        story = browse(f"{url}/ticket/{handed_back['platform']}/{handed_back['ticket_ref']}",
                       tmp_path / "profile-3", "--dump-dom")
        after = json.loads(report(db, "--json"))
        text = report(db)
    finally:
        status = demo.interrupt()
    assert status == 0, "".join(demo.lines)
    assert "stopped." in "".join(demo.lines[-2:])
    assert toured < 60

    assert before == {**after, "generated_at": before["generated_at"]}  # nothing moved meanwhile
    numbers = shown(dom)
    assert numbers == expected(after)
    # the tour: both helpdesks, every policy of the standard preset, one escalation taken back
    preset = [name for name, options in tomllib.loads(render("standard"))["policies"].items()
              if options.get("enabled")]
    assert len(preset) == 10
    for policy in preset:
        assert int(numbers[f"policy.{policy}.escalations"]) >= 1, policy
    assert numbers["overrides"] == "1" and numbers["policy.customer_request.overridden"] == "1"
    assert (handed_back["platform"], handed_back["overridden_to"]) == ("zendesk", "L1")
    assert numbers["by_channel.twitter"] == "1" and int(numbers["by_tier.L3"]) == 3
    assert numbers["write_failures"] == "1"  # the 409 the emulator answered once, written later
    # and the text report says the same
    assert f"tickets: {numbers['tickets']}  escalations: {numbers['escalations']} " \
           f"({numbers['moves']} moved)" in text
    for share in after["tier_mix"]:
        assert numbers[f"tier.{share['tier']}.percent"] == f"{share['percent']:.1f}"
        assert f"{share['percent']:5.1f} %" in text
    assert "customer_request" in story and "fired" in story and "PUT /api/v2/tickets" in story

    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000  # a rendered page, not a blank one
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(screenshot, SCREENSHOTS / "admin.png")
