"""One module per verb; each exposes click commands, listed here in --help order."""

from __future__ import annotations

import click

from automation.commands import deploy

COMMANDS: list[click.Command] = [*deploy.COMMANDS]
