"""Required stack config, checked before the engine runs: every missing key of a layer at once.

The keys come from sprocket_common/required_config.py, the list the layers themselves read; the
values are never read, only which keys the stack's settings file sets (a secret stays ciphertext).
"""

from __future__ import annotations

import os
from pathlib import Path

from automation.context import Context
from automation.errors import ConfigMissing
from automation.pulumi.stack_files import configured_keys, off_keys, stack_dir
from automation.settings import passphrase_env
from sprocket_common.required_config import RequiredKey, missing_keys
from sprocket_common.stack_info import StackInfo


def require_config(ctx: Context, info: StackInfo) -> None:
    """Exit 64 naming each missing key, whether it is a secret, and the command that sets it.

    A missing passphrase (exit 9) is named first: no `config set --secret` works without it.
    """
    passphrase_env(ctx.settings, info.env)
    present, off = configured_keys(ctx.settings, info), off_keys(ctx.settings, info)
    missing = [
        required
        for required in missing_keys(info.layer.value, info.env, present)
        if required.when_set not in off  # `worker_count: 0`: no workers, no join token needed
    ]
    if not missing:
        return
    named = "; ".join(_describe(required) for required in missing)
    commands = [f"`{_in_stack(ctx, info, r.set_command(info.name))}`" for r in missing]
    if not _stack_exists(ctx, info):
        commands.insert(0, f"`{_in_stack(ctx, info, f'pulumi stack init {info.name}')}`")
    raise ConfigMissing(
        f"{info.name} is missing required configuration: {named}",
        "set it with the plain CLI (a secret's value is asked for, never typed on the line): "
        + ", then ".join(commands),
    )


def _describe(required: RequiredKey) -> str:
    kind = "a secret" if required.secret else ("a list" if required.is_list else "a value")
    when = f", since {required.when_set} is set" if required.when_set else ""
    return f"{required.key} ({kind}: {required.meaning}{when})"


def _in_stack(ctx: Context, info: StackInfo, command: str) -> str:
    """The command as it works from here: in the stack's folder, on the driver's backend."""
    folder = stack_dir(ctx.settings, info)
    if folder.resolve() != Path.cwd().resolve():
        command = command.replace("pulumi ", f"pulumi --cwd {folder} ", 1)
    backend = ctx.settings.resolved_backend_url
    if os.environ.get("PULUMI_BACKEND_URL") != backend and "@" not in backend:
        command = f"PULUMI_BACKEND_URL={backend} {command}"
    return command


def _stack_exists(ctx: Context, info: StackInfo) -> bool:
    from automation.pulumi.cli import run_pulumi_json

    listed = run_pulumi_json(ctx.settings, info, ["stack", "ls", "--json"], with_stack=False)
    return any(entry["name"].rsplit("/", 1)[-1] == info.name for entry in listed or [])
