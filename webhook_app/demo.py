"""``tierlift demo``: emulated Zendesk and Jira, the real receiver and worker, a stream of
tickets on both, a live progress line, and a report of what was escalated and why."""

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

from webhook_app.emulator.jira import JiraEmulator
from webhook_app.emulator.zendesk import ZendeskEmulator
from webhook_app.service import Service
from webhook_app.settings import JiraSettings, Settings, ZendeskSettings

GROUPS = {"L1": 101, "L2": 102, "L3": 103}
TIER_OF_GROUP = {v: k for k, v in GROUPS.items()}
OPTIONS = {"L1": "Tier 1", "L2": "Tier 2", "L3": "Tier 3"}
TIER_OF_OPTION = {v: k for k, v in OPTIONS.items()}
ANA, BEN, CHEN, DEE = 501, 502, 601, 701  # Zendesk tier-1, tier-1, tier-2 and tier-3 agents
JIRA_AGENT, JIRA_CUSTOMER, JIRA_COLLEAGUE = "5b10:ari", "qm:9c1e:nadia", "5b10:lee"

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
class Helpdesks:
    zendesk: ZendeskEmulator
    jira: JiraEmulator

    def tier(self, platform: str, ref: str) -> str:
        if platform == "zendesk":
            return TIER_OF_GROUP.get(self.zendesk.tickets[int(ref)]["group_id"], "?")
        return TIER_OF_OPTION.get(self.jira.issues[ref].tier or "Tier 1", "?")

    def writes(self, platform: str, ref: str | None = None) -> int:
        if platform == "zendesk":
            return len(self.zendesk.writes(None if ref is None else int(ref)))
        return len(self.jira.writes(ref))

    @property
    def senders(self):
        return [self.zendesk.sender, self.jira.sender]


@dataclass
class Scenario:
    platform: str
    title: str
    expect_tier: str
    expect_writes: int
    play: Callable[[Helpdesks], object]


def _zendesk_scenarios(routine: int) -> list[Scenario]:
    def new(h: Helpdesks, subject: str, text: str, requester: int, group: int = 101,
            **kw) -> int:
        return h.zendesk.create_ticket(subject=subject, description=text, requester_id=requester,
                                       group_id=group, assignee_id=ANA if group == 101 else None,
                                       **kw)

    def manager_by_email(h):
        t = new(h, "Charged twice this month", "Hello, I was charged twice for my plan.", 1)
        h.zendesk.agent_note(t, ANA, "Checking with billing.", public=True)
        h.zendesk.customer_comment(t, "This is the third time. I want to speak to a manager "
                                      "today.")
        return t

    def escalate_in_chat(h):
        return new(h, "Sync stuck since the update", "Our sync has been stuck for two days. "
                   "Please escalate this to someone who knows the sync engine.", 2,
                   channel="chat")

    def internal_note_only(h):
        t = new(h, "Cannot log in with SSO", "SSO login loops back to the start page.", 3)
        h.zendesk.agent_note(t, BEN, "Heads-up: this customer may ask to speak to a manager.")
        return t

    def tier2_to_tier3(h):
        t = new(h, "Data missing after migration", "Half of our projects are gone after the "
                "migration.", 4, group=102)
        h.zendesk.customer_comment(t, "Nothing you suggested works. Let me talk to a manager "
                                      "please.")
        return t

    def moved_back_down(h):
        t = new(h, "Refund for annual plan", "I would like a refund. Can I speak to a "
                "supervisor about it?", 5)
        _wait_for(lambda: h.tier("zendesk", str(t)) == "L2")
        h.zendesk.agent_moves(t, CHEN, 101)  # tier 2 hands it back: tier 1 can do refunds
        h.zendesk.agent_note(t, ANA, "Refund processed, anything else?", public=True)
        return t

    def concurrent_edit(h):
        h.zendesk.fail_next("PUT", r"/tickets/\d+\.json", 409, body={
            "error": "UpdateConflict", "description": "Safe Update prevented the update."})
        return new(h, "API returns 500 on bulk import", "Bulk import fails every time. I need "
                   "to speak to a manager, this blocks our launch.", 6)

    def rate_limited(h):
        h.zendesk.fail_next("GET", r"/tickets/\d+\.json", 429, headers={"Retry-After": "1"},
                            body={"error": "TooManyRequests"})
        return new(h, "Webhook deliveries delayed", "Our webhooks arrive hours late. Please "
                   "escalate this.", 7)

    scenarios = [
        Scenario("zendesk", "customer asks for a manager (email)", "L2", 1, manager_by_email),
        Scenario("zendesk", "customer asks to escalate (chat)", "L2", 1, escalate_in_chat),
        Scenario("zendesk", "only an agent's internal note mentions a manager", "L1", 0,
                 internal_note_only),
        Scenario("zendesk", "tier-2 ticket, customer asks for a manager", "L3", 1,
                 tier2_to_tier3),
        Scenario("zendesk", "agent moved it back down: same words do not re-escalate", "L1", 1,
                 moved_back_down),
        Scenario("zendesk", "someone edited the ticket at the same moment (409)", "L2", 1,
                 concurrent_edit),
        Scenario("zendesk", "Zendesk rate-limits a read (429, Retry-After: 1)", "L2", 1,
                 rate_limited),
    ]
    for n in range(routine):
        subject, text = ROUTINE[n % len(ROUTINE)]
        scenarios.append(Scenario("zendesk", f"routine: {subject.lower()}", "L1", 0,
                                  lambda h, s=subject, t=text, r=100 + n: new(h, s, t, r)))
    return scenarios


def _jira_scenarios() -> list[Scenario]:
    def jsm_manager(h):
        key = h.jira.create_issue("Payroll export rejected by the bank", "Since Monday the "
                                  "bank rejects our payroll file.", JIRA_CUSTOMER)
        h.jira.agent_comment(key, JIRA_AGENT, "Could you attach the rejected file?",
                             internal=False)
        h.jira.customer_comment(key, "Attached twice already. I want to speak to a manager.")
        return key

    def software_description(h):
        return h.jira.create_issue("Checkout broken for EU cards", "Please escalate this: "
                                   "every EU card payment fails since the deploy.",
                                   JIRA_COLLEAGUE, project="PAY", service_desk=False)

    def routine(h):
        key = h.jira.create_issue("Change billing address", "How do I change the billing "
                                  "address on our account?", JIRA_CUSTOMER)
        h.jira.agent_comment(key, JIRA_AGENT, "Settings > Billing > Address.", internal=False)
        return key

    return [
        Scenario("jira", "JSM customer asks for a manager", "L2", 1, jsm_manager),
        Scenario("jira", "Jira Software issue: 'escalate this' in the description", "L2", 1,
                 software_description),
        Scenario("jira", "routine JSM question", "L1", 0, routine),
    ]


def _wait_for(condition: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def _populate(h: Helpdesks) -> None:
    z = h.zendesk
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
    h.jira.user(JIRA_CUSTOMER, "Nadia Osei", customer=True)
    h.jira.user(JIRA_AGENT, "Ari Agent")
    h.jira.user(JIRA_COLLEAGUE, "Lee Park")


def run_demo(tickets: int = 8, out=sys.stdout) -> int:
    """Play the scenarios; print progress and a report. Exit status 0 if all went as expected."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the emulators' access logs
    workdir = Path(tempfile.mkdtemp(prefix="tierlift-demo-"))
    zendesk_secret, jira_secret = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    helpdesks = Helpdesks(ZendeskEmulator(), JiraEmulator(cloud=True))
    _populate(helpdesks)
    servers = [helpdesks.zendesk.serve(), helpdesks.jira.serve()]
    zendesk_url, jira_url = (server.url for server in servers)
    settings = Settings(
        database_url=f"sqlite:///{workdir / 'tierlift.db'}",
        zendesk=ZendeskSettings(base_url=zendesk_url, email=helpdesks.zendesk.email,
                                api_token=helpdesks.zendesk.api_token,
                                webhook_secret=zendesk_secret, tier_groups=GROUPS),
        jira=JiraSettings(base_url=jira_url, email=helpdesks.jira.email,
                          api_token=helpdesks.jira.api_token, webhook_secret=jira_secret,
                          tier_field=helpdesks.jira.tier_field, tier_values=OPTIONS),
        policies={"customer_request": {"enabled": True}},
        worker={"coalesce_seconds": 0.3, "poll_seconds": 0.2},
    )
    service = Service.build(settings)
    ready = threading.Event()
    threading.Thread(target=service.serve, args=("127.0.0.1", 0), kwargs={"ready": ready},
                     daemon=True).start()
    ready.wait(10)
    receiver = f"http://127.0.0.1:{service.server.effective_port}"
    helpdesks.zendesk.send_webhooks_to(f"{receiver}/webhooks/zendesk", zendesk_secret)
    helpdesks.jira.send_webhooks_to(f"{receiver}/webhooks/jira", secret=jira_secret)
    print(f"emulated Zendesk at {zendesk_url}, emulated Jira Cloud at {jira_url}, tierlift at "
          f"{receiver}, store {workdir / 'tierlift.db'}", file=out)

    scenarios = _zendesk_scenarios(routine=max(0, tickets)) + _jira_scenarios()
    played: list[tuple[Scenario, str]] = []
    for scenario in scenarios:
        played.append((scenario, str(scenario.play(helpdesks))))
        _progress(service, helpdesks, len(played), len(scenarios), out)
    _replay_one_delivery(helpdesks.zendesk, receiver, out)
    _settle(service, helpdesks, out, total=len(scenarios))
    ok = _report(service, helpdesks, played, out)
    service.shutdown()
    for emulator, server in zip((helpdesks.zendesk, helpdesks.jira), servers, strict=True):
        emulator.close()
        server.stop()
    return 0 if ok else 1


def _replay_one_delivery(z: ZendeskEmulator, receiver: str, out) -> None:
    """Zendesk retries deliveries: send the first one again, byte for byte."""
    z.sender.drain()
    first = z.sender.sent[0]
    status = requests.post(f"{receiver}/webhooks/zendesk", data=first.body,
                           headers=first.headers, timeout=5).status_code
    print(f"\nre-sent the first delivery unchanged: HTTP {status} (duplicate, not processed "
          "again)", file=out)


def _progress(service: Service, h: Helpdesks, played: int, total: int, out) -> None:
    """Rewrite the live progress line, only when it changed."""
    counts = service.store.inbox_counts()
    line = (f"tickets {played}/{total} · deliveries received {sum(counts.values())} · "
            f"pending {counts.get('pending', 0)} · escalations written "
            f"{h.writes('zendesk') + h.writes('jira')}")
    if line != getattr(out, "_tierlift_progress", None):
        out.write(f"\r{line}   ")
        out.flush()
        out._tierlift_progress = line


def _settle(service: Service, h: Helpdesks, out, *, total: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        for sender in h.senders:
            sender.drain(timeout=1)
        _progress(service, h, total, total, out)
        idle = service.store.inbox_counts().get("pending", 0) == 0 and \
            all(sender.idle for sender in h.senders)
        quiet_since = (quiet_since or time.monotonic()) if idle else None
        if quiet_since and time.monotonic() - quiet_since > 1.0:
            break
        time.sleep(0.1)
    out.write("\n")


def _report(service: Service, h: Helpdesks, played, out) -> bool:
    print("\nWhat happened:", file=out)
    all_ok = True
    for scenario, ref in played:
        tier, writes = h.tier(scenario.platform, ref), h.writes(scenario.platform, ref)
        ok = tier == scenario.expect_tier and writes == scenario.expect_writes
        all_ok &= ok
        print(f"{'ok ' if ok else '!! '} {scenario.platform} #{ref} {scenario.title}: now "
              f"{tier}, {writes} write(s)", file=out)
        for entry in service.store.audit_log(ticket_ref=ref):
            if entry["platform"] != scenario.platform or entry["outcome"] != "escalated":
                continue
            rounds = entry["detail"]["rounds"]
            for p in rounds[-1]["proposals"]:
                if p["state"] == "fired":
                    summaries = "; ".join(e["summary"] for e in p["evidence"])
                    print(f"      {entry['from_tier']} -> {entry['to_tier']} by "
                          f"{p['policy']}: {summaries}", file=out)
            if len(rounds) > 1:
                print(f"      (re-read and decided again {len(rounds) - 1}x after a conflict)",
                      file=out)
    outcomes: dict[str, int] = {}
    for entry in service.store.audit_log(limit=100_000):
        outcomes[entry["outcome"]] = outcomes.get(entry["outcome"], 0) + 1
    print(f"\ndeliveries: {json.dumps(service.store.inbox_counts())}  "
          f"evaluations: {json.dumps(outcomes)}", file=out)
    for platform, sample in (("Zendesk", next(iter(h.zendesk.writes()), None)),
                             ("Jira", next(iter(h.jira.writes()), None))):
        if sample is not None:
            print(f"\nOne write-back to {platform} ({sample.method} {sample.path}):", file=out)
            print(json.dumps(sample.body, indent=2), file=out)
    print("\nall scenarios behaved as expected" if all_ok else
          "\nSOME SCENARIOS DID NOT BEHAVE AS EXPECTED", file=out)
    return all_ok
