"""One module per verb; each exposes click commands, listed here in --help order."""

from __future__ import annotations

import click

from automation.commands import backup, deploy, drift, health, migrate, restore, rollout, stacks

COMMANDS: list[click.Command] = [
    *deploy.COMMANDS,
    *stacks.COMMANDS,
    *rollout.COMMANDS,
    *backup.COMMANDS,
    *restore.COMMANDS,
    *health.COMMANDS,
    *drift.COMMANDS,
    *migrate.COMMANDS,
]
