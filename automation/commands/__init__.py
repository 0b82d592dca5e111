"""One module per verb; each exposes click commands, listed here in --help order."""

from __future__ import annotations

import click

from automation.commands import deploy
from automation.commands import drift as drift_cmd
from automation.commands import health as health_cmd

COMMANDS: list[click.Command] = [*deploy.COMMANDS]
COMMANDS += health_cmd.COMMANDS
COMMANDS += drift_cmd.COMMANDS
from automation.commands import rollout as rollout_cmd  # noqa: E402

COMMANDS += rollout_cmd.COMMANDS
from automation.commands import stacks as stacks_cmd  # noqa: E402

COMMANDS += stacks_cmd.COMMANDS
from automation.commands import backup as backup_cmd  # noqa: E402
from automation.commands import restore as restore_cmd  # noqa: E402

COMMANDS += backup_cmd.COMMANDS + restore_cmd.COMMANDS
