"""Configuration: the TOML file, TIERLIFT_* overrides, one line per problem, `check`, `plugins`."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from plugins.manager import ConfigError, PolicyHost
from webhook_app import cli
from webhook_app.settings import load_settings

API_TOKEN = "zd-api-token-7f3a9c"
WEBHOOK_SECRET = "zd-signing-secret-4b1e"

# Exactly the keys of ARCHITECTURE.md "Configuration (contract)", Zendesk part.
GOOD = f"""
database_url = "sqlite:///tierlift.db"
tiers = ["L1", "L2", "L3"]
default_tier = "L1"

[zendesk]
base_url = "https://acme.zendesk.com"
email = "bot@acme.example"
api_token = "{API_TOKEN}"
webhook_secret = "{WEBHOOK_SECRET}"
[zendesk.tier_groups]
L1 = 101
L2 = 102
L3 = 103

[policies.customer_request]
enabled = true
phrases = ["speak to a manager", "escalate this"]
"""

ZENDESK_WITHOUT_GROUPS = """
[zendesk]
subdomain = "acme"
email = "bot@acme.example"
api_token = "t"
webhook_secret = "w"
"""
GROUPS = "[zendesk.tier_groups]\nL1 = 101\nL2 = 102\nL3 = 103\n"


def write(tmp_path: Path, text: str, name: str = "tierlift.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


# -- a good file ----------------------------------------------------------------------------


def test_good_file_is_parsed(tmp_path):
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.database_url == "sqlite:///tierlift.db"
    assert settings.tiers == ["L1", "L2", "L3"]
    assert settings.default_tier == "L1"
    zd = settings.zendesk
    assert zd.url == "https://acme.zendesk.com"
    assert zd.email == "bot@acme.example"
    assert zd.tier_groups == {"L1": 101, "L2": 102, "L3": 103}
    assert zd.oauth_token is None
    assert isinstance(zd.api_token, SecretStr)
    assert isinstance(zd.webhook_secret, SecretStr)
    assert zd.api_token.get_secret_value() == API_TOKEN
    assert zd.webhook_secret.get_secret_value() == WEBHOOK_SECRET
    assert settings.policies == {"customer_request": {
        "enabled": True, "phrases": ["speak to a manager", "escalate this"]}}
    assert settings.ladder.names == ("L1", "L2", "L3")


def test_secrets_never_appear_in_str_or_repr(tmp_path):
    settings = load_settings(write(tmp_path, GOOD))
    for text in (str(settings), repr(settings), str(settings.zendesk), repr(settings.zendesk),
                 str(settings.model_dump())):
        assert API_TOKEN not in text
        assert WEBHOOK_SECRET not in text
    assert "**********" in repr(settings)


def test_environment_overrides_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_ZENDESK__WEBHOOK_SECRET", "from-the-environment")
    monkeypatch.setenv("TIERLIFT_DATABASE_URL", "postgresql+psycopg://db.internal/tierlift")
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.zendesk.webhook_secret.get_secret_value() == "from-the-environment"
    assert settings.database_url == "postgresql+psycopg://db.internal/tierlift"
    # the rest of [zendesk] still comes from the file
    assert settings.zendesk.api_token.get_secret_value() == API_TOKEN
    assert settings.zendesk.tier_groups == {"L1": 101, "L2": 102, "L3": 103}


def test_environment_alone_can_supply_the_webhook_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_ZENDESK__WEBHOOK_SECRET", "from-the-environment")
    text = GOOD.replace(f'webhook_secret = "{WEBHOOK_SECRET}"\n', "")
    assert "webhook_secret" not in text
    settings = load_settings(write(tmp_path, text))
    assert settings.zendesk.webhook_secret.get_secret_value() == "from-the-environment"


# -- every key from the environment: lists and tables as JSON, booleans, numbers, tier names --


def test_a_policy_list_option_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_POLICIES__VIP__ORG_TAGS", '["vip"]')
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.policies["vip"] == {"org_tags": ["vip"]}
    assert PolicyHost().configure(settings.policies).options["customer_request"]  # still valid
    assert PolicyHost().configure({"vip": {"enabled": True, **settings.policies["vip"]}}) \
        .options["vip"].org_tags == ["vip"]


@pytest.mark.parametrize(("word", "value"), [
    ("true", True), ("TRUE", True), ("1", True), ("yes", True), ("Yes", True),
    ("false", False), ("False", False), ("0", False), ("no", False), ("NO", False)])
def test_booleans_from_the_environment(tmp_path, monkeypatch, word, value):
    monkeypatch.setenv("TIERLIFT_POLICIES__SENTIMENT__ENABLED", word)
    monkeypatch.setenv("TIERLIFT_ESCALATION__PUBLIC_REPLY__ENABLED", word)
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.policies["sentiment"] == {"enabled": value}
    assert settings.escalation.public_reply.enabled is value
    assert ("sentiment" in PolicyHost().configure(settings.policies).names) is value


def test_a_policy_boolean_option_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_POLICIES__REPEAT_ISSUE__SAME_FORM", "Yes")
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.policies["repeat_issue"] == {"same_form": True}


def test_a_word_that_is_no_boolean_is_reported_by_the_policy_host(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_POLICIES__SENTIMENT__ENABLED", "maybe")
    settings = load_settings(write(tmp_path, GOOD))
    with pytest.raises(ConfigError) as caught:
        PolicyHost().configure(settings.policies)
    assert caught.value.problems == ["policies.sentiment.enabled: expected true or false, "
                                     "got 'maybe'"]


def test_numbers_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_WORKER__POLL_SECONDS", "0.25")
    monkeypatch.setenv("TIERLIFT_ESCALATION__MIN_AGENT_REPLIES", "3")
    monkeypatch.setenv("TIERLIFT_POLICIES__CUSTOMER_REQUEST__STEPS_UP", "2")
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.worker.poll_seconds == 0.25
    assert settings.escalation.min_agent_replies == 3
    assert PolicyHost().configure(settings.policies).options["customer_request"].steps_up == 2


def test_a_tier_name_in_a_variable_keeps_its_case(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_ZENDESK__TIER_GROUPS__L2", "202")
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.zendesk.tier_groups == {"L1": 101, "L2": 202, "L3": 103}


def test_a_tier_name_written_in_another_case_is_another_key(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_ZENDESK__TIER_GROUPS__l2", "202")
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, GOOD))
    assert caught.value.problems == ["zendesk.tier_groups.l2: not one of tiers ['L1', 'L2', 'L3']"]


def test_field_and_policy_names_in_a_variable_match_whatever_their_case(tmp_path, monkeypatch):
    monkeypatch.setenv("tierlift_Zendesk__Tier_Groups__L3", "303")
    monkeypatch.setenv("TIERLIFT_Policies__Vip__Org_Tags", '["vip"]')
    monkeypatch.setenv("TIERLIFT_POLICIES__SLA__TIER_CALENDARS__L2", "eu")
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.zendesk.tier_groups == {"L1": 101, "L2": 102, "L3": 303}
    assert settings.policies["vip"] == {"org_tags": ["vip"]}
    assert settings.policies["sla"] == {"tier_calendars": {"L2": "eu"}}


def test_lists_and_tables_of_sections_as_json(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_TIERS", '["L1", "L2", "L3", "L4"]')
    monkeypatch.setenv("TIERLIFT_ZENDESK__TIER_GROUPS", '{"L1": 201, "L2": 202, "L3": 203, '
                                                         '"L4": 204}')
    monkeypatch.setenv("TIERLIFT_ESCALATION__GATED", '["effort"]')
    monkeypatch.setenv("TIERLIFT_CALENDARS__EU__HOLIDAYS", '["2025-12-25"]')
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.tiers == ["L1", "L2", "L3", "L4"]
    assert settings.zendesk.tier_groups == {"L1": 201, "L2": 202, "L3": 203, "L4": 204}
    assert settings.escalation.gated == ["effort"]
    assert settings.calendars["EU"].holidays == [date(2025, 12, 25)]


def test_a_text_value_that_looks_like_json_stays_text(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_ESCALATION__PUBLIC_REPLY__TEMPLATE", "{tier} will follow up")
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.escalation.public_reply.template == "{tier} will follow up"


def test_the_environment_merges_into_the_files_tables_key_by_key(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_ZENDESK__TIER_GROUPS", '{"L2": 202}')
    monkeypatch.setenv("TIERLIFT_POLICIES__CUSTOMER_REQUEST__STEPS_UP", "2")
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.zendesk.tier_groups == {"L1": 101, "L2": 202, "L3": 103}
    assert settings.policies["customer_request"] == {
        "enabled": True, "phrases": ["speak to a manager", "escalate this"], "steps_up": "2"}


def test_a_variable_inside_a_table_beats_the_table_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_ZENDESK__TIER_GROUPS", '{"L1": 201, "L2": 202, "L3": 203}')
    monkeypatch.setenv("TIERLIFT_ZENDESK__TIER_GROUPS__L3", "303")
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.zendesk.tier_groups == {"L1": 201, "L2": 202, "L3": 303}


def test_file_and_environment_together(tmp_path, monkeypatch):
    """An admin's file without ids or secrets; the deployment adds them, and tunes policies."""
    text = GOOD.replace(GROUPS, "").replace(f'api_token = "{API_TOKEN}"\n', "")
    assert "tier_groups" not in text and "api_token" not in text
    monkeypatch.setenv("TIERLIFT_ZENDESK__API_TOKEN", API_TOKEN)
    monkeypatch.setenv("TIERLIFT_ZENDESK__TIER_GROUPS", '{"L1": 101, "L2": 102, "L3": 103}')
    monkeypatch.setenv("TIERLIFT_ZENDESK__TIER_GROUPS__L3", "303")
    monkeypatch.setenv("TIERLIFT_ZENDESK__ROUTE_GROUPS", '{"vip": 150}')
    monkeypatch.setenv("TIERLIFT_POLICIES__VIP__ENABLED", "true")
    monkeypatch.setenv("TIERLIFT_POLICIES__VIP__ORG_TAGS", '["vip", "enterprise"]')
    monkeypatch.setenv("TIERLIFT_POLICIES__SENTIMENT__ENABLED", "yes")
    monkeypatch.setenv("TIERLIFT_POLICIES__CUSTOMER_REQUEST__ENABLED", "0")
    path = write(tmp_path, text)
    settings = load_settings(path)
    assert settings.zendesk.api_token.get_secret_value() == API_TOKEN
    assert settings.zendesk.tier_groups == {"L1": 101, "L2": 102, "L3": 303}
    assert settings.zendesk.route_groups == {"vip": 150}
    assert settings.policies == {
        "customer_request": {"enabled": False,
                             "phrases": ["speak to a manager", "escalate this"]},
        "vip": {"enabled": True, "org_tags": ["vip", "enterprise"]},
        "sentiment": {"enabled": True}}
    policies = PolicyHost().configure(settings.policies)
    assert policies.names == ["sentiment", "vip"]
    assert policies.options["vip"].org_tags == ["vip", "enterprise"]
    result = invoke("check", "--config", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == ("config OK: tiers L1 < L2 < L3 (default L1); helpdesks: zendesk; "
                             "policies enabled: sentiment, vip\n")


def test_malformed_json_names_the_variable_and_never_echoes_the_value(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_ZENDESK__TIER_GROUPS", '{"L1": 101, "L2": hunter2}')
    monkeypatch.setenv("TIERLIFT_POLICIES__VIP__ORG_TAGS", '["vip", "hunter2"')
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, GOOD))
    assert caught.value.problems == [
        "zendesk.tier_groups: TIERLIFT_ZENDESK__TIER_GROUPS is not valid JSON (Expecting value "
        'at line 1 column 19); write it as JSON, e.g. {"key": "value"}',
        "policies.vip.org_tags: TIERLIFT_POLICIES__VIP__ORG_TAGS is not valid JSON (Expecting "
        "',' delimiter at line 1 column 18); write it as JSON, e.g. [\"a\", \"b\"], or as a, b"]
    assert "hunter2" not in str(caught.value)


def test_check_reports_malformed_json_on_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_ZENDESK__TIER_GROUPS", "L1=101,L2=102")
    result = invoke("check", "--config", str(write(tmp_path, GOOD)))
    assert result.exit_code == 2
    assert result.stderr == (
        "config error: zendesk.tier_groups: TIERLIFT_ZENDESK__TIER_GROUPS is not valid JSON "
        '(Expecting value at line 1 column 1); write it as JSON, e.g. {"key": "value"}\n')
    assert "L1=101" not in result.output


def test_tierlift_variables_that_are_no_key_are_not_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_TEST_POSTGRES", "postgresql://localhost/test")
    assert load_settings(write(tmp_path, GOOD)).database_url == "sqlite:///tierlift.db"


def test_an_unknown_key_inside_a_section_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_ZENDESK__API_TOKN", "x")
    assert problems(tmp_path, GOOD) == ["zendesk.api_tokn: unknown key"]


def test_tierlift_config_names_the_file_when_no_path_is_given(tmp_path, monkeypatch):
    path = write(tmp_path, GOOD.replace("sqlite:///tierlift.db", "sqlite:///from-env.db"))
    monkeypatch.setenv("TIERLIFT_CONFIG", str(path))
    assert load_settings().database_url == "sqlite:///from-env.db"
    assert load_settings(None).zendesk.url == "https://acme.zendesk.com"


def test_explicit_path_wins_over_tierlift_config(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_CONFIG", str(tmp_path / "does-not-exist.toml"))
    assert load_settings(write(tmp_path, GOOD)).database_url == "sqlite:///tierlift.db"


def test_subdomain_gives_the_zendesk_url(tmp_path):
    settings = load_settings(write(tmp_path, ZENDESK_WITHOUT_GROUPS + GROUPS))
    assert settings.zendesk.base_url is None
    assert settings.zendesk.url == "https://acme.zendesk.com"


def test_oauth_token_alone_is_enough(tmp_path):
    settings = load_settings(write(tmp_path, """
        [zendesk]
        base_url = "https://acme.zendesk.com/"
        oauth_token = "oauth-secret"
        webhook_secret = "w"
        [zendesk.tier_groups]
        L1 = 101
        L2 = 102
        L3 = 103
    """))
    assert settings.zendesk.oauth_token.get_secret_value() == "oauth-secret"
    assert settings.zendesk.url == "https://acme.zendesk.com"  # trailing slash dropped


# -- one line per problem, each naming the key ----------------------------------------------


def test_wrong_type_in_tier_groups(tmp_path):
    [line] = problems(tmp_path, GOOD.replace("L2 = 102", 'L2 = "second line"'))
    assert line == ("zendesk.tier_groups.L2: Input should be a valid integer, unable to parse "
                    "string as an integer")  # no value of [zendesk] is quoted: it may be a
    # secret written under the wrong table


def test_unknown_top_level_key(tmp_path):
    assert problems(tmp_path, 'colour = "blue"\n' + GOOD) == ["colour: unknown key"]


def test_unknown_key_inside_zendesk(tmp_path):
    text = GOOD.replace('email = "bot@acme.example"', 'email = "bot@acme.example"\napi_tokn = "x"')
    assert problems(tmp_path, text) == ["zendesk.api_tokn: unknown key"]


def test_missing_webhook_secret(tmp_path):
    text = GOOD.replace(f'webhook_secret = "{WEBHOOK_SECRET}"\n', "")
    assert problems(tmp_path, text) == ["zendesk.webhook_secret: required"]


def test_empty_webhook_secret(tmp_path):
    [line] = problems(tmp_path, GOOD.replace(WEBHOOK_SECRET, ""))
    assert line.startswith("zendesk: webhook_secret is empty")


def test_default_tier_not_in_tiers(tmp_path):
    [line] = problems(tmp_path, GOOD.replace('default_tier = "L1"', 'default_tier = "L0"'))
    assert line.startswith("default_tier: 'L0' is not one of tiers")


def test_duplicate_tier(tmp_path):
    [line] = problems(tmp_path, GOOD.replace('["L1", "L2", "L3"]', '["L1", "L2", "L2", "L3"]'))
    assert line == "tiers: L2 listed more than once"


def test_tier_groups_key_that_is_not_a_tier(tmp_path):
    [line] = problems(tmp_path, GOOD.replace("L3 = 103", "L3 = 103\nL4 = 104"))
    assert line.startswith("zendesk.tier_groups.L4: not one of tiers")


def test_tier_above_default_tier_without_a_group(tmp_path):
    [line] = problems(tmp_path, GOOD.replace("L3 = 103\n", ""))
    assert line.startswith("zendesk.tier_groups.L3: missing")


def test_tier_below_default_tier_needs_no_group(tmp_path):
    text = GOOD.replace('default_tier = "L1"', 'default_tier = "L2"').replace("L1 = 101\n", "")
    assert load_settings(write(tmp_path, text)).zendesk.tier_groups == {"L2": 102, "L3": 103}


def test_neither_oauth_token_nor_email_and_api_token(tmp_path):
    text = GOOD.replace(f'api_token = "{API_TOKEN}"\n', "")
    [line] = problems(tmp_path, text)
    assert line == "zendesk: set oauth_token, or email together with api_token"


def test_base_url_without_scheme(tmp_path):
    [line] = problems(tmp_path, GOOD.replace("https://acme.zendesk.com", "acme.zendesk.com"))
    assert line.startswith("zendesk: base_url must start with https://")


def test_file_not_found(tmp_path):
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems == [f"config file {path}: not found"]


def test_invalid_toml(tmp_path):
    path = write(tmp_path, GOOD.replace("L2 = 102", "L2 = "))
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    [line] = caught.value.problems
    assert line.startswith(f"config file {path}: not valid TOML: ")


def test_several_problems_give_several_lines(tmp_path):
    text = 'colour = "blue"\n' + GOOD.replace("L2 = 102", 'L2 = "x"').replace(
        'email = "bot@acme.example"', 'email = "bot@acme.example"\nregion = "eu"')
    found = problems(tmp_path, text)
    assert len(found) == 3
    assert sorted(line.split(":")[0] for line in found) == [
        "colour", "zendesk.region", "zendesk.tier_groups.L2"]


def test_several_cross_checks_give_several_lines(tmp_path):
    text = GOOD.replace('["L1", "L2", "L3"]', '["L1", "L2", "L2", "L3"]').replace(
        "L3 = 103", "L9 = 109")
    assert sorted(line.split(":")[0] for line in problems(tmp_path, text)) == [
        "tiers", "zendesk.tier_groups.L3", "zendesk.tier_groups.L9"]


def test_a_mistyped_secret_is_not_echoed_in_the_error(tmp_path):
    [line] = problems(tmp_path, GOOD.replace(f'"{API_TOKEN}"', "918273645"))
    assert line.startswith("zendesk.api_token: ")
    assert "918273645" not in line


# -- tierlift check -------------------------------------------------------------------------


def invoke(*args: str):
    return CliRunner().invoke(cli.main, list(args))


def test_check_names_a_renamed_option_and_its_successor_and_still_passes(tmp_path):
    path = write(tmp_path, GOOD + "\n[policies.incident]\nenabled = true\nroute = \"\"\n"
                 "similarity = 0.4\n")
    result = invoke("check", "--config", str(path))
    assert result.exit_code == 0, result.output
    assert result.stderr == ("config warning: policies.incident.similarity is deprecated: it is "
                             "now called subject_similarity\n")
    assert result.stdout.startswith("config OK")


def test_check_accepts_a_good_file_and_starts_nothing(tmp_path):
    database = tmp_path / "never-created.db"
    path = write(tmp_path, GOOD.replace("sqlite:///tierlift.db", f"sqlite:///{database}"))
    result = invoke("check", "--config", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("config OK")
    assert "policies enabled: customer_request" in result.stdout
    assert not database.exists()


def test_check_reads_tierlift_config(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_CONFIG", str(write(tmp_path, GOOD)))
    result = invoke("check")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("config OK")


def test_check_reports_each_problem_on_its_own_line(tmp_path):
    text = 'colour = "blue"\n' + GOOD.replace("L2 = 102", 'L2 = "x"')
    result = invoke("check", "--config", str(write(tmp_path, text)))
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    assert sorted(line.split(": ")[1] for line in lines) == ["colour", "zendesk.tier_groups.L2"]
    assert all(line.startswith("config error: ") for line in lines)
    assert "config OK" not in result.output


def test_check_reports_a_missing_file(tmp_path):
    path = tmp_path / "nowhere.toml"
    result = invoke("check", "--config", str(path))
    assert result.exit_code == 2
    assert result.stderr == f"config error: config file {path}: not found\n"


def test_check_reports_bad_policy_options(tmp_path):
    text = GOOD.replace('phrases = ["speak to a manager", "escalate this"]',
                        "phrases = 5\ncolour = \"red\"")
    result = invoke("check", "--config", str(write(tmp_path, text)))
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    assert [line for line in lines
            if line.startswith("config error: policies.customer_request.phrases: ")]
    [unknown] = [line for line in lines
                 if line.startswith("config error: policies.customer_request.colour: ")]
    assert "unknown option" in unknown and "phrases, add_phrases, comments, steps_up, priority" \
        in unknown


def test_check_reports_an_unknown_policy(tmp_path):
    result = invoke("check", "--config", str(write(tmp_path, GOOD + "[policies.nope]\n"
                                                                   "enabled = true\n")))
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("config error: policies.nope: no such policy")
    assert "customer_request" in line  # names the policies that do exist


# -- tierlift plugins -----------------------------------------------------------------------


def test_plugins_lists_the_built_in_policy_with_its_options():
    result = invoke("plugins")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "customer_request  [built-in]  disabled" in lines
    start = lines.index("customer_request  [built-in]  disabled") + 1
    section = lines[start:next((n for n in range(start, len(lines))
                                if not lines[n].startswith("    ")), len(lines))]
    options = {line.split(" = ")[0].strip(): line.split(" = ", 1)[1] for line in section
               if " = " in line}
    assert options["languages"].startswith("['en', 'de', 'fr', 'es', 'pt', 'it', 'nl']  # ")
    assert options["phrases"].startswith("None  # Replace the built-in packs")
    assert options["steps_up"].startswith("1  # ")
    assert options["priority"].startswith("None  # ")


def test_plugins_says_enabled_when_the_config_enables_it(tmp_path):
    result = invoke("plugins", "--config", str(write(tmp_path, GOOD)))
    assert result.exit_code == 0, result.output
    assert "customer_request  [built-in]  enabled" in result.stdout.splitlines()


def test_plugins_says_disabled_when_the_config_disables_it(tmp_path):
    text = GOOD.replace("enabled = true", "enabled = false")
    result = invoke("plugins", "--config", str(write(tmp_path, text)))
    assert result.exit_code == 0, result.output
    assert "customer_request  [built-in]  disabled" in result.stdout.splitlines()


def test_plugins_reports_bad_policy_options_like_check(tmp_path):
    text = GOOD.replace('phrases = ["speak to a manager", "escalate this"]', "phrases = 5")
    result = invoke("plugins", "--config", str(write(tmp_path, text)))
    assert result.exit_code == 2
    assert result.stderr.startswith("config error: policies.customer_request.phrases: ")


def test_an_absurd_poll_interval_is_refused_before_it_can_stop_the_worker(tmp_path):
    """worker.poll_seconds = 1e308 used to pass check and end the worker thread at its first
    idle wait (an OverflowError in Event.wait)."""
    path = write(tmp_path, GOOD + "\n[worker]\npoll_seconds = 1e308\n")
    result = invoke("check", "--config", str(path))
    assert result.exit_code == 2
    assert result.stderr == ("config error: worker.poll_seconds: Input should be less than or "
                             "equal to 3600 (got 1e+308)\n")
