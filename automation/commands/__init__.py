"""One module per verb; each exposes click commands, listed here in --help order."""

from __future__ import annotations

import click

from automation.commands import deploy
from automation.commands import health as health_cmd

COMMANDS: list[click.Command] = [*deploy.COMMANDS]
COMMANDS += health_cmd.COMMANDS
