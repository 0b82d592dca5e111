"""The value of every secret an enabled app mounts, as a Pulumi secret Output.

Sources (the catalog's `secrets` say which kind each is):
- upstream: layer_2's datastore credentials (redis, rabbitmq, postgres app user, influx);
- generated: `random.RandomPassword` kept (encrypted) in state;
- external: Vault KV v2 in prod and staging: one secret `<vault_mount>/<env>/platform` whose keys
  are the secret names (`sprocket:secrets_source=config` switches to stack config); stack config
  `secrets:<name>` in local, where an unset one is generated so a fresh machine needs nothing
  (the apps that need a real token, like the Discord bot, then fail to log in, and say so);
- template: text built from the others, e.g. a broker URL with its password.

Values only ever flow into `docker.Secret` data; nothing here logs or exports them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import pulumi
import pulumi_random as random
from pydantic import BaseModel, ConfigDict

from sprocket_common.env_config import ConfigError
from sprocket_common.env_defaults import env_defaults
from sprocket_common.outputs import Layer1Outputs, Layer2Outputs
from sprocket_common.stack_info import Env

from .catalog import PLACEHOLDER, SECRET_KINDS, UPSTREAM_SECRETS, AppEntry, Catalog, app_secrets
from .render import Environment, fill

VAULT_TOKEN = "vault_token"  # noqa: S105 - the key of sprocket:vault_token, not a value
SECRETS_NAMESPACE = "secrets"  # `pulumi config set --secret secrets:<name> <value>` (local)


class SecretSettings(BaseModel):
    """`sprocket:secrets_source` (default: config in local, vault elsewhere), `vault_mount`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    secrets_source: Literal["config", "vault"] | None = None
    # Vault's conventional KV v2 mount; scripts/bootstrap_secrets.py writes there by default.
    vault_mount: str = "secret"

    def source(self, env: Env) -> Literal["config", "vault"]:
        if self.secrets_source:
            return self.secrets_source
        return env_defaults(env).secrets_source


def needed_secrets(catalog: Catalog, apps: Mapping[str, AppEntry]) -> list[str]:
    """Secrets the enabled apps mount, plus those their templates are built from."""
    needed: dict[str, None] = {}
    for app in apps.values():
        for name in app_secrets(app):
            spec = catalog.secrets.get(name)
            if spec is not None and spec.template:
                for ref in PLACEHOLDER.findall(spec.template):
                    kind, _, arg = ref.partition(":")
                    if kind in SECRET_KINDS:
                        needed[arg] = None
            needed[name] = None
    return list(needed)


class SecretValues:
    """Builds each needed secret once; templates wait for `environment` (plain values)."""

    def __init__(
        self,
        catalog: Catalog,
        env: Env,
        settings: SecretSettings,
        layer1: Layer1Outputs,
        layer2: Layer2Outputs,
        environment: pulumi.Output[Environment],
    ) -> None:
        self.catalog, self.env, self.settings = catalog, env, settings
        self.layer1, self.layer2, self.environment = layer1, layer2, environment
        self._vault: pulumi.Output[Mapping[str, str]] | None = None

    def build(self, names: Iterable[str]) -> dict[str, pulumi.Output[str]]:
        names = list(names)
        values: dict[str, pulumi.Output[str]] = {}
        plain = [n for n in names if not self._is_template(n)]
        for name in plain:
            values[name] = self._value(name)
        for name in names:
            if name not in values:
                values[name] = self._template(name, values)
        return values

    def _is_template(self, name: str) -> bool:
        spec = self.catalog.secrets.get(name)
        return spec is not None and spec.source == "template"

    def _value(self, name: str) -> pulumi.Output[str]:
        if name in UPSTREAM_SECRETS:
            out: pulumi.Output[str] = getattr(self.layer2, UPSTREAM_SECRETS[name])
            return pulumi.Output.secret(out)
        spec = self.catalog.secrets[name]
        if spec.source == "generated":
            return _random(name, spec.length)
        if self.settings.source(self.env) == "vault":
            return self._from_vault(name)
        return self._from_config(name)

    def _from_config(self, name: str) -> pulumi.Output[str]:
        given = pulumi.Config(SECRETS_NAMESPACE).get_secret(name)
        if given is not None:
            return given
        if not env_defaults(self.env).placeholder_secrets:
            raise ConfigError(
                f"{SECRETS_NAMESPACE}:{name}",
                f"required in {self.env.value} "
                f"(pulumi config set --secret {SECRETS_NAMESPACE}:{name} ...)",
            )
        return _random(f"{name}-local", 32)

    def _from_vault(self, name: str) -> pulumi.Output[str]:
        path = f"{self.settings.vault_mount}/{self.env.value}/platform"
        return self._vault_data().apply(_key_of(path, name))

    def _vault_data(self) -> pulumi.Output[Mapping[str, str]]:
        """One read of the KV v2 secret holding every external value (only if one is needed)."""
        if self._vault is None:
            import pulumi_vault as vault

            provider = vault.Provider(
                "platform-vault",
                address=self.layer1.vault_address,
                # The token comes from VAULT_TOKEN in the driver's environment, or this config.
                token=pulumi.Config("sprocket").get_secret(VAULT_TOKEN),
            )
            result = vault.kv.get_secret_v2_output(
                mount=self.settings.vault_mount,
                name=f"{self.env.value}/platform",
                opts=pulumi.InvokeOptions(provider=provider),
            )
            self._vault = pulumi.Output.secret(result.data)
        return self._vault

    def _template(self, name: str, values: Mapping[str, pulumi.Output[str]]) -> pulumi.Output[str]:
        template = self.catalog.secrets[name].template or ""
        refs = {
            ref.partition(":")[2]
            for ref in PLACEHOLDER.findall(template)
            if ref.partition(":")[0] in SECRET_KINDS
        }
        inputs: dict[str, Any] = {ref: values[ref] for ref in sorted(refs)}

        def render(args: list[Any]) -> str:
            environment, secrets = args
            return fill(template, environment, secrets)

        secrets = pulumi.Output.all(**inputs) if inputs else pulumi.Output.from_input({})
        joined = pulumi.Output.all(self.environment, secrets)
        return pulumi.Output.secret(joined.apply(render))


def _random(name: str, length: int) -> pulumi.Output[str]:
    # Letters and digits only: values go into URLs and shell-free config without escaping.
    password = random.RandomPassword(name, length=length, special=False, numeric=True)
    return pulumi.Output.secret(password.result)


def _key_of(path: str, key: str) -> Callable[[Mapping[str, str]], str]:
    def pick(data: Mapping[str, str]) -> str:
        value = (data or {}).get(key)
        if not value:
            raise ConfigError(
                f"vault {path}",
                f"has no key {key!r} (vault kv patch {path} {key}=...)",
            )
        return value

    return pick
