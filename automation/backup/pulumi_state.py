"""The pulumi CLI calls a backup and a restore need, run directly (never `export_stack()`).

The Automation API's `export_stack()` passes `--show-secrets`, so its output is plaintext: a backup
built on it would put every secret in the bucket in clear. The primary artifact here is
`pulumi stack export` without that flag. The secret-completeness check decrypts its envelopes in
process and keeps only counts; where the format is not recognised it falls back to the CLI's
decrypted export, read from stdout into memory, counted and dropped: it never touches a disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from automation.backup.secrets_check import (
    PassphraseCrypter,
    SecretCount,
    Tally,
    UnknownFormat,
    WrongPassphrase,
    count_ciphertext_secrets,
    count_decryptable_config,
    count_decryptable_secrets,
    count_decrypted_config,
    count_decrypted_secrets,
    count_secure_config_keys,
)
from automation.errors import CredentialsError, ImportRefused, SecretsIncomplete
from automation.pulumi.errors import (
    FORCE_ADVICE,
    cli_error,
    engine_reason,
    engine_reasons,
)
from automation.pulumi.stack_files import stack_dir, stack_file
from automation.settings import Settings
from sprocket_common.stack_info import StackInfo


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
    from automation.pulumi.workspace import engine_env, find_pulumi_cli

    env = {**os.environ, **engine_env(settings, info)}
    return [str(find_pulumi_cli(settings)), *args, "--stack", info.name], env


def _start(settings: Settings, info: StackInfo, *args: str) -> subprocess.Popen[bytes]:
    argv, env = _command(settings, info, *args)
    return subprocess.Popen(
        argv, cwd=stack_dir(settings, info), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _finish(proc: subprocess.Popen[bytes], what: str, info: StackInfo) -> bytes:
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise cli_error(err.decode(errors="replace"), what, info)
    return out


@cache
def _cli_version(cli: str) -> str:
    out = subprocess.run([cli, "version"], capture_output=True, text=True, check=True).stdout
    return out.strip()


def cli_version(settings: Settings) -> str:
    from automation.pulumi.workspace import find_pulumi_cli

    return _cli_version(str(find_pulumi_cli(settings)))


def config_path(settings: Settings, info: StackInfo) -> Path:
    return stack_file(settings, info)


class PendingSnapshot:
    """The CLI calls of a backup, started together; results are awaited as they are needed.

    The passphrase key is derived (1,000,000 PBKDF2 rounds, in a thread) while the CLI exports
    the ciphertext state; the caller packs the archive while the secrets are decrypted and
    counted. Only after `secret_count()` says every secret decrypts may anything be stored.
    """

    def __init__(self, settings: Settings, info: StackInfo) -> None:
        self.settings, self.info = settings, info
        path = config_path(settings, info)
        self.config_bytes = path.read_bytes() if path.exists() else None
        self.config: dict[str, Any] = yaml.safe_load(self.config_bytes or b"") or {}
        self.procs = {
            "export": _start(settings, info, "stack", "export"),
            "history": _start(settings, info, "stack", "history", "--json", "--show-secrets=false"),
        }
        self._crypters: dict[str, Future[PassphraseCrypter]] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sprocket-kdf")
        salt = self.config.get("encryptionsalt")
        if isinstance(salt, str):
            self._crypter(salt)  # most stacks: the state's salt is the config's; start now
        self._state: StackSnapshot | None = None

    def _crypter(self, salt: str) -> Future[PassphraseCrypter]:
        if salt not in self._crypters:
            phrase = _passphrase(self.settings, self.info)
            self._crypters[salt] = self._pool.submit(PassphraseCrypter, phrase, salt)
        return self._crypters[salt]

    def state(self) -> StackSnapshot:
        version = cli_version(self.settings)
        export_bytes = _finish(self.procs["export"], "stack export", self.info)
        history = json.loads(_finish(self.procs["history"], "stack history", self.info) or b"[]")
        self._state = StackSnapshot(
            export_bytes=export_bytes,
            export=json.loads(export_bytes),
            config_bytes=self.config_bytes,
            config=self.config,
            state_envelopes=count_ciphertext_secrets(export_bytes),
            config_secrets=count_secure_config_keys(self.config),
            update_version=_update_version(history),
            cli_version=version,
        )
        return self._state

    def secret_count(self) -> SecretCount:
        """Decrypt every secret of the state and the config and count the non-null ones."""
        snap = self._state
        assert snap is not None, "state() first"
        providers = (snap.export.get("deployment") or {}).get("secrets_providers") or {}
        state_salt = (providers.get("state") or {}).get("salt")
        try:
            if providers.get("type") not in (None, "passphrase"):
                raise UnknownFormat(f"secrets provider {providers.get('type')!r}")
            state = Tally(0)
            if snap.state_envelopes:
                if not isinstance(state_salt, str):
                    raise UnknownFormat("no passphrase salt in the state")
                crypter = self._crypter(state_salt).result()
                state = count_decryptable_secrets(snap.export_bytes, crypter)
            config_decrypted = 0
            if snap.config_secrets:
                config_salt = snap.config.get("encryptionsalt")
                if not isinstance(config_salt, str):
                    raise UnknownFormat("no encryptionsalt in the stack config")
                crypter = self._crypter(config_salt).result()
                config_decrypted = count_decryptable_config(snap.config, crypter)
        except WrongPassphrase:
            raise CredentialsError(
                f"the configured passphrase does not decrypt the secrets of {self.info.name}; "
                "nothing was stored",
                "set PULUMI_CONFIG_PASSPHRASE (or _FILE) to this stack's passphrase",
            ) from None
        except UnknownFormat:
            return self._cli_secret_count(snap)
        return SecretCount(
            snap.state_envelopes, state.opened, snap.config_secrets, config_decrypted, state.null
        )

    def _cli_secret_count(self, snap: StackSnapshot) -> SecretCount:
        """Not the v1 passphrase format: let the CLI decrypt (slower, same result)."""
        decrypted = _finish(
            _start(self.settings, self.info, "stack", "export", "--show-secrets"),
            "decrypting the state",
            self.info,
        )
        state = count_decrypted_secrets(decrypted)
        del decrypted  # plaintext: never kept longer than the count takes
        config_decrypted = 0
        if snap.config_secrets:
            shown = _start(self.settings, self.info, "config", "--json", "--show-secrets")
            config_decrypted = count_decrypted_config(
                json.loads(_finish(shown, "decrypting the config", self.info) or b"{}")
            )
        return SecretCount(
            snap.state_envelopes, state.opened, snap.config_secrets, config_decrypted, state.null
        )

    def close(self) -> None:
        """After an early failure, do not leave the other CLI calls running."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        self._pool.shutdown(wait=True, cancel_futures=True)


def check_passphrase(
    settings: Settings, info: StackInfo, state: bytes, export: dict[str, Any], label: str
) -> None:
    """Before an import: the configured passphrase opens every secret of the checkpoint.

    SecretsIncomplete (exit 13) when it does not; a layout the in-process decrypter does not
    know is left to the engine, which refuses it on import.
    """
    envelopes = count_ciphertext_secrets(state)
    providers = (export.get("deployment") or {}).get("secrets_providers") or {}
    salt = (providers.get("state") or {}).get("salt")
    if not envelopes or not isinstance(salt, str):
        return
    hint = "set PULUMI_CONFIG_PASSPHRASE (or _FILE) to the passphrase the checkpoint was made with"
    try:
        crypter = PassphraseCrypter(_passphrase(settings, info), salt)
        tally = count_decryptable_secrets(state, crypter)
    except UnknownFormat:
        return
    except WrongPassphrase:
        raise CredentialsError(
            f"the configured passphrase does not open the secrets of {label}; nothing was imported",
            hint,
        ) from None
    if tally.opened != envelopes:
        raise SecretsIncomplete(
            f"{envelopes - tally.opened} of {envelopes} secrets of {label} do not decrypt with "
            "the configured passphrase; nothing was imported",
            hint,
        )


def _passphrase(settings: Settings, info: StackInfo) -> str:
    """The passphrase the CLI would use (PULUMI_CONFIG_PASSPHRASE, else the _FILE, trimmed)."""
    from automation.settings import passphrase_env

    env = passphrase_env(settings, info.env)
    if "PULUMI_CONFIG_PASSPHRASE" in env:
        return env["PULUMI_CONFIG_PASSPHRASE"]
    return Path(env["PULUMI_CONFIG_PASSPHRASE_FILE"]).read_text().strip()


@contextlib.contextmanager
def pending_snapshot(settings: Settings, info: StackInfo) -> Iterator[PendingSnapshot]:
    pending = PendingSnapshot(settings, info)
    try:
        yield pending
    finally:
        pending.close()


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
    proc = subprocess.run(
        argv, cwd=stack_dir(settings, info), env=env, capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise cli_error(proc.stderr.decode(errors="replace"), "stack ls", info)
    return any(entry.get("name") == info.name for entry in json.loads(proc.stdout or b"[]"))


def init_stack(settings: Settings, info: StackInfo) -> None:
    """Create the stack; an existing Pulumi.<stack>.yaml keeps its encryption salt."""
    argv, env = _command(settings, info, "stack", "init", "--secrets-provider", "passphrase")
    argv = [*argv[:-2], info.name]
    proc = subprocess.run(
        argv, cwd=stack_dir(settings, info), env=env, capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise cli_error(proc.stderr.decode(errors="replace"), "stack init", info)


def import_state(settings: Settings, info: StackInfo, state: bytes, *, force: bool) -> None:
    """`pulumi stack import` from a private temp file (ciphertext, but still nobody else's).

    The CLI's --force skips its URN check *and* its integrity check, so it is passed only to
    retry an import the CLI refused for foreign URNs alone, when the operator gave --force.
    Any other refusal is kept whole, with the CLI's reason.
    """
    with tempfile.TemporaryDirectory(prefix="sprocket-restore-") as tmp:
        path = Path(tmp) / "state.json"
        path.write_bytes(state)
        path.chmod(0o600)
        refusal = _import(settings, info, path, force=False)
        if refusal and force and _only_foreign_urns(refusal):
            refusal = _import(settings, info, path, force=True)
        if refusal:
            raise ImportRefused(
                f"pulumi refused to import the checkpoint into {info.name}: "
                f"{engine_reason(refusal)}",
                "nothing was imported; the checkpoint does not fit this stack (--force does not "
                "import a checkpoint with integrity errors)",
            )


def _import(settings: Settings, info: StackInfo, path: Path, *, force: bool) -> str | None:
    """None when imported; the CLI's stderr when it refused."""
    proc = _start(settings, info, "stack", "import", "--file", str(path), *(["--force"] * force))
    _out, err = proc.communicate()
    stderr = err.decode(errors="replace")
    if proc.returncode == 0:
        return None
    if FORCE_ADVICE not in stderr:  # not a refusal of the checkpoint: a failure
        raise cli_error(stderr, "stack import", info)
    return stderr


def _only_foreign_urns(stderr: str) -> bool:
    reasons = engine_reasons(stderr)
    return bool(reasons) and all("is from a different stack" in reason for reason in reasons)


def snapshot_version(settings: Settings, info: StackInfo) -> int:
    """The stack's current update version (see `_update_version`)."""
    proc = _start(settings, info, "stack", "history", "--json", "--show-secrets=false")
    return _update_version(json.loads(_finish(proc, "stack history", info) or b"[]"))
