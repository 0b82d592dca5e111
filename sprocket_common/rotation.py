"""Stack config written by `rotate` and read by the layer programs (one place for the keys).

A rotated database login lives in the stack's config, not in `random.RandomPassword` state:
`rotation:db_<user>_login` (plain: which of the user's two login roles is current, `<user>` or
`<user>_b`) and `rotation:db_<user>_password` (secret). Unset: the program keeps its generated
or managed password and the user's own role.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pulumi

NAMESPACE = "rotation"
SECOND_LOGIN_SUFFIX = "_b"


def db_login_key(user: str) -> str:
    return f"db_{user}_login"


def db_password_key(user: str) -> str:
    return f"db_{user}_password"


def rotated_users(config_keys: Iterable[str]) -> list[str]:
    """The users whose rotated password a stack's config (`namespace:key` names) holds."""
    prefix, suffix = f"{NAMESPACE}:db_", "_password"  # db_password_key's shape
    return sorted(
        key[len(prefix) : -len(suffix)]
        for key in config_keys
        if key.startswith(prefix) and key.endswith(suffix) and len(key) > len(prefix + suffix)
    )


def other_login(user: str, current: str) -> str:
    """The login role a rotation moves to: the one of the pair not in use."""
    second = f"{user}{SECOND_LOGIN_SUFFIX}"
    return second if current == user else user


def db_credentials(user: str) -> tuple[str, pulumi.Output[str]] | None:
    """(login role, secret password) of a rotated user, or None if never rotated here."""
    import pulumi

    config = pulumi.Config(NAMESPACE)
    password = config.get_secret(db_password_key(user))
    if password is None:
        return None
    return config.get(db_login_key(user)) or user, password
