"""`kubetask COMMAND --help` explains every option: none is listed bare."""

from __future__ import annotations

from collections.abc import Iterator

import click

from kubetask.cli.main import cli


def commands(group: click.Group, path: str = "kubetask") -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        yield f"{path} {name}", command
        if isinstance(command, click.Group):
            yield from commands(command, f"{path} {name}")


def test_every_option_of_every_command_has_help_text() -> None:
    bare = [f"{path} {param.opts[0]}" for path, command in commands(cli)
            for param in command.params
            if isinstance(param, click.Option) and not param.hidden and not param.help]
    assert bare == [], f"options without help text: {bare}"
