"""Every driver command a hint or message names exists, with the options it is given, and
carries `--env`.

An operator copies what a hint says. Each `python -m automation ...` in backticks anywhere in the
driver's source, and each command built with hints.driver_command, is parsed by the real CLI
(click), with placeholders (LAYER, ID, a formatted value) filled in; an unknown verb or option
fails here instead of at 3 a.m. And no printed text names a driver command any other way: a
command copied from a prod error must not act on local, so every one is made by driver_command,
which puts `--env` first.
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


def _made_commands(tree: ast.AST) -> list[str]:
    """The words of each driver_command(env, WORDS...) call, FORMATTED for a computed one."""
    made = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or getattr(node.func, "id", None) != "driver_command":
            continue
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            continue  # words computed at run time: covered where they are listed
        words = [
            arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else FORMATTED
            for arg in node.args[1:]
        ]
        made.append(" ".join(words))
    return made


def named_commands() -> list[tuple[str, str]]:
    found = []
    for path in sorted(AUTOMATION.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for text in _strings(tree):
            found += [(path.name, match) for match in COMMAND.findall(text)]
        found += [(path.name, words) for words in _made_commands(tree)]
    return found


def _printed_strings(tree: ast.AST) -> list[str]:
    """What the driver can print: its strings (as _strings reads them), less click's --help
    texts (`help=`), which describe the option rather than name a command to run."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "help":
                    kw.value = ast.Constant(value="")
    return _strings(tree)


def commands_not_made_by_the_builder() -> list[tuple[str, str]]:
    """Printed text naming a driver command other than through driver_command: a literal
    `python -m automation ...`, or a verb with its arguments in backticks (`migrate apply`)."""
    verbs = "|".join(re.escape(name) for name in cli.commands)
    bare = re.compile(rf"`((?:{verbs}) [^`]+)`")
    found = []
    for path in sorted(AUTOMATION.rglob("*.py")):
        if path.name in ("hints.py", "local_images.py"):  # the builder; a separate tool's CLI
            continue
        for text in _printed_strings(ast.parse(path.read_text())):
            # `python -m automation.images.servers` is another module's CLI, not the driver's
            literal = text != PROG and re.search(rf"{re.escape(PROG)}(?!\.\w)", text) is not None
            found += [(path.name, text)] if literal else []
            found += [(path.name, match) for match in bare.findall(text)]
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


def test_every_printed_driver_command_is_made_by_the_builder_with_env() -> None:
    """hints.py's rule, checked on every string the driver can print (37 hints in 15 modules
    named a command without --env: copied from a prod error, it acted on local)."""
    assert commands_not_made_by_the_builder() == []


def test_the_builder_scan_finds_a_literal_command() -> None:
    tree = ast.parse('raise X("m", "run `python -m automation deploy layer_1` or `backup db x`")')
    [text] = [t for t in _printed_strings(tree) if "deploy" in t]
    assert PROG in text
    assert re.findall(r"`((?:backup) [^`]+)`", text) == ["backup db x"]


def test_a_made_command_carries_env_and_yes() -> None:
    made = driver_command("prod", "refresh", "layer_1", "--clear-pending-creates", yes=True)
    assert made == f"`{PROG} --env prod --yes refresh layer_1 --clear-pending-creates`"
    parse(shlex.split(made.strip("`"))[3:])


def test_an_unknown_option_is_caught() -> None:
    with pytest.raises(click.UsageError):
        parse(["refresh", "layer_1", "--import-pending-creates"])


def test_clearing_pending_creates_says_what_it_cleared_and_not_when_there_were_none() -> None:
    from automation.stack.run import cleared_message

    assert "none were cleared" in cleared_message([])
    urn = "urn:pulumi:local-layer_1::sprocket-infra::pulumi-python:dynamic:Resource::slow"
    assert cleared_message([urn]) == f"the 1 pending create(s) were cleared ({urn})"
