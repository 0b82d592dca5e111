"""`python -m automation`: the command line. Verbs live in automation/commands/, one module each."""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from automation.exit_codes import ExitCode, exit_status_help
from automation.render import Result, emit
from automation.verb import GlobalOptions

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT_SETTINGS, epilog=exit_status_help())
@click.option(
    "--env",
    "env_name",
    default="local",
    envvar="SPROCKET_ENV",
    show_default=True,
    help="Environment: local, staging or prod.",
)
@click.option("--json", "json_output", is_flag=True, help="Print one versioned JSON document.")
@click.option("--yes", "-y", "assume_yes", is_flag=True, help="Never ask; for CI and cron.")
@click.pass_context
def cli(click_ctx: click.Context, env_name: str, json_output: bool, assume_yes: bool) -> None:
    """Deploy, roll out, back up and restore Sprocket's infrastructure."""
    click_ctx.obj = GlobalOptions(env_name, json_output, assume_yes)


def _global_options_after_verb(command: click.Command) -> None:
    """Let `deploy all --env prod --json` mean what `--env prod --json deploy all` means.

    Operators write options after the verb; the group's value is kept unless the verb's is given.
    """
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _global_options_after_verb(sub)
        return
    taken = {opt for param in command.params for opt in getattr(param, "opts", [])}
    added = [
        click.Option(["--env", "_env_name"], help="Environment: local, staging or prod."),
        click.Option(["--json", "_json_output"], is_flag=True, help="One JSON document."),
        click.Option(["--yes", "-y", "_assume_yes"], is_flag=True, help="Never ask."),
    ]
    command.params.extend(opt for opt in added if not taken & set(opt.opts))
    callback = command.callback
    assert callback is not None

    @functools.wraps(callback)
    def with_global_options(*args: Any, **kwargs: Any) -> Any:
        options = click.get_current_context().find_object(GlobalOptions)
        env_name = kwargs.pop("_env_name", None)
        json_output = kwargs.pop("_json_output", False)
        assume_yes = kwargs.pop("_assume_yes", False)
        if options is not None:
            options.env_name = env_name or options.env_name
            options.json_output = options.json_output or json_output
            options.assume_yes = options.assume_yes or assume_yes
        return callback(*args, **kwargs)

    command.callback = with_global_options


def _with_force_frozen(command: click.Command, path: str = "") -> None:
    """`--force-frozen REASON` on each verb the freeze refuses (guard/freeze.py FROZEN_VERBS)."""
    from automation.guard.freeze import FROZEN_VERBS
    from automation.verb import force_frozen_option

    name = f"{path} {command.name}".strip()
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _with_force_frozen(sub, name)
    elif name in FROZEN_VERBS:
        force_frozen_option(command)


def _register_commands() -> None:
    from automation.commands import COMMANDS

    for command in COMMANDS:
        command.epilog = exit_status_help()
        _with_force_frozen(command)
        _global_options_after_verb(command)
        cli.add_command(command)


_register_commands()


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Exit with the verb's code; usage errors are BAD_INPUT (64), never click's 2 (= changes)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code: Any = cli.main(args=args, prog_name="python -m automation", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.UsageError as exc:
        _usage_error(exc, json_output="--json" in args)
        code = ExitCode.BAD_INPUT
    except (click.Abort, KeyboardInterrupt):
        _ignore_further_interrupts()
        click.echo("interrupted", err=True)
        code = ExitCode.INTERRUPTED
    if code == ExitCode.INTERRUPTED:
        _ignore_further_interrupts()
    sys.exit(int(code) if isinstance(code, int) else 0)


def _ignore_further_interrupts() -> None:
    from automation.guard.operation import ignore_further_interrupts

    ignore_further_interrupts()


def _usage_error(exc: click.UsageError, *, json_output: bool) -> None:
    """A usage error is one line on stderr, and with --json also the one JSON document a script
    parses (click raises it before any verb runs, so verb.run_verb never sees it)."""
    names, ctx = [], exc.ctx
    while ctx is not None and ctx.parent is not None:  # `rotate oauth`, not `oauth`
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    command = " ".join(reversed(names)) or (
        exc.ctx.invoked_subcommand if exc.ctx is not None and exc.ctx.invoked_subcommand else "cli"
    )
    message, hint = exc.format_message(), "see --help for the command's arguments and options"
    if json_output:
        emit(Result(command, ExitCode.BAD_INPUT, errors=[{"message": message, "hint": hint}]),
             json_output=True)  # fmt: skip
    click.echo(f"error: {message}", err=True)
