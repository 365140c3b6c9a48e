"""``tierlift backtest``: the replay decides as the live service does on the same tickets and
configuration, never writes anywhere, and pulls each ticket once (resumable)."""

from __future__ import annotations

import io
import json
import re
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.ticket import AuthorRole, Comment, Priority, Ticket, TierChange, TierLadder
from plugins.history import MemoryHistory, PastTicket
from plugins.manager import PolicyHost
from webhook_app.backtest import (
    Progress,
    Replay,
    TicketCache,
    _Story,
    backtest,
    parse_since,
    pull,
)
from webhook_app.backtest_report import Summary, render_html, render_text
from webhook_app.cli import main
from webhook_app.presets import render
from webhook_app.service import Service, build_connectors
from webhook_app.settings import load_settings

BENCH = Path(__file__).resolve().parent.parent / "bench"
if str(BENCH) not in sys.path:  # the benchmarks import their shared loopback module by name
    sys.path.insert(0, str(BENCH))

from decisions import (  # noqa: E402
    JIRA_SECRET,
    ZENDESK_SECRET,
    announce,
    announcement_order,
    build_scene,
    connection_env,
    helpdesks,
    parse_labels,
    wait_idle,
)

# Realistic tickets on both helpdesks, backdated: a German manager request after a reply, a
# near miss, an incident of three, a young complex ticket the guardrail holds, a manager
# request an agent answered by moving the ticket up and back down, a double charge for the
# billing team, a ticket left two days in tier 1 (effort's deadline), a resolved one.
SCENE = """
[people.hannah]
name = "Hannah Weber"
organization = "globex"
locale = "de"

[people.rui]
name = "Rui Costa"
locale = "pt-BR"

[people.ola]
name = "Ola Nordmann"

[people.ivan]
name = "Ivan Morales"

[people.carmen]
name = "Carmen Vidal"
locale = "es"

[people.noah]
name = "Noah Park"

[people.mia]
name = "Mia Lund"

[organizations.globex]
name = "Globex GmbH"
tags = ["enterprise"]

[[ticket]]
name = "zd-de-manager-after-a-reply"
platform = "zendesk"
language = "de"
requester = "hannah"
created = "-3h"
subject = "Export der Monatsberichte"
description = "Hallo, der Export der Monatsberichte bricht immer wieder ab."
[[ticket.events]]
at = "-2h30m"
kind = "reply"
text = "Danke, wir sehen uns das an."
[[ticket.events]]
at = "-2h"
kind = "customer"
text = "Das dauert zu lange. Ich möchte mit einem Vorgesetzten sprechen."
[ticket.expect]
tier = "L2"
criteria = ["customer_request"]

[[ticket]]
name = "jr-near-miss-my-manager-asked"
platform = "jira"
requester = "ola"
created = "-1h"
subject = "Report export misses rows"
description = "My manager asked me to get the report export sorted out before Friday."
[ticket.expect]
criteria = []

[[ticket]]
name = "jr-outage-grey-boxes"
platform = "jira"
requester = "ivan"
created = "-38m"
subject = "Dashboards not loading"
description = '''
None of our dashboards are loading, just grey boxes with 'Failed to load data'. Reports page
also spinning forever. Started a few mins ago.'''
[ticket.expect]
tier = "L3"
priority = "urgent"
criteria = ["incident"]

[[ticket]]
name = "jr-outage-paneles"
platform = "jira"
requester = "carmen"
created = "-35m"
subject = "Los paneles no cargan"
description = '''
Hola, desde hace unos minutos ningún panel carga, los gráficos salen en gris con "No se
pudieron cargar los datos". ¿Está caído?'''
[ticket.expect]
tier = "L3"
priority = "urgent"
criteria = ["incident"]

[[ticket]]
name = "jr-outage-charts-blank"
platform = "jira"
requester = "noah"
created = "-31m"
subject = "charts all blank??"
description = '''
hey, every chart on our Sales dashboard is just empty grey tiles and the reports tab times
out. is something down on your end?'''
[ticket.expect]
tier = "L3"
priority = "urgent"
criteria = ["incident"]

[[ticket]]
name = "zd-young-sso-data-loss-held"
platform = "zendesk"
requester = "ola"
created = "-10m"
subject = "SAML login broken"
description = "Since this morning SSO via SAML fails and we see data loss in user profiles."
[ticket.expect]
criteria = []

[[ticket]]
name = "jr-manager-moved-up-and-back-down"
platform = "jira"
requester = "mia"
created = "-5h"
subject = "Invoice PDF shows the old address"
description = "Our invoices still show the address we changed last month."
[[ticket.events]]
at = "-4h30m"
kind = "customer"
text = "Still wrong after two weeks. I want to speak to a manager."
[[ticket.events]]
at = "-4h"
kind = "move"
tier = "L2"
[[ticket.events]]
at = "-3h"
kind = "note"
text = "Address template fixed; nothing for tier 2 here."
[[ticket.events]]
at = "-3h"
kind = "move"
tier = "L1"
[ticket.expect]
tier = "L1"
criteria = []

[[ticket]]
name = "zd-charged-twice-to-billing"
platform = "zendesk"
requester = "rui"
created = "-2h"
subject = "Double charge"
description = "We were charged twice this month for the same seats."
[ticket.expect]
team = "billing"
criteria = ["specialized"]

[[ticket]]
name = "zd-two-days-in-tier-one"
platform = "zendesk"
requester = "noah"
created = "-3d"
subject = "Date format in reports"
description = "How can I change the date format in the weekly reports to DD.MM.YYYY?"
[[ticket.events]]
at = "-2d23h"
kind = "reply"
text = "Good question, let me check with the team."
[[ticket.events]]
at = "-2d20h"
kind = "customer"
text = "Any news?"
[ticket.expect]
tier = "L2"
criteria = ["effort"]

[[ticket]]
name = "jr-resolved-with-a-manager-request"
platform = "jira"
requester = "rui"
created = "-5d"
status = "Resolved"
subject = "Import keeps failing"
description = "Third time now. I want to speak to a manager."
[ticket.expect]
criteria = []
"""


def _settings(tmp_path: Path, name: str, scene, urls, monkeypatch):
    """The standard preset (``tierlift init``) with the scene's connection from the
    environment, as the decision benchmark supplies it."""
    config = tmp_path / f"{name}.toml"
    config.write_text(render("standard"), encoding="utf-8")
    database = tmp_path / f"{name}.db"
    env = connection_env(scene, f"sqlite:///{database}", *urls)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return load_settings(config), config, database, env


def _state(ticket: Ticket) -> tuple[str, str | None, Priority | None]:
    return ticket.tier, ticket.route, ticket.priority


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """The scene twice, at the same moment: one copy worked by the live service (in process,
    webhooks announced as the decision benchmark does), the other backtested."""
    tmp_path = tmp_path_factory.mktemp("backtest")
    labels = parse_labels(SCENE, "backtest.toml")
    now = datetime.now(UTC).replace(microsecond=0)
    emulators = []
    with pytest.MonkeyPatch.context() as monkeypatch:
        live_zendesk, live_jira = helpdesks()
        servers = [live_zendesk.serve(), live_jira.serve()]
        emulators += zip((live_zendesk, live_jira), servers, strict=True)
        scene = build_scene(labels, live_zendesk, live_jira, now=now)
        settings, _, _, _ = _settings(tmp_path, "live", scene, [s.url for s in servers],
                                      monkeypatch)
        service = Service.build(settings)
        ready = threading.Event()
        threading.Thread(target=service.serve, args=("127.0.0.1", 0), kwargs={"ready": ready},
                         daemon=True).start()
        assert ready.wait(10)
        receiver = f"http://127.0.0.1:{service.server.effective_port}"
        live_zendesk.send_webhooks_to(f"{receiver}/webhooks/zendesk", ZENDESK_SECRET)
        live_jira.send_webhooks_to(f"{receiver}/webhooks/jira", secret=JIRA_SECRET)
        try:
            for wave in announcement_order(labels, "file"):
                announce(scene, wave)
                wait_idle(service.store, scene, quiet=0.3, timeout=60)
        finally:
            service.shutdown()
        readers = build_connectors(settings)
        live = {name: _state(readers[t.platform].fetch(scene.refs[name], needs=frozenset()))
                for name, t in ((t.name, t) for t in labels.tickets)}

        zendesk, jira = helpdesks()
        servers = [zendesk.serve(), jira.serve()]
        emulators += zip((zendesk, jira), servers, strict=True)
        copy = build_scene(labels, zendesk, jira, now=now)
        assert copy.refs == scene.refs
        settings, config, database, env = _settings(tmp_path, "backtest", copy,
                                                    [s.url for s in servers], monkeypatch)
        stderr = io.StringIO()
        result = backtest(settings, since="30d", cache_path=tmp_path / "cache.jsonl",
                          progress=stderr)
        requests = list(zendesk.requests) + list(jira.requests)
        yield {"labels": labels, "refs": copy.refs, "live": live, "result": result,
               "requests": requests, "database": database, "stderr": stderr.getvalue(),
               "settings": settings, "config": config, "env": env, "tmp": tmp_path,
               "emulators": (zendesk, jira)}
    for emulator, server in emulators:
        emulator.close()
        server.stop()


def test_the_backtest_decides_what_the_live_service_decided(compared):
    by_ref = {(o.platform, o.ref): o for o in compared["result"].outcomes}
    labels = compared["labels"]
    replayed = {}
    for t in labels.tickets:
        outcome = by_ref[t.platform, compared["refs"][t.name]]
        replayed[t.name] = (outcome.tier_after, outcome.route_after, outcome.priority_after)
    assert replayed == compared["live"]
    # and the scene is not idle: tickets went up a tier, up two, to a team, and were held
    assert replayed["zd-de-manager-after-a-reply"] == ("L2", None, Priority.NORMAL)
    assert replayed["jr-outage-paneles"] == ("L3", None, Priority.URGENT)
    assert replayed["zd-charged-twice-to-billing"][1] == "billing"
    assert replayed["zd-two-days-in-tier-one"][0] == "L2"
    assert replayed["zd-young-sso-data-loss-held"][0] == "L1"
    assert replayed["jr-manager-moved-up-and-back-down"][0] == "L1"


def test_the_backtest_only_reads_and_never_opens_the_store(compared):
    assert compared["requests"], "the backtest read the helpdesks"
    assert [(r.method, r.path) for r in compared["requests"] if r.method != "GET"] == []
    assert not compared["database"].exists()


def test_steps_follow_the_tickets_history(compared):
    """Evidence at its time, a deadline as a step, an agent's move wins over tierlift's."""
    by_ref = {(o.platform, o.ref): o for o in compared["result"].outcomes}

    def outcome(name):
        t = next(t for t in compared["labels"].tickets if t.name == name)
        return by_ref[t.platform, compared["refs"][name]]

    now = compared["result"].end
    manager = outcome("zd-de-manager-after-a-reply")
    assert [(m.to_tier, list(m.targets)) for m in manager.moves] == [("L2", ["customer_request"])]
    assert manager.moves[0].at.replace(microsecond=0) >= now - timedelta(hours=2, minutes=1)
    assert "Vorgesetzten" in manager.moves[0].note
    # effort's 48 hours in tier 1 were up two days after creation: a step of its own
    effort = outcome("zd-two-days-in-tier-one")
    assert [list(m.targets) for m in effort.moves] == [["effort"]]
    assert effort.moves[0].at == effort.created_at + timedelta(hours=48)
    # tierlift would have moved it up at the request; the agents moved it up (agreement,
    # 30 minutes later) and back down, which stands, and the request is not acted on again
    back = outcome("jr-manager-moved-up-and-back-down")
    assert [(m.to_tier, m.at) for m in back.moves] == \
        [("L2", back.created_at + timedelta(minutes=30))]
    assert back.agents_moved_at == back.created_at + timedelta(hours=1)
    assert back.tier_after == "L1"
    # the incident forms at the third report, on creation times: all three move then
    third = outcome("jr-outage-charts-blank").created_at
    for name in ("jr-outage-grey-boxes", "jr-outage-paneles", "jr-outage-charts-blank"):
        assert [(m.at, m.to_tier, list(m.targets)) for m in outcome(name).moves] == \
            [(third, "L3", ["incident"])]


def test_the_report_shows_policies_mix_agreement_and_notes(compared):
    summary = Summary.of(compared["result"], samples=3)
    text = render_text(summary)
    assert "customer_request" in text and "incident" in text and "team billing" in text
    assert "guide 80 / 15 / 5 %" in text
    assert "agents moved 1 ticket; tierlift would also have moved 1 of them (100.0 %)" in text
    assert "a median 30 min earlier than agents did (1 ticket both moved)" in text
    assert "tierlift escalated this ticket from L1 to L2." in text
    assert summary.tiers_before["L3"] == 0 and summary.tiers_after["L3"] == 3
    page = render_html(summary)
    assert page.startswith("<!doctype html>") and "<svg" in page
    assert "src=" not in page and "href=" not in page and "@import" not in page
    assert "pulling: " in compared["stderr"]


def test_a_second_run_reads_nothing_again_and_an_interrupted_pull_goes_on(compared):
    zendesk, jira = compared["emulators"]
    settings, tmp = compared["settings"], compared["tmp"]

    def fetches() -> int:
        """Tickets and issues read (not the listings, searches or comments)."""
        return sum(1 for r in list(zendesk.requests) + list(jira.requests)
                   if re.fullmatch(r"/api/v2/tickets/\d+\.json|/rest/api/3/issue/[^/]+", r.path))

    before = fetches()
    again = backtest(settings, since="30d", cache_path=tmp / "cache.jsonl", progress=None)
    assert fetches() == before and again.pull.fetched == 0
    assert again.pull.cached == len(compared["result"].outcomes)

    sources = build_connectors(settings)

    class Interrupted(Exception):
        pass

    class Flaky:
        def __init__(self, source, fail_after):
            self.source, self.platform, self.left = source, source.platform, fail_after
            self.api = source.api

        def __getattr__(self, name):
            return getattr(self.source, name)

        def fetch(self, ref, *, needs):
            self.left -= 1
            if self.left < 0:
                raise Interrupted
            return self.source.fetch(ref, needs=needs)

    cache_path = tmp / "interrupted.jsonl"
    cache = TicketCache(cache_path)
    policies = PolicyHost().configure(settings.policies)
    flaky = {name: Flaky(source, 2) for name, source in sources.items()}
    since = compared["result"].start
    with pytest.raises(Interrupted):
        pull(flaky, since, policies.needs, cache, concurrency=1)
    cache.close()
    with cache_path.open("a", encoding="utf-8") as f:
        f.write('{"format": 1, "kind": "ticket", "si')  # cut short by the interruption
    cache = TicketCache(cache_path)
    done = pull(sources, since, policies.needs, cache, concurrency=1)
    cache.close()
    assert done.cached >= 2 and done.cached + done.fetched == len(done.tickets)
    assert len(done.tickets) == len(compared["result"].outcomes)


def test_the_command_prints_the_report_and_writes_the_page(compared, monkeypatch, tmp_path):
    for key, value in compared["env"].items():
        monkeypatch.setenv(key, value)
    page = tmp_path / "report.html"
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(main, ["backtest", "--config", str(compared["config"]),
                                     "--since", "7d", "--html", str(page)])
    assert done.exit_code == 0, done.output
    assert "tierlift backtest:" in done.stdout and "Per policy" in done.stdout
    assert page.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert (tmp_path / "tierlift-backtest.cache.jsonl").stat().st_mode & 0o077 == 0
    bad = CliRunner().invoke(main, ["backtest", "--config", str(compared["config"]),
                                    "--since", "last month"])
    assert bad.exit_code == 2 and "30d" in bad.output


# -- without the emulators -----------------------------------------------------------------

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LADDER = TierLadder(("L1", "L2", "L3"), "L1")


def test_since_reads_spans_and_dates():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert parse_since("30d", now) == now - timedelta(days=30)
    assert parse_since("12h", now) == now - timedelta(hours=12)
    assert parse_since("2w", now) == now - timedelta(days=14)
    assert parse_since("2026-11-01", now) == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="30d"):
        parse_since("a month", now)


def _past(ref: str, minutes: int, requester: str = "r1", org: str | None = None) -> PastTicket:
    return PastTicket("zendesk", ref, f"subject {ref}", (), None, requester, org,
                      T0 + timedelta(minutes=minutes), "open")


def test_memory_history_sees_only_tickets_created_by_its_moment():
    history = MemoryHistory([_past("1", 0), _past("2", 10, "r2", "o"), _past("3", 20, "r3", "o"),
                             _past("4", 30)])
    assert [p.ref for p in history.created_between("zendesk", T0, T0 + timedelta(hours=1))] \
        == ["1", "2", "3", "4"]
    history.until = T0 + timedelta(minutes=20)
    assert [p.ref for p in history.created_between("zendesk", T0, T0 + timedelta(hours=1))] \
        == ["1", "2", "3"]
    assert [p.ref for p in history.recent("zendesk", since=T0 + timedelta(minutes=5))] \
        == ["3", "2"]
    assert [p.ref for p in history.related("zendesk", requester_id="r1", organization_id="o",
                                           since=T0)] == ["3", "2", "1"]
    assert history.related("jira", requester_id="r1", organization_id=None, since=T0) == []
    history.put(PastTicket("zendesk", "2", "renamed", ("tierlift_incident_x",), None, "r2",
                           "o", T0 + timedelta(minutes=10), "solved"))
    [two] = [p for p in history.recent("zendesk", since=T0) if p.ref == "2"]
    assert (two.subject, two.status) == ("renamed", "solved")
    assert len(history.recent("zendesk", since=T0)) == 3


def _ticket(**overrides) -> Ticket:
    values = dict(platform="zendesk", ref="7", subject="Help", status="open",
                  priority=Priority.NORMAL, tier="L1", tags=("billing", "tierlift_escalated"),
                  requester_id="c", assignee_id=None, organization_id=None, channel="email",
                  created_at=T0, updated_at=T0 + timedelta(hours=5), version="v",
                  comments=(Comment("1", "c", AuthorRole.CUSTOMER, True,
                                    "I want to speak to a manager", T0),),
                  tier_history=(TierChange(T0, "L1"),))
    values.update(overrides)
    return Ticket(**values)


def test_tierlifts_own_earlier_writes_are_left_out_and_agents_moves_win():
    note = Comment("9", "bot", AuthorRole.SELF, False, "tierlift escalated this ticket",
                   T0 + timedelta(hours=1))
    ticket = _ticket(
        tier="L1",
        comments=(*_ticket().comments, note),
        tier_history=(TierChange(T0, "L1"), TierChange(T0 + timedelta(hours=1), "L2"),
                      TierChange(T0 + timedelta(hours=3), "L1")),
        priority_history=((T0, Priority.NORMAL), (T0 + timedelta(hours=1), Priority.HIGH)),
        priority=Priority.HIGH)
    story = _Story(ticket, LADDER, frozenset({"solved", "closed"}))
    assert [c.tier for c in story.tiers] == ["L1", "L1"]  # tierlift's own move is not replayed
    assert story.at(T0 + timedelta(hours=2)).tier == "L1"
    assert story.at(T0 + timedelta(hours=2)).priority == Priority.NORMAL
    assert story.at(T0).tags == ("billing",)
    assert [c.id for c in story.at(T0 + timedelta(hours=4)).comments] == ["1"]
    assert story.agents_moved_at(T0) is None


def test_a_replayed_move_lasts_until_an_agent_moves_the_ticket():
    ticket = _ticket(tier="L1", tags=(), tier_history=(
        TierChange(T0, "L1"), TierChange(T0 + timedelta(hours=2), "L1")))
    policies = PolicyHost(load_entry_points=False).configure(
        {"customer_request": {"enabled": True}})
    replay = Replay(policies, LADDER)
    result = replay.run([ticket], start=T0 - timedelta(days=1), end=T0 + timedelta(hours=5))
    [outcome] = result.outcomes
    assert [(m.at, m.to_tier) for m in outcome.moves] == [(T0, "L2")]
    assert outcome.tier_after == "L1"  # the agent's move at +2 h wins; not escalated again
    assert result.evaluations == 2


def test_progress_counts_on_stderr():
    stream = io.StringIO()
    show = Progress(stream, every=0)
    show(3, 10, 1)
    show(10, 10, 1, final=True)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("pulling: 3/10 tickets (") and lines[0].endswith(
        "1 from the cache)")
    assert lines[-1].startswith("pulling: 10/10 tickets")


def test_the_cache_keeps_a_ticket_per_version_and_needs(tmp_path):
    cache = TicketCache(tmp_path / "c.jsonl")
    ticket = _ticket()
    cache.put_ticket("https://acme", ticket, "v1", frozenset({"comments", "history"}))
    cache.close()
    cache = TicketCache(tmp_path / "c.jsonl")
    assert cache.ticket("https://acme", "zendesk", "7", "v1", frozenset({"comments"})) == ticket
    assert cache.ticket("https://acme", "zendesk", "7", "v2", frozenset({"comments"})) is None
    assert cache.ticket("https://acme", "zendesk", "7", "v1",
                        frozenset({"organization"})) is None
    assert cache.ticket("https://other", "zendesk", "7", "v1", frozenset()) is None
    line = json.loads((tmp_path / "c.jsonl").read_text().splitlines()[0])
    assert line["kind"] == "ticket" and line["ticket"]["comments"][0]["body"].startswith("I want")


# -- what the connectors read for the timeline ---------------------------------------------

def test_zendesk_history_has_team_and_priority_changes():
    from connector.http import ApiSession
    from connector.ticket import TierWrite
    from connector.zendesk import ZendeskConnector

    zendesk, _ = helpdesks()
    server = zendesk.serve()
    try:
        now = datetime.now(UTC).replace(microsecond=0)
        zendesk.user(7, "Cy")
        ticket = zendesk.create_ticket(subject="s", description="d", requester_id=7,
                                       group_id=101, status="open",
                                       at=now - timedelta(hours=3), notify=False)
        zendesk.agent_moves(ticket, 501, 201, at=now - timedelta(hours=2), notify=False)
        zendesk.agent_moves(ticket, 501, 102, at=now - timedelta(hours=1), notify=False)
        connector = ZendeskConnector(
            ApiSession(server.url, (f"{zendesk.email}/token", zendesk.api_token)),
            {"L1": 101, "L2": 102, "L3": 103}, LADDER, {"billing": 201})
        needs = frozenset({"comments", "history"})
        connector.escalate(connector.fetch(str(ticket), needs=needs),
                           TierWrite(None, (), "note", priority=Priority.HIGH))
        read = connector.fetch(str(ticket), needs=needs)
    finally:
        zendesk.close()
        server.stop()
    created = read.created_at
    assert [(at - created, route) for at, route in read.route_history] == [
        (timedelta(0), None), (timedelta(hours=1), "billing"), (timedelta(hours=2), None)]
    assert [c.tier for c in read.tier_history] == ["L1", "L1", "L2"]
    assert read.priority_history[0] == (created, Priority.NORMAL)
    assert read.priority_history[1][1] == Priority.HIGH and len(read.priority_history) == 2


@pytest.mark.parametrize("cloud", [True, False], ids=["cloud", "data center"])
def test_jira_history_has_team_and_priority_changes(cloud):
    from connector.http import ApiSession, BearerAuth
    from connector.jira import JiraConnector
    from connector.ticket import TierWrite
    from webhook_app.emulator.jira import JiraEmulator

    jira = JiraEmulator(cloud=cloud)
    server = jira.serve()
    try:
        now = datetime.now(UTC).replace(microsecond=0)
        jira.user("qm:c", "Cy", customer=True)
        jira.user("agent", "Ari")
        key = jira.create_issue("s", "d", "qm:c", at=now - timedelta(hours=3), notify=False)
        jira.agent_sets_team(key, "agent", "Billing", at=now - timedelta(hours=2),
                             notify=False)
        auth = (jira.email, jira.api_token) if cloud else BearerAuth(jira.pat)
        connector = JiraConnector(
            ApiSession(server.url, auth), cloud=cloud, tier_field=jira.tier_field,
            tier_values={"L1": "Tier 1", "L2": "Tier 2", "L3": "Tier 3"}, ladder=LADDER,
            priorities={"low": "Low", "normal": "Medium", "high": "High", "urgent": "Highest"},
            route_field=jira.team_field, route_values={"billing": "Billing"})
        needs = frozenset({"comments", "history"})
        connector.escalate(connector.fetch(key, needs=needs),
                           TierWrite(None, (), "note", priority=Priority.HIGH))
        read = connector.fetch(key, needs=needs)
    finally:
        jira.close()
        server.stop()
    created = read.created_at
    assert read.route_history == ((created, None), (created + timedelta(hours=1), "billing"))
    assert read.priority_history[0] == (created, Priority.NORMAL)
    assert read.priority_history[1][1] == Priority.HIGH and len(read.priority_history) == 2
    assert read.route == "billing" and read.priority == Priority.HIGH
