"""backup db / restore db on a real PostgreSQL 15, backup vault / restore vault on a real Vault
server (file storage, `operator init`, real key shares), both into the loopback S3 endpoint.

Stand-ins, named as such: a `pg_dump` script that reports major 14 (the machine has only
PostgreSQL 15, so "server newer than client" needs a client that says it is older), and a TCP
proxy that cuts the connection to the S3 endpoint midway through an upload.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pg_fixture import PgServer, pg  # noqa: F401 - the fixture
from vault_fixture import THRESHOLD, VaultServer, vault_server  # noqa: F401 - the fixture

from automation.exit_codes import ExitCode

pytestmark = pytest.mark.integration

APP_PASSWORD = "app-pw-7f3e-never-printed"
APP_DB = "sprocket_app"
SCHEMA_SQL = """
CREATE SCHEMA billing;
CREATE TABLE public.users (id serial PRIMARY KEY, email text NOT NULL UNIQUE);
CREATE TABLE billing.invoices (id serial PRIMARY KEY, user_id int REFERENCES public.users(id),
                               cents int NOT NULL);
CREATE TABLE public.empty_table (id int);
INSERT INTO public.users (email)
    SELECT 'user' || g || '@example.test' FROM generate_series(1, 250) g;
INSERT INTO billing.invoices (user_id, cents)
    SELECT 1 + g % 250, g * 7 FROM generate_series(1, 1000) g;
"""


@pytest.fixture
def app_db(
    pg: PgServer,  # noqa: F811
    pulumi_env: Any,
    s3_endpoint: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> PgServer:
    """The application database: its own role (password over TCP, CREATEDB for scratch
    restores), a schema with data; the driver reaches it through SPROCKET_DB_*."""
    pg.value(f"CREATE ROLE app LOGIN CREATEDB PASSWORD '{APP_PASSWORD}'")
    pg.value(f"CREATE DATABASE {APP_DB} OWNER app")
    done = pg.psql(SCHEMA_SQL, user="app", db=APP_DB, password=APP_PASSWORD)
    assert done.returncode == 0, done.stderr
    for key, value in {
        "SPROCKET_DB_HOST": "127.0.0.1",
        "SPROCKET_DB_PORT": str(pg.port),
        "SPROCKET_DB_NAME": APP_DB,
        "SPROCKET_DB_USER": "app",
        "SPROCKET_DB_PASSWORD": APP_PASSWORD,
        "SPROCKET_DB_SSLMODE": "disable",
    }.items():
        monkeypatch.setenv(key, value)
    return pg


def bucket_keys(s3: Any) -> list[str]:
    listing = s3.client().list_objects_v2(Bucket=s3.bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def audit_text(pulumi_env: Any) -> str:
    """The driver's audit log (automation/guard/audit.py), beside the file backend."""
    path = pulumi_env.backend_dir / ".sprocket" / "audit.jsonl"
    return path.read_text() if path.exists() else ""


def databases(pg: PgServer) -> set[str]:  # noqa: F811
    return set(pg.value("SELECT datname FROM pg_database").split())


# --- database ---------------------------------------------------------------------------------


def test_db_backup_restores_into_scratch_with_the_same_rows(
    app_db: PgServer, pulumi_env: Any, s3_endpoint: Any, run_cli: Callable[..., Any]
) -> None:
    taken = run_cli("--json", "backup", "db", "--reason", "test")
    assert taken.exit_code == ExitCode.OK, taken.stdout + taken.stderr
    record = taken.json()["data"]
    assert record["facts"]["tables"] == {
        "billing.invoices": 1000,
        "public.empty_table": 0,
        "public.users": 250,
    }
    assert record["facts"]["server_version"].startswith("15.")
    body = s3_endpoint.client().get_object(Bucket=s3_endpoint.bucket, Key=record["key"])["Body"]
    assert body.read(5) == b"PGDMP"  # pg_dump's custom format, as pg_dump wrote it
    assert '"command": "backup db"' in audit_text(pulumi_env)
    assert APP_PASSWORD not in taken.stdout + taken.stderr + audit_text(pulumi_env)

    listed = run_cli("--json", "backup", "list", "db").json()["data"]["backups"]
    assert [b["backup_id"] for b in listed] == [record["backup_id"]] and listed[0]["verified"]
    assert run_cli("backup", "verify", "db").exit_code == ExitCode.OK
    verified_all = run_cli("--json", "backup", "verify", "all")  # state and data alike
    assert verified_all.json()["data"]["checked"] == [
        {"backup_id": record["backup_id"], "stack": "local-db", "ok": True}
    ]
    pruned = run_cli("--json", "backup", "prune", "all", "--dry-run").json()["data"]["backups"]
    assert [(b["backup_id"], b["keep"]) for b in pruned] == [(record["backup_id"], True)]

    # Data changes after the backup: the restore must give back the dump's rows, not today's.
    app_db.psql("DELETE FROM billing.invoices", user="app", db=APP_DB, password=APP_PASSWORD)
    restored = run_cli(
        "--json", "restore", "db", "--from", record["backup_id"], "--into", "scratch1"
    )
    assert restored.exit_code == ExitCode.OK, restored.stdout + restored.stderr
    report = restored.json()["data"]
    assert report["mismatched"] == [] and report["live"] is False
    assert report["tables"]["billing.invoices"] == {"expected": 1000, "restored": 1000}
    assert app_db.value("SELECT sum(cents) FROM billing.invoices", db="scratch1") == str(
        7 * 1000 * 1001 // 2
    )
    assert app_db.value("SELECT count(*) FROM billing.invoices", db=APP_DB) == "0"  # live as is

    again = run_cli("restore", "db", "--from", record["backup_id"], "--into", "scratch1")
    assert again.exit_code == ExitCode.BAD_INPUT
    assert "database scratch1 exists already" in again.stderr
    live = run_cli("restore", "db", "--from", record["backup_id"], "--into", APP_DB)
    assert live.exit_code == ExitCode.BAD_INPUT and "without confirmation" in live.stderr
    assert app_db.value("SELECT count(*) FROM billing.invoices", db=APP_DB) == "0"

    # Confirmed, the live database gets the dump back, in one transaction.
    confirmed = run_cli("--yes", "restore", "db", "--from", record["backup_id"], "--into", APP_DB)
    assert confirmed.exit_code == ExitCode.OK, confirmed.stdout + confirmed.stderr
    assert "the LIVE database sprocket_app" in confirmed.stdout
    assert app_db.value("SELECT count(*) FROM billing.invoices", db=APP_DB) == "1000"
    # What the live database held before (no invoices) was backed up first, and restores.
    listed = run_cli("--json", "backup", "list", "db").json()["data"]["backups"]
    [safety] = [b for b in listed if b["backup_id"] != record["backup_id"]]
    assert f"backup {safety['backup_id']}" in confirmed.stdout
    before = run_cli("--json", "restore", "db", "--from", safety["backup_id"], "--into", "before")
    assert before.json()["data"]["tables"]["billing.invoices"]["restored"] == 0, before.stdout


def test_db_corrupted_dump_is_refused_and_nothing_is_restored(
    app_db: PgServer, s3_endpoint: Any, run_cli: Callable[..., Any]
) -> None:
    record = run_cli("--json", "backup", "db").json()["data"]
    s3 = s3_endpoint.client()
    dump = s3.get_object(Bucket=s3_endpoint.bucket, Key=record["key"])["Body"].read()
    damaged = dump[:100] + bytes([dump[100] ^ 0xFF]) + dump[101:]
    s3.put_object(Bucket=s3_endpoint.bucket, Key=record["key"], Body=damaged)

    result = run_cli("restore", "db", "--from", record["backup_id"], "--into", "scratch2")
    assert result.exit_code == ExitCode.BACKUP_FAILED
    assert "fails its SHA-256 check" in result.stderr and "nothing was restored" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "scratch2" not in databases(app_db)
    assert run_cli("backup", "verify", "db").exit_code == ExitCode.BACKUP_FAILED

    # Damage that also rewrote the recorded hash: pg_restore is the judge, still nothing made.
    import hashlib

    garbage = b"PGDMP" + b"\x00" * 64
    s3.put_object(Bucket=s3_endpoint.bucket, Key=record["key"], Body=garbage)
    record_key = record["key"].removesuffix(".dump") + ".json"
    s3.put_object(
        Bucket=s3_endpoint.bucket,
        Key=record_key,
        Body=json.dumps({**record, "sha256": hashlib.sha256(garbage).hexdigest()}).encode(),
    )
    result = run_cli("restore", "db", "--from", record["backup_id"], "--into", "scratch2")
    assert result.exit_code == ExitCode.BACKUP_FAILED, result.stderr
    assert "not a dump pg_restore can read" in result.stderr
    assert "scratch2" not in databases(app_db)


def test_db_counts_that_differ_keep_the_scratch_database_even_with_drop_after(
    app_db: PgServer, s3_endpoint: Any, run_cli: Callable[..., Any]
) -> None:
    """The docs promise a mismatched restore is kept for inspection; --drop-after asked for a
    clean-up after a good check, not for the evidence of a bad one to vanish."""
    record = run_cli("--json", "backup", "db").json()["data"]
    s3 = s3_endpoint.client()
    record_key = record["key"].removesuffix(".dump") + ".json"
    stored = json.loads(s3.get_object(Bucket=s3_endpoint.bucket, Key=record_key)["Body"].read())
    stored["facts"]["tables"]["public.users"] = 251  # counted at dump time != what came back
    s3.put_object(Bucket=s3_endpoint.bucket, Key=record_key, Body=json.dumps(stored).encode())

    result = run_cli(
        "restore", "db", "--from", record["backup_id"], "--into", "scratch_mism", "--drop-after"
    )
    assert result.exit_code == ExitCode.BACKUP_FAILED, result.stdout + result.stderr
    assert "public.users 251 -> 250" in result.stderr and "kept" in result.stderr
    assert "dropped" not in result.stdout
    assert "scratch_mism" in databases(app_db)


def test_db_restore_as_a_user_without_createdb_is_one_line(
    app_db: PgServer, run_cli: Callable[..., Any]
) -> None:
    """The app user of a managed cluster may lack CREATEDB: a traceback before, and the drill
    died with it instead of reporting the step."""
    run_cli("backup", "db")
    app_db.value("ALTER ROLE app NOCREATEDB")
    result = run_cli("restore", "db", "--into", "scratch_nocreatedb")
    assert result.exit_code == ExitCode.BAD_INPUT, result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "CREATEDB" in result.stderr
    assert "scratch_nocreatedb" not in databases(app_db)
    drill = run_cli("drill", "--steps", "db")
    assert drill.exit_code == ExitCode.ERROR and "| db | FAILED |" in drill.stdout
    assert "Traceback" not in drill.stderr


def test_db_restore_interrupted_during_pg_restore_drops_its_scratch_database(
    app_db: PgServer, monkeypatch: pytest.MonkeyPatch, run_cli: Callable[..., Any]
) -> None:
    """Ctrl-C (a KeyboardInterrupt raised where pg_restore runs: the stand-in for the key
    press) left a half-restored scratch copy on the server; a drill killed weekly, a full copy
    of the database each time."""
    from automation.backup import postgres

    run_cli("backup", "db")

    def interrupted(*_args: Any, **_kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(postgres, "_pg_restore", interrupted)
    result = run_cli("restore", "db", "--into", "scratch_interrupted")
    assert result.exit_code == ExitCode.INTERRUPTED, result.stdout + result.stderr
    assert "scratch_interrupted" not in databases(app_db)


_TERMINATED_IN_PG_RESTORE = """
import os, signal, sys
from automation.backup import postgres

def sigterm_in_pg_restore(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)  # `systemctl stop` while pg_restore runs

postgres._pg_restore = sigterm_in_pg_restore
from automation.cli import main
main(sys.argv[1:])
"""


def test_db_restore_stopped_by_sigterm_drops_its_scratch_database(
    app_db: PgServer, run_cli: Callable[..., Any]
) -> None:
    """SIGTERM killed the driver without clean-up: the scratch copy stayed on the server (the
    drill's weekly copy included). The driver runs in a process of its own here."""
    import subprocess
    import sys

    assert run_cli("backup", "db").exit_code == ExitCode.OK
    done = subprocess.run(
        [sys.executable, "-c", _TERMINATED_IN_PG_RESTORE,
         "restore", "db", "--into", "scratch_term"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert "scratch_term" not in databases(app_db), done.stderr
    assert done.returncode == ExitCode.INTERRUPTED, done.stdout + done.stderr


def test_db_server_newer_than_stand_in_pg_dump_is_refused(
    app_db: PgServer,
    s3_endpoint: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., Any],
) -> None:
    """The real server (15) against a stand-in pg_dump that reports major 14."""
    stand_in = tmp_path / "pg14-bin"
    stand_in.mkdir()
    script = stand_in / "pg_dump"
    script.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 14.11'\n")
    script.chmod(0o755)
    monkeypatch.setenv("SPROCKET_PG_BIN_DIR", str(stand_in))

    result = run_cli("backup", "db")
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "PostgreSQL 15, newer than pg_dump 14: nothing was dumped" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert bucket_keys(s3_endpoint) == []


class CuttingProxy:
    """A loopback TCP proxy to the S3 endpoint that, after `limit` bytes went up, cuts every
    connection and stops listening: a network cut in the middle of an upload."""

    def __init__(self, target_port: int, limit: int) -> None:
        self.target_port, self.limit, self.sent = target_port, limit, 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.cut = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.cut.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, counts: bool) -> None:
        try:
            while data := src.recv(65536):
                if counts:
                    self.sent += len(data)
                    if self.sent > self.limit:
                        self.close()
                        return
                dst.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.cut.set()
        self.server.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@pytest.fixture
def cutting_proxy(s3_endpoint: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[CuttingProxy]:
    port = int(s3_endpoint.url.rsplit(":", 1)[-1])
    proxy = CuttingProxy(port, limit=10 * 1024 * 1024)  # inside the second 8 MiB part
    monkeypatch.setenv("SPROCKET_BACKUP_ENDPOINT_URL", f"http://127.0.0.1:{proxy.port}")
    yield proxy
    proxy.close()


def test_db_upload_cut_midway_leaves_no_catalog_entry(
    app_db: PgServer,
    s3_endpoint: Any,
    cutting_proxy: CuttingProxy,
    run_cli: Callable[..., Any],
) -> None:
    # ~19 MiB of random bytes: pg_dump cannot compress it under two 8 MiB parts.
    filled = app_db.psql(
        "CREATE TABLE blobs AS SELECT g AS id, decode(md5(random()::text) || md5(random()::text)"
        " || md5(random()::text) || md5(random()::text), 'hex') AS body"
        " FROM generate_series(1, 300000) g",
        user="app",
        db=APP_DB,
        password=APP_PASSWORD,
    )
    assert filled.returncode == 0, filled.stderr
    result = run_cli("backup", "db")
    assert cutting_proxy.cut.is_set(), "the proxy never cut: the dump was too small"
    assert result.exit_code == ExitCode.BACKUP_FAILED, result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    keys = bucket_keys(s3_endpoint)
    assert not [k for k in keys if k.endswith(".json")], keys
    assert not [k for k in keys if k.endswith(".dump")], keys


# --- Vault ------------------------------------------------------------------------------------


@pytest.fixture
def vault_env(
    vault_server: VaultServer,  # noqa: F811
    pulumi_env: Any,
    s3_endpoint: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> VaultServer:
    escrow = tmp_path / "escrow" / "init.json"
    escrow.parent.mkdir()
    escrow.write_text(vault_server.init_json)
    monkeypatch.setenv("SPROCKET_VAULT_STORAGE_DIR", str(vault_server.storage_dir))
    monkeypatch.setenv("SPROCKET_VAULT_ESCROW", str(escrow))
    monkeypatch.setenv("SPROCKET_VAULT_BIN", str(vault_server.binary))
    return vault_server


def test_vault_backup_destroy_restore_unseal_and_read(
    vault_env: VaultServer,
    pulumi_env: Any,
    s3_endpoint: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., Any],
) -> None:
    taken = run_cli("--json", "backup", "vault")
    assert taken.exit_code == ExitCode.OK, taken.stdout + taken.stderr
    facts = taken.json()["data"]["facts"]
    assert (facts["threshold"], facts["shares"], facts["escrow_shares"]) == (THRESHOLD, 3, 3)
    shown = taken.stdout + taken.stderr + audit_text(pulumi_env)
    assert '"command": "backup vault"' in shown
    assert not any(share in shown for share in vault_env.shares)

    # Destroy: the server and its storage are gone.
    import shutil

    vault_env.stop()
    shutil.rmtree(vault_env.storage_dir)

    keys = tmp_path / "keys.txt"
    keys.write_text("\n".join(vault_env.shares[:THRESHOLD]) + "\n")
    restored = run_cli("--json", "restore", "vault", "--into", "scratch", "--keys-file", str(keys))
    assert restored.exit_code == ExitCode.OK, restored.stdout + restored.stderr
    report = restored.json()["data"]
    assert report["sealed"] is False
    assert report["kv"] == {"path": "secret/sprocket/dr-check", "found": True, "keys": 2}
    assert report["folder"] is None  # the scratch Vault's storage is removed after the check
    assert not any(share in restored.stdout for share in vault_env.shares)

    # The same from stdin, as an operator pastes them.
    monkeypatch.setattr("sys.stdin", io.StringIO(keys.read_text()))
    from_stdin = run_cli("restore", "vault", "--from", report["backup_id"])
    assert from_stdin.exit_code == ExitCode.OK, from_stdin.stderr
    assert "unsealed, secret/sprocket/dr-check read (2 keys)" in from_stdin.stdout


def test_vault_wrong_unseal_key_is_one_line_and_stays_sealed(
    vault_env: VaultServer, s3_endpoint: Any, tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    import base64
    import os

    assert run_cli("backup", "vault").exit_code == ExitCode.OK
    wrong = [base64.b64encode(os.urandom(33)).decode() for _ in range(THRESHOLD)]
    keys = tmp_path / "wrong.txt"
    keys.write_text("\n".join(wrong))
    result = run_cli("restore", "vault", "--keys-file", str(keys))
    assert result.exit_code == ExitCode.CREDENTIALS
    assert "do not open Vault backup" in result.stderr and "stays sealed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not any(share in result.stderr for share in wrong)


_TERMINATED_AFTER_UNSEAL = """
import os, signal, sys
from pathlib import Path
from automation.backup import vault_storage

unseal = vault_storage._unseal

def unseal_then_sigterm(vault, *args):
    unseal(vault, *args)
    Path(sys.argv[1]).write_text(str(vault.process.pid))
    os.kill(os.getpid(), signal.SIGTERM)  # `systemctl stop`, at the worst moment

vault_storage._unseal = unseal_then_sigterm
from automation.cli import main
main(sys.argv[2:])
"""


def test_vault_restore_stopped_by_sigterm_leaves_no_unsealed_scratch_vault(
    vault_env: VaultServer, s3_endpoint: Any, tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    """SIGTERM (systemd stopping the job) killed the driver without its clean-up: the scratch
    Vault lived on, unsealed, on a loopback port. The driver runs in a process of its own here
    (the SIGTERM is sent from inside, right after the unseal: a stand-in for the timing)."""
    import os
    import subprocess
    import sys

    assert run_cli("backup", "vault").exit_code == ExitCode.OK
    keys = tmp_path / "keys.json"
    keys.write_text(vault_env.init_json)
    pid_file = tmp_path / "scratch.pid"
    done = subprocess.run(
        [sys.executable, "-c", _TERMINATED_AFTER_UNSEAL, str(pid_file),
         "restore", "vault", "--keys-file", str(keys)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    pid = int(pid_file.read_text())
    alive = Path(f"/proc/{pid}").exists()
    if alive:  # the test's own clean-up, whatever the outcome
        os.kill(pid, 9)
    assert not alive, f"scratch Vault {pid} outlived the driver (exit {done.returncode})"
    assert done.returncode == ExitCode.INTERRUPTED, done.stdout + done.stderr
    assert not any(share in done.stdout + done.stderr for share in vault_env.shares)


def test_vault_missing_or_short_escrow_stores_nothing(
    vault_env: VaultServer,
    s3_endpoint: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., Any],
) -> None:
    monkeypatch.setenv("SPROCKET_VAULT_ESCROW", str(tmp_path / "no-such-escrow"))
    missing = run_cli("backup", "vault")
    assert missing.exit_code == ExitCode.BACKUP_FAILED
    assert "escrow" in missing.stderr and "does not exist" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1

    short = tmp_path / "one-share.txt"
    short.write_text(vault_env.shares[0] + "\n")
    monkeypatch.setenv("SPROCKET_VAULT_ESCROW", str(short))
    result = run_cli("--json", "backup", "vault")
    assert result.exit_code == ExitCode.BACKUP_FAILED
    [error] = result.json()["errors"]
    assert "holds 1 distinct share(s), fewer than Vault's threshold 2 (of 3)" in error["message"]
    assert vault_env.shares[0] not in result.stdout
    assert bucket_keys(s3_endpoint) == []
    check = run_cli("backup", "vault", "--escrow-only")
    assert check.exit_code == ExitCode.BACKUP_FAILED
    assert check.stdout.strip() == "escrow: 1 shares present, threshold 2"


# --- the drill (its state part over stand-in layer programs) ------------------------------------


def deploy_stand_in_layers(
    pulumi_env: Any, monkeypatch: pytest.MonkeyPatch
) -> dict[str, dict[str, Any]]:
    """The three layers as stand-in programs (driver_toys), deployed on the real engine."""
    import os

    from driver_toys import program_from_spec, substitute_programs

    from automation.pulumi.workspace import select_stack
    from automation.settings import load_settings
    from sprocket_common.stack_info import Env, Layer, StackInfo

    for stale in pulumi_env.project_dir.glob("Pulumi.local-*.yaml"):
        stale.unlink()  # the checkout's stack files carry another passphrase's salt
    here = Path(__file__).resolve().parent
    monkeypatch.setenv("PYTHONPATH", f"{here}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    specs: dict[str, dict[str, Any]] = {
        "layer_1": {"toys": [{"name": "net", "value": "v1"}], "exports": {"answer": 42}},
        "layer_2": {"toys": [{"name": "cache", "value": "v1"}]},
        "platform": {"toys": [{"name": "api", "value": "v1"}]},
    }
    substitute_programs(
        monkeypatch, {layer: program_from_spec(spec) for layer, spec in specs.items()}
    )
    for layer in specs:
        select_stack(load_settings(), StackInfo(Env.LOCAL, Layer(layer))).up(color="never")
    return specs


def test_drill_over_stand_in_layers_restores_everything_into_scratch(
    app_db: PgServer,
    vault_env: VaultServer,
    pulumi_env: Any,
    s3_endpoint: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., Any],
    record_property: Callable[[str, object], None],
) -> None:
    from datetime import UTC, datetime

    from automation.health.backups import backup_finding
    from automation.health.model import Level
    from automation.settings import load_settings
    from sprocket_common.stack_info import Env

    specs = deploy_stand_in_layers(pulumi_env, monkeypatch)
    stale = backup_finding(load_settings(), Env.LOCAL, datetime.now(UTC))
    assert stale.level is Level.WARNING and stale.observed == "state none, db none, vault none"
    for args in (("backup", "all"), ("backup", "db"), ("backup", "vault")):
        taken = run_cli(*args)
        assert taken.exit_code == ExitCode.OK, taken.stdout + taken.stderr
    fresh = backup_finding(load_settings(), Env.LOCAL, datetime.now(UTC))
    assert fresh.level is Level.OK, fresh  # the health row: all three under 24 h
    live_backend = sorted(p.name for p in pulumi_env.backend_dir.rglob("*.json"))
    keys_before = bucket_keys(s3_endpoint)

    report_file = tmp_path / "drill.md"
    result = run_cli("--json", "drill", "--report", str(report_file))
    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    report = result.json()["data"]
    steps = {s["step"]: s for s in report["steps"]}
    assert list(steps) == ["state layer_1", "state layer_2", "state platform", "db", "vault"]
    assert all(s["ok"] and s["within_target"] for s in steps.values()), steps
    assert "preview: no changes" in steps["state layer_2"]["detail"]
    assert "3 tables, 1250 rows as dumped; dropped" in steps["db"]["detail"]
    record_property("drill_seconds", {name: s["seconds"] for name, s in steps.items()})

    markdown = report_file.read_text()
    assert "| db | ok |" in markdown and "< 2 h" in markdown and "Drill passed" in markdown
    assert not any(share in markdown + result.stdout for share in vault_env.shares)
    assert APP_PASSWORD not in markdown + result.stdout + audit_text(pulumi_env)
    assert '"command": "drill"' in audit_text(pulumi_env)
    # Nothing live changed: the backend, the bucket, the database.
    assert sorted(p.name for p in pulumi_env.backend_dir.rglob("*.json")) == live_backend
    assert bucket_keys(s3_endpoint) == keys_before
    assert not [d for d in databases(app_db) if d.startswith("sprocket_drill")]

    # A backup that no longer matches the code fails its preview step, named.
    specs["layer_2"]["toys"][0]["value"] = "v2"
    failed = run_cli("drill", "--steps", "state", "--layers", "layer_2")
    assert failed.exit_code == ExitCode.ERROR
    assert "local-layer_2: preview of backup" in failed.stdout + failed.stderr
    assert "shows changes: update cache" in failed.stderr


def test_vault_on_s3_storage_backs_up_and_restores_into_a_file_storage_scratch_vault(
    pulumi_env: Any,
    s3_endpoint: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., Any],
) -> None:
    """Prod's layout: Vault's storage in an S3 bucket (here the loopback S3 endpoint)."""
    from vault_fixture import running_vault_server

    bucket = f"{s3_endpoint.bucket}-vault"
    s3_endpoint.client().create_bucket(Bucket=bucket)
    stanza = (
        f'storage "s3" {{\n  bucket = "{bucket}"\n  endpoint = "{s3_endpoint.url}"\n'
        f'  region = "{s3_endpoint.region}"\n  path = "vault"\n'
        f'  access_key = "{s3_endpoint.access_key_id}"\n'
        f'  secret_key = "{s3_endpoint.secret_access_key}"\n'
        '  s3_force_path_style = "true"\n  disable_ssl = "true"\n}'
    )
    with running_vault_server(tmp_path / "vault-s3", stanza) as server:
        escrow = tmp_path / "escrow.json"
        escrow.write_text(server.init_json)
        monkeypatch.setenv("SPROCKET_VAULT_S3_BUCKET", bucket)
        monkeypatch.setenv("SPROCKET_VAULT_S3_PREFIX", "vault")
        monkeypatch.setenv("SPROCKET_VAULT_ESCROW", str(escrow))
        monkeypatch.setenv("SPROCKET_VAULT_BIN", str(server.binary))
        taken = run_cli("--json", "backup", "vault")
        assert taken.exit_code == ExitCode.OK, taken.stdout + taken.stderr
        assert taken.json()["data"]["facts"]["storage"] == "s3"
        shares = server.shares
    # The server is gone; its bucket too.
    s3 = s3_endpoint.client()
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=item["Key"])

    keys = tmp_path / "keys.txt"
    keys.write_text("\n".join(shares[:THRESHOLD]))
    restored = run_cli("--json", "restore", "vault", "--keys-file", str(keys))
    assert restored.exit_code == ExitCode.OK, restored.stdout + restored.stderr
    report = restored.json()["data"]
    assert report["sealed"] is False and report["kv"]["found"] and report["kv"]["keys"] == 2


def test_vault_s3_storage_problems_name_the_vault_settings(
    s3_endpoint: Any, monkeypatch: pytest.MonkeyPatch, run_cli: Callable[..., Any]
) -> None:
    """A wrong Vault bucket or prefix pointed at SPROCKET_BACKUP_BUCKET and
    SPROCKET_VAULT_STORAGE_DIR, settings the operator had right (or not set at all)."""
    monkeypatch.setenv("SPROCKET_VAULT_S3_BUCKET", "no-such-vault-bucket")
    missing = run_cli("backup", "vault", "--escrow-only")
    assert missing.exit_code == ExitCode.BAD_INPUT, missing.stdout + missing.stderr
    assert "SPROCKET_VAULT_S3_BUCKET" in missing.stderr
    assert "SPROCKET_BACKUP_BUCKET" not in missing.stderr

    monkeypatch.setenv("SPROCKET_VAULT_S3_BUCKET", s3_endpoint.bucket)
    monkeypatch.setenv("SPROCKET_VAULT_S3_PREFIX", "nothing-here")
    empty = run_cli("backup", "vault", "--escrow-only")
    assert empty.exit_code == ExitCode.BAD_INPUT, empty.stdout + empty.stderr
    assert f"s3://{s3_endpoint.bucket}/nothing-here" in empty.stderr
    assert "SPROCKET_VAULT_S3_PREFIX" in empty.stderr
    assert "SPROCKET_VAULT_STORAGE_DIR" not in empty.stderr
    assert bucket_keys(s3_endpoint) == []


def test_restore_from_an_unknown_id_points_at_the_list(
    s3_endpoint: Any, run_cli: Callable[..., Any]
) -> None:
    """The hint said "take one with backup db" to an operator who mistyped (or pasted a Vault
    or state backup's id): the list is where the right id is."""
    result = run_cli("restore", "db", "--from", "20261130T131358Z-097341", "--into", "x")
    assert result.exit_code == ExitCode.BAD_INPUT, result.stdout + result.stderr
    assert "no db backup with id '20261130T131358Z-097341'" in result.stderr
    assert "`python -m automation --env local backup list db`" in result.stderr
