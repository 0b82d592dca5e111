"""report: the weekly and monthly SLA review from Gatus's history (automation/sla/)."""

from __future__ import annotations

from typing import Any

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
    from automation.sla import period, report, targets

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
            # Only the counted groups' history is read: an endpoint of another group is never
            # a reason for the report to fail.
            counted = [e for e in listed if e.get("group") in targets.COUNTED_GROUPS]
            statuses = [_history(gatus, gatus_url, e, session) for e in counted]
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


def _history(gatus: Any, base_url: str, endpoint: dict[str, Any], session: Any) -> dict[str, Any]:
    """One endpoint's statuses answer; when Gatus answers an HTTP error or no object for it,
    the endpoint with no events and `unreadable` (the reason): named in the report as
    incomplete, the others reported. No answer at all (Gatus down) still fails the report."""
    import requests

    try:
        return dict(gatus.endpoint_events(base_url, str(endpoint["key"]), session))
    except requests.HTTPError as exc:
        code = exc.response.status_code if exc.response is not None else "error"
        reason = f"HTTP {code}"
    except ValueError as exc:  # not JSON, or not an object
        reason = str(exc)
    return {**endpoint, "events": [], "unreadable": f"its history could not be read: {reason}"}


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
