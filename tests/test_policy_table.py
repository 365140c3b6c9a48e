"""42 realistic tickets on both helpdesks, through the real receiver and worker, against the
loopback emulators, with every built-in policy enabled: each ends in the expected state."""

from __future__ import annotations

import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from webhook_app.emulator.jira import JiraEmulator
from webhook_app.emulator.zendesk import ZendeskEmulator
from webhook_app.service import Service
from webhook_app.settings import JiraSettings, Settings, ZendeskSettings

L1, L2, L3 = 101, 102, 103
ROUTE_GROUPS = {"billing": 201, "security": 202, "compliance": 203, "integrations": 204,
                "vip": 205, "incident": 206}
TEAMS = {"billing": "Billing", "security": "Security", "compliance": "Compliance",
         "integrations": "Integrations", "vip": "Key accounts", "incident": "Incident"}
ANA, BEN, CHEN = 501, 502, 601  # Zendesk: tier-1, tier-1, tier-2 agents
AGENT = "5b10:agent-ari"  # Jira agent
VIP_ACCOUNT = "qm:vip-customer"
GLOBEX, INITECH = 9001, 9002


@dataclass(frozen=True)
class Expect:
    tier: str = "L1"
    route: str | None = None
    priority: str = "normal"
    writes: int = 0
    tags: tuple[str, ...] = ()


@dataclass
class Case:
    name: str
    platform: str
    play: Callable[[Stack], str]
    expect: Expect


@dataclass
class Stack:
    zendesk: ZendeskEmulator
    jira: JiraEmulator
    service: Service
    requester: int = 1000
    customer: int = 0

    def new_requester(self) -> int:
        self.requester += 1
        return self.zendesk.user(self.requester, f"Customer {self.requester}")

    def new_customer(self) -> str:
        self.customer += 1
        return self.jira.user(f"qm:customer-{self.customer}", f"Customer {self.customer}",
                              customer=True)

    def zd(self, subject: str, text: str, *, group: int = L1, requester: int | None = None,
           **kw) -> int:
        return self.zendesk.create_ticket(
            subject=subject, description=text, requester_id=requester or self.new_requester(),
            group_id=group, assignee_id=ANA if group == L1 else None, **kw)

    def jr(self, summary: str, text: str, *, reporter: str | None = None, **kw) -> str:
        return self.jira.create_issue(summary, text, reporter or self.new_customer(), **kw)

    def settle(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            for sender in (self.zendesk.sender, self.jira.sender):
                sender.drain(timeout=1)
            idle = self.service.store.inbox_counts().get("pending", 0) == 0 and \
                self.zendesk.sender.idle and self.jira.sender.idle
            quiet_since = (quiet_since or time.monotonic()) if idle else None
            if quiet_since and time.monotonic() - quiet_since > 1.5:
                return
            time.sleep(0.05)
        raise AssertionError("the worker did not settle")


def _wait(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# -- Zendesk scenarios --------------------------------------------------------------------

def zd_asked_then_moved_down(s: Stack) -> str:
    t = s.zd("Refund request for annual plan", "Can I speak to a supervisor about this?")
    _wait(lambda: s.zendesk.tickets[t]["group_id"] == L2)
    s.zendesk.agent_moves(t, CHEN, L1)
    return str(t)


def zd_agent_replies(s: Stack, replies: int) -> str:
    t = s.zd("Export to PDF misses the footer", "The exported PDF has no footer.")
    for n in range(replies):
        s.zendesk.agent_note(t, ANA, f"Could you try option {n}?", public=True)
        s.zendesk.customer_comment(t, "Still the same, sorry.")
    return str(t)


def zd_reopened_twice(s: Stack) -> str:
    t = s.zd("Calendar invites arrive late", "Invites arrive an hour late.")
    for _ in range(2):
        s.zendesk.agent_note(t, ANA, "Fixed on our side, closing.", public=True)
        s.zendesk.agent_solves(t, ANA)
        s.zendesk.customer_comment(t, "It happened again this morning.")
    return str(t)


def zd_incident(s: Stack, n: int) -> str:
    t = s.zd("Dashboard not loading at all", f"Since 10:{n:02d} the dashboard spins forever.")
    _wait(lambda: any(p.ticket_ref == str(t) for p in _indexed(s)))
    return str(t)


def _indexed(s: Stack):
    from webhook_app.store import ticket_index

    with s.service.store.engine.connect() as conn:
        return list(conn.execute(ticket_index.select()))


def zd_repeat(s: Stack) -> str:
    requester = s.new_requester()
    for week in range(2):
        earlier = s.zd("Invoice PDF download broken", f"Week {week}: the PDF won't open.",
                       requester=requester)
        _wait(lambda e=earlier: any(p.ticket_ref == str(e) for p in _indexed(s)))
    return str(s.zd("Invoice PDF download broken again", "Still cannot open the PDF.",
                    requester=requester))


def zd_complexity(s: Stack, *, agent_replied: bool) -> str:
    t = s.zd("SSO through SAML fails", "Since the change our SAML SSO fails and we see "
             "data loss in user profiles.")
    if agent_replied:
        s.zendesk.agent_note(t, ANA, "Looking into it, which identity provider do you use?",
                             public=True)
    s.zendesk.customer_comment(t, "Okta. Please hurry.")
    return str(t)


ZENDESK = [
    Case("routine question", "zendesk",
         lambda s: str(s.zd("Password reset link expired", "Can you send a new link?")),
         Expect()),
    Case("customer asks for a manager", "zendesk",
         lambda s: str(s.zd("Charged for nothing", "Hello. I want to speak to a manager.")),
         Expect("L2", writes=1, tags=("tierlift_customer_request",))),
    Case("only an internal note mentions a manager", "zendesk",
         lambda s: str(_then(s.zd("Label printing", "Labels print blank."),
                             lambda t: s.zendesk.agent_note(
                                 t, BEN, "They might want to speak to a manager."))),
         Expect()),
    Case("tier-2 ticket, customer asks for a manager", "zendesk",
         lambda s: str(_then(s.zd("Reports wrong totals", "Totals are off.", group=L2),
                             lambda t: s.zendesk.customer_comment(
                                 t, "Please let me talk to a manager."))),
         Expect("L3", writes=1)),
    Case("'escalate this' in chat", "zendesk",
         lambda s: str(s.zd("Sync stuck", "Please escalate this.", channel="chat")),
         Expect("L2", writes=1)),
    Case("complexity after an agent's first reply", "zendesk",
         lambda s: zd_complexity(s, agent_replied=True),
         Expect("L2", writes=1, tags=("tierlift_complexity",))),
    Case("complexity waits for a first agent reply", "zendesk",
         lambda s: zd_complexity(s, agent_replied=False), Expect()),
    Case("complexity near miss: one mild signal", "zendesk",
         lambda s: str(s.zd("Report export slow", "The report export hits a timeout.")),
         Expect()),
    Case("billing question to the billing team", "zendesk",
         lambda s: str(s.zd("Charged twice", "I was charged twice for my plan this month.")),
         Expect(route="billing", writes=1, tags=("tierlift_specialized",))),
    Case("account takeover to security", "zendesk",
         lambda s: str(s.zd("Account hacked", "My account was hacked, suspicious login from "
                            "an unknown country.")),
         Expect(route="security", priority="high", writes=1)),
    Case("GDPR deletion to compliance", "zendesk",
         lambda s: str(s.zd("Data deletion request", "Under GDPR please delete my data.")),
         Expect(route="compliance", writes=1)),
    Case("credit above the tier-1 limit", "zendesk",
         lambda s: str(s.zd("Downtime compensation", "We expect a credit of $500 for the "
                            "downtime last week.")),
         Expect("L2", writes=1, tags=("tierlift_policy_exception",))),
    Case("credit below the limit", "zendesk",
         lambda s: str(s.zd("Small compensation", "A credit of $20 would be fair.")),
         Expect()),
    Case("fee waiver is a policy exception", "zendesk",
         lambda s: str(s.zd("Late fee", "Could you waive the late fee this once?")),
         Expect("L2", writes=1)),
    Case("three agent replies without resolution", "zendesk",
         lambda s: zd_agent_replies(s, 3), Expect("L2", writes=1, tags=("tierlift_effort",))),
    Case("two agent replies: not yet", "zendesk", lambda s: zd_agent_replies(s, 2), Expect()),
    Case("reopened twice", "zendesk", zd_reopened_twice, Expect("L2", writes=1)),
    Case("key account to the dedicated team", "zendesk",
         lambda s: str(s.zd("Question about seats", "How do I add seats?",
                            organization_id=GLOBEX)),
         Expect(route="vip", priority="high", writes=1, tags=("tierlift_vip",))),
    Case("small customer: no VIP treatment", "zendesk",
         lambda s: str(s.zd("Question about seats", "How do I add more seats?",
                            organization_id=INITECH)),
         Expect()),
    Case("public tweet gets priority", "zendesk",
         lambda s: str(s.zd("@acme your app is down?", "Is the app down for anyone else?",
                            channel="twitter", channel_rel="mention")),
         Expect(priority="high", writes=1, tags=("tierlift_channel",))),
    Case("twitter direct message: no boost", "zendesk",
         lambda s: str(s.zd("DM: my order", "Where is my order?", channel="twitter",
                            channel_rel="direct_message")),
         Expect()),
    Case("furious customer after a reply", "zendesk",
         lambda s: str(_then(s.zd("Nothing works", "The import keeps failing."), lambda t: (
             s.zendesk.agent_note(t, ANA, "Have you tried a smaller file?", public=True),
             s.zendesk.customer_comment(t, "This is absolutely UNACCEPTABLE!!! Third time I "
                                           "write. Worst support ever, I am furious.")))),
         Expect("L2", writes=1, tags=("tierlift_sentiment",))),
    Case("polite complaint", "zendesk",
         lambda s: str(s.zd("Slow replies", "I'm a bit disappointed it took two days.")),
         Expect()),
    Case("agent moved it back down", "zendesk", zd_asked_then_moved_down,
         Expect(writes=1)),
    Case("repeat issue from the same customer", "zendesk", zd_repeat,
         Expect("L2", writes=1, tags=("tierlift_repeat_issue",))),
    *(Case(f"outage ticket {n}", "zendesk", lambda s, n=n: zd_incident(s, n),
           Expect(route="incident", priority="urgent", writes=1,
                  tags=("tierlift_incident",))) for n in range(3)),
]


def _then(ticket, action):
    action(ticket)
    return ticket


# -- Jira scenarios -----------------------------------------------------------------------

def jr_replies(s: Stack, replies: int) -> str:
    key = s.jr("Report totals off by one", "Monthly totals differ from the CSV.")
    for n in range(replies):
        s.jira.agent_comment(key, AGENT, f"Could you check setting {n}?", internal=False)
        s.jira.customer_comment(key, "Checked, still wrong.")
    return key


def jr_moved_down(s: Stack) -> str:
    key = s.jr("Payroll file rejected", "The bank rejects the file.")
    s.jira.customer_comment(key, "I want to speak to a manager.")
    _wait(lambda: s.jira.issues[key].tier == "Tier 2")
    s.jira.agent_sets_tier(key, AGENT, "Tier 1")
    return key


JIRA = [
    Case("JSM customer asks for a manager", "jira",
         lambda s: _then(s.jr("Payroll export rejected", "The bank rejects our file."),
                         lambda k: s.jira.customer_comment(k, "I want to speak to a manager.")),
         Expect("L2", writes=1, tags=("tierlift_customer_request",))),
    Case("routine JSM question", "jira",
         lambda s: s.jr("Change billing contact", "Who can change our contact person?"),
         Expect()),
    Case("Jira Software issue asking to escalate", "jira",
         lambda s: s.jr("Checkout broken", "Please escalate this: card payments fail.",
                        project="PAY", service_desk=False),
         Expect("L2", writes=1)),
    Case("double charge to billing", "jira",
         lambda s: s.jr("Double charged", "We were charged twice this month."),
         Expect(route="billing", writes=1)),
    Case("phishing to security", "jira",
         lambda s: s.jr("Phishing email", "We received a phishing email and one account "
                        "was compromised."),
         Expect(route="security", priority="high", writes=1)),
    Case("complexity after an agent reply", "jira",
         lambda s: _then(s.jr("SCIM provisioning broken", "SCIM via LDAP fails and causes "
                              "data loss."), lambda k: (
             s.jira.agent_comment(k, AGENT, "Which directory version?", internal=False),
             s.jira.customer_comment(k, "OpenLDAP 2.6"))),
         Expect("L2", writes=1)),
    Case("furious customer", "jira",
         lambda s: _then(s.jr("Orders lost", "Orders vanished."), lambda k: (
             s.jira.agent_comment(k, AGENT, "Checking the logs.", internal=False),
             s.jira.customer_comment(k, "This is UNACCEPTABLE!!! I am furious, the worst "
                                        "service ever. Third time I write!"))),
         Expect("L2", writes=1)),
    Case("credit request above the limit", "jira",
         lambda s: s.jr("Outage compensation", "We ask for a credit of $900 for the outage."),
         Expect("L2", writes=1)),
    Case("key account requester", "jira",
         lambda s: s.jr("Seat question", "Can we move seats between teams?",
                        reporter=VIP_ACCOUNT),
         Expect(route="vip", priority="high", writes=1)),
    Case("three agent replies", "jira", lambda s: jr_replies(s, 3), Expect("L2", writes=1)),
    Case("tier-2 issue asks for a manager", "jira",
         lambda s: _then(s.jr("Data export incomplete", "Rows are missing.", tier="Tier 2"),
                         lambda k: s.jira.customer_comment(k, "Let me speak to a manager.")),
         Expect("L3", writes=1)),
    Case("internal comment only", "jira",
         lambda s: _then(s.jr("Typo on invoice page", "There is a typo."),
                         lambda k: s.jira.agent_comment(k, AGENT, "Might ask to speak to a "
                                                        "manager.", internal=True)),
         Expect()),
    Case("agent set the tier back", "jira", jr_moved_down, Expect(writes=1)),
    Case("mildly unhappy", "jira",
         lambda s: s.jr("Slow answer", "I am a bit disappointed by the wait."), Expect()),
]

CASES = ZENDESK + JIRA


@pytest.fixture(scope="module")
def played():
    zendesk, jira = ZendeskEmulator(), JiraEmulator(cloud=True)
    for agent, name in ((ANA, "Ana"), (BEN, "Ben"), (CHEN, "Chen")):
        zendesk.user(agent, name, role="agent")
    zendesk.group(L1, ANA, BEN)
    zendesk.group(L2, CHEN)
    zendesk.group(L3)
    for group in ROUTE_GROUPS.values():
        zendesk.group(group)
    zendesk.organization(GLOBEX, "Globex", tags=("enterprise",))
    zendesk.organization(INITECH, "Initech", tags=("smb",))
    jira.user(AGENT, "Ari Agent")
    jira.user(VIP_ACCOUNT, "Vera Important", customer=True)
    servers = [zendesk.serve(), jira.serve()]
    zendesk_secret, jira_secret = secrets.token_hex(16), secrets.token_hex(16)
    settings = Settings(
        database_url=f"sqlite:///{Path(tempfile.mkdtemp()) / 'tierlift.db'}",
        zendesk=ZendeskSettings(base_url=servers[0].url, email=zendesk.email,
                                api_token=zendesk.api_token, webhook_secret=zendesk_secret,
                                tier_groups={"L1": L1, "L2": L2, "L3": L3},
                                route_groups=ROUTE_GROUPS),
        jira=JiraSettings(base_url=servers[1].url, email=jira.email, api_token=jira.api_token,
                          webhook_secret=jira_secret, tier_field=jira.tier_field,
                          tier_values={"L1": "Tier 1", "L2": "Tier 2", "L3": "Tier 3"},
                          route_field=jira.team_field, route_values=TEAMS),
        policies={
            "customer_request": {"enabled": True}, "complexity": {"enabled": True},
            "effort": {"enabled": True}, "specialized": {"enabled": True},
            "policy_exception": {"enabled": True}, "repeat_issue": {"enabled": True},
            "vip": {"enabled": True, "requesters": [VIP_ACCOUNT]},
            "channel": {"enabled": True}, "sentiment": {"enabled": True},
            "incident": {"enabled": True, "count": 3},
        },
        escalation={"min_agent_replies": 1},
        worker={"coalesce_seconds": 0.3, "poll_seconds": 0.1},
    )
    service = Service.build(settings)
    ready = threading.Event()
    threading.Thread(target=service.serve, args=("127.0.0.1", 0), kwargs={"ready": ready},
                     daemon=True).start()
    ready.wait(10)
    receiver = f"http://127.0.0.1:{service.server.effective_port}"
    zendesk.send_webhooks_to(f"{receiver}/webhooks/zendesk", zendesk_secret)
    jira.send_webhooks_to(f"{receiver}/webhooks/jira", secret=jira_secret)
    stack = Stack(zendesk, jira, service)
    refs = {case.name: case.play(stack) for case in CASES}
    stack.settle()
    yield stack, refs
    service.shutdown()
    for emulator, server in zip((zendesk, jira), servers, strict=True):
        emulator.close()
        server.stop()


def state(stack: Stack, case: Case, ref: str) -> Expect:
    """The ticket's state read back from the emulated helpdesk, in the table's terms."""
    if case.platform == "zendesk":
        ticket = stack.zendesk.tickets[int(ref)]
        group = ticket["group_id"]
        tier = {L1: "L1", L2: "L2", L3: "L3"}.get(group, "L1")
        route = {g: r for r, g in ROUTE_GROUPS.items()}.get(group)
        return Expect(tier, route, ticket["priority"], len(stack.zendesk.writes(int(ref))),
                      tuple(t for t in case.expect.tags if t in " ".join(ticket["tags"])))
    issue = stack.jira.issues[ref]
    tier = {"Tier 1": "L1", "Tier 2": "L2", "Tier 3": "L3"}.get(issue.tier or "Tier 1")
    route = {v: k for k, v in TEAMS.items()}.get(issue.team)
    priority = {"Medium": "normal", "High": "high", "Highest": "urgent"}[issue.priority]
    return Expect(tier, route, priority, len(stack.jira.writes(ref)),
                  tuple(t for t in case.expect.tags if t in " ".join(issue.labels)))


def test_the_table_has_at_least_forty_tickets_on_both_platforms():
    assert len(CASES) >= 40
    assert {c.platform for c in CASES} == {"zendesk", "jira"}


@pytest.mark.parametrize("case", CASES, ids=[f"{c.platform}: {c.name}" for c in CASES])
def test_each_ticket_ends_as_expected(played, case):
    stack, refs = played
    assert state(stack, case, refs[case.name]) == case.expect
