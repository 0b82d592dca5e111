"""notify: send a scheduled job's failure to the ops webhook (scripts/cron/run-job calls it).

The driver's own verbs notify by themselves (verb.run_verb); this covers what they cannot: a
job that is not the driver (docker-cleanup), or a driver that died before it could. Both use
the job's operation id (SPROCKET_OPERATION_ID, set by run-job), so a job that already sent
its message is not sent twice.
"""

from __future__ import annotations

import sys

import click

from automation.context import Context
from automation.exit_codes import ExitCode
from automation.render import Result
from automation.verb import run_verb


def _job(ctx: Context, name: str, code: int, log: str | None) -> Result:
    """Exit 0 when nothing needed sending, it was sent (now or by the job's own driver verb) or
    no webhook is configured; exit 1 when a needed message was not delivered, so the cron
    wrapper (and cron's mail) sees it: the claim is released and the next run retries."""
    from automation.notify.service import build_event, delivery, operation_id

    try:
        exit_code = ExitCode(code)
    except ValueError:
        exit_code = ExitCode.ERROR  # a non-driver command's own code
    status, reason, op_id = "not needed", "", operation_id()
    if _job_failed(name, code, exit_code):
        hint = f"details: {log}" if log else "see the job's log"
        errors = [{"message": f"scheduled job {name} exited {code}", "hint": hint}]
        event = build_event(name, ctx.env.value, exit_code, op_id, errors=errors)
        event["job_exit_code"] = code
        status, reason = delivery(event, ctx.settings)
    sent = status == "sent"
    data = {"job": name, "exit_code": code, "sent": sent, "delivery": status, "id": op_id}
    if status == "failed":  # the documented one line on stderr, --json or not (run-job keeps it)
        sys.stderr.write(f"notify: {name} not delivered: {reason}\n")
        failure = {
            "message": f"scheduled job {name} exited {code}, and its notification was not "
            f"delivered: {reason}",
            "hint": "check SPROCKET_NOTIFY_URL and that the receiver is up; the operation is "
            "not claimed, so the next notify of it retries",
        }
        return Result("notify", ExitCode.ERROR, data, errors=[failure])
    return Result("notify", ExitCode.OK, data, human=lambda d: f"notify {name}: {status}")


def _job_failed(name: str, code: int, exit_code: ExitCode) -> bool:
    """A scheduled job runs unattended: a job the policy does not name fails on any non-zero
    exit (its codes need not be the driver's), and bad input (the job's configuration rotted)
    is a failure too; the policy decides the rest (a held lock is not: the next run retries)."""
    from automation.notify.policy import POLICY, should_notify

    if name not in POLICY:
        return code != 0
    return exit_code is ExitCode.BAD_INPUT or should_notify(name, exit_code)


@click.group()
def notify() -> None:
    """Send the ops webhook a message (settings `notify`; docs/driver.md)."""


@notify.command("job")
@click.argument("name")
@click.option("--exit-code", "code", type=int, required=True, help="The job's exit code.")
@click.option("--log", metavar="FILE", help="Where the job's output is (named in the message).")
def job(name: str, code: int, log: str | None) -> ExitCode:
    """Report scheduled job NAME's exit code (sent only when the policy says it matters).

    Exit 1 when the message was needed and not delivered (a refusing or redirecting receiver,
    no connection): cron sees it, and the next run retries the same operation.
    """
    return run_verb("notify", lambda ctx: _job(ctx, name, code, log))


COMMANDS = [notify]
