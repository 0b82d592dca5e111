"""The pulumi CLI calls a backup and a restore need, run directly (never `export_stack()`).

The Automation API's `export_stack()` passes `--show-secrets`, so its output is plaintext: a backup
built on it would put every secret in the bucket in clear. The primary artifact here is
`pulumi stack export` without that flag. The decrypted export needed for the secret-count check
is read from the CLI's stdout into memory, counted and dropped: it never touches a disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from automation.backup.manifest import config_file_name
from automation.backup.secrets_check import (
    SecretCount,
    count_ciphertext_secrets,
    count_decrypted_config,
    count_decrypted_secrets,
    count_secure_config_keys,
)
from automation.errors import DriverError, SecretsIncomplete
from automation.settings import Settings
from sprocket_common.stack_info import StackInfo


class StackMissing(DriverError):
    """The stack has no state in the backend."""


@dataclass(frozen=True)
class StackSnapshot:
    """A stack's state as a backup stores it: ciphertext only, plus counts and versions."""

    export_bytes: bytes
    export: dict[str, Any]
    config_bytes: bytes | None
    config: dict[str, Any]
    state_envelopes: int
    config_secrets: int
    update_version: int
    cli_version: str

    @property
    def secret_count(self) -> int:
        return self.state_envelopes + self.config_secrets


def _command(settings: Settings, info: StackInfo, *args: str) -> tuple[list[str], dict[str, str]]:
    from automation.engine import engine_env, find_pulumi_cli

    env = {**os.environ, **engine_env(settings, info)}
    return [str(find_pulumi_cli(settings)), *args, "--stack", info.name], env


def _start(settings: Settings, info: StackInfo, *args: str) -> subprocess.Popen[bytes]:
    argv, env = _command(settings, info, *args)
    return subprocess.Popen(
        argv, cwd=settings.project_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _finish(proc: subprocess.Popen[bytes], what: str, info: StackInfo) -> bytes:
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise _cli_error(err.decode(errors="replace"), what, info)
    return out


def _cli_error(stderr: str, what: str, info: StackInfo) -> DriverError:
    lowered = stderr.lower()
    if "no stack named" in lowered:
        return StackMissing(
            f"stack {info.name} has no state in the backend",
            f"deploy it first, or restore it: `python -m automation restore {info.layer.value}`",
        )
    if "passphrase" in lowered and ("incorrect" in lowered or "decrypt" in lowered):
        return SecretsIncomplete(
            f"the configured passphrase does not decrypt the secrets of {info.name} "
            f"({what} failed); nothing was stored",
            "set PULUMI_CONFIG_PASSPHRASE (or _FILE) to this stack's passphrase",
        )
    last = next((line for line in reversed(stderr.strip().splitlines()) if line.strip()), "")
    return DriverError(f"pulumi {what} of {info.name} failed: {last}", "see `pulumi` output above")


@cache
def _cli_version(cli: str) -> str:
    out = subprocess.run([cli, "version"], capture_output=True, text=True, check=True).stdout
    return out.strip()


def cli_version(settings: Settings) -> str:
    from automation.engine import find_pulumi_cli

    return _cli_version(str(find_pulumi_cli(settings)))


def config_path(settings: Settings, info: StackInfo) -> Path:
    return settings.project_dir / config_file_name(info.name)


class PendingSnapshot:
    """The CLI calls of a backup, started together; results are awaited as they are needed.

    The ciphertext export and history come back first and the caller packs the archive while
    the decrypted export (a full export plus a key derivation) is still running; only after
    `secret_count()` says every secret decrypts may anything be stored.
    """

    def __init__(self, settings: Settings, info: StackInfo) -> None:
        self.settings, self.info = settings, info
        path = config_path(settings, info)
        self.config_bytes = path.read_bytes() if path.exists() else None
        self.procs = {
            "export": _start(settings, info, "stack", "export"),
            "decrypted export": _start(settings, info, "stack", "export", "--show-secrets"),
            "history": _start(settings, info, "stack", "history", "--json", "--show-secrets=false"),
        }
        self._state: StackSnapshot | None = None

    def state(self) -> StackSnapshot:
        version = cli_version(self.settings)
        export_bytes = _finish(self.procs["export"], "stack export", self.info)
        history = json.loads(_finish(self.procs["history"], "stack history", self.info) or b"[]")
        config = yaml.safe_load(self.config_bytes or b"") or {}
        self._state = StackSnapshot(
            export_bytes=export_bytes,
            export=json.loads(export_bytes),
            config_bytes=self.config_bytes,
            config=config,
            state_envelopes=count_ciphertext_secrets(export_bytes),
            config_secrets=count_secure_config_keys(config),
            update_version=_update_version(history),
            cli_version=version,
        )
        return self._state

    def secret_count(self) -> SecretCount:
        """Wait for the decryption check; call after `state()`."""
        snap = self._state
        assert snap is not None, "state() first"
        decrypted = _finish(self.procs["decrypted export"], "decrypting the state", self.info)
        state_decrypted = count_decrypted_secrets(decrypted)
        del decrypted  # plaintext: never kept longer than the count takes
        proven = snap.state_envelopes > 0 and state_decrypted == snap.state_envelopes
        return SecretCount(
            state_envelopes=snap.state_envelopes,
            state_decrypted=state_decrypted,
            config_secrets=snap.config_secrets,
            config_decrypted=_config_decrypted(
                self.settings,
                self.info,
                snap.config,
                snap.export,
                snap.config_secrets,
                passphrase_proven=proven,
            ),
        )

    def close(self) -> None:
        """After an early failure, do not leave the other CLI calls running."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


@contextlib.contextmanager
def pending_snapshot(settings: Settings, info: StackInfo) -> Iterator[PendingSnapshot]:
    pending = PendingSnapshot(settings, info)
    try:
        yield pending
    finally:
        pending.close()


def _config_decrypted(
    settings: Settings,
    info: StackInfo,
    config: dict[str, Any],
    export: dict[str, Any],
    config_secrets: int,
    *,
    passphrase_proven: bool,
) -> int:
    """How many `secure:` config keys decrypt to a value with the configured passphrase.

    Config and state secrets are encrypted with the key derived from the passphrase and a salt.
    When the config file's salt is the state's and every state secret decrypted, the passphrase
    is proved right for that very key (the CLI also checks it against the salt's sealed check
    value), so every config secret decrypts too. A different salt (the config was re-keyed) is
    checked with its own decryption, which costs another key derivation.
    """
    if not config_secrets:
        return 0
    providers = (export.get("deployment") or {}).get("secrets_providers") or {}
    state_salt = (providers.get("state") or {}).get("salt")
    same_key = providers.get("type") == "passphrase" and state_salt == config.get("encryptionsalt")
    if passphrase_proven and same_key:
        return config_secrets
    proc = _start(settings, info, "config", "--json", "--show-secrets")
    return count_decrypted_config(json.loads(_finish(proc, "decrypting the config", info) or b"{}"))


def _update_version(history: list[dict[str, Any]]) -> int:
    """Pulumi Cloud numbers updates; a DIY backend reports 0 for all, so count them (oldest = 1)."""
    if not history:
        return 0
    return int(history[0].get("version") or 0) or len(history)


def export_ciphertext(settings: Settings, info: StackInfo) -> dict[str, Any]:
    proc = _start(settings, info, "stack", "export")
    exported: dict[str, Any] = json.loads(_finish(proc, "stack export", info))
    return exported


def stack_exists(settings: Settings, info: StackInfo) -> bool:
    argv, env = _command(settings, info, "stack", "ls", "--json")
    argv = argv[:-2]  # `stack ls` takes no --stack
    proc = subprocess.run(argv, cwd=settings.project_dir, env=env, capture_output=True, check=False)
    if proc.returncode != 0:
        raise _cli_error(proc.stderr.decode(errors="replace"), "stack ls", info)
    return any(entry.get("name") == info.name for entry in json.loads(proc.stdout or b"[]"))


def init_stack(settings: Settings, info: StackInfo) -> None:
    """Create the stack; an existing Pulumi.<stack>.yaml keeps its encryption salt."""
    argv, env = _command(settings, info, "stack", "init", "--secrets-provider", "passphrase")
    argv = [*argv[:-2], info.name]
    proc = subprocess.run(argv, cwd=settings.project_dir, env=env, capture_output=True, check=False)
    if proc.returncode != 0:
        raise _cli_error(proc.stderr.decode(errors="replace"), "stack init", info)


def import_state(settings: Settings, info: StackInfo, state: bytes, *, force: bool) -> None:
    """`pulumi stack import` from a private temp file (ciphertext, but still nobody else's)."""
    with tempfile.TemporaryDirectory(prefix="sprocket-restore-") as tmp:
        path = Path(tmp) / "state.json"
        path.write_bytes(state)
        path.chmod(0o600)
        args = ["stack", "import", "--file", str(path), *(["--force"] if force else [])]
        proc = _start(settings, info, *args)
        _finish(proc, "stack import", info)


def snapshot_version(settings: Settings, info: StackInfo) -> int:
    """The stack's current update version (see `_update_version`)."""
    proc = _start(settings, info, "stack", "history", "--json", "--show-secrets=false")
    return _update_version(json.loads(_finish(proc, "stack history", info) or b"[]"))
