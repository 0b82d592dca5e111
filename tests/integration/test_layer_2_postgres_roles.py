"""layer_2's Postgres role scripts against a real Postgres 15 server (Debian's, on loopback).

- files/postgres/init-roles.sh (local): the roles exist, log in with their generated
  passwords, own only their own database, and none is a superuser.
- files/postgres/grants-managed.sh (prod): on a cluster laid out like DigitalOcean's (users and
  databases created by a non-superuser admin), Grafana and the app cannot create tables until
  the script runs (Postgres 15 public schema), and can afterwards.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from pg_fixture import PgServer, pg

pytestmark = pytest.mark.integration
__all__ = ["pg"]  # the fixture, imported so pytest finds it here

FILES = Path(__file__).resolve().parents[2] / "layer_2" / "files" / "postgres"
PASSWORDS = {
    "grafana": "grafana-pw-canary",
    "telegraf": "telegraf-pw-canary",
    "app": "app-pw-canary",
}


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
