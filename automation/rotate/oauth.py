"""`rotate oauth --provider NAME`: an OAuth client secret (`<name>-client-secret` in the
platform catalog), which the provider issues: the operator creates the new secret in the
provider's console first (Google and Epic keep two client secrets valid side by side; a
Discord reset ends the old one at once, so there the consumers' brief failure cannot be
avoided) and pipes it in with --value-stdin.

Where the value lives follows platform/secrets.py: stack config `secrets:<name>` when the
platform's secrets source is `config` (local's default), else the Vault KV v2 secret
`<mount>/<env>/platform` (VAULT_ADDR, VAULT_TOKEN). Consumers: the platform apps that mount it.
The driver cannot check a client secret without the provider, nor revoke the old one: `works`
only checks it is set, and retiring is the operator's last step (the result says so).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from automation.context import Context
from automation.errors import BadInput
from automation.rotate.run import Current
from sprocket_common.env_defaults import env_defaults
from sprocket_common.stack_info import Env, Layer

PROVIDERS = ("discord", "google", "epic")
SECRETS_NAMESPACE = "secrets"  # platform/secrets.py


@dataclass
class OAuthSecret:
    target: str  # the provider
    env: Env = Env.LOCAL
    kind: str = "oauth"
    store_layer: Layer = Layer.PLATFORM
    roll_layers: tuple[Layer, ...] = (Layer.PLATFORM,)
    source: str = "config"  # set by current(): "config" or "vault"

    def __post_init__(self) -> None:
        if self.target not in PROVIDERS:
            raise BadInput(
                f"--provider {self.target!r} is not an OAuth provider of the catalog",
                f"one of {', '.join(PROVIDERS)}",
            )

    @property
    def secret(self) -> str:
        return f"{self.target}-client-secret"

    @property
    def mounts(self) -> tuple[str, ...]:
        return (self.secret,)

    def current(self, ctx: Context) -> Current:
        from automation.rotate import stacks

        self.env = ctx.env
        stack = stacks.existing(ctx, ctx.stack(self.store_layer))
        config = stack.get_all_config() if stack is not None else {}
        chosen = config.get("sprocket:secrets_source")
        self.source = chosen.value if chosen else env_defaults(ctx.env).secrets_source
        value = self._read(config)
        if not value:
            raise BadInput(
                f"{self.secret} is not set for the platform ({self.source}): nothing to rotate",
                "set it first (scripts/bootstrap_secrets.py), then deploy",
            )
        return Current(self.secret, value, True)

    def _read(self, config: dict[str, Any]) -> str:
        if self.source == "config":
            item = config.get(f"{SECRETS_NAMESPACE}:{self.secret}")
            return str(item.value) if item else ""
        data = _kv(self.env).read_secret_version(
            path=_path(self.env), raise_on_deleted_version=True
        )
        return str(data["data"]["data"].get(self.secret) or "")

    def check(self, ctx: Context) -> None:
        """Nothing to check before current(): the target is fixed or checked when built."""

    def works(self, ref: str, value: str) -> bool:
        return bool(value)  # only the provider can tell; it is checked by the consumers' health

    def next_ref(self, current: Current) -> str:
        return self.secret

    def prepare(self, current: Current, value: str) -> tuple[str, str]:
        if value == current.value:
            raise BadInput(f"the new {self.secret} is the current one", "paste the new secret")
        return self.secret, value

    def store(self, stack: Any, ref: str, value: str) -> None:
        if self.source == "config":
            from pulumi.automation import ConfigValue

            stack.set_config(f"{SECRETS_NAMESPACE}:{self.secret}", ConfigValue(value, secret=True))
            return
        _kv(self.env).patch(path=_path(self.env), secret={self.secret: value})

    def restore(self, stack: Any, current: Current) -> None:
        self.store(stack, current.ref, current.value)

    def retire(self, ref: str) -> None:
        """Nothing the driver can do: the old secret is disabled in the provider's console."""


def _path(env: Env) -> str:
    return f"{env.value}/platform"


def _kv(env: Env) -> Any:
    import hvac

    addr, token = os.environ.get("VAULT_ADDR"), os.environ.get("VAULT_TOKEN")
    if not addr or not token:
        raise BadInput(
            f"the {env.value} platform's secrets are in Vault: VAULT_ADDR and VAULT_TOKEN needed",
            "vault login, then export both",
        )
    return hvac.Client(url=addr, token=token, timeout=10).secrets.kv.v2
