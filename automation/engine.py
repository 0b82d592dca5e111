"""The one place that builds Pulumi Automation API workspaces and stacks for the driver."""

from __future__ import annotations

import functools
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from automation.errors import DriverError
from automation.settings import Settings, passphrase_env
from sprocket_common.stack_info import PROJECT_NAME, StackInfo, load_program

if TYPE_CHECKING:
    from pulumi.automation import PulumiCommand, Stack


def engine_env(settings: Settings, info: StackInfo) -> dict[str, str]:
    """Environment for the CLI: offline, private PULUMI_HOME, the configured backend."""
    env = {
        "PULUMI_BACKEND_URL": settings.resolved_backend_url,
        "PULUMI_HOME": str(settings.resolved_pulumi_home),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        # The dynamic-provider plugin shim runs this interpreter, so it sees the same packages.
        "PULUMI_PYTHON_CMD": sys.executable,
        **passphrase_env(settings, info.env),
    }
    if settings.docker_host:
        env["DOCKER_HOST"] = settings.docker_host
    return env


def find_pulumi_cli(settings: Settings) -> Path:
    """The pulumi binary: the configured dir, the project venv, then PATH."""
    candidates = [
        settings.pulumi_cli_dir,
        Path(sys.prefix) / "bin",
        settings.project_dir / ".venv" / "bin",
    ]
    for directory in candidates:
        if directory and (directory / "pulumi").is_file():
            return directory / "pulumi"
    found = shutil.which("pulumi")
    if found:
        return Path(found)
    raise DriverError(
        "the pulumi CLI was not found",
        "run `make setup` (or scripts/setup.sh), or set SPROCKET_PULUMI_CLI_DIR to its directory",
    )


def pulumi_command(settings: Settings) -> PulumiCommand:
    """The CLI wrapper; PulumiCommand runs <root>/bin/pulumi (setup pins its version)."""
    cli = find_pulumi_cli(settings)
    return _pulumi_command_at(str(cli.parent.parent), cli.stat().st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _pulumi_command_at(root: str, _mtime_ns: int) -> PulumiCommand:
    # Each PulumiCommand runs `pulumi version`; `all` would pay it once per stack. The binary's
    # mtime is in the key so a rebuilt CLI is picked up.
    from pulumi.automation import PulumiCommand

    return PulumiCommand(root=root, skip_version_check=True)


def select_stack(
    settings: Settings,
    info: StackInfo,
    *,
    program: Callable[[], None] | None = None,
    create: bool = True,
) -> Stack:
    """Select (or create) the stack, running the layer's program() inline."""
    from pulumi import automation as auto

    env = engine_env(settings, info)
    settings.resolved_pulumi_home.mkdir(parents=True, exist_ok=True)
    _ensure_file_backend_dir(settings.resolved_backend_url)
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(settings.project_dir),
        pulumi_home=str(settings.resolved_pulumi_home),
        env_vars=env,
        pulumi_command=pulumi_command(settings),
        secrets_provider="passphrase",
    )
    program = program or load_program(info.layer)
    if create:
        return auto.create_or_select_stack(info.name, PROJECT_NAME, program, opts=opts)
    return auto.select_stack(info.name, PROJECT_NAME, program, opts=opts)


def _ensure_file_backend_dir(url: str) -> None:
    if url.startswith("file://"):
        Path(url.removeprefix("file://")).expanduser().mkdir(parents=True, exist_ok=True)
