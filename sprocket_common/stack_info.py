"""Stack identity: which layer and which environment a stack is.

Stacks are named ``<env>-<layer>`` (``prod-layer_1``, ``local-platform``). This module is
imported by the driver's start-up path, so it must not import pulumi.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

PROJECT_NAME = "sprocket-infra"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Layer(StrEnum):
    """A deployable slice of the infrastructure; each is one Pulumi stack per environment."""

    LAYER_1 = "layer_1"  # droplets, DNS, Spaces, Swarm networks, Traefik, Vault
    LAYER_2 = "layer_2"  # datastores and monitoring
    PLATFORM = "platform"  # the Sprocket apps


class Env(StrEnum):
    """Where a stack runs; environments differ by stack config, never by code branches."""

    LOCAL = "local"  # the local Docker engine, no cloud account
    STAGING = "staging"
    PROD = "prod"


LAYER_ORDER: tuple[Layer, ...] = (Layer.LAYER_1, Layer.LAYER_2, Layer.PLATFORM)


class UnknownNameError(ValueError):
    """A layer, environment or stack name that is not one of the valid ones."""


def parse_layer(name: str) -> Layer:
    try:
        return Layer(name)
    except ValueError:
        valid = ", ".join(layer.value for layer in Layer)
        raise UnknownNameError(f"unknown layer {name!r}: valid layers are {valid}") from None


def parse_env(name: str) -> Env:
    try:
        return Env(name)
    except ValueError:
        valid = ", ".join(env.value for env in Env)
        raise UnknownNameError(
            f"unknown environment {name!r}: valid environments are {valid}"
        ) from None


@dataclass(frozen=True)
class StackInfo:
    env: Env
    layer: Layer

    @property
    def name(self) -> str:
        return f"{self.env.value}-{self.layer.value}"

    @classmethod
    def parse(cls, stack_name: str) -> StackInfo:
        """Parse ``<env>-<layer>``; the organization prefix (``org/proj/stack``) is ignored."""
        short = stack_name.rsplit("/", 1)[-1]
        env, sep, layer = short.partition("-")
        if not sep:
            raise UnknownNameError(
                f"stack name {stack_name!r} is not <env>-<layer> (e.g. prod-layer_1)"
            )
        return cls(parse_env(env), parse_layer(layer))


# A top-level package named `platform` would shadow the stdlib module of that name, so layer
# directories have no __init__.py and are imported here under an alias, from their directory.
# This is the one place that knows how.
_PACKAGE_ALIASES = {
    Layer.LAYER_1: "layer_1",
    Layer.LAYER_2: "layer_2",
    Layer.PLATFORM: "sprocket_platform",
}


class ProgramsNotFound(RuntimeError):
    """The layer programs are not beside this installation (a wheel holds the driver only)."""


def program_root() -> Path:
    """Where the layer directories are: beside this package in a checkout (editable install),
    else the checkout named by SPROCKET_PROJECT_DIR, else the current directory.

    Raises ProgramsNotFound naming the places it looked.
    """
    candidates = [PROJECT_ROOT, Path(os.environ.get("SPROCKET_PROJECT_DIR", ".")), Path.cwd()]
    for root in candidates:
        if all((root / layer.value / "program.py").is_file() for layer in Layer):
            return root.resolve()
    raise ProgramsNotFound(
        "the layer programs (layer_1/, layer_2/, platform/) are not in "
        + ", ".join(sorted({str(c.resolve()) for c in candidates}))
        + ": the driver runs the programs of a sprocket-infra checkout; run it from one, or set "
        "SPROCKET_PROJECT_DIR to it"
    )


def layer_package(layer: Layer) -> str:
    """The import name of a layer's package, registering it on first use."""
    alias = _PACKAGE_ALIASES[layer]
    if alias not in sys.modules:
        spec = importlib.machinery.ModuleSpec(alias, None, is_package=True)
        spec.submodule_search_locations = [str(program_root() / layer.value)]
        sys.modules[alias] = importlib.util.module_from_spec(spec)
    return alias


def load_program(layer: Layer) -> Callable[[], None]:
    """The layer's ``program()`` (in ``<layer>/program.py``), for the Automation API or the CLI."""
    module = importlib.import_module(f"{layer_package(layer)}.program")
    program: Callable[[], None] = module.program
    return program
