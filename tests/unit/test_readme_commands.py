"""The README's command table names every command `bridge --help` has, and only those."""

from __future__ import annotations

import re
from pathlib import Path

import click

from bridge.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"


def leaves(group: click.Group, prefix: str = "") -> set[str]:
    found = set()
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            found |= leaves(command, f"{path} ")
        else:
            found.add(path)
    return found


def table_rows() -> list[str]:
    text = README.read_text()
    section = text[text.index("### Commands\n") : text.index("#### Exit codes\n")]
    return [line for line in section.splitlines() if line.startswith("| `bridge ")]


def test_every_command_has_a_row_with_its_exit_codes() -> None:
    commands = leaves(main)
    rows = table_rows()
    named = set()
    for row in rows:
        match = re.match(r"\| `bridge ([a-z][a-z-]*(?: [a-z][a-z-]*)?)", row)
        assert match, row
        named.add(match.group(1))
    assert commands == named  # a group's row names its subcommand: `bridge failed retry`
    for row in rows:
        assert row.count(" | ") == 2, row  # command, what it does, exits
