"""The frozen per-invocation context every command receives."""

from __future__ import annotations

from dataclasses import dataclass

from automation.settings import Settings
from sprocket_common.stack_info import Env, Layer, StackInfo


@dataclass(frozen=True)
class Context:
    settings: Settings
    env: Env
    json_output: bool = False
    assume_yes: bool = False
    interactive: bool = False

    def stack(self, layer: Layer) -> StackInfo:
        return StackInfo(self.env, layer)
