"""`rotate vault-token`: the platform stack's Vault token (`sprocket:vault_token`).

Vault issues the new token: an orphan token (it must outlive the old one, so it cannot be the
old one's child) with the old one's policies, TTL and renewability, created with the operator's
own token (VAULT_ADDR, VAULT_TOKEN: it needs `auth/token/create-orphan` and
`auth/token/revoke-accessor`). Its consumer is the platform program's Vault provider, so the
roll is a deploy of the platform stack. The old token is revoked last, by accessor: tokens are
named by accessor everywhere here, never by value.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

from automation.context import Context
from automation.errors import BadInput, CredentialsError
from automation.rotate.run import Current
from sprocket_common.stack_info import Layer

CONFIG_KEY = "sprocket:vault_token"  # platform/secrets.py VAULT_TOKEN


@dataclass
class VaultToken:
    target: str = "platform"
    kind: str = "vault-token"
    store_layer: Layer = Layer.PLATFORM
    roll_layers: tuple[Layer, ...] = (Layer.PLATFORM,)
    mounts: tuple[str, ...] = ()  # no Swarm service holds it: the provider does

    def current(self, ctx: Context) -> Current:
        from automation.rotate import stacks

        stack = stacks.existing(ctx, ctx.stack(self.store_layer))
        config = stack.get_all_config() if stack is not None else {}
        if CONFIG_KEY not in config:
            raise BadInput(
                f"the {self.target} stack holds no {CONFIG_KEY}: nothing to rotate there",
                "the token comes from VAULT_TOKEN in your environment; rotate that in Vault",
            )
        token = config[CONFIG_KEY].value
        return Current(_accessor(_client(token)), token, True)

    def check(self, ctx: Context) -> None:
        """Nothing to check before current(): the target is fixed or checked when built."""

    def works(self, ref: str, value: str) -> bool:
        import hvac

        try:
            return _accessor(_client(value)) == ref
        except (hvac.exceptions.VaultError, CredentialsError):
            return False

    def next_ref(self, current: Current) -> str:
        return ""  # Vault names the new token's accessor when it creates it

    def prepare(self, current: Current, value: str) -> tuple[str, str]:
        old = _client(current.value).auth.token.lookup_self()["data"]
        ttl = old.get("creation_ttl") or 0
        made = _admin().auth.token.create_orphan(
            policies=[p for p in old.get("policies") or [] if p != "root"] or None,
            ttl=f"{ttl}s" if ttl else None,
            renewable=bool(old.get("renewable")),
            display_name="sprocket-rotated",
            meta={"rotated_from": current.ref},
        )["auth"]
        return made["accessor"], made["client_token"]

    def store(self, stack: Any, ref: str, value: str) -> None:
        from pulumi.automation import ConfigValue

        stack.set_config(CONFIG_KEY, ConfigValue(value, secret=True))

    def restore(self, stack: Any, current: Current) -> None:
        self.store(stack, current.ref, current.value)

    def retire(self, ref: str) -> None:
        import hvac

        # Already revoked or expired: the goal holds.
        with contextlib.suppress(hvac.exceptions.InvalidRequest):
            _admin().auth.token.revoke_accessor(ref)


def _address() -> str:
    addr = os.environ.get("VAULT_ADDR")
    if not addr:
        raise BadInput("rotate vault-token needs VAULT_ADDR", "export VAULT_ADDR=https://...")
    return addr


def _client(token: str) -> Any:
    import hvac

    return hvac.Client(url=_address(), token=token, timeout=10)


def _accessor(client: Any) -> str:
    import hvac

    try:
        return str(client.auth.token.lookup_self()["data"]["accessor"])
    except (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized):
        raise CredentialsError(
            "Vault refuses the platform stack's token (revoked or expired)",
            "set a working one: pulumi config set --secret sprocket:vault_token ...",
        ) from None


def _admin() -> Any:
    token = os.environ.get("VAULT_TOKEN")
    if not token:
        raise BadInput(
            "rotate vault-token needs your own token in VAULT_TOKEN (to create and revoke tokens)",
            "vault login, then export VAULT_TOKEN",
        )
    return _client(token)
