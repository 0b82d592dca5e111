"""`rotate db-password`: a database user's password, moved between the user's two logins.

The value lives in layer_2's stack config (`rotation:db_<user>_login` and the secret
`rotation:db_<user>_password`, sprocket_common/rotation.py); before the first rotation it is
the stack's initial one, read from layer_2's outputs (`app_db_user`, `app_db_password`).
Consumers: layer_2's services and the platform apps that mount `db-password` or a secret built
from it. See automation/rotate/postgres.py for why two logins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from automation.context import Context
from automation.errors import BadInput
from automation.rotate import postgres
from automation.rotate.run import Current
from sprocket_common import rotation
from sprocket_common.stack_info import Layer

# The platform catalog's mount of the app password (catalog.UPSTREAM_SECRETS). The local
# server's own `pg-app-password` is not a consumer: it only seeds the role at init.
APP_PASSWORD_MOUNTS = ("db-password",)
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass
class DbPassword:
    target: str  # the database user (the group role both logins belong to)
    dbname: str | None = None  # where the login check connects; None: libpq's default
    kind: str = "db-password"
    store_layer: Layer = Layer.LAYER_2
    roll_layers: tuple[Layer, ...] = (Layer.LAYER_2, Layer.PLATFORM)
    mounts: tuple[str, ...] = field(default_factory=lambda: mounts_of_app_password())

    def __post_init__(self) -> None:
        # It names the journal file and the config key: a plain role name, as layer_2's users.
        if not _ROLE_NAME.fullmatch(self.target):
            raise BadInput(
                f"--user {self.target!r} is not a database role name",
                "lower-case letters, digits and _, at most 63, e.g. --user app",
            )

    def current(self, ctx: Context) -> Current:
        from automation.rotate import stacks

        stack = stacks.existing(ctx, ctx.stack(self.store_layer))
        if stack is None:
            raise BadInput(f"no {self.store_layer.value} stack here", "deploy it first")
        config, outputs = stack.get_all_config(), stack.outputs()
        wired = wired_user(config, outputs)
        if wired != self.target:
            raise BadInput(
                f"--user {self.target}: layer_2 wires only the app user's consumers for rotation",
                f"use --user {wired}" if wired else "deploy layer_2 first",
            )
        key = f"{rotation.NAMESPACE}:{rotation.db_password_key(self.target)}"
        if key in config:
            login = config.get(f"{rotation.NAMESPACE}:{rotation.db_login_key(self.target)}")
            return Current(login.value if login else self.target, config[key].value, True)
        return Current(self.target, str(outputs["app_db_password"].value), False)

    def check(self, ctx: Context) -> None:
        """Only the user layer_2 wires for rotation (current() says so); nothing to check
        before layer_2 is deployed."""
        from automation.rotate import stacks

        if stacks.existing(ctx, ctx.stack(self.store_layer)) is not None:
            self.current(ctx)

    def works(self, ref: str, value: str) -> bool:
        return postgres.can_log_in(ref, value, self.dbname)

    def next_ref(self, current: Current) -> str:
        return rotation.other_login(self.target, current.ref)

    def prepare(self, current: Current, value: str) -> tuple[str, str]:
        login = self.next_ref(current)
        postgres.set_password(self.target, login, value)
        return login, value

    def store(self, stack: Any, ref: str, value: str) -> None:
        from pulumi.automation import ConfigValue

        stack.set_all_config(
            {
                f"{rotation.NAMESPACE}:{rotation.db_login_key(self.target)}": ConfigValue(ref),
                f"{rotation.NAMESPACE}:{rotation.db_password_key(self.target)}": ConfigValue(
                    value, secret=True
                ),
            }
        )

    def restore(self, stack: Any, current: Current) -> None:
        if current.from_config:
            self.store(stack, current.ref, current.value)
            return
        stack.remove_all_config(
            [
                f"{rotation.NAMESPACE}:{rotation.db_login_key(self.target)}",
                f"{rotation.NAMESPACE}:{rotation.db_password_key(self.target)}",
            ]
        )

    def retire(self, ref: str) -> None:
        postgres.retire_password(ref)


def wired_user(config: dict[str, Any], outputs: dict[str, Any]) -> str | None:
    """The user layer_2 wires for rotation: the one whose rotated password its config holds
    (from then on its `app_db_user` output is the current login, maybe `<user>_b`), else that
    output; None before layer_2 is deployed."""
    users = rotation.rotated_users(config)
    if users:
        return users[0]
    output = outputs.get("app_db_user")
    return str(output.value) if output is not None else None


def app_user(ctx: Context) -> str:
    """layer_2's app user (wired_user) once deployed, else the layer's default."""
    from automation.rotate import stacks
    from sprocket_common.stack_info import layer_package

    stack = stacks.existing(ctx, ctx.stack(Layer.LAYER_2))
    wired = wired_user(stack.get_all_config(), stack.outputs()) if stack is not None else None
    if wired:
        return wired
    layer_package(Layer.LAYER_2)
    from layer_2.settings import Layer2Settings

    return str(Layer2Settings.model_fields["app_db_user"].default)


def mounts_of_app_password() -> tuple[str, ...]:
    """The app password's mounts, plus the catalog's template secrets built from it."""
    from sprocket_common.stack_info import layer_package

    layer_package(Layer.PLATFORM)
    from sprocket_platform.catalog import PLACEHOLDER, load_catalog

    built = [
        name
        for name, spec in load_catalog().secrets.items()
        if spec.template
        and any(ref.endswith(":db-password") for ref in PLACEHOLDER.findall(spec.template))
    ]
    return (*APP_PASSWORD_MOUNTS, *built)
