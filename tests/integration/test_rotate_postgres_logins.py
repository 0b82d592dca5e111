"""The second-login mechanism of `rotate db-password` on a real PostgreSQL 15 (`pg`).

Both logins work side by side (the consumers' window), the second acts as the user (grants,
ownership), the old one is refused once retired, and no password reaches the server's log even
with every statement logged: only SCRAM verifiers are sent.
"""

from __future__ import annotations

import uuid

import pytest
from pg_fixture import PgServer
from pg_fixture import pg as pg

from automation.rotate import postgres

pytestmark = pytest.mark.integration


def test_second_login_works_beside_the_first_then_the_first_is_retired(
    pg: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new, admin = (f"{w}{uuid.uuid4().hex}" for w in ("old", "new", "admin"))
    pg.value("ALTER SYSTEM SET log_statement = 'all'")
    pg.value("SELECT pg_reload_conf()")
    pg.value(f"ALTER ROLE postgres PASSWORD '{admin}'")
    pg.value(f"CREATE ROLE app LOGIN PASSWORD '{old}'")
    pg.value("CREATE DATABASE app OWNER app")
    pg.value("SET ROLE app; CREATE TABLE kept (n int)", db="app")
    for key, value in {
        "PGHOST": "127.0.0.1", "PGPORT": str(pg.port), "PGUSER": "postgres",
        "PGPASSWORD": admin, "PGDATABASE": "app",
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)

    postgres.set_password("app", "app_b", new)
    assert postgres.can_log_in("app", old) and postgres.can_log_in("app_b", new)
    assert not postgres.can_log_in("app_b", old)
    # The second login is the user: reads its tables, creates objects the user owns.
    as_b = pg.psql("INSERT INTO kept VALUES (1); CREATE TABLE made (n int)", user="app_b",
                   db="app", password=new)  # fmt: skip
    assert as_b.returncode == 0, as_b.stderr
    assert pg.value("SELECT tableowner FROM pg_tables WHERE tablename = 'made'", db="app") == "app"
    stored = pg.value("SELECT rolpassword FROM pg_authid WHERE rolname = 'app_b'")
    assert stored.startswith("SCRAM-SHA-256$")

    postgres.retire_password("app")
    assert not postgres.can_log_in("app", old) and postgres.can_log_in("app_b", new)
    postgres.set_password("app", "app", new + "x")  # and back to the first login
    assert postgres.can_log_in("app", new + "x")
    log = (pg.root / "log").read_text()
    assert "ALTER ROLE" in log, "statement logging was not on: the check below proves nothing"
    assert new not in log and old not in log.replace(f"PASSWORD '{old}'", "")
