"""``tierlift demo``: an emulated Zendesk, the real receiver and worker, a stream of tickets."""

from __future__ import annotations

import json
import logging
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

from webhook_app.emulator.zendesk import ZendeskEmulator
from webhook_app.service import Service
from webhook_app.settings import Settings, ZendeskSettings

GROUPS = {"L1": 101, "L2": 102, "L3": 103}
TIER_OF_GROUP = {v: k for k, v in GROUPS.items()}
ANA, BEN, CHEN, DEE = 501, 502, 601, 701  # tier-1, tier-1, tier-2 and tier-3 agents

ROUTINE = [
    ("Password reset link expired", "Hi, the reset link in my email says it expired. "
     "Can you send a new one?"),
    ("Invoice copy for October", "Could you send me a PDF copy of the October invoice? "
     "My manager needs it for the expense report."),
    ("How do I add a teammate?", "Where in the settings can I invite a colleague to our "
     "workspace?"),
    ("Dark mode", "Is there a dark mode in the mobile app? Thanks!"),
    ("Export to CSV", "The export button greys out for reports over 10k rows, is that "
     "expected?"),
]


@dataclass
class Scenario:
    title: str
    expect_tier: str
    expect_writes: int
    play: Callable[[ZendeskEmulator], int]


def _scenarios(routine: int) -> list[Scenario]:
    def new(z: ZendeskEmulator, subject: str, text: str, requester: int, group: int = 101,
            **kw) -> int:
        return z.create_ticket(subject=subject, description=text, requester_id=requester,
                               group_id=group, assignee_id=ANA if group == 101 else None, **kw)

    def manager_by_email(z):
        t = new(z, "Charged twice this month", "Hello, I was charged twice for my plan.", 1)
        z.agent_note(t, ANA, "Checking with billing.", public=True)
        z.customer_comment(t, "This is the third time. I want to speak to a manager today.")
        return t

    def escalate_in_chat(z):
        return new(z, "Sync stuck since the update", "Our sync has been stuck for two days. "
                   "Please escalate this to someone who knows the sync engine.", 2,
                   channel="chat")

    def internal_note_only(z):
        t = new(z, "Cannot log in with SSO", "SSO login loops back to the start page.", 3)
        z.agent_note(t, BEN, "Heads-up: this customer may ask to speak to a manager.")
        return t

    def tier2_to_tier3(z):
        t = new(z, "Data missing after migration", "Half of our projects are gone after the "
                "migration.", 4, group=102)
        z.customer_comment(t, "Nothing you suggested works. Let me talk to a manager please.")
        return t

    def moved_back_down(z):
        t = new(z, "Refund for annual plan", "I would like a refund. Can I speak to a "
                "supervisor about it?", 5)
        _wait_for_group(z, t, 102)
        z.agent_moves(t, CHEN, 101)  # tier 2 hands it back: tier 1 can handle refunds
        z.agent_note(t, ANA, "Refund processed, anything else?", public=True)
        return t

    def concurrent_edit(z):
        z.fail_next("PUT", r"/tickets/\d+\.json", 409, body={
            "error": "UpdateConflict", "description": "Safe Update prevented the update."})
        return new(z, "API returns 500 on bulk import", "Bulk import fails every time. I need "
                   "to speak to a manager, this blocks our launch.", 6)

    def rate_limited(z):
        z.fail_next("GET", r"/tickets/\d+\.json", 429, headers={"Retry-After": "1"},
                    body={"error": "TooManyRequests"})
        return new(z, "Webhook deliveries delayed", "Our webhooks arrive hours late. Please "
                   "escalate this.", 7)

    scenarios = [
        Scenario("customer asks for a manager (email)", "L2", 1, manager_by_email),
        Scenario("customer asks to escalate (chat)", "L2", 1, escalate_in_chat),
        Scenario("only an agent's internal note mentions a manager", "L1", 0,
                 internal_note_only),
        Scenario("tier-2 ticket, customer asks for a manager", "L3", 1, tier2_to_tier3),
        Scenario("agent moved it back down: same words do not re-escalate", "L1", 1,
                 moved_back_down),
        Scenario("someone edited the ticket at the same moment (409)", "L2", 1,
                 concurrent_edit),
        Scenario("Zendesk rate-limits a read (429, Retry-After: 1)", "L2", 1, rate_limited),
    ]
    for n in range(routine):
        subject, text = ROUTINE[n % len(ROUTINE)]
        scenarios.append(Scenario(f"routine: {subject.lower()}", "L1", 0,
                                  lambda z, s=subject, t=text, r=100 + n: new(z, s, t, r)))
    return scenarios


def _wait_for_group(z: ZendeskEmulator, ticket: int, group: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while z.tickets[ticket]["group_id"] != group and time.monotonic() < deadline:
        time.sleep(0.05)


def _populate(z: ZendeskEmulator) -> None:
    for uid, name in ((1, "Maya Lind"), (2, "Omar Haddad"), (3, "Sofia Rossi"),
                      (4, "Jon Berg"), (5, "Lena Vogel"), (6, "Priya Nair"), (7, "Tom Reed")):
        z.user(uid, name)
    for n in range(100, 140):
        z.user(n, f"Customer {n}")
    for uid, name in ((ANA, "Ana"), (BEN, "Ben"), (CHEN, "Chen"), (DEE, "Dee")):
        z.user(uid, name, role="agent")
    z.group(101, ANA, BEN)
    z.group(102, CHEN)
    z.group(103, DEE)


def run_demo(tickets: int = 8, out=sys.stdout) -> int:
    """Play the scenarios; print progress and a report. Exit status 0 if all went as expected."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the emulator's access log
    workdir = Path(tempfile.mkdtemp(prefix="tierlift-demo-"))
    secret = secrets.token_urlsafe(24)
    zendesk = ZendeskEmulator()
    _populate(zendesk)
    zendesk_server = zendesk.serve()
    settings = Settings(
        database_url=f"sqlite:///{workdir / 'tierlift.db'}",
        zendesk=ZendeskSettings(base_url=zendesk_server.url, email=zendesk.email,
                                api_token=zendesk.api_token, webhook_secret=secret,
                                tier_groups=GROUPS),
        policies={"customer_request": {"enabled": True}},
        worker={"coalesce_seconds": 0.3, "poll_seconds": 0.2},
    )
    service = Service.build(settings)
    ready = threading.Event()
    threading.Thread(target=service.serve, args=("127.0.0.1", 0), kwargs={"ready": ready},
                     daemon=True).start()
    ready.wait(10)
    receiver = f"http://127.0.0.1:{service.server.effective_port}"
    zendesk.send_webhooks_to(f"{receiver}/webhooks/zendesk", secret)
    print(f"emulated Zendesk at {zendesk_server.url}, tierlift at {receiver}, "
          f"store {workdir / 'tierlift.db'}", file=out)

    scenarios = _scenarios(routine=max(0, tickets))
    played: list[tuple[Scenario, int]] = []
    for scenario in scenarios:
        played.append((scenario, scenario.play(zendesk)))
        _progress(service, zendesk, len(played), len(scenarios), out)
    _replay_one_delivery(zendesk, receiver, out)
    _settle(service, zendesk, out, total=len(scenarios))
    ok = _report(service, zendesk, played, out)
    service.shutdown()
    zendesk.close()
    zendesk_server.stop()
    return 0 if ok else 1


def _replay_one_delivery(z: ZendeskEmulator, receiver: str, out) -> None:
    """Zendesk retries deliveries: send the first one again, byte for byte."""
    z.sender.drain()
    first = z.sender.sent[0]
    status = requests.post(f"{receiver}/webhooks/zendesk", data=first.body,
                           headers=first.headers, timeout=5).status_code
    print(f"\nre-sent the first delivery unchanged: HTTP {status} (duplicate, not processed "
          "again)", file=out)


def _progress(service: Service, z: ZendeskEmulator, played: int, total: int, out) -> None:
    """Rewrite the live progress line, only when it changed."""
    counts = service.store.inbox_counts()
    line = (f"tickets {played}/{total} · deliveries received {sum(counts.values())} · "
            f"pending {counts.get('pending', 0)} · escalations written {len(z.writes())}")
    if line != getattr(out, "_tierlift_progress", None):
        out.write(f"\r{line}   ")
        out.flush()
        out._tierlift_progress = line


def _settle(service: Service, z: ZendeskEmulator, out, *, total: int,
            timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        z.sender.drain(timeout=1)
        _progress(service, z, total, total, out)
        idle = service.store.inbox_counts().get("pending", 0) == 0 and z.sender.idle
        quiet_since = (quiet_since or time.monotonic()) if idle else None
        if quiet_since and time.monotonic() - quiet_since > 1.0:
            break
        time.sleep(0.1)
    out.write("\n")


def _report(service: Service, z: ZendeskEmulator, played, out) -> bool:
    print("\nWhat happened:", file=out)
    all_ok = True
    for scenario, ticket_id in played:
        tier = TIER_OF_GROUP.get(z.tickets[ticket_id]["group_id"], "?")
        writes = len(z.writes(ticket_id))
        ok = tier == scenario.expect_tier and writes == scenario.expect_writes
        all_ok &= ok
        mark = "ok " if ok else "!! "
        print(f"{mark} #{ticket_id} {scenario.title}: now {tier}, {writes} write(s)", file=out)
        for entry in service.store.audit_log(ticket_ref=str(ticket_id)):
            if entry["outcome"] == "escalated":
                for p in entry["detail"]["rounds"][-1]["proposals"]:
                    if p["state"] == "fired":
                        summaries = "; ".join(e["summary"] for e in p["evidence"])
                        print(f"      {entry['from_tier']} -> {entry['to_tier']} by "
                              f"{p['policy']}: {summaries}", file=out)
                retries = len(entry["detail"]["rounds"]) - 1
                if retries:
                    print(f"      (re-read and decided again {retries}x after a conflict)",
                          file=out)
    counts = service.store.inbox_counts()
    outcomes: dict[str, int] = {}
    for entry in service.store.audit_log(limit=100_000):
        outcomes[entry["outcome"]] = outcomes.get(entry["outcome"], 0) + 1
    print(f"\ndeliveries: {json.dumps(counts)}  evaluations: {json.dumps(outcomes)}", file=out)
    sample = next((w for w in z.writes() if w.body), None)
    if sample is not None:
        print(f"\nOne write-back, as sent to Zendesk ({sample.method} {sample.path}):", file=out)
        print(json.dumps(sample.body, indent=2), file=out)
    print("\nall scenarios behaved as expected" if all_ok else
          "\nSOME SCENARIOS DID NOT BEHAVE AS EXPECTED", file=out)
    return all_ok
