"""Every driver command a hint or message names exists, with the options it is given.

An operator copies what a hint says. Each `python -m automation ...` in backticks anywhere in the
driver's source is parsed by the real CLI (click), with placeholders (LAYER, ID, a formatted
value) filled in; an unknown verb or option fails here instead of at 3 a.m.
"""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import click
import pytest

from automation.cli import cli
from automation.hints import PROG, driver_command

AUTOMATION = Path(__file__).resolve().parents[2] / "automation"
COMMAND = re.compile(r"`" + re.escape(PROG) + r" ([^`]*)`")
FORMATTED = "{value}"  # stands for what an f-string formats in


def _strings(tree: ast.AST) -> list[str]:
    """String constants and f-strings (FORMATTED for each {value}), adjacent parts joined;
    docstrings (a string as a statement of its own) describe, they are not printed."""
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    texts = []
    for node in ast.walk(tree):
        if id(node) in docstrings:
            continue
        if isinstance(node, ast.JoinedStr):
            texts.append(
                "".join(
                    part.value if isinstance(part, ast.Constant) else FORMATTED
                    for part in node.values
                )
            )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            texts.append(node.value)
    return [t for t in texts if t]


def named_commands() -> list[tuple[str, str]]:
    found = []
    for path in sorted(AUTOMATION.rglob("*.py")):
        for text in _strings(ast.parse(path.read_text())):
            found += [(path.name, match) for match in COMMAND.findall(text)]
    return found


def _argv(command: str) -> list[str]:
    """Placeholders as a value the CLI accepts where they stand: a layer, an id, a URN, and
    after --file a file that exists."""
    words = shlex.split(command.replace(FORMATTED, "layer_1"))
    words = ["layer_1" if word in ("LAYER", "LAYER|all") else word for word in words]
    return [
        __file__ if index and words[index - 1] == "--file" else word
        for index, word in enumerate(words)
    ]


def parse(argv: list[str]) -> None:
    """Parse ARGV down to the leaf command, as `main` would, without running anything."""
    command: click.Command = cli
    ctx = command.make_context(PROG, list(argv), resilient_parsing=False)
    while isinstance(command, click.Group):
        rest = [*ctx._protected_args, *ctx.args]
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None and name is not None
        command, ctx = sub, sub.make_context(name, rest, parent=ctx)


def test_the_source_names_commands() -> None:
    assert len(named_commands()) >= 10  # the scan itself works


@pytest.mark.parametrize(("where", "command"), named_commands())
def test_every_named_command_parses(where: str, command: str) -> None:
    try:
        parse(_argv(command))
    except click.UsageError as err:
        pytest.fail(f"{where}: `{PROG} {command}`: {err.format_message()}")


def test_a_made_command_carries_env_and_yes() -> None:
    made = driver_command("prod", "refresh", "layer_1", "--clear-pending-creates", yes=True)
    assert made == f"`{PROG} --env prod --yes refresh layer_1 --clear-pending-creates`"
    parse(shlex.split(made.strip("`"))[3:])


def test_an_unknown_option_is_caught() -> None:
    with pytest.raises(click.UsageError):
        parse(["refresh", "layer_1", "--import-pending-creates"])
