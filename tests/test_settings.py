"""Configuration: the TOML file, TIERLIFT_* overrides, one line per problem, `check`, `plugins`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from plugins.manager import ConfigError
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
    assert line.startswith("zendesk.tier_groups.L2: ")
    assert "integer" in line and "'second line'" in line


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
    assert "unknown option" in unknown and "phrases, steps_up, priority" in unknown


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
    assert options["phrases"].startswith("['speak to a manager', ")
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
