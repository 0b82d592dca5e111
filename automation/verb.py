"""Running one verb: the group's options become a Context, errors become one Result, the result is
rendered and the ops channels notified. The commands import this module, never automation.cli
(which imports the commands to register them), so every module imports on its own."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from automation.context import Context
from automation.errors import BadInput, DriverError
from automation.exit_codes import ExitCode
from automation.render import Result, emit
from sprocket_common.stack_info import UnknownNameError, parse_env

# Verbs that read and write no stack state (the backend check does not apply to them).
_STATELESS_VERBS = frozenset({"notify"})


class GlobalOptions:
    """The group's options, turned into a Context only when a command runs (settings may fail)."""

    def __init__(self, env_name: str, json_output: bool, assume_yes: bool) -> None:
        self.env_name, self.json_output, self.assume_yes = env_name, json_output, assume_yes
        self.force_frozen = ""  # set by a mutating verb's --force-frozen (force_frozen_option)

    def context(self, verb: str = "") -> Context:
        """The Context for `verb`; staging and prod refuse a backend nobody else sees, except
        for `notify`, which touches no state and must still report that very refusal. An
        accepted explicit file:// backend is said on stderr, except with --json: a scheduled
        job's log holds both streams and is read as the one JSON document (scripts/cron)."""
        from automation.settings import load_settings, require_team_backend

        try:
            env = parse_env(self.env_name)
        except UnknownNameError as exc:
            raise BadInput(str(exc), "pass --env local, --env staging or --env prod") from None
        settings = load_settings()
        note = require_team_backend(settings, env) if verb not in _STATELESS_VERBS else None
        if note and not self.json_output:
            click.echo(note, err=True)
        return Context(
            settings=settings,
            env=env,
            json_output=self.json_output,
            assume_yes=self.assume_yes,
            interactive=sys.stdin.isatty() and not self.assume_yes and not self.json_output,
            force_frozen=self.force_frozen,
        )


def _store_force_frozen(
    click_ctx: click.Context, _param: click.Parameter, value: str | None
) -> None:
    if value is None:
        return
    if not value.strip():
        raise click.BadParameter("give the reason, e.g. --force-frozen 'hotfix for INC-42'")
    options = click_ctx.find_object(GlobalOptions)
    if options is not None:
        options.force_frozen = value.strip()


def force_frozen_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """`--force-frozen REASON` on a mutating verb: run once through a freeze (guard/freeze.py);
    the reason goes into the audit record."""
    return click.option(
        "--force-frozen",
        metavar="REASON",
        expose_value=False,
        callback=_store_force_frozen,
        help="Run although the environment is frozen (`freeze`); REASON goes into the audit log.",
    )(func)


def run_verb(name: str, verb: Callable[[Context], Result]) -> ExitCode:
    """Run one verb with the shared error handling, render its result, return its exit code."""
    options = click.get_current_context().find_object(GlobalOptions)
    assert options is not None, "run_verb is called only under the cli group"
    try:
        result = verb(options.context(name))
    except DriverError as exc:
        result = Result(name, exc.code, errors=[{"message": exc.message, "hint": exc.hint}])
    except KeyboardInterrupt:
        result = Result(
            name,
            ExitCode.INTERRUPTED,
            errors=[
                {
                    "message": "interrupted",
                    "hint": "stopped at Ctrl-C: nothing after that point ran",
                }
            ],
        )
    except (click.Abort, click.ClickException):
        raise  # Ctrl-C at a prompt, usage errors: main() maps them to 130 and 64
    except Exception as exc:  # a bug: still one result (one JSON document), the trace on stderr
        import traceback

        traceback.print_exc(file=sys.stderr)
        result = Result(
            name,
            ExitCode.ERROR,
            errors=[
                {
                    "message": f"{name} failed unexpectedly: {type(exc).__name__}: {exc}",
                    "hint": "this is a driver bug: the traceback is on stderr; please report it",
                }
            ],
        )
    emit(result, json_output=options.json_output)
    _notify(name, result, options.env_name)
    return result.exit_code


def _notify(name: str, result: Result, env_name: str) -> None:
    """The ops channels hear of unattended failures (automation/notify/policy.py says which)."""
    from automation.notify import notify_result

    notify_result(name, result, env=env_name)
