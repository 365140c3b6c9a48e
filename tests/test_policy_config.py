"""Configuration that spans policies and helpdesks: tiers, routes and calendars must exist."""

from __future__ import annotations

import pytest
from conftest import make_settings

from plugins.manager import ConfigError
from webhook_app.service import enabled_policies
from webhook_app.settings import JiraSettings, ZendeskSettings

ROUTES = {"billing": 11, "security": 12, "compliance": 13, "integrations": 14}


def zendesk(**routes: int) -> ZendeskSettings:
    return ZendeskSettings(subdomain="acme", oauth_token="t", webhook_secret="s",
                           tier_groups={"L1": 1, "L2": 2, "L3": 3}, route_groups=routes)


def test_every_route_an_enabled_policy_uses_needs_a_destination_on_each_helpdesk(tmp_path):
    jira = JiraSettings(base_url="https://acme.atlassian.net", pat="p", webhook_token="t",
                        tier_field="customfield_1", route_field="customfield_2",
                        tier_values={"L1": "T1", "L2": "T2", "L3": "T3"},
                        route_values={"billing": "Billing"})
    settings = make_settings(tmp_path, zendesk=zendesk(**ROUTES), jira=jira, policies={
        "specialized": {"enabled": True}, "vip": {"enabled": True, "route": "key"}})
    with pytest.raises(ConfigError) as caught:
        enabled_policies(settings)
    assert caught.value.problems == [
        "jira.route_values.compliance: missing; policy specialized routes tickets to this team: "
        "give the option of jira.route_field",
        "jira.route_values.integrations: missing; policy specialized routes tickets to this "
        "team: give the option of jira.route_field",
        "jira.route_values.security: missing; policy specialized routes tickets to this team: "
        "give the option of jira.route_field",
        "zendesk.route_groups.key: missing; policy vip routes tickets to this team: give the id "
        "of its Zendesk group",
        "jira.route_values.key: missing; policy vip routes tickets to this team: give the "
        "option of jira.route_field",
    ]


def test_routes_of_disabled_policies_need_nothing(tmp_path):
    settings = make_settings(tmp_path, zendesk=zendesk(), policies={
        "specialized": {"enabled": False}, "customer_request": {"enabled": True}})
    assert enabled_policies(settings).names == ["customer_request"]


def test_a_policy_calendar_must_be_configured(tmp_path):
    settings = make_settings(tmp_path, zendesk=zendesk(), policies={
        "effort": {"enabled": True, "hours_in_tier": 8, "calendar": "office"}})
    with pytest.raises(ConfigError) as caught:
        enabled_policies(settings)
    assert caught.value.problems == [
        'policies.effort.calendar: no [calendars.office] table (or use "24x7")']
    settings = make_settings(tmp_path, zendesk=zendesk(), calendars={
        "office": {"timezone": "Europe/Berlin", "hours": {"weekdays": "09:00-17:00"}}},
        policies={"effort": {"enabled": True, "hours_in_tier": 8, "calendar": "office"}})
    assert enabled_policies(settings).names == ["effort"]


def test_calendars_named_per_tier_or_priority_must_exist(tmp_path):
    settings = make_settings(tmp_path, zendesk=zendesk(), policies={"sla": {
        "enabled": True, "tier_calendars": {"L3": "24x7"},
        "priority_calendars": {"urgent": "oncall"}}})
    with pytest.raises(ConfigError) as caught:
        enabled_policies(settings)
    assert caught.value.problems == [
        'policies.sla.priority_calendars.urgent: no [calendars.oncall] table (or use "24x7")']


def test_a_tier_a_policy_moves_tickets_to_must_be_on_the_ladder(tmp_path):
    settings = make_settings(tmp_path, zendesk=zendesk(), policies={
        "incident": {"enabled": True, "route": "", "tier": "L4"}})
    with pytest.raises(ConfigError) as caught:
        enabled_policies(settings)
    assert caught.value.problems == ["policies.incident.tier: 'L4' is not one of tiers "
                                     "['L1', 'L2', 'L3']"]
    settings = make_settings(tmp_path, zendesk=zendesk(), policies={
        "incident": {"enabled": True, "route": "", "tier": "L3"}})
    assert enabled_policies(settings).names == ["incident"]
