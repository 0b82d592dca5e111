"""The frozen per-invocation context every command receives."""

from __future__ import annotations

from dataclasses import dataclass

from automation.errors import BadInput
from automation.settings import Settings
from sprocket_common.stack_info import (
    LAYER_ORDER,
    Env,
    Layer,
    StackInfo,
    UnknownNameError,
    parse_layer,
)


@dataclass(frozen=True)
class Context:
    settings: Settings
    env: Env
    json_output: bool = False
    assume_yes: bool = False
    interactive: bool = False

    def stack(self, layer: Layer) -> StackInfo:
        return StackInfo(self.env, layer)


def resolve_layers(name: str, *, reverse: bool = False) -> list[Layer]:
    """`all` means every layer in dependency order (reversed for destroy)."""
    if name == "all":
        layers = list(LAYER_ORDER)
    else:
        try:
            layers = [parse_layer(name)]
        except UnknownNameError as exc:
            raise BadInput(str(exc), "or pass `all`") from None
    return layers[::-1] if reverse else layers
