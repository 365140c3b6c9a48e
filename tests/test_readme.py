"""The README against the CLI: its command table lists every command with every option, and
every ``tierlift COMMAND --option`` it shows, in a table, a code span or a shell block, is one
that ``tierlift COMMAND --help`` knows."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from webhook_app.cli import main

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
COMMANDS = main.commands
# `tierlift <command> ...` up to the end of its code span, table cell or line.
INVOCATION = re.compile(r"(?:^|[`\s/])tierlift ([a-z][a-z-]*)((?:\\\||[^`|\n])*)", re.M)


def options(command: click.Command) -> set[str]:
    return {opt for param in command.params if isinstance(param, click.Option)
            for opt in param.opts}


def table_rows() -> dict[str, str]:
    """The command table of "Running and operating": command name -> its usage cell."""
    section = README.split("## Running and operating", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        usage = re.match(r"\| `tierlift ((?:[^`])+)` \|", line)
        if usage:
            name, _, rest = usage[1].partition(" ")
            assert name not in rows, f"{name} is in the command table twice"
            rows[name] = rest
    return rows


def test_the_command_table_lists_every_command():
    assert sorted(table_rows()) == sorted(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_command_table_shows_every_option_and_argument(name):
    usage = table_rows()[name]
    command = COMMANDS[name]
    assert set(re.findall(r"--[a-z][a-z-]*", usage)) == options(command)
    for param in command.params:
        if isinstance(param, click.Argument):
            assert re.search(rf"\b{param.name.upper()}\b", usage), param.name


def test_every_invocation_in_the_readme_is_a_command_and_options_it_has():
    seen = set()
    for match in INVOCATION.finditer(README):
        name, rest = match[1], match[2]
        if name not in COMMANDS:  # prose ("tierlift bot", "tierlift refuses") or an image name
            assert not rest.lstrip().startswith("--"), f"no command {name!r}: {match[0]!r}"
            continue
        seen.add(name)
        unknown = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", rest)) - options(COMMANDS[name])
        assert not unknown, f"tierlift {name} has no {sorted(unknown)}: {match[0].strip()!r}"
    assert seen == set(COMMANDS)
