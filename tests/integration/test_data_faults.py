"""Issue 29: the data verbs (backup/restore db and vault, drill, notify) under the faults their
users report, through the CLI on a real PostgreSQL 15, a real Vault 1.21.3 and the loopback S3
endpoint (fixtures of test_data_backups.py, pg_fixture.py and vault_fixture.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pg_fixture import PgServer, pg  # noqa: F401 - the fixture
from test_data_backups import APP_DB, APP_PASSWORD, app_db, databases  # noqa: F401 - fixture

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
