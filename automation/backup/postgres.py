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
from automation.guard.operation import sigterm_interrupts
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


def check_dump_version(backup_id: str, dumped_by: int, restore_major: int) -> None:
    """pg_restore cannot read a dump of a newer pg_dump ("unsupported version in file
    header"): say so, in the restore's terms, before anything is created."""
    if dumped_by > restore_major:
        raise BadInput(
            f"db backup {backup_id} was written by pg_dump {dumped_by}, newer than this "
            f"pg_restore {restore_major}: it cannot read the dump; nothing was restored",
            f"install the PostgreSQL {dumped_by} client (postgresql-client-{dumped_by}) or point "
            "SPROCKET_PG_BIN_DIR at it",
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
            chunks = _stream(command, env_vars, "pg_dump", target)
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


def _stream(
    command: list[str], env: dict[str, str], name: str, target: DbTarget | None = None
) -> Iterator[bytes]:
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
            said = tool_error(errors.read())
            raise BackupFailed(
                f"{name} failed (exit {proc.returncode}): {said}; nothing was stored",
                tool_hint(said, target, "fix the cause named, then take the backup again")
                if target is not None
                else "fix the cause named, then take the backup again",
            )


_SERVER_LINE = re.compile(r"^(ERROR|FATAL|DETAIL|HINT|Command was|Query was):\s*(.*)$")
_TOOL_LINE = re.compile(r"^(?:pg_dump|pg_restore|pg_dumpall): (error|detail|hint|warning): (.*)$")
_COMMAND_CHARS = 160


def tool_error(output: bytes) -> str:
    """What pg_dump/pg_restore said, in one line: the tool's error with the server's ERROR,
    DETAIL and HINT lines and the command it ran (cut at 160 characters); else its last line."""
    parts: list[str] = []
    for raw in output.decode(errors="replace").splitlines():
        line = raw.strip()
        tool_line = _TOOL_LINE.match(line)
        if tool_line:
            kind, line = tool_line.groups()
            if kind == "warning":
                continue
        server_line = _SERVER_LINE.match(line)
        if server_line and server_line.group(1) in ("Command was", "Query was"):
            command = " ".join(server_line.group(2).split())
            if len(command) > _COMMAND_CHARS:
                command = command[:_COMMAND_CHARS] + "..."
            parts.append(f"{server_line.group(1)}: {command}")
        elif server_line or tool_line:
            parts.append(" ".join(line.split()))
    if parts:
        return "; ".join(dict.fromkeys(parts))
    return _last_line(output)


def _last_line(output: bytes) -> str:
    lines = [line for line in output.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no message"


def tool_hint(message: str, target: DbTarget, default: str) -> str:
    """A hint that fits the server's refusal: a privilege the database user lacks is fixed by
    running as a user that has it, not by trying again."""
    lowered = message.lower()
    if "must be superuser" in lowered or "permission denied to create extension" in lowered:
        return (
            f"the database user {target.user} may not create what the dump holds (an extension "
            "or object only a superuser may create): set SPROCKET_DB_USER/_PASSWORD to the "
            "cluster's admin user (e.g. doadmin on DigitalOcean), or create it in the target "
            "first as that user, then run the restore again"
        )
    if "permission denied" in lowered or "must be owner" in lowered:
        return (
            f"the database user {target.user} lacks a privilege named above: grant it, or set "
            "SPROCKET_DB_USER/_PASSWORD to a user that has it (the cluster's admin user)"
        )
    return default


# --- restore --------------------------------------------------------------------------------


@sigterm_interrupts()  # the scratch database is dropped, not left on the server
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
    {backup_id, into, live, dropped, not_dropped: {reason, command} | None, tables:
    {t: {expected, restored}}, mismatched: [t], safety_backup_id, seconds: {...}}. Over the live
    database, a `backup db` of it is taken first (after the chosen dump passed its checks): a
    restore never loses today's data.
    """
    _check_db_name(into)
    if looks_like_conninfo(into):  # first: no name of the kind is a database's, the live one's
        raise BadInput(
            f"--into {into!r} reads as a connection string, not a database name: nothing was "
            "restored",
            "--into takes the new database's name alone (e.g. sprocket_restore_YYYYMMDD); the "
            "server and user come from SPROCKET_DB_* or layer_2's outputs",
        )
    store = store or BackupStore.from_settings(settings.backup)
    record = data.choose(store, env, KIND, backup_id)
    target = resolve_target(settings, env)
    live = into == target.dbname
    if live:
        confirm_live(f"restore backup {record.backup_id} over the LIVE database {into}")
    check_dump_version(record.backup_id, int(record.facts.get("pg_dump_major") or 0),
                       tool_major(settings, "pg_restore"))  # fmt: skip
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
            except BaseException as exc:  # a failure, or Ctrl-C: no half-restored copy stays
                if live:
                    raise
                fate = _scratch_fate(target, into, drop_database(target, into))
                if isinstance(exc, DriverError):
                    exc.message += fate
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
    not_dropped = None
    dropped = drop_after and not live and not mismatched  # a mismatch is kept for inspection
    if dropped:
        why_not = drop_database(target, into)
        if why_not is not None:  # the restore's verdict stands; the copy is named, with how
            dropped = False
            not_dropped = {"reason": why_not, "command": drop_command(target, into)}
    seconds["total"] = round(time.monotonic() - started, 2)
    return {
        "backup_id": record.backup_id,
        "backup_created": record.created,
        "into": into,
        "live": live,
        "dropped": dropped,
        # --drop-after asked for it and the server refused: {reason, command}, else None.
        "not_dropped": not_dropped,
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
            f"({tool_error(done.stderr)}): nothing was restored",
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


def drop_database(target: DbTarget, name: str) -> str | None:
    """Drop the scratch database `name`. None when it is gone; else why it is not (another
    session connected to it, a lost connection), as one line: a copy left behind is reported
    by the caller with `drop_command`, never raised over the restore's own verdict."""
    import psycopg
    from psycopg import sql

    if name == target.dbname:
        raise AssertionError("never drop the live database")
    try:
        with connect(target, autocommit=True) as conn:
            try:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            except psycopg.errors.ObjectInUse as exc:
                return _in_use(conn, name, exc)
    except psycopg.Error as exc:
        return _diag_line(exc)
    except DriverError as exc:  # connect's own one line
        return exc.message
    return None


def _diag_line(exc: Any) -> str:
    diag = getattr(exc, "diag", None)
    said = [getattr(diag, "message_primary", None), getattr(diag, "message_detail", None)]
    return "; ".join(part for part in said if part) or " ".join(str(exc).split())


def _in_use(conn: Any, name: str, exc: Any) -> str:
    """The server's refusal, and who is connected (user and application name: what every
    role may see of another's session in pg_stat_activity)."""
    sessions = conn.execute(
        "SELECT usename, application_name FROM pg_stat_activity"
        " WHERE datname = %s AND pid <> pg_backend_pid() ORDER BY pid",
        (name,),
    ).fetchall()
    who = ", ".join(
        dict.fromkeys(
            f"{user or '?'} ({app})" if app else str(user or "?") for user, app in sessions
        )
    )
    return _diag_line(exc) + (f"; connected: {who}" if who else "")


def drop_command(target: DbTarget, name: str) -> str:
    """The command that drops a scratch copy left behind (`--force` ends the sessions on it)."""
    import shlex

    return shlex.join(["dropdb", "--force", "-h", target.host, "-p", str(target.port),
                       "-U", target.user, name])  # fmt: skip


def _scratch_fate(target: DbTarget, name: str, why_not: str | None) -> str:
    if why_not is None:
        return f"; the scratch database {name} was dropped"
    return (
        f"; the scratch database {name} was NOT dropped ({why_not}): drop it with "
        f"`{drop_command(target, name)}` ({DROP_NOTE})"
    )


# What `dropdb --force` needs: the right to end the sessions on the copy (PostgreSQL's rule).
DROP_NOTE = "--force ends the sessions on it; another role's session needs an admin -U"


def _pg_restore(
    settings: Settings, target: DbTarget, into: str, dump: Path, env: dict[str, str], *, live: bool
) -> None:
    command = [tool(settings, "pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
               "--single-transaction", *(["--clean", "--if-exists"] if live else []),
               *_conn_args(target, into), str(dump)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, env=env, check=False)
    if done.returncode != 0:
        said = tool_error(done.stderr)
        raise BackupFailed(
            f"pg_restore into {into} failed: {said}",
            tool_hint(said, target, "fix the cause named and run the restore again"),
        )
