"""One module per verb; each exposes click commands, listed here in --help order."""

from __future__ import annotations

import click

from automation.commands import (
    backup,
    deploy,
    drift,
    drill,
    freeze,
    health,
    investigate,
    migrate,
    node,
    notify,
    report,
    restore,
    rollout,
    rotate,
    scale,
    stacks,
)

COMMANDS: list[click.Command] = [
    *deploy.COMMANDS,
    *stacks.COMMANDS,
    *freeze.COMMANDS,
    *rollout.COMMANDS,
    *scale.COMMANDS,
    *backup.COMMANDS,
    *restore.COMMANDS,
    *health.COMMANDS,
    *investigate.COMMANDS,
    *drift.COMMANDS,
    *node.COMMANDS,
    *drill.COMMANDS,
    *rotate.COMMANDS,
    *notify.COMMANDS,
    *report.COMMANDS,
    *migrate.COMMANDS,
]
