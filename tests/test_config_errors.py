"""Every configuration problem is one line naming its key, and no secret is ever echoed
(issue 10, item 7): wrongly shaped secret sections, a file that is not UTF-8, comma-separated
lists, the store's URL and its connection, and escalation's policy names."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.exc import OperationalError

from webhook_app.cli import main
from webhook_app.database import check_database
from webhook_app.settings import load_settings, load_store_settings
from webhook_app.store import Store

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


# -- 3. a list of names as comma-separated text ----------------------------------------------

TWO_TIERS = GOOD.replace("L3 = 103\n", "")


def test_check_takes_tiers_written_as_comma_separated_text(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_TIERS", "L1, L2")
    result = check(tmp_path, TWO_TIERS)
    assert result.exit_code == 0, result.output
    assert result.stdout == ("config OK: tiers L1 < L2 (default L1); helpdesks: zendesk; "
                             "policies enabled: none\n")


def test_lists_of_names_from_the_environment_as_text_or_json(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_TIERS", '["L1", "L2"]')
    monkeypatch.setenv("TIERLIFT_ESCALATION__GATED", "complexity,effort")
    monkeypatch.setenv("TIERLIFT_POLICIES__VIP__ORG_TAGS", "vip, key account")
    settings = load_settings(config(tmp_path, TWO_TIERS))
    assert settings.tiers == ["L1", "L2"]
    assert settings.escalation.gated == ["complexity", "effort"]
    assert settings.policies["vip"]["org_tags"] == ["vip", "key account"]


def test_report_takes_tiers_written_as_comma_separated_text(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_TIERS", "L1,L2")
    assert load_store_settings(config(tmp_path)).tiers == ("L1", "L2")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    Store(url).create_schema()
    result = CliRunner().invoke(main, ["report", "--config", config(tmp_path),
                                       "--database-url", url])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("command", ["check", "report"])
def test_a_malformed_json_list_of_tiers_is_one_line_in_check_and_report(tmp_path, monkeypatch,
                                                                          command):
    monkeypatch.setenv("TIERLIFT_TIERS", '["L1", "L2"')
    result = CliRunner().invoke(main, [command, "--config", config(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr == (
        "config error: tiers: TIERLIFT_TIERS is not valid JSON (Expecting ',' delimiter at "
        'line 1 column 12); write it as JSON, e.g. ["a", "b"], or as a, b\n')


# -- 4. the store's URL, and reaching the store --------------------------------------------------

NOT_A_URL = ("database_url: not a database URL; write it as sqlite:///path/to/tierlift.db or "
             "postgresql+psycopg://user:password@host/dbname")
REFUSED = ("database_url: cannot connect: connection failed: connection to server at "
           '"127.0.0.1", port 1 failed: Connection refused Is the server running on that host '
           "and accepting TCP/IP connections?")


@pytest.mark.parametrize("url, line", [
    (f"postgres://bot:{SECRET}@127.0.0.1/tierlift",
     "database_url: SQLAlchemy does not know postgres://; write postgresql:// (or "
     "postgresql+psycopg://)"),
    (f"postgresql://bot:{SECRET}@127.0.0.1:5432x/tierlift",
     "database_url: the port is not a number"),
    (f"postgresql://bot:{SECRET}@127.0.0.1:99999/tierlift",
     "database_url: the port must be from 1 to 65535"),
    (f"postgresql+nodriver://bot:{SECRET}@127.0.0.1/tierlift",
     "database_url: SQLAlchemy does not know postgresql+nodriver://; write it as "
     "sqlite:///path/to/tierlift.db or postgresql+psycopg://user:password@host/dbname"),
    ("nope", NOT_A_URL),
    (f'["postgresql://bot:{SECRET}@127.0.0.1/tierlift"]', NOT_A_URL),
])
def test_check_refuses_a_database_url_of_the_wrong_shape(tmp_path, monkeypatch, url, line):
    monkeypatch.setenv("TIERLIFT_DATABASE_URL", url)
    result = check(tmp_path)
    assert result.exit_code == 2
    assert result.stderr == f"config error: {line}\n"
    assert SECRET not in result.output


def test_check_connects_to_the_store_and_says_why_it_cannot(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_DATABASE_URL",
                       f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:1/postgres")
    result = check(tmp_path)
    assert result.exit_code == 2
    assert result.stderr == f"config error: {REFUSED}\n"
    assert SECRET not in result.output


def test_check_connects_to_a_postgresql_that_answers(tmp_path, monkeypatch):
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    if check_database(url) is not None:
        pytest.skip(f"no PostgreSQL at {url}")
    monkeypatch.setenv("TIERLIFT_DATABASE_URL", url)
    result = check(tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("config OK: ")


def test_check_names_the_missing_directory_of_a_sqlite_store(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_DATABASE_URL", f"sqlite:///{tmp_path}/gone/tierlift.db")
    result = check(tmp_path)
    assert result.exit_code == 2
    assert result.stderr == (f"config error: database_url: directory {tmp_path}/gone does not "
                             "exist\n")


def test_check_opens_an_existing_sqlite_file_read_only(tmp_path, monkeypatch):
    path = tmp_path / "notes.txt"
    path.write_text("not a database, " * 100)
    monkeypatch.setenv("TIERLIFT_DATABASE_URL", f"sqlite:///{path}")
    result = check(tmp_path)
    assert result.exit_code == 2
    assert result.stderr == (f"config error: database_url: cannot open {path}: file is not a "
                             "database\n")
    assert path.read_text() == "not a database, " * 100


@pytest.mark.parametrize("command", [["serve"], ["worker"], ["replay", "-"], ["report"],
                                     ["prune"]])
def test_commands_that_open_the_store_say_why_they_cannot_in_one_line(tmp_path, monkeypatch,
                                                                       command):
    monkeypatch.setenv("TIERLIFT_DATABASE_URL",
                       f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:1/postgres")
    result = CliRunner().invoke(main, [*command, "--config", config(tmp_path)], input="")
    assert result.exit_code == 2
    assert result.stderr == f"config error: {REFUSED}\n"
    monkeypatch.setenv("TIERLIFT_DATABASE_URL", f"postgres://bot:{SECRET}@127.0.0.1/tierlift")
    result = CliRunner().invoke(main, [*command, "--config", config(tmp_path)], input="")
    assert result.exit_code == 2
    assert result.stderr == ("config error: database_url: SQLAlchemy does not know postgres://; "
                             "write postgresql:// (or postgresql+psycopg://)\n")
    monkeypatch.setenv("TIERLIFT_DATABASE_URL", f"sqlite:///{tmp_path}/gone/tierlift.db")
    result = CliRunner().invoke(main, [*command, "--config", config(tmp_path)], input="")
    assert result.exit_code == 2
    assert result.stderr == (f"config error: database_url: directory {tmp_path}/gone does not "
                             "exist\n")


def test_a_store_failing_later_is_one_line_too(tmp_path, monkeypatch):
    def fails(*_):
        raise OperationalError("SELECT 1", {}, sqlite3.OperationalError("disk I/O error"))

    monkeypatch.setattr(Store, "holds_tierlift", fails)
    result = CliRunner().invoke(main, ["report", "--database-url",
                                       f"sqlite:///{tmp_path / 'store.db'}"])
    assert result.exit_code == 2
    assert result.stderr == "store error: disk I/O error\n"


# -- 5. escalation's policy names ---------------------------------------------------------------

KNOWN = ("channel, complexity, customer_request, effort, incident, policy_exception, "
         "repeat_issue, sentiment, sla, specialized, vip")


def test_check_refuses_a_gated_policy_that_does_not_exist(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_ESCALATION__GATED", "effort, nonexistent")
    result = check(tmp_path)
    assert result.exit_code == 2
    assert result.stderr == (f"config error: escalation.gated: no policy named nonexistent "
                             f"(known: {KNOWN})\n")


def test_check_refuses_a_bypassing_policy_that_does_not_exist(tmp_path):
    result = check(tmp_path, GOOD + '\n[escalation]\nbypass = ["vipp", "customer_request", '
                                    '"incidents"]\n')
    assert result.exit_code == 2
    assert result.stderr == (f"config error: escalation.bypass: no policy named vipp, incidents "
                             f"(known: {KNOWN})\n")


# -- 6. check reports every problem in one run ----------------------------------------------------


def test_check_reports_settings_and_policy_options_together(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_POLICIES__VIP__PRIORITY", "soonish")
    text = GOOD + ("\n[worker]\npoll_seconds = 1e308\n\n[policies.vip]\nenabled = true\n"
                   "colour = \"red\"\n[policies.customer_request]\nenabled = true\n")
    result = check(tmp_path, text)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "config error: worker.poll_seconds: Input should be less than or equal to 3600 (got "
        "1e+308)",
        "config error: policies.vip.colour: unknown option (options: organizations, requesters, "
        "org_fields, org_tags, priority, tier, route)",
        "config error: policies.vip.priority: expected one of low, normal, high, urgent (or "
        "empty)"]


# -- 7. a placeholder or a character no HTTP header carries, in a secret --------------------------


@pytest.mark.parametrize("value, line", [
    ("…", "zendesk.api_token: a placeholder, not the secret: give the real one, best as "
          "TIERLIFT_ZENDESK__API_TOKEN in the environment"),
    ("...", "zendesk.api_token: a placeholder, not the secret: give the real one, best as "
            "TIERLIFT_ZENDESK__API_TOKEN in the environment"),
    (f"{SECRET}…", "zendesk.api_token: holds a character an HTTP header cannot carry (not "
                   "Latin-1; a copied placeholder?): give the real secret, best as "
                   "TIERLIFT_ZENDESK__API_TOKEN in the environment"),
])
def test_check_refuses_a_placeholder_or_non_latin1_secret_naming_the_key(tmp_path, value, line):
    result = check(tmp_path, GOOD.replace(SECRET, value))
    assert result.exit_code == 2
    assert result.stderr == f"config error: {line}\n"
    assert SECRET not in result.output


def test_the_same_for_each_secret_from_the_environment(tmp_path, monkeypatch):
    for variable in ("TIERLIFT_ZENDESK__WEBHOOK_SECRET", "TIERLIFT_ADMIN__TOKEN"):
        monkeypatch.setenv(variable, "…")
    jira = ('\n[jira]\nbase_url = "https://acme.atlassian.net"\npat = "p…t"\n'
            'webhook_token = "t"\ntier_field = "customfield_10050"\n'
            '[jira.tier_values]\nL1 = "Tier 1"\nL2 = "Tier 2"\nL3 = "Tier 3"\n')
    result = check(tmp_path, GOOD + jira)
    assert result.exit_code == 2
    assert [line.split(":")[1] for line in result.stderr.splitlines()] == [
        " zendesk.webhook_secret", " jira.pat", " admin.token"]
    assert "p…t" not in result.output
    assert "Latin-1" in result.stderr and "TIERLIFT_JIRA__PAT" in result.stderr
