"""The manifest inside every backup archive, and the checks a restore runs against it.

The manifest says what the archive holds (project, stack, Pulumi version, checkpoint version,
resource and secret counts, update version, git commit, creation time, SHA-256 of each file) so
that a restore can refuse, before touching anything, a backup that does not fit the stack or the
CLI. It holds no secret values.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

MANIFEST_NAME = "manifest.json"
STATE_NAME = "state.json"
MANIFEST_SCHEMA = 1

# What the pinned CLI (v3.274.x) reads: checkpoint versions up to 4, and these v4 features
# (pkg/resource/stack/deployment.go supportedFeatures).
MAX_CHECKPOINT_VERSION = 4
SUPPORTED_FEATURES = frozenset(
    {
        "refreshBeforeUpdate",
        "views",
        "hooks",
        "taint",
        "replaceWith",
        "snippets-prototype",
        "extensionParameterization",
        "byteString",
    }
)


def config_file_name(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


@dataclass(frozen=True)
class Manifest:
    backup_id: str
    project: str
    stack: str
    created: str  # ISO 8601, UTC
    reason: str
    pulumi_version: str  # the CLI that made the backup
    checkpoint_version: int
    resource_count: int
    secret_count: int  # state envelopes + secret config keys, all shown to decrypt
    update_version: int  # Pulumi history: number of updates of this stack so far
    git_commit: str | None
    files: dict[str, str] = field(default_factory=dict)  # archive member -> SHA-256
    run_id: str = ""
    null_secret_count: int = 0  # of secret_count, the state secrets that decrypt to null
    created_us: int = 0  # `created` in microseconds since the epoch: orders one second's backups
    schema: int = MANIFEST_SCHEMA

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        raw = json.loads(data)
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{key: value for key, value in raw.items() if key in known})


def parse_version(text: str) -> tuple[int, ...]:
    """`v3.274.1` -> (3, 274, 1); pre-release or build suffixes are ignored."""
    numbers = re.findall(r"\d+", text.split("-")[0].split("+")[0])
    return tuple(int(n) for n in numbers[:3])


def urn_stack_project(urn: str) -> tuple[str, str]:
    """`urn:pulumi:<stack>::<project>::<type>::<name>` -> (stack, project)."""
    if not urn.startswith("urn:pulumi:"):
        return "", ""
    parts = urn.removeprefix("urn:pulumi:").split("::")
    return (parts[0], parts[1]) if len(parts) >= 2 else (parts[0], "")


def fit_problems(
    export: dict[str, Any],
    manifest: Manifest,
    *,
    stack: str,
    project: str,
    cli_version: str,
) -> list[str]:
    """Why this backup must not be imported into `stack` of `project` with this CLI; [] if fine."""
    problems: list[str] = []
    if manifest.project != project:
        problems.append(f"backup is of project {manifest.project!r}, not {project!r}")
    if manifest.stack != stack:
        problems.append(f"backup is of stack {manifest.stack!r}, not {stack!r}")
    problems.extend(_urn_problems(export, stack=stack, project=project))
    problems.extend(_checkpoint_problems(export, manifest, cli_version))
    return problems


def _urn_problems(export: dict[str, Any], *, stack: str, project: str) -> list[str]:
    deployment = export.get("deployment") or {}
    urns = [r.get("urn", "") for r in deployment.get("resources") or []]
    urns += [
        p.get("resource", {}).get("urn", "") for p in deployment.get("pending_operations") or []
    ]
    wrong = [u for u in urns if urn_stack_project(u) != (stack, project)]
    if not wrong:
        return []
    found_stack, found_project = urn_stack_project(wrong[0])
    return [
        f"{len(wrong)} of {len(urns)} resource URNs are not of stack {stack!r} in project "
        f"{project!r} (first: stack {found_stack!r}, project {found_project!r}: {wrong[0]})"
    ]


def unreadable_problems(export: dict[str, Any], cli_version: str) -> list[str]:
    """Why this CLI cannot read the checkpoint at all (its version, its features): `stack
    import --force` is refused by the engine just the same; [] if it reads it."""
    problems = []
    version = export.get("version")
    if not isinstance(version, int) or not 1 <= version <= MAX_CHECKPOINT_VERSION:
        problems.append(
            f"checkpoint version {version!r} is not one this CLI ({cli_version}) reads "
            f"(1 to {MAX_CHECKPOINT_VERSION})"
        )
    unsupported = sorted(set(export.get("features") or []) - SUPPORTED_FEATURES)
    if unsupported:
        problems.append(f"checkpoint uses features this CLI does not know: {unsupported}")
    return problems


def needs_newer_cli(export: dict[str, Any]) -> bool:
    """The checkpoint is from a newer Pulumi (a higher version, or features this CLI does not
    know): a newer CLI reads it, not --force."""
    version = export.get("version")
    newer = isinstance(version, int) and version > MAX_CHECKPOINT_VERSION
    return newer or bool(set(export.get("features") or []) - SUPPORTED_FEATURES)


def _checkpoint_problems(export: dict[str, Any], manifest: Manifest, cli_version: str) -> list[str]:
    problems = unreadable_problems(export, cli_version)
    version = export.get("version")
    if version != manifest.checkpoint_version:
        problems.append(
            f"checkpoint version {version!r} differs from the manifest's "
            f"{manifest.checkpoint_version}"
        )
    if parse_version(manifest.pulumi_version) > parse_version(cli_version):
        problems.append(
            f"backup was made by pulumi {manifest.pulumi_version}, newer than this CLI "
            f"({cli_version}): upgrade the CLI first"
        )
    return problems


def canonical_state(export: dict[str, Any]) -> bytes:
    """The export as sorted-key JSON with each secret's ciphertext masked.

    `stack import` re-encrypts every secret with a fresh nonce, so ciphertexts never survive a
    round trip byte for byte; everything else (and the secrets' places) does.
    """
    from automation.backup.secrets_check import SECRET_SIG, SIG_KEY

    def mask(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get(SIG_KEY) == SECRET_SIG and "ciphertext" in node:
                return {SIG_KEY: SECRET_SIG, "ciphertext": "[secret]"}
            return {key: mask(value) for key, value in node.items()}
        if isinstance(node, list):
            return [mask(item) for item in node]
        return node

    return json.dumps(mask(export), sort_keys=True, separators=(",", ":")).encode()
