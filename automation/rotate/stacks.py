"""The stacks a rotation touches: their config (where the value is kept), consumers, and roll.

Consumers are read from the stack's state: every `docker:index/service:Service` that mounts a
`docker:index/secret:Secret` whose resource name ends in `-<mount>` (the house SwarmService
names its secrets `<service>-<mount>`). The roll is the driver's own deploy: the new value makes
Pulumi create a new Swarm secret under a fresh auto-name (secrets are immutable), update each
consumer's spec to it (Swarm's rolling update, per the service's update config), wait for every
service with the rollout watcher, then delete the old secret, so a preview afterwards is clean.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from automation.context import Context
from automation.exit_codes import ExitCode
from sprocket_common.stack_info import StackInfo

SECRET_TYPE = "docker:index/secret:Secret"  # noqa: S105 - a type token
SERVICE_TYPE = "docker:index/service:Service"


def existing(ctx: Context, info: StackInfo) -> Any | None:
    """The Automation API stack if it was ever deployed here, else None (nothing to roll).

    For config, outputs and state only: the layer's program is not loaded (the roll's deploy
    selects the stack again with it)."""
    from automation.pulumi.workspace import existing_stack

    return existing_stack(ctx.settings, info, program=_no_program)


def consumers(ctx: Context, info: StackInfo, mounts: tuple[str, ...]) -> list[str]:
    """Swarm service names in the stack's state that mount one of `mounts`' secrets.

    Read from the ciphertext `stack export` (as every other state reader): a rotation needs
    only types, URNs, ids and dependencies, never the plaintext state with the secret it
    rotates. A service mounts a secret when its state depends on the secret's URN (the house
    SwarmService passes the secret's id into the task spec) or names its id in the spec."""
    from automation.pulumi.cli import run_pulumi_json

    exported = run_pulumi_json(ctx.settings, info, ["stack", "export"]) or {}
    resources = (exported.get("deployment") or {}).get("resources") or []
    secrets = [
        res
        for res in resources
        if res.get("type") == SECRET_TYPE
        and any(str(res.get("urn", "")).endswith(f"-{mount}") for mount in mounts)
    ]
    secret_ids = {str(res.get("id")) for res in secrets}
    secret_urns = {str(res.get("urn")) for res in secrets}
    found = []
    for res in resources:
        if res.get("type") != SERVICE_TYPE:
            continue
        outputs = res.get("outputs") or {}
        spec = _plain(_plain(outputs.get("taskSpec")).get("containerSpec"))
        mounted = {str(s.get("secretId")) for s in spec.get("secrets") or [] if isinstance(s, dict)}
        if secret_urns & set(res.get("dependencies") or []) or secret_ids & mounted:
            name = outputs.get("name")
            found.append(
                name if isinstance(name, str) else str(res.get("urn", "")).rsplit("::", 1)[-1]
            )
    return sorted(found)


def _plain(value: Any) -> dict[str, Any]:
    """A mapping from the export, or {} for what it holds encrypted (a secret-wrapped value)."""
    return value if isinstance(value, dict) and "ciphertext" not in value else {}


def roll(ctx: Context, info: StackInfo, mounts: tuple[str, ...]) -> ExitCode:
    """Deploy the stack with its new config; only the rotated secrets may be replaced."""
    from automation.stack.gate import GatePolicy
    from automation.stack.run import RunOptions, deploy_stack

    patterns = [f"urn:pulumi:{info.name}::*::*-{mount}" for mount in mounts]
    policy = GatePolicy(allow_replace=frozenset(patterns), unmatched_ok=True)
    options = RunOptions(policy=policy)
    outcome = deploy_stack(replace(ctx, assume_yes=True, interactive=False), info, options)
    return ExitCode(outcome.exit_code)


def _no_program() -> None:
    raise RuntimeError("a rotation's stack handle runs no program")  # pragma: no cover
