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
    force_frozen: str = ""  # --force-frozen REASON: one mutating run through a freeze, audited

    def stack(self, layer: Layer) -> StackInfo:
        return StackInfo(self.env, layer)

    def confirm(
        self,
        question: str,
        *,
        action: str,
        hint: str = "pass --yes",
        show: str = "",
        unchanged: str = "nothing was changed",
    ) -> None:
        """The one confirmation before a change: --yes never asks; off a terminal (or with
        --json) it refuses, BadInput naming `action` and `hint` (how to approve); on a terminal
        it prints `show` (the plan) and asks `question`, and a no is BadInput `unchanged`."""
        if self.assume_yes:
            return
        if not self.interactive:
            raise BadInput(f"refusing to {action} without confirmation: not on a terminal", hint)
        import click

        if show:
            click.echo(show, err=True)
        if not click.confirm(question, default=False, err=True):
            raise BadInput(f"{action}: declined at the prompt", unchanged)


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
