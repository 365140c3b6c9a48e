"""``tierlift check --online`` against the loopback Zendesk and Jira emulators: one line per
check, GET requests only, no secret in the output."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from emulated import L1, L2, L3, team

from webhook_app.cli import main
from webhook_app.emulator.jira import JiraEmulator

SECRET = "zendesk-signing-secret"
JIRA_SECRET = "jira-webhook-secret"
WRONG_TOKEN = "wrong-token-that-must-never-be-printed"


def serve(emulator):
    server = emulator.serve()
    emulator.url = server.url
    return server


@pytest.fixture
def zendesk_team():
    emulator = team()
    emulator.groups.clear()
    emulator.group(L1, name="Tier 1")
    emulator.group(L2, name="Tier 2")
    emulator.group(L3, name="Tier 3")
    server = serve(emulator)
    yield emulator
    emulator.close()
    server.stop()


@pytest.fixture
def jira():
    emulator = JiraEmulator(cloud=True)
    server = serve(emulator)
    yield emulator
    emulator.close()
    server.stop()


def zendesk_table(emulator, *, token: str | None = None, groups: dict[str, int] | None = None,
                  ) -> str:
    groups = groups or {"L1": L1, "L2": L2, "L3": L3}
    return textwrap.dedent(f"""
        [zendesk]
        base_url = "{emulator.url}"
        email = "{emulator.email}"
        api_token = "{token or emulator.api_token}"
        webhook_secret = "{SECRET}"
        [zendesk.tier_groups]
    """) + "".join(f"{tier} = {group}\n" for tier, group in groups.items())


def jira_table(emulator: JiraEmulator, *, tier_values: dict[str, str] | None = None,
               transition: str = "Escalate") -> str:
    tier_values = tier_values or {"L1": "Tier 1", "L2": "Tier 2", "L3": "Tier 3"}
    return textwrap.dedent(f"""
        [jira]
        base_url = "{emulator.url}"
        email = "{emulator.email}"
        api_token = "{emulator.api_token}"
        webhook_secret = "{JIRA_SECRET}"
        tier_field = "{emulator.tier_field}"
        transition = "{transition}"
        route_field = "{emulator.team_field}"
        [jira.route_values]
        billing = "Billing"
        [jira.tier_values]
    """) + "".join(f'{tier} = "{value}"\n' for tier, value in tier_values.items())


def check_online(tmp_path: Path, *tables: str, args: tuple[str, ...] = ()):
    config = tmp_path / "tierlift.toml"
    config.write_text(f'database_url = "sqlite:///{tmp_path / "tierlift.db"}"\n' +
                      "\n".join(tables))
    return CliRunner().invoke(main, ["check", "--config", str(config), "--online", *args])


def online_output(result) -> list[str]:
    """The lines after the offline verdict ("config OK: ...")."""
    lines = result.output.splitlines()
    assert lines[0].startswith("config OK:"), result.output
    return lines[1:]


def only_gets(*emulators) -> None:
    for emulator in emulators:
        assert emulator.requests
        assert {r.method for r in emulator.requests} == {"GET"}


def test_everything_configured_exists_and_every_line_says_ok(tmp_path, zendesk_team, jira):
    key = jira.create_issue("Export fails", "Error 500.", jira.bot, tier="Tier 1",
                            notify=False)
    result = check_online(tmp_path, zendesk_table(zendesk_team), jira_table(jira),
                          args=("--issue", key))
    assert online_output(result) == [
        "zendesk: ok   authenticated as bot@acme.example (admin)",
        "zendesk: ok   sweep: uses the incremental export (the bot is an admin)",
        "zendesk: ok   tier_groups.L1 = 101: group 'Tier 1', the bot can move tickets into it "
        "(no membership needed)",
        "zendesk: ok   tier_groups.L2 = 102: group 'Tier 2', the bot can move tickets into it "
        "(no membership needed)",
        "zendesk: ok   tier_groups.L3 = 103: group 'Tier 3', the bot can move tickets into it "
        "(no membership needed)",
        "zendesk: not checked webhook: that a Zendesk webhook sends ticket events to tierlift's "
        "/webhooks/zendesk, signed with webhook_secret (send a test from Admin Center > "
        "Webhooks and look for it in tierlift report)",
        "jira: ok   authenticated as bot@acme.example (tierlift bot)",
        "jira: ok   tier_field customfield_10050 ('Support Tier'): a single-select field",
        "jira: ok   route_field customfield_10060 ('Team'): a single-select field",
        "jira: ok   organizations_field: not set; found customfield_10002",
        f"jira: ok   tier_field customfield_10050 is on the edit screen of {key}",
        f"jira: ok   route_field customfield_10060 is on the edit screen of {key}",
        "jira: ok   tier_values: 'Tier 1', 'Tier 2', 'Tier 3' are options of customfield_10050",
        "jira: ok   route_values: 'Billing' is an option of customfield_10060",
        "jira: ok   priorities: Low, Medium, High, Highest exist",
        f"jira: ok   transition 'Escalate' is available on {key}",
    ]
    assert result.exit_code == 0
    only_gets(zendesk_team, jira)


def test_a_tier_group_that_does_not_exist_fails_and_exits_1(tmp_path, zendesk_team):
    result = check_online(tmp_path, zendesk_table(zendesk_team,
                                                  groups={"L1": L1, "L2": 999, "L3": L3}))
    assert "zendesk: FAIL tier_groups.L2 = 999: no such group" in online_output(result)
    assert result.exit_code == 1
    only_gets(zendesk_team)


def test_a_deleted_group_fails(tmp_path, zendesk_team):
    zendesk_team.group(L3, name="Tier 3", deleted=True)
    result = check_online(tmp_path, zendesk_table(zendesk_team))
    assert "zendesk: FAIL tier_groups.L3 = 103: group 'Tier 3' is deleted" in \
        online_output(result)
    assert result.exit_code == 1


def test_groups_are_read_across_pages(tmp_path, zendesk_team):
    for group_id in range(2000, 2150):
        zendesk_team.group(group_id)
    result = check_online(tmp_path, zendesk_table(zendesk_team, groups={"L1": L1, "L2": 2149,
                                                                         "L3": L3}))
    assert result.exit_code == 0, result.output
    assert sum(r.path == "/api/v2/groups.json" for r in zendesk_team.requests) == 2


def test_an_agent_bot_gets_the_search_api_sweep_line(tmp_path, zendesk_team):
    zendesk_team.users[900001]["role"] = "agent"
    result = check_online(tmp_path, zendesk_table(zendesk_team))
    lines = online_output(result)
    assert lines[:2] == [
        "zendesk: ok   authenticated as bot@acme.example (agent)",
        "zendesk: ok   sweep: uses the Search API (the bot is an agent; the incremental export "
        "needs an admin)"]
    assert "listing webhooks needs an admin" in lines[-1]
    assert result.exit_code == 0
    only_gets(zendesk_team)


def test_wrong_credentials_fail_with_401_and_never_show_the_token(tmp_path, zendesk_team):
    result = check_online(tmp_path, zendesk_table(zendesk_team, token=WRONG_TOKEN))
    assert online_output(result) == [
        "zendesk: FAIL authentication refused (HTTP 401): check email and api_token"]
    assert result.exit_code == 1
    assert WRONG_TOKEN not in result.output and SECRET not in result.output
    only_gets(zendesk_team)


def test_an_unreachable_helpdesk_is_one_line(tmp_path, zendesk_team):
    table = zendesk_table(zendesk_team).replace(zendesk_team.url, "http://127.0.0.1:9")
    result = check_online(tmp_path, table)  # port 9 (discard): nothing listens on loopback
    assert online_output(result) == [
        "zendesk: FAIL cannot reach http://127.0.0.1:9: Connection refused"]
    assert result.exit_code == 1


def test_a_missing_jira_tier_option_fails(tmp_path, jira):
    result = check_online(tmp_path, jira_table(jira, tier_values={"L1": "Tier 1", "L2": "Tier 2",
                                                                   "L3": "Tier 4"}))
    assert "jira: FAIL tier_values.L3 = 'Tier 4': not an option of customfield_10050 (options: " \
           "'Tier 1', 'Tier 2', 'Tier 3')" in online_output(result)
    assert result.exit_code == 1
    only_gets(jira)


def test_without_a_jira_admin_or_an_issue_the_options_and_transition_are_not_checked(
        tmp_path, jira):
    jira.admin = False
    result = check_online(tmp_path, jira_table(jira))
    lines = online_output(result)
    assert "jira: not checked tier_values: listing a field's options needs a Jira admin; give " \
           "--issue KEY to read them on an issue's edit screen" in lines
    assert "jira: not checked transition 'Escalate': transitions are per issue and status " \
           "(give --issue KEY)" in lines
    assert result.exit_code == 0


def test_an_issue_shows_the_options_on_its_edit_screen_to_a_non_admin(tmp_path, jira):
    jira.admin = False
    key = jira.create_issue("Export fails", "Error 500.", jira.bot, notify=False)
    result = check_online(tmp_path, jira_table(jira, tier_values={"L1": "Tier 1", "L2": "Tier 9",
                                                                   "L3": "Tier 3"}),
                          args=("--issue", key))
    assert f"jira: FAIL tier_values.L2 = 'Tier 9': not an option of customfield_10050 on " \
           f"{key}'s edit screen (options: 'Tier 1', 'Tier 2', 'Tier 3')" in online_output(result)
    assert result.exit_code == 1
    only_gets(jira)


def test_a_tier_field_off_the_edit_screen_fails(tmp_path, jira):
    jira.off_screen.add(jira.tier_field)
    key = jira.create_issue("Export fails", "Error 500.", jira.bot, notify=False)
    result = check_online(tmp_path, jira_table(jira), args=("--issue", key))
    assert f"jira: FAIL tier_field customfield_10050 is not on the edit screen of {key} (or " \
           "the bot may not edit it): add it to the project's edit screen" in online_output(result)
    assert result.exit_code == 1


def test_a_data_center_site_checks_options_on_the_issue(tmp_path):
    jira = JiraEmulator(cloud=False)
    server = serve(jira)
    try:
        key = jira.create_issue("Export fails", "Error 500.", jira.bot, notify=False)
        table = jira_table(jira).replace(f'email = "{jira.email}"\n', "").replace(
            f'api_token = "{jira.api_token}"', f'pat = "{jira.pat}"')
        result = check_online(tmp_path, table, args=("--issue", key))
        lines = online_output(result)
        assert lines[0] == "jira: ok   authenticated as bot@acme.example (tierlift bot)"
        assert f"jira: ok   tier_values: 'Tier 1', 'Tier 2', 'Tier 3' are options of " \
               f"customfield_10050 on {key}'s edit screen" in lines
        assert result.exit_code == 0, result.output
        assert jira.pat not in result.output
        only_gets(jira)
    finally:
        jira.close()
        server.stop()


def test_issue_needs_online(tmp_path):
    result = CliRunner().invoke(main, ["check", "--issue", "ABC-1"])
    assert result.exit_code == 2
    assert "--issue goes with --online" in result.output


def test_one_run_reports_every_problem_of_both_helpdesks_each_in_one_line(tmp_path,
                                                                          zendesk_team, jira):
    """An agent bot, a missing group and a missing Jira option: one run, one line each, and
    the run goes on after each FAIL (a wrong token stops only its own helpdesk's checks)."""
    zendesk_team.users[900001]["role"] = "agent"
    result = check_online(tmp_path,
                          zendesk_table(zendesk_team, groups={"L1": L1, "L2": 999, "L3": L3}),
                          jira_table(jira, tier_values={"L1": "Tier 1", "L2": "Tier 2",
                                                        "L3": "Tier 4"}))
    lines = online_output(result)
    for line in ("zendesk: ok   sweep: uses the Search API (the bot is an agent; the incremental "
                 "export needs an admin)",
                 "zendesk: FAIL tier_groups.L2 = 999: no such group",
                 "jira: FAIL tier_values.L3 = 'Tier 4': not an option of customfield_10050 "
                 "(options: 'Tier 1', 'Tier 2', 'Tier 3')"):
        assert lines.count(line) == 1, line
    assert result.exit_code == 1
    wrong = check_online(tmp_path, zendesk_table(zendesk_team, token=WRONG_TOKEN),
                         jira_table(jira, tier_values={"L1": "Tier 1", "L2": "Tier 2",
                                                       "L3": "Tier 4"}))
    lines = online_output(wrong)
    assert lines[0] == "zendesk: FAIL authentication refused (HTTP 401): check email and " \
        "api_token"
    assert not any(line.startswith("zendesk:") for line in lines[1:])
    assert "jira: FAIL tier_values.L3 = 'Tier 4': not an option of customfield_10050 " \
        "(options: 'Tier 1', 'Tier 2', 'Tier 3')" in lines
    only_gets(zendesk_team, jira)
