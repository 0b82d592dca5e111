"""notify: a scheduled job's run, recorded, pinged and (when it failed) sent to the ops webhook.

scripts/cron/run-job calls `notify job` after every run: the record feeds health's "scheduled
jobs" row (automation/health/jobs.py), the heartbeat an outside checker (notify/heartbeat.py).

The driver's own verbs notify by themselves (verb.run_verb); this covers what they cannot: a
job that is not the driver (docker-cleanup), or a driver that died before it could. Both use
the job's operation id (SPROCKET_OPERATION_ID, set by run-job), so a job that already sent
its message is not sent twice.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from automation.context import Context
from automation.exit_codes import ExitCode
from automation.render import Result
from automation.verb import run_verb


def _job(ctx: Context, name: str, code: int, log: str | None, started: str | None) -> Result:
    """Exit 0 when nothing needed sending, it was sent (now or by the job's own driver verb) or
    no webhook is configured; exit 1 when a needed message was not delivered, so the cron
    wrapper (and cron's mail) sees it: the claim is released and the next run retries. Exit 1
    too when the run cannot be recorded (health would call the job late)."""
    from automation.health.jobs import record_run
    from automation.notify.heartbeat import ping
    from automation.notify.service import build_event, delivery, operation_id

    _check_job_name(name)
    began = _started(started)
    try:  # for health's "scheduled jobs" row; a record that cannot be written must not stop
        record_run(ctx.settings, name, code, began, log=log)  # the failure notice below
        recorded = ""
    except OSError as exc:
        recorded = f"the run cannot be recorded: {exc.strerror or exc}"
    heartbeat = ping(name, code)
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
    data = {
        "job": name, "exit_code": code, "sent": status == "sent", "delivery": status,
        "id": op_id, "heartbeat": heartbeat,
    }  # fmt: skip
    failures = []
    if status == "failed":  # the documented one line on stderr, --json or not (run-job keeps it)
        sys.stderr.write(f"notify: {name} not delivered: {reason}\n")
        failures.append({
            "message": f"scheduled job {name} exited {code}, and its notification was not "
            f"delivered: {reason}",
            "hint": "check SPROCKET_NOTIFY_URL and that the receiver is up; the operation is "
            "not claimed, so the next notify of it retries",
        })  # fmt: skip
    if recorded:  # said, and the exit code says it too: run-job names the job on stderr
        failures.append({"message": recorded, "hint": _RECORD_HINT})
    if failures:
        return Result("notify", ExitCode.ERROR, data, errors=failures, human=_job_text)
    return Result("notify", ExitCode.OK, data, human=_job_text)


_RECORD_HINT = "health will call this job late: fix the records folder's permissions or space"


def _job_text(data: dict[str, Any]) -> str:
    line = f"notify {data['job']}: {data['delivery']}"
    return line + (f", heartbeat {data['heartbeat']}" if data["heartbeat"] else "")


def _started(text: str | None) -> datetime:
    from automation.errors import BadInput
    from automation.times import parse_time

    now = datetime.now(UTC)
    if text is None:
        return now
    try:
        began = parse_time(text)
    except ValueError as exc:
        raise BadInput(
            f"--started {text!r}: {exc}", "pass an RFC 3339 time, e.g. 2026-12-07T02:30:00Z"
        ) from None
    # A start in the future would count the job on time until then (and, as a first run,
    # keep health's "never ran" warning from firing for every job): refused.
    if began > now + _CLOCK_SKEW:
        raise BadInput(
            f"--started {text!r} is in the future (now {now.isoformat(timespec='seconds')})",
            "pass when the job started; run-job passes it for you",
        )
    return began


_CLOCK_SKEW = timedelta(minutes=5)
# A job's name becomes its record's file name: the crontab's names, nothing that leaves jobs/.
_JOB_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")


def _check_job_name(name: str) -> None:
    from automation.errors import BadInput

    if not _JOB_NAME.fullmatch(name):
        raise BadInput(
            f"job name {name!r} is not a job name (lower-case letters, digits and -)",
            "use the crontab's name for the job, e.g. backup-db (scripts/cron/sprocket.crontab)",
        )


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
@click.option("--started", metavar="TIME", help="When the job started (RFC 3339) [default: now].")
def job(name: str, code: int, log: str | None, started: str | None) -> ExitCode:
    """Report scheduled job NAME's run: recorded for `health`'s "scheduled jobs" row, pinged to
    SPROCKET_HEARTBEAT_URL_<NAME> when set, and sent to the webhook when the policy says the
    exit code matters. scripts/cron/run-job calls it after every run.

    Exit 1 when the message was needed and not delivered (a refusing or redirecting receiver,
    no connection): cron sees it, and the next run retries the same operation.
    """
    return run_verb("notify", lambda ctx: _job(ctx, name, code, log, started))


COMMANDS = [notify]
