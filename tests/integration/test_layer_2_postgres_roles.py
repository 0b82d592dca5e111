"""layer_2's Postgres role scripts against a real Postgres 15 server (Debian's, on loopback).

- files/postgres/init-roles.sh (local): the roles exist, log in with their generated
  passwords, own only their own database, and none is a superuser.
- files/postgres/grants-managed.sh (prod): on a cluster laid out like DigitalOcean's (users and
  databases created by a non-superuser admin), Grafana and the app cannot create tables until
  the script runs (Postgres 15 public schema), and can afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

FILES = Path(__file__).resolve().parents[2] / "layer_2" / "files" / "postgres"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PASSWORDS = {
    "grafana": "grafana-pw-canary",
    "telegraf": "telegraf-pw-canary",
    "app": "app-pw-canary",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    root: Path
    port: int

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "PGHOST": str(self.socket_dir), "PGPORT": str(self.port), **extra}

    def psql(
        self, sql: str, *, user: str = "postgres", db: str = "postgres", password: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run SQL; with a password it goes over TCP with scram auth, like a Swarm client."""
        env = self.env()
        if password is not None:
            env.update(PGHOST="127.0.0.1", PGPASSWORD=password)
        return subprocess.run(
            ["psql", "-v", "ON_ERROR_STOP=1", "-XAtq", "-U", user, "-d", db, "-c", sql],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    def value(self, sql: str, **kwargs: str) -> str:
        result = self.psql(sql, **kwargs)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()


def _as_postgres(*cmd: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True)


@pytest.fixture
def pg() -> Iterator[PgServer]:
    if not (PG_BIN / "initdb").exists():
        pytest.fail("Postgres 15 server binaries missing: apt-get install postgresql-15")
    # Postgres refuses to run as root, and pytest's tmp dirs are root-only: a dir of its own.
    root = Path(tempfile.mkdtemp(prefix="sprockettest-pg-"))
    (root / "sock").mkdir()
    for path in (root, root / "sock"):
        shutil.chown(path, "postgres")
    server = PgServer(root, _free_port())
    data = str(root / "data")
    try:
        _as_postgres(
            str(PG_BIN / "initdb"),
            "-D",
            data,
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        )
        _as_postgres(
            str(PG_BIN / "pg_ctl"),
            "-D",
            data,
            "-w",
            "-l",
            str(root / "log"),
            "-o",
            f"-p {server.port} -k {server.socket_dir} -c listen_addresses=127.0.0.1",
            "start",
        )
        yield server
    finally:
        if (root / "data" / "postmaster.pid").exists():
            _as_postgres(str(PG_BIN / "pg_ctl"), "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _secrets(tmp_path: Path, files: dict[str, str]) -> Path:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name, value in files.items():
        (secrets / name).write_text(value)
    return secrets


def test_local_init_creates_the_roles_prod_has_with_their_own_databases(
    pg: PgServer, tmp_path: Path
) -> None:
    secrets = _secrets(
        tmp_path,
        {
            "pg_grafana_password": PASSWORDS["grafana"],
            "pg_telegraf_password": PASSWORDS["telegraf"],
            "pg_app_password": PASSWORDS["app"],
        },
    )
    result = subprocess.run(
        ["sh", str(FILES / "init-roles.sh")],
        env=pg.env(
            POSTGRES_USER="postgres",
            SPROCKET_APP_DB_USER="sprocket_app",
            SPROCKET_APP_DB="sprocket_main",
            SECRETS_DIR=str(secrets),
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert PASSWORDS["app"] not in result.stdout + result.stderr

    roles = pg.value(
        "SELECT string_agg(rolname || ':' || rolsuper, ',' ORDER BY rolname) "
        "FROM pg_roles WHERE rolname IN ('grafana','telegraf','sprocket_app')"
    )
    assert roles == "grafana:false,sprocket_app:false,telegraf:false"
    assert pg.value("SELECT pg_has_role('telegraf', 'pg_monitor', 'member')") == "t"
    # Each logs in over TCP with its generated password and can build its own schema.
    pg.value(
        "CREATE TABLE dashboards (id int)",
        user="grafana",
        db="grafana",
        password=PASSWORDS["grafana"],
    )
    pg.value(
        "CREATE TABLE matches (id int)",
        user="sprocket_app",
        db="sprocket_main",
        password=PASSWORDS["app"],
    )
    assert pg.value(
        "SELECT count(*) FROM pg_stat_database",
        user="telegraf",
        db="sprocket_main",
        password=PASSWORDS["telegraf"],
    )
    # ... and nothing else: the app cannot reach Grafana's database, a wrong password fails.
    denied = pg.psql("SELECT 1", user="sprocket_app", db="grafana", password=PASSWORDS["app"])
    assert denied.returncode != 0 and "permission denied" in denied.stderr
    wrong = pg.psql("SELECT 1", user="grafana", db="grafana", password="not-the-password")
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr


def test_managed_grants_let_grafana_and_the_app_create_their_tables(
    pg: PgServer, tmp_path: Path
) -> None:
    # A cluster laid out like DigitalOcean's: a non-superuser admin created the users and the
    # databases (so it owns them), and granted nothing.
    pg.value("CREATE ROLE doadmin LOGIN CREATEDB CREATEROLE PASSWORD 'admin-pw-canary'")
    pg.value("GRANT pg_monitor TO doadmin WITH ADMIN OPTION")
    for role, pw in (("grafana", "grafana"), ("telegraf", "telegraf"), ("sprocket_app", "app")):
        pg.value(
            f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORDS[pw]}'",
            user="doadmin",
            password="admin-pw-canary",
        )
    for db in ("grafana", "sprocket_main"):
        pg.value(f"CREATE DATABASE {db}", user="doadmin", password="admin-pw-canary")
    before = pg.psql(
        "CREATE TABLE dashboards (id int)",
        user="grafana",
        db="grafana",
        password=PASSWORDS["grafana"],
    )
    assert before.returncode != 0 and "permission denied for schema public" in before.stderr

    # prod's secret is `export PGHOST=... PGSSLMODE=require`; this server has no TLS.
    secrets = _secrets(
        tmp_path,
        {
            "pg_admin_env": (
                f"export PGHOST='127.0.0.1' PGPORT='{pg.port}' PGUSER='doadmin' "
                "PGPASSWORD='admin-pw-canary'\n"
            )
        },
    )
    result = subprocess.run(
        ["sh", str(FILES / "grants-managed.sh")],
        env={
            **os.environ,
            "SECRETS_DIR": str(secrets),
            "SPROCKET_APP_DB": "sprocket_main",
            "SPROCKET_APP_DB_USER": "sprocket_app",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "admin-pw-canary" not in result.stdout + result.stderr

    pg.value(
        "CREATE TABLE dashboards (id int)",
        user="grafana",
        db="grafana",
        password=PASSWORDS["grafana"],
    )
    pg.value(
        "CREATE TABLE matches (id int)",
        user="sprocket_app",
        db="sprocket_main",
        password=PASSWORDS["app"],
    )
    assert pg.value("SELECT pg_has_role('telegraf', 'pg_monitor', 'member')") == "t"
    # Re-running (every deploy that changes the job) is harmless.
    again = subprocess.run(
        ["sh", str(FILES / "grants-managed.sh")],
        env=result.args
        and {
            **os.environ,
            "SECRETS_DIR": str(secrets),
            "SPROCKET_APP_DB": "sprocket_main",
            "SPROCKET_APP_DB_USER": "sprocket_app",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 0, again.stderr
