"""report: the weekly and monthly SLA review from Gatus's history (automation/sla/)."""

from __future__ import annotations

import click

from automation.context import Context
from automation.errors import BadInput, DriverError
from automation.exit_codes import ExitCode
from automation.render import Result
from automation.verb import run_verb


def run_sla(ctx: Context, month: str | None, week: str | None, gatus_url: str | None) -> Result:
    from urllib.parse import urlparse

    import requests

    from automation import gatus
    from automation.health.collect import redact_url
    from automation.sla import period, report

    if bool(month) == bool(week):
        raise BadInput("pass exactly one of --month YYYY-MM and --week YYYY-Www", "")
    span = period.month(month) if month else period.week(str(week))
    if not gatus_url:
        raise BadInput(
            "no Gatus URL", "pass --gatus-url https://status.<domain> or set SPROCKET_GATUS_URL"
        )
    from automation.health.probes import now_utc

    try:
        with requests.Session() as session:
            listed = gatus.endpoint_list(gatus_url, session)
            statuses = [gatus.endpoint_events(gatus_url, str(e["key"]), session) for e in listed]
        data = report.build(statuses, span, now_utc())
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        # requests names the full URL in its errors, userinfo included: drop the password.
        password = urlparse(gatus_url).password
        detail = str(exc).replace(password, "***") if password else str(exc)
        raise DriverError(
            f"cannot read Gatus's history at {redact_url(gatus_url)}: {type(exc).__name__}: "
            f"{redact_url(detail)}",
            "check --gatus-url (the status page's base URL) and that Gatus is up",
        ) from None
    data["gatus_url"] = redact_url(gatus_url)
    return Result("report sla", ExitCode.OK, data, human=report.markdown)


@click.group()
def report() -> None:
    """Reports for the ops reviews."""


@report.command("sla")
@click.option("--month", metavar="YYYY-MM", help="The calendar month (UTC) to report on.")
@click.option("--week", metavar="YYYY-Www", help="The ISO week (UTC) to report on.")
@click.option(
    "--gatus-url",
    envvar="SPROCKET_GATUS_URL",
    metavar="URL",
    help="Gatus's base URL (env SPROCKET_GATUS_URL).",
)
def sla(month: str | None, week: str | None, gatus_url: str | None) -> ExitCode:
    """Per-service uptime against the runbook's targets (99.99 % datastores, 99.9 % website
    and API, 99.5 % the rest), error budget used and left, and incidents, from Gatus.
    Markdown, or one JSON document with --json."""
    return run_verb("report sla", lambda ctx: run_sla(ctx, month, week, gatus_url))


COMMANDS = [report]
