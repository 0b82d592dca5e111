"""Issue 29: the data verbs (backup/restore db and vault, drill, notify) under the faults their
users report, through the CLI on a real PostgreSQL 15, a real Vault 1.21.3 and the loopback S3
endpoint (fixtures of test_data_backups.py, pg_fixture.py and vault_fixture.py).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pg_fixture import PgServer, pg  # noqa: F401 - the fixture
from test_data_backups import (  # noqa: F401 - the fixtures
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
