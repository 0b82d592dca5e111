"""`backup db` and `restore db`: custom-format dumps of the application database.

Backup: connect (password through psycopg's argument, and to pg_dump through a 0600 PGPASSFILE:
never argv, never printed), refuse a server newer than pg_dump, open a REPEATABLE READ
transaction and export its snapshot, count each table's rows in that snapshot, run
`pg_dump -F c --snapshot` (so dump and counts are the same instant) and stream its output to
the bucket (multipart, SHA-256 read back); the catalog record holds the counts.

Restore: download, check the SHA-256 and that pg_restore can read the dump, then restore into a
database that does not exist yet (a scratch one), count rows and compare with the dump's counts.
The live database is a target only when `--into` names it, after a confirmation (the caller's),
and then in one transaction (`--clean --single-transaction`).
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from automation.backup import data
from automation.backup.store import DUMP_SUFFIX, BackupStore
from automation.errors import BackupCorrupt, BackupFailed, BadInput, CredentialsError, DriverError
from automation.hints import driver_command
from automation.settings import Settings
from sprocket_common.stack_info import PROJECT_NAME, Env, Layer, StackInfo

CHUNK = 1024 * 1024
KIND = "db"


@dataclass(frozen=True)
class DbTarget:
    """Where the application database is. `password` is never logged or shown."""

    host: str
    port: int
    dbname: str
    user: str
    password: SecretStr | None
    sslmode: str = "prefer"

    def describe(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"


def resolve_target(settings: Settings, env: Env) -> DbTarget:
    """From settings when `db_host` is set (SPROCKET_DB_*), else from layer_2's outputs."""
    cfg = settings.data
    if cfg.db_host:
        if not (cfg.db_name and cfg.db_user):
            raise BadInput(
                "SPROCKET_DB_HOST is set but SPROCKET_DB_NAME or SPROCKET_DB_USER is not",
                "set all three (and SPROCKET_DB_PASSWORD), or unset SPROCKET_DB_HOST to use "
                "layer_2's outputs",
            )
        return DbTarget(
            cfg.db_host, cfg.db_port, cfg.db_name, cfg.db_user, cfg.db_password, cfg.db_sslmode
        )
    return target_from_outputs(_layer2_outputs(settings, env))


def target_from_outputs(outputs: dict[str, Any]) -> DbTarget:
    """layer_2's contract (sprocket_common/outputs.py Layer2Outputs) -> a target."""
    try:
        return DbTarget(
            host=str(outputs["postgres_host"]),
            port=int(outputs["postgres_port"]),
            dbname=str(outputs["postgres_database"]),
            user=str(outputs["app_db_user"]),
            password=SecretStr(str(outputs["app_db_password"])),
            sslmode=str(outputs.get("postgres_ssl_mode") or "prefer"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInput(
            f"layer_2's outputs lack the database connection ({exc})",
            "deploy layer_2, or set SPROCKET_DB_HOST/_NAME/_USER/_PASSWORD",
        ) from None


def _layer2_outputs(settings: Settings, env: Env) -> dict[str, Any]:
    from automation.pulumi.workspace import existing_stack

    info = StackInfo(env, Layer.LAYER_2)
    stack = existing_stack(settings, info)
    if stack is None:
        raise BadInput(
            f"{info.name} is not deployed here: no database connection in its outputs",
            f"deploy layer_2 ({driver_command(env, 'deploy', 'layer_2')}), or set "
            "SPROCKET_DB_HOST/_NAME/_USER/_PASSWORD",
        )
    return {key: out.value for key, out in stack.outputs().items()}


# --- tools and connections ------------------------------------------------------------------


def tool(settings: Settings, name: str) -> str:
    folder = settings.data.pg_bin_dir
    return str(folder / name) if folder else name


def tool_major(settings: Settings, name: str) -> int:
    """`pg_dump --version` -> 15. Missing tool: one line naming it."""
    try:
        done = subprocess.run(
            [tool(settings, name), "--version"], capture_output=True, text=True, check=False
        )
    except OSError as exc:
        raise BadInput(
            f"{name} cannot be run ({exc.strerror or exc})",
            "install the PostgreSQL client (postgresql-client) or set SPROCKET_PG_BIN_DIR",
        ) from None
    found = re.search(r"\)\s*(\d+)", done.stdout) or re.search(r"(\d+)\.", done.stdout)
    if done.returncode != 0 or not found:
        raise BadInput(f"{name} --version said nothing usable: {done.stdout.strip()!r}")
    return int(found.group(1))


def check_versions(server_major: int, client_major: int, client: str = "pg_dump") -> None:
    """pg_dump refuses (or worse, half-works) against a newer server: say so before trying."""
    if server_major > client_major:
        raise BadInput(
            f"the database server is PostgreSQL {server_major}, newer than {client} "
            f"{client_major}: nothing was dumped",
            f"install the PostgreSQL {server_major} client (postgresql-client-{server_major}) "
            "or point SPROCKET_PG_BIN_DIR at it",
        )


def connect(target: DbTarget, dbname: str | None = None, *, autocommit: bool = False) -> Any:
    import psycopg

    password = target.password.get_secret_value() if target.password else None
    try:
        return psycopg.connect(
            host=target.host,
            port=target.port,
            dbname=dbname or target.dbname,
            user=target.user,
            password=password,
            sslmode=target.sslmode,
            connect_timeout=10,
            autocommit=autocommit,
        )
    except psycopg.OperationalError as exc:
        # libpq's message is several lines (the cause first, then a tab-indented hint): one line.
        text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        text = text or type(exc).__name__
        cls = CredentialsError if "password" in text or "authentication" in text else DriverError
        raise cls(
            f"cannot connect to the database {target.describe()}: {text}",
            "check SPROCKET_DB_* or layer_2's outputs, and that this machine reaches the host",
        ) from None


@contextlib.contextmanager
def pg_env(settings: Settings, target: DbTarget) -> Iterator[dict[str, str]]:
    """libpq's environment for pg_dump/pg_restore: the password in a private PGPASSFILE."""
    import os

    with tempfile.TemporaryDirectory(prefix="sprocket-pg-") as folder:
        passfile = Path(folder) / "pgpass"
        secret = target.password.get_secret_value() if target.password else ""
        fields = [target.host, str(target.port), "*", target.user, secret]
        passfile.write_text(":".join(_pgpass_escape(f) for f in fields) + "\n")
        passfile.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(PGPASSFILE=str(passfile), PGSSLMODE=target.sslmode, PGCONNECT_TIMEOUT="10")
        yield env


def _pgpass_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(":", "\\:")


def _conn_args(target: DbTarget, dbname: str) -> list[str]:
    """libpq reads a `-d` value holding `=` or starting `postgres(ql)://` as a whole connection
    string (CVE-2016-5424): the name goes in a conninfo of our own, quoted, so it is only ever
    a database name."""
    return ["--no-password", "-h", target.host, "-p", str(target.port), "-U", target.user,
            "-d", f"dbname={_conninfo_quote(dbname)}"]  # fmt: skip


def _conninfo_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def looks_like_conninfo(name: str) -> bool:
    """What libpq would parse as a connection string rather than a database name."""
    return "=" in name or name.startswith(("postgresql://", "postgres://"))


def table_counts(conn: Any) -> dict[str, int]:
    """`schema.table` -> rows, for every ordinary table outside the system schemas."""
    from psycopg import sql

    tables = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        " AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2"
    ).fetchall()
    counts = {}
    for schema, name in tables:
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(name)
        )
        counts[f"{schema}.{name}"] = int(conn.execute(query).fetchone()[0])
    return counts


def _server_major(conn: Any) -> int:
    return int(conn.info.server_version) // 10000


# --- backup ---------------------------------------------------------------------------------


def take(settings: Settings, env: Env, reason: str, *, store: BackupStore | None = None) -> Any:
    """Dump, stream, read back, catalog. Returns the DataRecord; raises with nothing stored."""
    import psycopg

    target = resolve_target(settings, env)
    client = tool_major(settings, "pg_dump")
    store = store or BackupStore.from_settings(settings.backup)
    backup_id, created = data.new_id()
    key = store.archive_key(PROJECT_NAME, data.data_stack(env, KIND), backup_id, DUMP_SUFFIX)
    started = time.monotonic()
    with connect(target) as conn:
        server = conn.info.server_version
        check_versions(_server_major(conn), client)
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        counts = table_counts(conn)  # in the exported snapshot: what pg_dump sees
        with pg_env(settings, target) as env_vars:
            command = [tool(settings, "pg_dump"), "-F", "c", f"--snapshot={snapshot}",
                       *_conn_args(target, target.dbname)]  # fmt: skip
            chunks = _stream(command, env_vars, "pg_dump")
            stored = store.upload_stream_verified(
                key, chunks, {"backup-id": backup_id, "kind": KIND, "project": PROJECT_NAME}
            )
    facts = {
        "database": target.dbname,
        "host": target.host,
        "server_version": f"{server // 10000}.{server % 10000}",
        "pg_dump_major": client,
        "tables": counts,
        "total_rows": sum(counts.values()),
        "seconds": round(time.monotonic() - started, 2),
    }
    return data.record_stored(store, env, KIND, backup_id, created, stored, facts, reason)


def _stream(command: list[str], env: dict[str, str], name: str) -> Iterator[bytes]:
    """The tool's stdout in chunks; its failure raises (the upload then aborts)."""
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=env)
        finished = False
        try:
            assert proc.stdout is not None
            while chunk := proc.stdout.read(CHUNK):
                yield chunk
            finished = True
        finally:
            if not finished:
                proc.kill()
            proc.wait()
        if proc.returncode != 0:
            errors.seek(0)
            raise BackupFailed(
                f"{name} failed (exit {proc.returncode}): {_last_line(errors.read())}; "
                "nothing was stored",
                "fix the cause named, then take the backup again",
            )


def _last_line(output: bytes) -> str:
    lines = [line for line in output.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no message"


# --- restore --------------------------------------------------------------------------------


@data.sigterm_interrupts()  # the scratch database is dropped, not left on the server
def restore(
    settings: Settings,
    env: Env,
    backup_id: str | None,
    into: str,
    *,
    confirm_live: Callable[[str], None],
    drop_after: bool = False,
    store: BackupStore | None = None,
) -> dict[str, Any]:
    """Restore a dump into `into`, then compare row counts with the dump's. Returns a report:
    {backup_id, into, live, tables: {t: {expected, restored}}, mismatched: [t],
    safety_backup_id, seconds: {...}}. Over the live database, a `backup db` of it is taken
    first (after the chosen dump passed its checks): a restore never loses today's data.
    """
    _check_db_name(into)
    target = resolve_target(settings, env)
    live = into == target.dbname
    if not live and looks_like_conninfo(into):
        raise BadInput(
            f"--into {into!r} reads as a connection string, not a database name: nothing was "
            "restored",
            "--into takes the new database's name alone (e.g. sprocket_restore_YYYYMMDD); the "
            "server and user come from SPROCKET_DB_* or layer_2's outputs",
        )
    store = store or BackupStore.from_settings(settings.backup)
    record = data.choose(store, env, KIND, backup_id)
    if live:
        confirm_live(f"restore backup {record.backup_id} over the LIVE database {into}")
    dumped_by = int(record.facts.get("pg_dump_major") or 0)
    check_versions(dumped_by, tool_major(settings, "pg_restore"), "pg_restore")
    seconds: dict[str, float] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sprocket-restore-") as folder:
        dump = Path(folder) / f"{record.backup_id}.dump"
        digest, _size = store.download_to(record.key, dump)
        if digest != record.sha256:
            raise BackupCorrupt(
                f"db backup {record.backup_id} fails its SHA-256 check (expected "
                f"{record.sha256[:16]}..., got {digest[:16]}...): nothing was restored",
                "it was altered or damaged in storage: restore another one "
                f"({driver_command(env, 'backup', 'list', 'db')})",
            )
        _readable(settings, env, dump, record.backup_id)
        seconds["download"] = round(time.monotonic() - started, 2)
        safety = None
        if live:  # what the live database holds now, kept first: the restore replaces it
            safety = take(settings, env, f"before restoring {record.backup_id}", store=store)
            seconds["safety_backup"] = round(time.monotonic() - started - seconds["download"], 2)
        with pg_env(settings, target) as env_vars:
            if not live:
                _create_scratch(target, into)
            try:
                _pg_restore(settings, target, into, dump, env_vars, live=live)
            except BaseException:  # a failure, or Ctrl-C: no half-restored copy stays behind
                if not live:
                    drop_database(target, into)
                raise
    seconds["restore"] = round(
        time.monotonic() - started - seconds["download"] - seconds.get("safety_backup", 0), 2
    )
    with connect(target, into) as conn:
        restored = table_counts(conn)
    expected: dict[str, int] = record.facts.get("tables") or {}
    tables = {
        name: {"expected": expected.get(name), "restored": restored.get(name)}
        for name in sorted(set(expected) | set(restored))
    }
    mismatched = [name for name, row in tables.items() if row["expected"] != row["restored"]]
    dropped = drop_after and not live and not mismatched  # a mismatch is kept for inspection
    if dropped:
        drop_database(target, into)
    seconds["total"] = round(time.monotonic() - started, 2)
    return {
        "backup_id": record.backup_id,
        "backup_created": record.created,
        "into": into,
        "live": live,
        "dropped": dropped,
        "tables": tables,
        "total_rows": sum(restored.values()),
        "mismatched": mismatched,
        # The live data from before the restore, as a verified backup (None for a scratch one).
        "safety_backup_id": safety.backup_id if safety is not None else None,
        "seconds": seconds,
    }


_MAX_NAME_BYTES = 63  # Postgres' NAMEDATALEN - 1: a longer name is cut short without error


def _check_db_name(name: str) -> None:
    if not name or len(name.encode()) > _MAX_NAME_BYTES:
        raise BadInput(
            f"--into {name!r}: a database name is 1 to {_MAX_NAME_BYTES} bytes "
            "(Postgres would cut a longer one short)",
            "pass another name, e.g. sprocket_restore_YYYYMMDD",
        )


def _readable(settings: Settings, env: Env, dump: Path, backup_id: str) -> None:
    done = subprocess.run(
        [tool(settings, "pg_restore"), "--list", str(dump)], capture_output=True, check=False
    )
    if done.returncode != 0:
        raise BackupCorrupt(
            f"db backup {backup_id} is not a dump pg_restore can read "
            f"({_last_line(done.stderr)}): nothing was restored",
            f"restore another backup ({driver_command(env, 'backup', 'list', 'db')})",
        )


def _create_scratch(target: DbTarget, name: str) -> None:
    from psycopg import errors, sql

    with connect(target, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            raise BadInput(
                f"database {name} exists already: a restore goes into a new scratch database",
                "name another with --into (or --into the live database, to replace it)",
            )
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except errors.InsufficientPrivilege:  # a managed cluster's app user often lacks it
            raise BadInput(
                f"database user {target.user} may not create databases (no CREATEDB): "
                f"nothing was restored",
                f"grant it (ALTER ROLE {target.user} CREATEDB), or set SPROCKET_DB_USER/"
                "_PASSWORD to a user that has it (the cluster's admin user)",
            ) from None


def drop_database(target: DbTarget, name: str) -> None:
    from psycopg import sql

    if name == target.dbname:
        raise AssertionError("never drop the live database")
    with connect(target, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def _pg_restore(
    settings: Settings, target: DbTarget, into: str, dump: Path, env: dict[str, str], *, live: bool
) -> None:
    command = [tool(settings, "pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
               "--single-transaction", *(["--clean", "--if-exists"] if live else []),
               *_conn_args(target, into), str(dump)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, env=env, check=False)
    if done.returncode != 0:
        raise BackupFailed(
            f"pg_restore into {into} failed: {_last_line(done.stderr)}"
            + ("" if live else f"; the scratch database {into} was dropped"),
            "fix the cause named and run the restore again",
        )
