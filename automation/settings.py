"""Where the driver keeps state and finds its tools, from the environment and an optional file.

Precedence: environment variables, then the settings file (``sprocket.toml`` in the project, or
the path in ``SPROCKET_SETTINGS``), then the embedded local default: a file backend under
``.sprocket/`` in the project, the local Docker engine, no cloud account.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from automation.errors import BadInput, CredentialsError
from sprocket_common.stack_info import PROJECT_ROOT, Env

PASSPHRASE_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")


class BackupSettings(BaseModel):
    """An S3-compatible bucket for state backups (DigitalOcean Spaces in prod)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bucket: str | None = None
    endpoint_url: str | None = None
    region: str = "us-east-1"
    prefix: str = "pulumi-state"
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None


class DataSettings(BaseModel):
    """Where `backup db` / `backup vault` find the data (automation/backup/postgres.py,
    vault_storage.py). The database comes from layer_2's outputs unless `db_host` is set
    (a tunnel, or a database no stack describes); the password is never on a command line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    db_host: str | None = None
    db_port: int = 5432
    db_name: str | None = None
    db_user: str | None = None
    db_password: SecretStr | None = None
    db_sslmode: str = "prefer"
    pg_bin_dir: Path | None = None  # pg_dump/pg_restore/psql to use; else PATH
    vault_storage_dir: Path | None = None  # Vault's file storage (the vault-data volume)
    vault_s3_bucket: str | None = None  # or its S3 storage (prod: Spaces), read with [backup]'s
    vault_s3_prefix: str = "vault"  # keys; the prefix is the storage stanza's `path`
    vault_escrow: Path | None = None  # unseal-key escrow: a file or folder of key shares
    vault_check_path: str = "secret/sprocket/dr-check"  # the KV path a restore reads
    vault_bin: Path | None = None  # the Vault binary a scratch restore runs; else PATH


class NotifySettings(BaseModel):
    """Where the driver's own failures are sent (automation/notify/): a webhook URL and the
    HMAC key that signs each body (docs/driver.md, "Notifications"). Unset url: no
    notifications."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = None
    secret: SecretStr | None = None
    attempts: int = Field(default=5, ge=1, le=10)
    timeout_s: float = Field(default=10.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @model_validator(mode="after")
    def _signed(self) -> NotifySettings:
        if self.url and not self.secret:
            raise ValueError("a notify url needs a secret to sign with (SPROCKET_NOTIFY_SECRET)")
        return self


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    project_dir: Path = PROJECT_ROOT
    state_dir: Path = Field(default=PROJECT_ROOT / ".sprocket")
    backend_url: str | None = None
    pulumi_home: Path | None = None
    pulumi_cli_dir: Path | None = None
    docker_host: str | None = None
    # How `exec` reaches another node's engine: a template with {node}, e.g. ssh://root@{node}.
    node_docker_host: str | None = None
    backup: BackupSettings = BackupSettings()
    data: DataSettings = DataSettings()
    notify: NotifySettings = NotifySettings()

    @property
    def resolved_backend_url(self) -> str:
        return self.backend_url or f"file://{self.state_dir / 'backend'}"

    @property
    def resolved_pulumi_home(self) -> Path:
        return self.pulumi_home or self.state_dir / "pulumi-home"


_ENV_KEYS = {
    "SPROCKET_PROJECT_DIR": ("project_dir",),
    "SPROCKET_STATE_DIR": ("state_dir",),
    "PULUMI_BACKEND_URL": ("backend_url",),
    "SPROCKET_PULUMI_HOME": ("pulumi_home",),
    "SPROCKET_PULUMI_CLI_DIR": ("pulumi_cli_dir",),
    "DOCKER_HOST": ("docker_host",),
    "SPROCKET_NODE_DOCKER_HOST": ("node_docker_host",),
    "SPROCKET_BACKUP_BUCKET": ("backup", "bucket"),
    "SPROCKET_BACKUP_ENDPOINT_URL": ("backup", "endpoint_url"),
    "SPROCKET_BACKUP_REGION": ("backup", "region"),
    "SPROCKET_BACKUP_PREFIX": ("backup", "prefix"),
    "SPROCKET_BACKUP_ACCESS_KEY_ID": ("backup", "access_key_id"),
    "SPROCKET_BACKUP_SECRET_ACCESS_KEY": ("backup", "secret_access_key"),
    "SPROCKET_DB_HOST": ("data", "db_host"),
    "SPROCKET_DB_PORT": ("data", "db_port"),
    "SPROCKET_DB_NAME": ("data", "db_name"),
    "SPROCKET_DB_USER": ("data", "db_user"),
    "SPROCKET_DB_PASSWORD": ("data", "db_password"),
    "SPROCKET_DB_SSLMODE": ("data", "db_sslmode"),
    "SPROCKET_PG_BIN_DIR": ("data", "pg_bin_dir"),
    "SPROCKET_VAULT_STORAGE_DIR": ("data", "vault_storage_dir"),
    "SPROCKET_VAULT_S3_BUCKET": ("data", "vault_s3_bucket"),
    "SPROCKET_VAULT_S3_PREFIX": ("data", "vault_s3_prefix"),
    "SPROCKET_VAULT_ESCROW": ("data", "vault_escrow"),
    "SPROCKET_VAULT_CHECK_PATH": ("data", "vault_check_path"),
    "SPROCKET_VAULT_BIN": ("data", "vault_bin"),
    "SPROCKET_NOTIFY_URL": ("notify", "url"),
    "SPROCKET_NOTIFY_SECRET": ("notify", "secret"),
}


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read the settings file (if any) and overlay the environment; bad input names the key."""
    environ = dict(os.environ if environ is None else environ)
    path = _settings_path(environ)
    values = _read_settings_file(path) if path else {}
    for var, keys in _ENV_KEYS.items():
        if environ.get(var):
            target = values
            for key in keys[:-1]:
                target = target.setdefault(key, {})
            target[keys[-1]] = environ[var]
    if "state_dir" not in values and "project_dir" in values:
        values["state_dir"] = Path(values["project_dir"]) / ".sprocket"
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        source = f"settings file {path}" if path else "environment"
        raise BadInput(
            f"{source}: setting {key!r}: {first['msg']}",
            f"valid settings: {', '.join(Settings.model_fields)}",
        ) from None


def _settings_path(environ: dict[str, str]) -> Path | None:
    if explicit := environ.get("SPROCKET_SETTINGS"):
        path = Path(explicit)
        if not path.is_file():
            raise BadInput(
                f"SPROCKET_SETTINGS points at {path}, which is not a file",
                "fix the path or unset SPROCKET_SETTINGS",
            )
        return path
    default = Path(environ.get("SPROCKET_PROJECT_DIR", PROJECT_ROOT)) / "sprocket.toml"
    return default if default.is_file() else None


def _read_settings_file(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(
            f"settings file {path} is not valid TOML: {exc}",
            "fix the file or point SPROCKET_SETTINGS elsewhere",
        ) from None


# The schemes of Pulumi's backends (pulumi/pkg/backend: diy file, s3, gs, azblob; Pulumi Cloud
# and self-hosted services over http(s)).
BACKEND_SCHEMES = ("file://", "s3://", "gs://", "azblob://", "https://", "http://")


def check_backend_url(settings: Settings) -> None:
    """A configured backend URL must be one Pulumi knows (BadInput, exit 64): `garbage` reached
    the engine as a Pulumi Cloud name and failed asking for PULUMI_ACCESS_TOKEN."""
    url = settings.backend_url
    if url is not None and not url.strip().startswith(BACKEND_SCHEMES):
        raise BadInput(
            f"backend_url / PULUMI_BACKEND_URL {url!r} is not a backend URL",
            "use file:///ABSOLUTE/PATH, s3://BUCKET?endpoint=HOST&region=REGION (Spaces), "
            "gs://, azblob:// or https:// (Pulumi Cloud). Nothing was run",
        )


def file_backend_path(url: str) -> Path:
    """The folder of a `file://` backend URL (its query string is the engine's, not a path)."""
    return Path(url.removeprefix("file://").split("?", 1)[0]).expanduser()


def require_team_backend(settings: Settings, env: Env) -> str | None:
    """Staging and prod state must live where the whole team sees it: refuse the embedded
    checkout-local file backend (BadInput, exit 64, naming the setting and what to do) when no
    backend is configured, and a ``file://`` path that is relative, inside this checkout or its
    state folder, or missing (an unmounted share would read as an empty state). Returns a
    one-line note when the backend is an accepted explicit ``file://`` path (a shared mount is
    fine, but only if every operator mounts the same one), else None (local, ``s3://``, Pulumi
    Cloud)."""
    check_backend_url(settings)
    if env is Env.LOCAL:
        return None
    if settings.backend_url is None:
        raise BadInput(
            f"the {env.value} stacks' state would go to this checkout's own file backend "
            f"({settings.resolved_backend_url}): no backend_url is set (sprocket.toml) and no "
            "PULUMI_BACKEND_URL, so another operator's clone would see an empty state and plan "
            "everything anew",
            "set backend_url in sprocket.toml or PULUMI_BACKEND_URL to the team's backend "
            "(s3://BUCKET?endpoint=HOST&region=REGION for Spaces, or an explicit file:// path "
            "every operator mounts); README.md, 'Where state lives'. Nothing was run",
        )
    if settings.backend_url.startswith("file://"):
        _check_shared_folder(settings, env, file_backend_path(settings.backend_url))
        return (
            f"{env.value}: state in the file backend {settings.backend_url} (backend_url / "
            "PULUMI_BACKEND_URL): every operator must use this same path"
        )
    return None


def _check_shared_folder(settings: Settings, env: Env, folder: Path) -> None:
    what = f"the {env.value} file backend {settings.backend_url} (backend_url / PULUMI_BACKEND_URL)"
    hint = (
        "point it at the team's shared mount by its absolute path (file:///mnt/team/pulumi), "
        "or use the team's s3:// bucket; README.md, 'Where state lives'. Nothing was run"
    )
    if not folder.is_absolute():
        raise BadInput(f"{what} is a relative path: each checkout would have its own", hint)
    inside = [
        root for root in (settings.project_dir, settings.state_dir)
        if folder.resolve() == root.resolve() or root.resolve() in folder.resolve().parents
    ]  # fmt: skip
    if inside:
        raise BadInput(f"{what} is inside this checkout ({inside[0]}): no one else sees it", hint)
    if not folder.is_dir():
        raise BadInput(
            f"{what} does not exist: is the share mounted? (it is not created: an empty folder "
            "would read as a state with nothing deployed)",
            hint,
        )


def passphrase_env(
    settings: Settings, env: Env, environ: dict[str, str] | None = None
) -> dict[str, str]:
    """The passphrase variables for the engine.

    Staging and prod need the operator's passphrase. The local environment makes one on first use
    (a private file under the state dir), so a newcomer's first deploy needs no set-up.
    """
    environ = dict(os.environ if environ is None else environ)
    for var in PASSPHRASE_VARS:
        if environ.get(var):
            if var.endswith("_FILE"):
                _require_readable(var, Path(environ[var]))
            return {var: environ[var]}
    if env is not Env.LOCAL:
        raise CredentialsError(
            f"no passphrase for the {env.value} stacks' secrets",
            "set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE",
        )
    return {"PULUMI_CONFIG_PASSPHRASE_FILE": str(_local_passphrase_file(settings))}


def _require_readable(var: str, path: Path) -> None:
    """Raises CredentialsError (exit 9) naming the path, before the engine says it less clearly."""
    try:
        path.read_bytes()
    except OSError as exc:
        raise CredentialsError(
            f"{var} points at {path}, which cannot be read ({exc.strerror or exc})",
            f"fix the path, or unset {var} and set PULUMI_CONFIG_PASSPHRASE",
        ) from None


def local_passphrase_path(settings: Settings) -> Path:
    """Where the local environment's passphrase is (made on first use; may not exist yet)."""
    return settings.state_dir / "local-passphrase"


def _local_passphrase_file(settings: Settings) -> Path:
    path = local_passphrase_path(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path
