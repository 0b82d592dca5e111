"""Issue 29: the data verbs (backup/restore db and vault, drill, notify) under the faults their
users report, through the CLI on a real PostgreSQL 15, a real Vault 1.21.3 and the loopback S3
endpoint (fixtures of test_data_backups.py, pg_fixture.py and vault_fixture.py).
"""

from __future__ import annotations

import base64
import os
import shlex
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pg_fixture import PgServer, pg  # noqa: F401 - the fixture
from test_data_backups import (  # noqa: F401 - the fixtures
    APP_DB,
    APP_PASSWORD,
    app_db,
    bucket_keys,
    databases,
    vault_env,
)
from vault_fixture import THRESHOLD, VaultServer, vault_server  # noqa: F401 - the fixture

from automation.exit_codes import ExitCode

pytestmark = pytest.mark.integration


# --- case 3: a database name that libpq would read as a connection string -------------------


@pytest.mark.parametrize(
    "into",
    ["dbname=sprocket_reports", "postgresql://app@127.0.0.1/sprocket_reports"],
    ids=["key-value", "uri"],
)
def test_restore_into_a_value_that_reads_as_a_connection_string_is_refused(
    app_db: PgServer,  # noqa: F811
    run_cli: Callable[..., Any],
    into: str,
) -> None:
    """CVE-2016-5424: `-d dbname=X` wrote the dump into the existing database X and created an
    empty database literally named `dbname=X`."""
    app_db.value("CREATE DATABASE sprocket_reports OWNER app")
    app_db.psql("CREATE TABLE kept (id int)", user="app", db="sprocket_reports",
                password=APP_PASSWORD)  # fmt: skip
    assert run_cli("backup", "db").exit_code == ExitCode.OK
    before = databases(app_db)

    result = run_cli("restore", "db", "--into", into)
    assert result.exit_code == ExitCode.BAD_INPUT, result.stdout + result.stderr
    assert f"--into {into!r} reads as a connection string" in result.stderr
    assert "nothing was restored" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2 and "Traceback" not in result.stderr
    assert databases(app_db) == before  # no database literally named after the value
    tables = app_db.value(
        "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relkind = 'r'"
        " AND relnamespace = 'public'::regnamespace",
        db="sprocket_reports",
    )
    assert tables == "kept"  # the dump went nowhere near it


def test_restore_into_a_name_with_quotes_and_spaces_is_that_database(
    app_db: PgServer,  # noqa: F811
    run_cli: Callable[..., Any],
) -> None:
    """The sibling: a name libpq does not parse but that needs quoting in our own conninfo (a
    space, a quote, a backslash) restores into exactly that database."""
    assert run_cli("backup", "db").exit_code == ExitCode.OK
    name = "scratch o'brien \\ 1"
    result = run_cli("--json", "restore", "db", "--into", name)
    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    assert result.json()["data"]["mismatched"] == []
    assert name in databases_exact(app_db)
    count = app_db.value("SELECT count(*) FROM public.users", db=name)
    assert count == "250"


def databases_exact(pg: PgServer) -> list[str]:  # noqa: F811
    return pg.value("SELECT string_agg(datname, E'\\n') FROM pg_database").splitlines()


# --- case 7: one share written twice (hex and base64) is one share --------------------------


def hex_of(share_b64: str) -> str:
    return base64.b64decode(share_b64).hex()


def test_one_share_in_hex_and_in_base64_fails_the_escrow_check(
    vault_env: VaultServer,  # noqa: F811
    s3_endpoint: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., Any],
) -> None:
    """`vault operator init` prints each share in hex and in base64; an escrow holding both
    spellings of THRESHOLD - 1 shares counted them twice, and a backup that could never be
    unsealed was stored."""
    first = vault_env.shares[0]
    escrow = tmp_path / "doubled.txt"
    escrow.write_text(f"Unseal Key 1: {first}\nUnseal Key 1 (hex): {hex_of(first)}\n")
    monkeypatch.setenv("SPROCKET_VAULT_ESCROW", str(escrow))

    result = run_cli("--json", "backup", "vault")
    assert result.exit_code == ExitCode.BACKUP_FAILED, result.stdout + result.stderr
    [error] = result.json()["errors"]
    assert (
        f"holds 1 distinct share(s) (2 entries: 1 repeat a share, e.g. the same key in hex and in "
        f"base64, and count once), fewer than Vault's threshold {THRESHOLD}"
    ) in error["message"]
    assert bucket_keys(s3_endpoint) == []
    assert first not in result.stdout + result.stderr and hex_of(first) not in result.stdout
    check = run_cli("backup", "vault", "--escrow-only")
    assert check.exit_code == ExitCode.BACKUP_FAILED
    assert check.stdout.strip() == f"escrow: 1 shares present, threshold {THRESHOLD}"

    # With the second share (hex only) the threshold is met: the hex spelling counts.
    escrow.write_text(escrow.read_text() + hex_of(vault_env.shares[1]) + "\n")
    assert run_cli("backup", "vault").exit_code == ExitCode.OK


def test_restore_given_one_share_twice_counts_it_once(
    vault_env: VaultServer,  # noqa: F811
    s3_endpoint: Any,
    tmp_path: Path,
    run_cli: Callable[..., Any],
) -> None:
    """The sibling on the restore side: --keys-file with one share in both spellings said
    "2 unseal share(s) given, Vault needs 2" (Vault ignores a share it already has)."""
    assert run_cli("backup", "vault").exit_code == ExitCode.OK
    first = vault_env.shares[0]
    keys = tmp_path / "keys.txt"
    keys.write_text(f"{first}\n{hex_of(first)}\n")
    result = run_cli("restore", "vault", "--keys-file", str(keys))
    assert result.exit_code == ExitCode.CREDENTIALS, result.stdout + result.stderr
    assert f"1 unseal share(s) given, Vault needs {THRESHOLD}: it stays sealed" in result.stderr
    assert first not in result.stderr

    keys.write_text(f"{first}\n{hex_of(vault_env.shares[1])}\n")  # two shares, mixed spellings
    assert run_cli("restore", "vault", "--keys-file", str(keys)).exit_code == ExitCode.OK


# --- case 8: the escrow folder the docs allow, for every reader ------------------------------


def test_drill_reads_an_escrow_folder_as_backup_vault_does(
    vault_env: VaultServer,  # noqa: F811
    s3_endpoint: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., Any],
) -> None:
    """docs/backups.md allows a file "or a folder of such files"; backup vault accepted the
    folder, the drill's Vault step failed every week on it ("not a readable file")."""
    folder = tmp_path / "escrow-folder"
    (folder / "holder-b").mkdir(parents=True)
    (folder / "holder-a.txt").write_text(vault_env.shares[0] + "\n")
    (folder / "holder-b" / "share.txt").write_text(hex_of(vault_env.shares[1]) + "\n")
    monkeypatch.setenv("SPROCKET_VAULT_ESCROW", str(folder))
    taken = run_cli("--json", "backup", "vault")
    assert taken.exit_code == ExitCode.OK, taken.stdout + taken.stderr
    assert taken.json()["data"]["facts"]["escrow_shares"] == THRESHOLD

    report_file = tmp_path / "drill.md"
    result = run_cli("--json", "drill", "--steps", "vault", "--report", str(report_file))
    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    [step] = result.json()["data"]["steps"]
    assert step["ok"] and "secret/sprocket/dr-check read" in step["detail"], step
    assert "| vault | ok |" in report_file.read_text()


def test_drill_with_an_escrow_that_holds_no_share_names_it(
    vault_env: VaultServer,  # noqa: F811
    s3_endpoint: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., Any],
) -> None:
    """The sibling: an empty escrow folder, and a missing escrow, fail the Vault step with the
    reason named (the drill goes on and reports it) rather than "not a readable file"."""
    assert run_cli("backup", "vault").exit_code == ExitCode.OK
    empty = tmp_path / "empty-escrow"
    empty.mkdir()
    (empty / "README").write_text("the shares are with the holders\n")
    for escrow, said in [
        (empty, f"the escrow {empty} holds none"),
        (tmp_path / "gone", f"the unseal-key escrow {tmp_path / 'gone'} does not exist"),
    ]:
        monkeypatch.setenv("SPROCKET_VAULT_ESCROW", str(escrow))
        result = run_cli("--json", "drill", "--steps", "vault")
        assert result.exit_code == ExitCode.ERROR, result.stdout + result.stderr
        [step] = result.json()["data"]["steps"]
        assert not step["ok"] and said in step["error"], step


# --- case 1: a session on the scratch copy when it is dropped -------------------------------


@pytest.fixture
def agent_on_the_copy(
    app_db: PgServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[list[Any]]:
    """A monitoring agent's session (a real psycopg connection over TCP, as the app's own
    role, as a pooler or a left-open psql would be) opened on the scratch copy just before the
    driver drops it: the stand-in is only the timing."""
    import psycopg

    from automation.backup import postgres

    sessions: list[Any] = []
    drop = postgres.drop_database

    def agent_connects_first(target: Any, name: str) -> str | None:
        sessions.append(
            psycopg.connect(host="127.0.0.1", port=app_db.port, user="app",
                            password=APP_PASSWORD, dbname=name,
                            application_name="monitoring-agent", autocommit=True)
        )  # fmt: skip
        return drop(target, name)

    monkeypatch.setattr(postgres, "drop_database", agent_connects_first)
    try:
        yield sessions
    finally:
        for session in sessions:
            session.close()


def run_printed(command: str, pg: PgServer, password: str) -> subprocess.CompletedProcess[str]:  # noqa: F811
    """A hint's command exactly as printed (the password as libpq reads it, never in argv)."""
    env = {**os.environ, "PGPASSWORD": password}
    return subprocess.run(
        shlex.split(command), env=env, capture_output=True, text=True, check=False, timeout=60
    )


def test_restore_drop_after_with_a_session_on_the_copy_names_it_and_how_to_drop_it(
    app_db: PgServer,  # noqa: F811
    agent_on_the_copy: list[Any],
    run_cli: Callable[..., Any],
) -> None:
    """alphagov/govuk-helm-charts#1334: `ObjectInUse` escaped after a good restore (a traceback,
    exit 1 "driver bug"). The restore's verdict stands; the copy is named with its command."""
    assert run_cli("backup", "db").exit_code == ExitCode.OK
    result = run_cli("restore", "db", "--into", "scratch_watched", "--drop-after")
    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    assert "3 of 3 tables have the dump's row counts" in result.stdout
    assert "Traceback" not in result.stderr and "dropped after the check" not in result.stdout
    [line] = [ln for ln in result.stdout.splitlines() if "NOT dropped" in ln]
    assert 'database "scratch_watched" is being accessed by other users' in line
    assert "1 other session" in line and "connected: app (monitoring-agent)" in line
    command = line.split("drop it with `", 1)[1].split("`")[0]
    assert command == f"dropdb --force -h 127.0.0.1 -p {app_db.port} -U app scratch_watched"
    assert "scratch_watched" in databases(app_db)

    dropped = run_printed(command, app_db, APP_PASSWORD)  # the hint, run as printed
    assert dropped.returncode == 0, dropped.stderr
    assert "scratch_watched" not in databases(app_db)


def test_drill_with_a_session_on_its_copy_finishes_and_writes_its_report(
    app_db: PgServer,  # noqa: F811
    vault_env: VaultServer,  # noqa: F811
    agent_on_the_copy: list[Any],
    tmp_path: Path,
    run_cli: Callable[..., Any],
) -> None:
    """The drill died with no table and no --report file, the full copy left on the server:
    now the db step fails naming the copy and its command, the Vault step runs, the report is
    written."""
    assert run_cli("backup", "db").exit_code == ExitCode.OK
    assert run_cli("backup", "vault").exit_code == ExitCode.OK
    report_file = tmp_path / "drill.md"
    result = run_cli("--json", "drill", "--steps", "db,vault", "--report", str(report_file))
    assert result.exit_code == ExitCode.ERROR, result.stdout + result.stderr
    steps = {s["step"]: s for s in result.json()["data"]["steps"]}
    assert steps["vault"]["ok"], steps
    assert (
        not steps["db"]["ok"]
        and "rows as dumped, but the copy was NOT dropped" in (steps["db"]["error"])
    )
    markdown = report_file.read_text()
    assert "| db | FAILED |" in markdown and "| vault | ok |" in markdown
    [copy] = [d for d in databases(app_db) if d.startswith("sprocket_drill_")]
    command = steps["db"]["error"].split("drop it with `", 1)[1].split("`")[0]
    assert command.endswith(f"-U app {copy}")
    assert run_printed(command, app_db, APP_PASSWORD).returncode == 0
    assert copy not in databases(app_db)


# --- case 5: the server's own reason for a pg_restore failure -------------------------------


def test_restore_of_a_superuser_extension_carries_the_servers_error_and_a_fitting_hint(
    app_db: PgServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., Any],
) -> None:
    """dimitri/pgextwlist#36, the DigitalOcean doadmin case: an untrusted extension created by
    a superuser in the app database; the restore said only `Command was: CREATE EXTENSION`."""
    app_db.value("CREATE EXTENSION dblink", db=APP_DB)
    assert run_cli("backup", "db").exit_code == ExitCode.OK
    result = run_cli("restore", "db", "--into", "scratch_ext")
    assert result.exit_code == ExitCode.BACKUP_FAILED, result.stdout + result.stderr
    assert 'ERROR: permission denied to create extension "dblink"' in result.stderr
    assert "HINT: Must be superuser to create this extension." in result.stderr
    assert "Command was: CREATE EXTENSION IF NOT EXISTS dblink" in result.stderr
    assert "the scratch database scratch_ext was dropped" in result.stderr
    assert "SPROCKET_DB_USER/_PASSWORD to the cluster's admin user" in result.stderr
    assert "scratch_ext" not in databases(app_db)

    # The hint works: as the admin user, the same restore succeeds.
    app_db.value("ALTER ROLE postgres PASSWORD 'admin-pw-9c1'")
    monkeypatch.setenv("SPROCKET_DB_USER", "postgres")
    monkeypatch.setenv("SPROCKET_DB_PASSWORD", "admin-pw-9c1")
    again = run_cli("restore", "db", "--into", "scratch_ext")
    assert again.exit_code == ExitCode.OK, again.stdout + again.stderr
    assert app_db.value("SELECT count(*) FROM pg_extension WHERE extname = 'dblink'",
                        db="scratch_ext") == "1"  # fmt: skip


def test_live_restore_of_a_superuser_extension_names_the_cause_and_changes_nothing(
    app_db: PgServer,  # noqa: F811
    run_cli: Callable[..., Any],
) -> None:
    """The sibling over the live database (one transaction): the same cause and hint, no
    scratch wording, and the live data as it was."""
    app_db.value("CREATE EXTENSION dblink", db=APP_DB)
    assert run_cli("backup", "db").exit_code == ExitCode.OK
    app_db.psql("DELETE FROM billing.invoices WHERE id > 10", user="app", db=APP_DB,
                password=APP_PASSWORD)  # fmt: skip
    result = run_cli("--yes", "restore", "db", "--into", APP_DB)
    assert result.exit_code == ExitCode.BACKUP_FAILED, result.stdout + result.stderr
    [error] = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert f"pg_restore into {APP_DB} failed: " in error
    assert (
        "ERROR: must be owner of extension dblink; Command was: DROP EXTENSION IF EXISTS dblink"
    ) in error
    assert "scratch" not in error
    assert "set SPROCKET_DB_USER/_PASSWORD to a user that has it" in error
    assert app_db.value("SELECT count(*) FROM billing.invoices", db=APP_DB) == "10"


# --- case 6: the restore side's version refusal in its own words ----------------------------


def test_restore_with_an_older_stand_in_pg_restore_names_the_dumps_pg_dump(
    app_db: PgServer,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., Any],
) -> None:
    """A stand-in `pg_restore` that reports 14 (the machine has only 15) against a real
    pg_dump-15 dump: the refusal said "the database server is PostgreSQL 15, newer than
    pg_restore 14: nothing was dumped"."""
    record = run_cli("--json", "backup", "db").json()["data"]
    stand_in = tmp_path / "pg14-bin"
    stand_in.mkdir()
    script = stand_in / "pg_restore"
    script.write_text("#!/bin/sh\necho 'pg_restore (PostgreSQL) 14.11'\n")
    script.chmod(0o755)
    monkeypatch.setenv("SPROCKET_PG_BIN_DIR", str(stand_in))
    before = databases(app_db)

    result = run_cli("restore", "db", "--into", "scratch_v14")
    assert result.exit_code == ExitCode.BAD_INPUT, result.stdout + result.stderr
    assert (
        f"db backup {record['backup_id']} was written by pg_dump 15, newer than this pg_restore "
        "14: it cannot read the dump; nothing was restored"
    ) in result.stderr
    assert "nothing was dumped" not in result.stderr and "database server" not in result.stderr
    assert "postgresql-client-15" in result.stderr
    assert databases(app_db) == before

    drill = run_cli("--json", "drill", "--steps", "db")  # the sibling: the drill's db step
    assert drill.exit_code == ExitCode.ERROR, drill.stdout + drill.stderr
    [step] = drill.json()["data"]["steps"]
    assert "was written by pg_dump 15, newer than this pg_restore 14" in step["error"], step
    assert databases(app_db) == before


# --- case 9: a file that vanishes while backup vault reads the storage ----------------------


def vanishing_file(
    vault_env: VaultServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    *,
    every_read: bool,
) -> Path:
    """A file in Vault's storage deleted just before the driver reads it (as Vault's file
    storage deletes an old KV version mid-copy; hashicorp/vault#7191): the stand-in is only the
    timing. `every_read`: it is written back after each read, so every read meets it."""
    target = vault_env.storage_dir / "logical" / "sprocket-test-version"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b'{"Value":"AA=="}')
    read_bytes = Path.read_bytes

    def deleted_first(self: Path) -> bytes:
        if self != target:
            return read_bytes(self)
        self.unlink()
        try:
            return read_bytes(self)
        finally:
            if every_read:
                self.write_bytes(b'{"Value":"AA=="}')

    monkeypatch.setattr(Path, "read_bytes", deleted_first)
    return target


def test_backup_vault_reads_again_when_a_file_vanishes_during_the_read(
    vault_env: VaultServer,  # noqa: F811
    s3_endpoint: Any,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., Any],
) -> None:
    """A traceback (`FileNotFoundError`, exit 1 "driver bug") in 2 of 3 runs: now the read is
    taken again, and the copy that two reads agree on is stored."""
    gone = vanishing_file(vault_env, monkeypatch, every_read=False)
    result = run_cli("--json", "backup", "vault")
    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    assert result.json()["data"]["facts"]["reads"] >= 3  # the torn read, then two that agree
    assert not gone.exists()


def test_backup_vault_whose_storage_changes_in_every_read_exits_6_naming_it(
    vault_env: VaultServer,  # noqa: F811
    s3_endpoint: Any,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., Any],
) -> None:
    vanishing_file(vault_env, monkeypatch, every_read=True)
    result = run_cli("backup", "vault")
    assert result.exit_code == ExitCode.BACKUP_FAILED, result.stdout + result.stderr
    assert (
        "changed during each of 6 reads (logical/sprocket-test-version vanished while it "
        "was read): no consistent copy; nothing was stored" in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert bucket_keys(s3_endpoint) == []


def test_backup_vault_while_vault_writes_in_a_loop_is_never_a_traceback(
    vault_env: VaultServer,  # noqa: F811
    s3_endpoint: Any,
    run_cli: Callable[..., Any],
) -> None:
    """The real thing, no stand-in: KV writes (each a new version, old ones deleted) in a loop
    through Vault's API during three backups; each is stored (0) or refused as changing (6)."""
    import threading

    import requests

    stop = threading.Event()
    headers = {"X-Vault-Token": vault_env.root_token}
    requests.post(f"{vault_env.addr}/v1/secret/config/busy", json={"max_versions": 2},
                  headers=headers, timeout=10)  # fmt: skip

    def write() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            requests.post(f"{vault_env.addr}/v1/secret/data/busy", json={"data": {"n": n}},
                          headers=headers, timeout=10)  # fmt: skip

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        codes = [run_cli("backup", "vault") for _ in range(3)]
    finally:
        stop.set()
        writer.join(timeout=15)
    for result in codes:
        assert result.exit_code in (ExitCode.OK, ExitCode.BACKUP_FAILED), result.stderr
        assert "Traceback" not in result.stderr and "driver bug" not in result.stderr
