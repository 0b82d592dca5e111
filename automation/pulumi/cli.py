"""Plain `pulumi` CLI calls for what the Automation API only offers with secrets shown.

`Stack.export_stack()`, `outputs()` and `history()` pass `--show-secrets`; the driver reads state,
output names and history without it, so no plaintext secret is ever in its memory or output.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from automation.errors import CredentialsError
from automation.pulumi.errors import cli_error
from automation.pulumi.stack_files import stack_dir
from automation.settings import Settings
from sprocket_common.stack_info import StackInfo


def run_pulumi(
    settings: Settings, info: StackInfo, args: list[str], *, with_stack: bool = True
) -> str:
    """`pulumi ARGS [--stack NAME]` in the project: stdout, or a DriverError naming the stack."""
    from automation.pulumi.workspace import engine_env, ensure_file_backend_dir, find_pulumi_cli

    try:
        env = engine_env(settings, info)
    except CredentialsError:
        if args[:2] not in (["stack", "history"], ["stack", "ls"], ["stack", "output"]):
            raise
        env = engine_env(settings, info, passphrase=False)  # names and history need none
    settings.resolved_pulumi_home.mkdir(parents=True, exist_ok=True)
    ensure_file_backend_dir(settings.resolved_backend_url)  # a fresh clone's `stacks`
    proc = subprocess.run(
        [
            str(find_pulumi_cli(settings)),
            "--non-interactive",
            *args,
            *(["--stack", info.name] if with_stack else []),
        ],
        cwd=stack_dir(settings, info),
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise cli_error(proc.stderr, " ".join(args), info)
    return proc.stdout


def run_pulumi_json(
    settings: Settings, info: StackInfo, args: list[str], *, with_stack: bool = True
) -> Any:
    return json.loads(run_pulumi(settings, info, args, with_stack=with_stack) or "null")
