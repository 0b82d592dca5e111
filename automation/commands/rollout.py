"""rollout and releases: image-tag rollouts of the platform's services, and their history."""

from __future__ import annotations

from typing import Any

import click

from automation.context import Context
from automation.errors import BadInput
from automation.exit_codes import ExitCode
from automation.render import Result
from automation.verb import run_verb
from sprocket_common.stack_info import Layer


def _rollout(
    ctx: Context,
    tag: str | None,
    services: tuple[str, ...],
    to_release: str | None,
    allow_other_changes: bool,
    parallel: bool,
    probe_url: str | None,
) -> Result:
    from automation.guard.operation import guarded
    from automation.rollout.display import RolloutDisplay
    from automation.rollout.manifest import check_tag
    from automation.rollout.run import Rollout, RolloutRequest

    if bool(tag) == bool(to_release):
        raise BadInput(
            "pass exactly one of --tag TAG and --to-release ID",
            "--tag rolls a new image tag out; --to-release returns to a recorded release",
        )
    if to_release and services:
        raise BadInput(
            "--service cannot be combined with --to-release",
            "a recorded release already names its services",
        )
    if tag:
        check_tag(tag)  # before the lock and the engine: a typo costs nothing
    if probe_url is not None and not (
        probe_url.startswith(("http://", "https://")) and "{host}" in probe_url
    ):
        raise BadInput(
            f"--probe-url {probe_url!r} is not an http(s) URL template with {{host}}",
            "e.g. --probe-url 'https://{host}/' (the platform's `routes` give the hosts)",
        )
    request = RolloutRequest(tag, services, to_release, allow_other_changes, parallel, probe_url)
    info = ctx.stack(Layer.PLATFORM)
    with guarded(ctx, info, "rollout") as op, RolloutDisplay() as display:
        result = Rollout(ctx, info, request, display, op).run()
        op.exit_code = result.exit_code
        op.changes = {"update": len(result.data.get("images") or [])}
        if result.exit_code is ExitCode.INTERRUPTED:
            op.interrupted = True  # guarded() records it and exits 130
        return result


@click.command()
@click.option("--tag", help="The image tag to roll out (to every app, or to the --service ones).")
@click.option(
    "--service",
    "services",
    multiple=True,
    metavar="NAME",
    help="A platform service (catalog name) to roll; repeat for more. Default: all.",
)
@click.option("--to-release", metavar="ID", help="Return to the tags of a recorded release.")
@click.option(
    "--allow-other-changes",
    is_flag=True,
    help="Let the plan change more than images (stateful deletes stay blocked).",
)
@click.option(
    "--parallel",
    is_flag=True,
    help="Update every service at once instead of one after another (faster, wider blast).",
)
@click.option(
    "--probe-url",
    metavar="TEMPLATE",
    help="After convergence, GET each route of the platform's `routes` output through this URL "
    "template, e.g. 'https://{host}/'; no answer counts as a failed rollout.",
)
def rollout(
    tag: str | None,
    services: tuple[str, ...],
    to_release: str | None,
    allow_other_changes: bool,
    parallel: bool,
    probe_url: str | None,
) -> ExitCode:
    """Roll an image tag out to the platform's services, watch Swarm converge, and roll the
    whole release back if any service fails.

    A release record (every service's image and spec hash, and the image config) is written
    first as the rollback point. The preview gate allows only image changes of the named
    services. Services roll one after another, each watched to convergence. Exit 7 means the
    rollout failed and every service is back on the rollback point; exit 8 means the rollback
    failed too.
    """
    return run_verb(
        "rollout",
        lambda ctx: _rollout(
            ctx, tag, services, to_release, allow_other_changes, parallel, probe_url
        ),
    )


def _releases(ctx: Context) -> Result:
    from automation.rollout.run import release_store

    info = ctx.stack(Layer.PLATFORM)
    store = release_store(ctx, info)
    releases = [r.summary() for r in store.all()]
    data = {"stack": info.name, "releases": releases, "damaged": store.damaged()}
    return Result("releases", ExitCode.OK, data, human=_table)


def _table(data: dict[str, Any]) -> str:
    damaged = [f"DAMAGED {line}" for line in data["damaged"]]
    if not data["releases"]:
        return "\n".join([f"{data['stack']}: no releases yet", *damaged])
    rows = [("ID", "CREATED", "TAG", "SERVICES", "RESULT")]
    rows += [
        (r["id"], r["created"], r["tag"], ",".join(r["services"]), r["result"])
        for r in data["releases"]
    ]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines + damaged)


@click.command()
def releases() -> ExitCode:
    """List the platform's releases (time, tags, services, result), oldest first."""
    return run_verb("releases", _releases)


COMMANDS = [rollout, releases]
