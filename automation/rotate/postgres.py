"""The database side of `rotate db-password`: two login roles per user, one password each.

Postgres keeps exactly one password per role, and `VALID UNTIL` only sets when that one
password expires: there is no grace window in which an old and a new password both work. So
each user gets a pair of login roles, `<user>` and `<user>_b`; `<user>_b` is a member of
`<user>` (it inherits every grant) and starts its sessions as `<user>` (`ALTER ROLE ... SET
role`), so objects it creates are owned by `<user>` as before. A rotation sets the new password
on the login not in use, moves the consumers to it, and only then takes the password off the
old login (`PASSWORD NULL`: password authentication always fails). Membership and `SET role`
need only CREATEROLE, which DigitalOcean's `doadmin` has, so the same SQL works on the managed
cluster and the local server.

The admin connection is libpq's own environment (PGHOST, PGPORT, PGUSER, PGPASSWORD or
PGPASSFILE, PGSSLMODE, PGDATABASE), as the grants job uses. Passwords are sent as SCRAM
verifiers computed here (libpq's PQencryptPasswordConn), so no server log ever holds one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from automation.errors import DatabaseError
from sprocket_common.rotation import SECOND_LOGIN_SUFFIX


def _connect(**overrides: Any) -> Any:
    import psycopg

    try:
        return psycopg.connect("", autocommit=True, connect_timeout=10, **overrides)
    except psycopg.OperationalError as exc:
        who = overrides.get("user") or "the admin user (PGUSER)"
        raise DatabaseError(
            f"cannot connect to Postgres as {who}: {_first_line(exc)}",
            "check PGHOST/PGPORT/PGUSER/PGPASSWORD (the admin connection) and the firewall",
        ) from None


def _first_line(exc: BaseException) -> str:
    # libpq's messages name host, user and reason; never the password.
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def can_log_in(login: str, password: str, dbname: str | None = None) -> bool:
    """True if `login` authenticates with `password` where the admin connection points.
    DatabaseError if the server cannot be reached at all (that is no verdict on the password)."""
    import psycopg

    extra: dict[str, Any] = {"dbname": dbname} if dbname else {}
    try:
        with psycopg.connect(
            "", user=login, password=password, connect_timeout=10, autocommit=True, **extra
        ) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        # libpq gives no SQLSTATE for a failed connection: the admin login tells a refused
        # password (it connects) from a server that is down or elsewhere (DatabaseError).
        _connect().close()
        return False
    return True


def set_password(user: str, login: str, password: str) -> None:
    """Give `login` (one of `user`'s pair) this password, creating the second login if new."""
    from psycopg import sql

    with _connect() as conn, _statements(f"set the password of {login}"):
        if login != user:
            _ensure_second_login(conn, user, login)
        verifier = conn.pgconn.encrypt_password(
            password.encode(), login.encode(), b"scram-sha-256"
        ).decode()
        conn.execute(
            sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(login), sql.Literal(verifier)
            )
        )


def retire_password(login: str) -> None:
    """Take the password off `login`: no client can log in with any password afterwards.
    A login that does not exist has nothing to retire."""
    import psycopg
    from psycopg import sql

    with _connect() as conn, _statements(f"retire the password of {login}"):
        try:
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD NULL").format(sql.Identifier(login)))
        except psycopg.errors.UndefinedObject:
            return


@contextlib.contextmanager
def _statements(what: str) -> Iterator[None]:
    """A refused statement as one line naming the step (Postgres' messages hold no values:
    only verifiers are ever sent)."""
    import psycopg

    try:
        yield
    except psycopg.Error as exc:
        raise DatabaseError(
            f"Postgres refused to {what}: {_first_line(exc)}",
            "the admin user (PGUSER) needs CREATEROLE",
        ) from None


def role_exists(name: str) -> bool:
    with _connect() as conn:
        row = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    return row is not None


def _ensure_second_login(conn: Any, user: str, login: str) -> None:
    from psycopg import sql

    assert login == f"{user}{SECOND_LOGIN_SUFFIX}", login
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (login,)).fetchone()
    if exists is None:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN INHERIT IN ROLE {}").format(
                sql.Identifier(login), sql.Identifier(user)
            )
        )
    # Sessions run as the user itself: what it creates is owned as before the rotation.
    conn.execute(
        sql.SQL("ALTER ROLE {} SET role = {}").format(sql.Identifier(login), sql.Literal(user))
    )
