"""vip on Jira Service Management: the worker reads a request's organization from the loopback
Jira emulator (Organizations field, servicedeskapi organization) and routes a listed key account
to its team from the first message; an unlisted organization gets nothing."""

from __future__ import annotations

import pytest
from conftest import make_settings
from emulated import served

from plugins.manager import PolicyHost
from webhook_app.emulator.jira import JiraEmulator
from webhook_app.escalation import Escalator
from webhook_app.service import build_connectors, enabled_policies
from webhook_app.settings import JiraSettings
from webhook_app.store import Delivery, Store
from webhook_app.worker import Worker

CUSTOMER, OTHER = "qm:customer-hannah", "qm:customer-luc"


@pytest.fixture(params=["cloud", "data-center"])
def jira(request):
    emulator = JiraEmulator(cloud=request.param == "cloud")
    emulator.user(CUSTOMER, "Hannah Weber", customer=True)
    emulator.user(OTHER, "Luc Moreau", customer=True)
    with served(emulator):
        yield emulator


@pytest.fixture
def worker(tmp_path, jira):
    auth = {"email": jira.email, "api_token": jira.api_token} if jira.cloud \
        else {"pat": jira.pat}
    settings = make_settings(tmp_path, zendesk=None, jira=JiraSettings(
        base_url=jira.url, **auth, webhook_secret="s", tier_field=jira.tier_field,
        tier_values={"L1": "Tier 1", "L2": "Tier 2", "L3": "Tier 3"},
        route_field=jira.team_field, route_values={"key_accounts": "Key accounts"}),
        policies={"vip": {"enabled": True, "organizations": ["Northwind Freight Ltd"],
                          "org_tags": ["vip", "enterprise_key_account"],
                          "route": "key_accounts", "priority": "high"}})
    store = Store(settings.database_url)
    store.create_schema()
    policies = enabled_policies(settings, PolicyHost(load_entry_points=False))
    escalator = Escalator(store, build_connectors(settings), policies, settings.ladder)
    yield Worker(store, escalator, settings.worker)
    store.close()


def announce(worker: Worker, jira: JiraEmulator, key: str) -> dict:
    issue = jira.issues[key]
    assert worker.store.receive(Delivery("jira", f"issue:{issue.id}:created", key,
                                         "jira:issue_created", "{}", issue.reporter))
    worker.run_once()
    return worker.store.audit_log()[-1]


def test_a_listed_jsm_organization_is_routed_from_the_first_message_and_others_are_not(jira,
                                                                                     worker):
    northwind = jira.organization("Northwind Freight Ltd")
    lumiere = jira.organization("Groupe Lumière SA")
    routed = jira.create_issue("Rechnungsexport schlägt fehl", "Der Export bricht mit Fehler "
                               "500 ab.", CUSTOMER, organizations=(northwind,), notify=False)
    unlisted = jira.create_issue("Export des factures impossible", "L'export échoue.", OTHER,
                                 organizations=(lumiere,), notify=False)
    again = jira.create_issue("Zweiter Export", "Auch der CSV-Export bricht ab.", CUSTOMER,
                              organizations=(northwind,), notify=False)

    entry = announce(worker, jira, routed)
    assert (entry["outcome"], entry["ticket_ref"]) == ("escalated", routed)
    issue = jira.issues[routed]
    assert (issue.team, issue.priority, issue.tier) == ("Key accounts", "High", "Tier 1")
    [put] = jira.writes(routed)
    assert put.body == {"fields": {jira.team_field: {"value": "Key accounts"},
                                   "priority": {"name": "High"}},
                        "update": {"labels": [{"add": "tierlift_escalated"},
                                              {"add": "tierlift_vip"}]}}
    [note] = jira.comments_posted(routed)
    assert (note.path, note.body["public"]) == \
        (f"/rest/servicedeskapi/request/{routed}/comment", False)
    assert "- vip: organization Northwind Freight Ltd is on the key-account list" in \
        note.body["body"]

    assert announce(worker, jira, unlisted)["outcome"] == "no_change"
    assert (jira.issues[unlisted].team, jira.issues[unlisted].priority) == (None, "Medium")
    assert jira.writes(unlisted) == [] and jira.comments_posted(unlisted) == []

    assert announce(worker, jira, again)["outcome"] == "escalated"
    assert jira.issues[again].team == "Key accounts"

    version = "3" if jira.cloud else "2"
    lookups = [(r.path, r.status) for r in jira.requests
               if r.method == "GET" and ("servicedeskapi" in r.path or r.path.endswith("/field"))]
    assert lookups == [  # the field once; each organization once, then from the cache
        (f"/rest/api/{version}/field", 200),
        ("/rest/servicedeskapi/organization/1", 200),
        ("/rest/servicedeskapi/organization/2", 200)]
