"""The typed output contracts between layers.

An upstream layer exports its contract with `export_contract(LAYER1_KEYS, {...})`, which fails
the program if a key is left out; a downstream layer reads it with `read_layer1(env)` /
`read_layer2(env)`, never with string keys of its own. A key absent from the upstream stack
fails with a message naming the key and the stack it should come from.

Call each `read_layerN` once per program: it registers one StackReference.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from sprocket_common.stack_info import PROJECT_NAME, Env, Layer, StackInfo

if TYPE_CHECKING:
    import pulumi

DEFAULT_ORG = "organization"  # the file and S3 backends' organization; see `sprocket:stack_org`

# Layer 1 outputs that hold credentials; exported as secrets.
LAYER1_SECRET_KEYS: tuple[str, ...] = ()

LAYER2_SECRET_KEYS: tuple[str, ...] = (
    "redis_password",
    "rabbitmq_password",
    "influx_token",
    "app_db_password",
)


class MissingOutputError(KeyError):
    """An upstream stack lacks an output of the contract."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Layer1Outputs:
    ingress_network: pulumi.Output[str]  # Swarm network name, attachable overlay
    socket_proxy_network: pulumi.Output[str]
    base_domain: pulumi.Output[str]
    tls_resolver: pulumi.Output[str]  # "" in local: Traefik's default certificate
    forward_auth_middleware: pulumi.Output[str]  # e.g. "forward-auth@docker"
    vault_address: pulumi.Output[str]  # public https URL of Vault
    spaces_endpoint: pulumi.Output[str]  # "" in local
    spaces_buckets: pulumi.Output[dict[str, str]]  # role -> bucket name; {} in local
    manager_ip: pulumi.Output[str]  # "" in local
    droplet_ips: pulumi.Output[list[str]]  # [] in local


@dataclass(frozen=True)
class Layer2Outputs:
    redis_host: pulumi.Output[str]
    redis_port: pulumi.Output[int]
    redis_password: pulumi.Output[str]
    rabbitmq_host: pulumi.Output[str]
    rabbitmq_port: pulumi.Output[int]
    rabbitmq_user: pulumi.Output[str]
    rabbitmq_password: pulumi.Output[str]
    influx_url: pulumi.Output[str]
    influx_token: pulumi.Output[str]
    influx_org: pulumi.Output[str]
    postgres_host: pulumi.Output[str]
    postgres_port: pulumi.Output[int]
    postgres_database: pulumi.Output[str]
    app_db_user: pulumi.Output[str]
    app_db_password: pulumi.Output[str]
    monitoring_network: pulumi.Output[str]
    data_network: pulumi.Output[str]
    influx_app_bucket: pulumi.Output[str]
    postgres_ssl_mode: pulumi.Output[str]


# The contract's keys are the dataclasses' fields, in their order: one list, never two.
LAYER1_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Layer1Outputs))
LAYER2_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Layer2Outputs))


def stack_reference_name(env: Env | str, layer: Layer, org: str | None = None) -> str:
    """`<org>/sprocket-infra/<env>-<layer>`; org from `sprocket:stack_org` if not given."""
    if org is None:
        import pulumi

        org = pulumi.Config("sprocket").get("stack_org") or DEFAULT_ORG
    info = StackInfo(Env(env), layer)
    return f"{org}/{PROJECT_NAME}/{info.name}"


def _lookup(outputs: Mapping[str, Any], key: str, stack: str) -> Any:
    if key not in outputs:
        raise MissingOutputError(
            f"stack output {key!r} is missing from {stack}: deploy that stack first "
            "(or update it if it predates this output)"
        )
    return outputs[key]


def require_output(ref: pulumi.StackReference, key: str, stack: str) -> pulumi.Output[Any]:
    """Like `StackReference.require_output`, with an error naming the key and the stack.

    The value keeps the secretness of that one output (not of the whole outputs map).
    """
    import pulumi

    value = ref.outputs.apply(lambda outs: _lookup(outs, key, stack))
    is_secret = asyncio.ensure_future(ref.get_output(key).is_secret())
    return pulumi.Output(value.resources(), value.future(), value.is_known(), is_secret)


def _read(layer: Layer, env: Env | str, keys: tuple[str, ...]) -> dict[str, Any]:
    import pulumi

    stack = stack_reference_name(env, layer)
    ref = pulumi.StackReference(stack)
    return {key: require_output(ref, key, stack) for key in keys}


def read_layer1(env: Env | str) -> Layer1Outputs:
    return Layer1Outputs(**_read(Layer.LAYER_1, env, LAYER1_KEYS))


def read_layer2(env: Env | str) -> Layer2Outputs:
    return Layer2Outputs(**_read(Layer.LAYER_2, env, LAYER2_KEYS))


def export_contract(
    keys: tuple[str, ...],
    values: Mapping[str, Any],
    secret_keys: tuple[str, ...] = (),
) -> None:
    """Export every key of a contract (and extras); a missing key fails the program."""
    import pulumi

    missing = [k for k in keys if k not in values]
    if missing:
        raise MissingOutputError(f"the layer does not export contract keys {missing}")
    for key, value in values.items():
        pulumi.export(key, pulumi.Output.secret(value) if key in secret_keys else value)
