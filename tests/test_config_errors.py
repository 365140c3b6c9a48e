"""Every configuration problem is one line naming its key, and no secret is ever echoed
(issue 10, item 7): wrongly shaped secret sections, a file that is not UTF-8, comma-separated
lists, the store's URL and its connection, and escalation's policy names."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from webhook_app.cli import main

SECRET = "s3cr3t-hunter2"

GOOD = f"""\
database_url = "sqlite:///tierlift.db"
tiers = ["L1", "L2", "L3"]

[zendesk]
base_url = "https://acme.zendesk.com"
email = "bot@acme.example"
api_token = "{SECRET}"
webhook_secret = "zd-signing-secret"
[zendesk.tier_groups]
L1 = 101
L2 = 102
L3 = 103
"""


def config(tmp_path: Path, text: str = GOOD) -> str:
    path = tmp_path / "tierlift.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def check(tmp_path: Path, text: str = GOOD):
    return CliRunner().invoke(main, ["check", "--config", config(tmp_path, text)])


# -- 1. secret-bearing sections are never quoted -----------------------------------------------


@pytest.mark.parametrize("variable, value, line", [
    ("TIERLIFT_ZENDESK", f'"subdomain=acme api_token={SECRET}"',
     "zendesk: Input should be a valid dictionary or instance of ZendeskSettings"),
    ("TIERLIFT_ZENDESK", f'["{SECRET}"]',
     "zendesk: Input should be a valid dictionary or instance of ZendeskSettings"),
    ("TIERLIFT_JIRA", f'{{"base_url": "https://jira.example", "tier_field": ["{SECRET}"], '
                      f'"pat": "p", "webhook_secret": "w"}}',
     "jira.tier_field: Input should be a valid string"),
    ("TIERLIFT_JIRA", f'{{"base_url": "ftp://bot:{SECRET}@jira.example", "tier_field": "f", '
                      f'"pat": "p", "webhook_secret": "w"}}',
     "jira: base_url must start with https://"),
    ("TIERLIFT_NOTIFY", f'"{SECRET}"',
     "notify: Input should be a valid dictionary or instance of NotifySettings"),
    ("TIERLIFT_NOTIFY", f'{{"email": {{"host": "{SECRET}", "port": "{SECRET}", "from": "t", '
                        f'"to": ["a@b.example"]}}}}',
     "notify.email.port: Input should be a valid integer, unable to parse string as an "
     "integer"),
    ("TIERLIFT_ADMIN", f'["{SECRET}"]',
     "admin: Input should be a valid dictionary or instance of AdminSettings"),
])
def test_a_wrongly_shaped_secret_section_in_the_environment_is_never_echoed(
        tmp_path, monkeypatch, variable, value, line):
    monkeypatch.setenv(variable, value)
    result = check(tmp_path)
    assert result.exit_code == 2
    assert result.stderr == f"config error: {line}\n"
    assert SECRET not in result.output


@pytest.mark.parametrize("text, line", [
    (f'zendesk = "api_token={SECRET}"\n',
     "zendesk: Input should be a valid dictionary or instance of ZendeskSettings"),
    (f'database_url = ["postgresql://bot:{SECRET}@db.internal/tierlift"]\n' +
     GOOD.split("\n", 1)[1], "database_url: Input should be a valid string"),
    (GOOD.replace("https://acme.zendesk.com", f"ftp://bot:{SECRET}@acme.zendesk.com"),
     "zendesk: base_url must start with https://"),
])
def test_a_wrongly_shaped_secret_section_in_the_file_is_never_echoed(tmp_path, text, line):
    result = check(tmp_path, text)
    assert result.exit_code == 2
    assert result.stderr == f"config error: {line}\n"
    assert SECRET not in result.output


# -- 2. the file's encoding --------------------------------------------------------------------


def test_a_config_file_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "tierlift.toml"
    path.write_bytes(GOOD.replace("L2 = 102", "# Zweite Ebene (Unterstützung)\nL2 = 102")
                     .encode("latin-1"))
    result = CliRunner().invoke(main, ["check", "--config", str(path)])
    assert result.exit_code == 2
    assert result.stderr == (f"config error: config file {path}: not UTF-8 text (byte 0xfc on "
                             "line 11, column 24); save it as UTF-8\n")


def test_a_utf8_config_file_may_start_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "tierlift.toml"
    path.write_bytes(GOOD.encode("utf-8-sig"))
    result = CliRunner().invoke(main, ["check", "--config", str(path)])
    assert result.exit_code == 0, result.output


def test_a_config_file_that_cannot_be_read_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_CONFIG", str(tmp_path))
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 2
    assert result.stderr == (f"config error: config file {tmp_path}: cannot read it (Is a "
                             "directory)\n")
