"""A real PostgreSQL 15 server (Debian's postgresql-15, installed by scripts/ensure-docker.sh
--test-deps) on a loopback port, for the tests that touch a database.

Use it from a test module with `from pg_fixture import PgServer, pg` (tests/integration has no
__init__.py, so pytest puts it on sys.path). Each test gets its own cluster, removed afterwards:
`initdb` with trust on the private socket and scram-sha-256 over TCP, as a Swarm client connects.
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

PG_BIN = Path("/usr/lib/postgresql/15/bin")


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

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def env(self, **extra: str) -> dict[str, str]:
        """libpq's variables for the superuser `postgres` over the private socket."""
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

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "stop")


def as_postgres(*cmd: str) -> None:
    """Postgres refuses to run as root: its server commands run as the `postgres` user."""
    subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True)


@pytest.fixture
def pg() -> Iterator[PgServer]:
    if not (PG_BIN / "initdb").exists():
        pytest.fail("Postgres 15 server binaries missing: run scripts/ensure-docker.sh --test-deps")
    # pytest's tmp dirs are root-only: a dir of its own, owned by postgres.
    root = Path(tempfile.mkdtemp(prefix="sprockettest-pg-"))
    (root / "sock").mkdir()
    for path in (root, root / "sock"):
        shutil.chown(path, "postgres")
    server = PgServer(root, _free_port())
    try:
        as_postgres(
            str(PG_BIN / "initdb"),
            "-D",
            str(server.data_dir),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        )
        as_postgres(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(server.data_dir),
            "-w",
            "-l",
            str(root / "log"),
            "-o",
            f"-p {server.port} -k {server.socket_dir} -c listen_addresses=127.0.0.1",
            "start",
        )
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
