"""Traefik labels for layer_2's routed services, with layer_1's names filled in.

`sprocket_common.traefik.traefik_labels` takes plain strings; the ingress network and the
forward-auth middleware are layer_1 outputs, so placeholders are swapped for those Outputs.
Using the outputs (rather than constants) also makes a missing layer_1 output fail the
deploy with the contract's error naming the output and the stack.
"""

from __future__ import annotations

import pulumi

from sprocket_common.env_config import EnvConfig
from sprocket_common.outputs import Layer1Outputs
from sprocket_common.service import ServiceConfig
from sprocket_common.traefik import traefik_labels

_FA = "__forward_auth__"
_NET = "__ingress_network__"


def route_labels(
    config: ServiceConfig, env: EnvConfig, layer1: Layer1Outputs
) -> dict[str, pulumi.Input[str]]:
    labels = traefik_labels(config, env.tls_resolver, _FA, ingress_network=_NET)
    return {key: _fill(value, layer1) for key, value in labels.items()}


def _fill(value: str, layer1: Layer1Outputs) -> pulumi.Input[str]:
    if _FA not in value and _NET not in value:
        return value
    return pulumi.Output.all(layer1.forward_auth_middleware, layer1.ingress_network).apply(
        lambda names: value.replace(_FA, names[0]).replace(_NET, names[1])
    )
