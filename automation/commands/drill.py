"""drill: the runbook's disaster-recovery test as one command (automation/drill.py).

Weekly from cron (scripts/cron/); the report goes to stdout (markdown, or one JSON document with
--json), optionally to a file, and into the audit log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from automation.context import Context
from automation.errors import BadInput
from automation.exit_codes import ExitCode
from automation.render import Result
from automation.verb import run_verb


def _drill(
    ctx: Context, steps: str, layers: str, keys_file: Path | None, report_file: Path | None
) -> Result:

    from automation.drill import markdown, run_drill
    from automation.guard import audit

    if report_file is not None and not report_file.parent.is_dir():  # before an hour of work
        raise BadInput(
            f"--report {report_file}: folder {report_file.parent} does not exist",
            "create it, or pass another path",
        )
    shares = None
    if keys_file is not None:
        from automation.commands.data import read_shares

        shares = read_shares(keys_file)
    chosen = tuple(s.strip() for s in steps.split(",") if s.strip())
    with audit.audited(ctx.settings, "drill", "all") as run:  # recorded whatever happens
        report = run_drill(ctx, steps=chosen, layers=layers, shares=shares)
        text = markdown(report)
        unwritten = _write_report(report_file, text)
        code = ExitCode.OK if report["ok"] and not unwritten else ExitCode.ERROR
        failed = [s for s in report["steps"] if not s["ok"] or not s["within_target"]]
        run.exit_code, run.details["steps"] = int(code), report["steps"]
        run.error = "; ".join(f"{s['step']}: {s['error'] or 'over target'}" for s in failed)
    errors = [
        {"message": f"drill step {s['step']}: {s['error'] or 'over its target'}", "hint": ""}
        for s in failed
    ]
    errors += [{"message": unwritten, "hint": "the report is on stdout"}] if unwritten else []
    report["markdown"] = text
    return Result("drill", code, report, errors=errors, human=_text)


def _write_report(path: Path | None, text: str) -> str | None:
    """Write the markdown report; the problem as one line when it cannot be written."""
    if path is None:
        return None
    try:
        path.write_text(text + "\n")
    except OSError as exc:
        return f"--report {path} cannot be written: {exc.strerror or exc}"
    return None


def _text(data: dict[str, Any]) -> str:
    return str(data["markdown"])


@click.command()
@click.option(
    "--steps",
    default="state,db,vault",
    show_default=True,
    help="Which parts: state (each layer), db, vault; comma-separated.",
)
@click.option("--layers", default="all", show_default=True, help="The layers of the state step.")
@click.option(
    "--keys-file",
    type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
    help="Unseal shares for the Vault step (default: the escrow, SPROCKET_VAULT_ESCROW).",
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the markdown report to this file.",
)
def drill(steps: str, layers: str, keys_file: Path | None, report_file: Path | None) -> ExitCode:
    """The DR test: restore each layer's newest verified state backup into a scratch backend and
    preview it (no changes expected), the database into a scratch database, Vault into a scratch
    Vault; each step timed against the runbook's targets (db < 2 h, Vault < 30 min, layer
    < 30 min). Nothing live is changed. Exit 1 when a step fails or runs over its target.
    """
    return run_verb("drill", lambda ctx: _drill(ctx, steps, layers, keys_file, report_file))


COMMANDS = [drill]
