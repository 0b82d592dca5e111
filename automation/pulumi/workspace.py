"""The one place that builds Pulumi Automation API workspaces and stacks for the driver."""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automation.errors import BadInput, DriverError
from automation.pulumi.stack_files import stack_dir
from automation.settings import Settings, passphrase_env
from sprocket_common.stack_info import PROJECT_NAME, ProgramsNotFound, StackInfo, load_program

if TYPE_CHECKING:
    from pulumi.automation import LocalWorkspace, PulumiCommand, Stack


def engine_env(settings: Settings, info: StackInfo, *, passphrase: bool = True) -> dict[str, str]:
    """Environment for the CLI: offline, private PULUMI_HOME, the configured backend, and the
    stack's passphrase (raises CredentialsError when it is missing) unless ``passphrase`` is
    False (stack names, outputs and history need none)."""
    env = {
        "PULUMI_BACKEND_URL": settings.resolved_backend_url,
        "PULUMI_HOME": str(settings.resolved_pulumi_home),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        # The dynamic-provider plugin shim runs this interpreter, so it sees the same packages.
        "PULUMI_PYTHON_CMD": sys.executable,
        **(passphrase_env(settings, info.env) if passphrase else {}),
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
    """The CLI wrapper for the binary setup pinned (see find_pulumi_cli)."""
    cli = find_pulumi_cli(settings)
    stat = cli.stat()
    return _pulumi_command_for(str(cli), stat.st_mtime_ns, stat.st_size, settings.state_dir)


@functools.lru_cache(maxsize=4)
def _pulumi_command_for(cli: str, mtime_ns: int, size: int, state_dir: Path) -> PulumiCommand:
    # PulumiCommand's constructor runs `pulumi version`, 0.15-0.2 s of Go start-up per driver
    # process. The version of this very binary (path, mtime, size) is recorded on first use and
    # the wrapper built from the record afterwards.
    from pulumi.automation import PulumiCommand
    from semver import VersionInfo

    identity = {"path": cli, "mtime_ns": mtime_ns, "size": size}
    stamp = state_dir / "pulumi-cli.json"
    recorded = _read_json(stamp)
    if recorded.get("binary") == identity and isinstance(recorded.get("version"), str):
        command = PulumiCommand.__new__(PulumiCommand)
        command.command = cli
        command.version = VersionInfo.parse(recorded["version"])
        return command
    command = PulumiCommand(root=str(Path(cli).parent.parent), skip_version_check=True)
    command.command = cli
    if command.version is not None:
        _write_json_atomically(stamp, {"binary": identity, "version": str(command.version)})
    return command


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    from automation.guard.records import write_atomic

    with contextlib.suppress(OSError):  # only a cache: a read-only state dir costs speed
        write_atomic(path, json.dumps(data))


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
    ensure_file_backend_dir(settings.resolved_backend_url)
    try:
        program = program or load_program(info.layer)
    except ProgramsNotFound as exc:
        raise BadInput(str(exc), "cd into the checkout, or export SPROCKET_PROJECT_DIR") from None
    workspace = auto.LocalWorkspace(
        work_dir=str(stack_dir(settings, info)),
        pulumi_home=str(settings.resolved_pulumi_home),
        env_vars=env,
        pulumi_command=pulumi_command(settings),
        secrets_provider="passphrase",
        program=program,
    )
    if _checkpoint_exists(settings, info):
        return _stack_without_select(info.name, workspace)
    if create:
        return auto.Stack.create_or_select(info.name, workspace)
    return auto.Stack.select(info.name, workspace)


def existing_stack(
    settings: Settings, info: StackInfo, *, program: Callable[[], None] | None = None
) -> Stack | None:
    """The stack if it exists on this backend, else None; never creates one.

    The one answer to "does this stack exist?": the only place the Automation API's
    StackNotFoundError is caught (a caller that needs the stack raises its own NoSuchStack or
    BadInput with the hint that fits)."""
    from pulumi.automation import errors as auto_errors

    try:
        return select_stack(settings, info, program=program, create=False)
    except auto_errors.StackNotFoundError:
        return None


def _checkpoint_exists(settings: Settings, info: StackInfo) -> bool:
    """The stack's checkpoint on a file backend (Pulumi's project-scoped layout)."""
    url = settings.resolved_backend_url
    if not url.startswith("file://"):
        return False
    stacks = Path(url.removeprefix("file://")).expanduser() / ".pulumi" / "stacks" / PROJECT_NAME
    return any((stacks / f"{info.name}{suffix}").is_file() for suffix in (".json", ".json.gz"))


def _stack_without_select(name: str, workspace: LocalWorkspace) -> Stack:
    # Stack() runs `pulumi stack select` (another 0.2 s CLI process) only to check that the
    # stack exists; every command the Stack runs passes --stack NAME, so a stack whose
    # checkpoint is on disk needs no selecting. These are the attributes Stack.__init__ sets.
    from pulumi.automation import Stack
    from pulumi.automation._stack import StackInitMode

    stack = Stack.__new__(Stack)
    stack.name = name
    stack.workspace = workspace
    stack._mode = StackInitMode.SELECT
    return stack


def ensure_file_backend_dir(url: str) -> None:
    if url.startswith("file://"):
        from automation.settings import file_backend_path

        file_backend_path(url).mkdir(parents=True, exist_ok=True)
