"""tierlift init: the standard preset is a configuration that passes check once the admin's
secrets are in the environment, and implements the written escalation policy's settings."""

from __future__ import annotations

import tomllib

import pytest
from click.testing import CliRunner

from webhook_app.cli import main
from webhook_app.settings import load_settings

SECRETS = {"TIERLIFT_ZENDESK__API_TOKEN": "zd-token", "TIERLIFT_ZENDESK__WEBHOOK_SECRET": "zd-s",
           "TIERLIFT_JIRA__API_TOKEN": "jira-token", "TIERLIFT_JIRA__WEBHOOK_SECRET": "jira-s"}
EVERY_POLICY = ("channel, complexity, customer_request, effort, incident, policy_exception, "
                "repeat_issue, sentiment, specialized, vip")


def init(tmp_path, *args: str):
    result = CliRunner().invoke(main, ["init", *args])
    assert result.exit_code == 0, result.output
    path = tmp_path / "tierlift.toml"
    path.write_text(result.output)
    return path


@pytest.mark.parametrize("helpdesk, platforms", [
    ("both", "zendesk, jira"), ("zendesk", "zendesk"), ("jira", "jira")])
def test_the_preset_passes_check_with_the_secrets_in_the_environment(tmp_path, monkeypatch,
                                                                      helpdesk, platforms):
    for name, value in SECRETS.items():
        if helpdesk == "both" or f"_{helpdesk.upper()}__" in name:
            monkeypatch.setenv(name, value)
    path = init(tmp_path, "--preset", "standard", "--helpdesk", helpdesk)
    result = CliRunner().invoke(main, ["check", "--config", str(path)])
    assert result.output == (f"config OK: tiers L1 < L2 < L3 (default L1); helpdesks: "
                             f"{platforms}; policies enabled: {EVERY_POLICY}\n")
    assert result.exit_code == 0


def test_without_the_secrets_check_names_each_missing_key_and_no_secret_is_in_the_file(
        tmp_path):
    path = init(tmp_path, "--helpdesk", "zendesk")
    text = path.read_text()
    assert "api_token =" not in text and "webhook_secret =" not in text
    result = CliRunner().invoke(main, ["check", "--config", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "zendesk" in result.output and "webhook_secret" in result.output


def test_the_preset_sets_the_written_policy(tmp_path, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    path = init(tmp_path)
    assert tomllib.loads(path.read_text())  # plain TOML, comments and all
    settings = load_settings(path)
    rules = settings.rules
    assert (rules.min_age_minutes, rules.min_agent_replies, rules.effort_since) == \
        (30, 1, "creation")
    assert rules.gated == {"complexity", "effort", "sentiment"}
    assert rules.bypass == {"customer_request", "vip", "incident", "policy_exception"}
    assert rules.route_over_tier and rules.top_tier == "L3"
    assert rules.closed_statuses["zendesk"] == {"solved", "closed"}
    assert "resolved" in rules.closed_statuses["jira"]
    policies = settings.policies
    assert policies["effort"].items() >= {"agent_replies": 5, "reopens": 2,
                                          "hours_in_tier": 48}.items()
    assert policies["vip"]["org_tags"] == ["vip", "enterprise_key_account"]
    assert (policies["vip"]["tier"], policies["policy_exception"]["tier"]) == ("L2", "L2")
    assert [policies["incident"][k] for k in ("count", "minutes", "route", "tier")] == \
        [3, 10, "", "L3"]
    assert policies["repeat_issue"]["days"] == 30
    routes = policies["specialized"]["routes"]
    assert sorted(routes) == ["billing", "compliance", "integrations", "security"]
    assert all("priority" not in route for route in routes.values())  # a team, no priority
    assert policies["specialized"]["precedence"] == ["security", "compliance", "billing",
                                                     "integrations"]
    assert settings.zendesk.route_groups.keys() == settings.jira.route_values.keys() == \
        {"billing", "security", "compliance", "integrations"}


def test_an_unknown_preset_is_refused():
    result = CliRunner().invoke(main, ["init", "--preset", "lenient"])
    assert result.exit_code == 2 and "'lenient' is not 'standard'" in result.output
