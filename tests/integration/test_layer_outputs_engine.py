"""The layer output contract through the real engine and a real file backend.

An upstream stack `prod-layer_1` exports the contract; downstream stacks read it with
`read_layer1` / `require_output`. This proves what mocks cannot: the StackReference name
(`organization/sprocket-infra/<stack>`) resolves on the file backend, secretness is kept per
output, and an absent output fails the update with the key and the stack named.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from pulumi import automation as auto

from sprocket_common.outputs import (
    LAYER1_KEYS,
    export_contract,
    read_layer1,
    require_output,
    stack_reference_name,
)
from sprocket_common.stack_info import Layer

pytestmark = pytest.mark.integration

CANARY = "canary-vault-token-0c5e77"
UPSTREAM = {
    "ingress_network": "traefik-ingress",
    "socket_proxy_network": "traefik-socket-proxy",
    "base_domain": "sprocket.example.gg",
    "tls_resolver": "letsencrypt",
    "forward_auth_middleware": "fa-default@docker",
    "vault_address": "https://vault.sprocket.example.gg",
    "spaces_endpoint": "https://nyc3.digitaloceanspaces.com",
    "spaces_buckets": {"vault": "sprocket-prod-vault"},
    "manager_ip": "203.0.113.2",
    "droplet_ips": ["203.0.113.2"],
}


def _upstream() -> None:
    export_contract(LAYER1_KEYS, {**UPSTREAM, "vault_token": CANARY}, secret_keys=("vault_token",))


def _reads_contract() -> None:
    layer1 = read_layer1("prod")
    pulumi.export("network", layer1.ingress_network)
    pulumi.export("buckets", layer1.spaces_buckets)


def _reads_one_secret_and_one_plain() -> None:
    name = stack_reference_name("prod", Layer.LAYER_1)
    ref = pulumi.StackReference(name)
    pulumi.export("token", require_output(ref, "vault_token", name))
    pulumi.export("network", require_output(ref, "ingress_network", name))


def _reads_an_absent_output() -> None:
    name = stack_reference_name("prod", Layer.LAYER_1)
    ref = pulumi.StackReference(name)
    pulumi.export("missing", require_output(ref, "registry_mirror", name))


def _up(pulumi_env: Any, stack_name: str, program: Any) -> auto.UpResult:
    stack = auto.create_stack(
        stack_name, "sprocket-infra", program, opts=pulumi_env.workspace_options()
    )
    return stack.up(color="never")


def test_contract_round_trip_through_the_engine(pulumi_env: Any) -> None:
    up = _up(pulumi_env, "prod-layer_1", _upstream)
    assert up.outputs["vault_token"].secret
    assert not up.outputs["ingress_network"].secret

    down = _up(pulumi_env, "prod-layer_2", _reads_contract)
    assert down.outputs["network"].value == "traefik-ingress"
    assert not down.outputs["network"].secret
    assert down.outputs["buckets"].value == {"vault": "sprocket-prod-vault"}

    mixed = _up(pulumi_env, "prod-platform", _reads_one_secret_and_one_plain)
    assert mixed.outputs["token"].secret and mixed.outputs["token"].value == CANARY
    assert not mixed.outputs["network"].secret  # one secret output does not taint the rest
    assert CANARY not in mixed.stdout

    with pytest.raises(auto.CommandError) as err:
        _up(pulumi_env, "staging-platform", _reads_an_absent_output)
    message = str(err.value)
    assert "registry_mirror" in message
    assert "organization/sprocket-infra/prod-layer_1" in message
