"""What a layer needs before the engine runs: its data files, the Docker engine, and the
outputs of the layers below it (the output contract of sprocket_common/outputs.py)."""

from __future__ import annotations

import importlib
import os

from automation.context import Context
from automation.errors import BadInput, DriverError, UpstreamOutputsMissing
from automation.hints import driver_command
from sprocket_common.stack_info import Layer, layer_package


def upstream_contract(layer: Layer) -> list[tuple[Layer, tuple[str, ...]]]:
    """(upstream layer, output keys this layer needs from it)."""
    from sprocket_common import outputs

    layer1 = (Layer.LAYER_1, outputs.LAYER1_KEYS)
    layer2 = (Layer.LAYER_2, outputs.LAYER2_KEYS)
    return {Layer.LAYER_1: [], Layer.LAYER_2: [layer1], Layer.PLATFORM: [layer1, layer2]}[layer]


def missing_upstream_outputs(ctx: Context, layer: Layer) -> dict[str, list[str]]:
    """{upstream stack: [missing output keys]}; a stack never deployed misses all of them."""
    from automation.errors import NoSuchStack
    from automation.pulumi.cli import run_pulumi_json

    missing: dict[str, list[str]] = {}
    for upstream, keys in upstream_contract(layer):
        info = ctx.stack(upstream)
        try:
            present = run_pulumi_json(ctx.settings, info, ["stack", "output", "--json"]) or {}
        except NoSuchStack:
            present = {}
        absent = [key for key in keys if key not in present]
        if absent:
            missing[info.name] = absent
    return missing


def check_program_files(layer: Layer) -> None:
    """Validate the data files a layer's program reads, before anything reaches the engine.

    A broken platform catalog would otherwise surface as a program crash inside a preview.
    """
    if layer is not Layer.PLATFORM:
        return
    catalog = importlib.import_module(f"{layer_package(layer)}.catalog")
    try:
        catalog.load_catalog()
    except catalog.CatalogError as err:
        raise BadInput(str(err), f"fix {catalog.CATALOG_PATH} and run the command again") from None


def preflight(ctx: Context, layer: Layer) -> None:
    """Checks that need no engine: the layer's data files and required config, the Docker
    engine every layer declares Swarm objects on, then its upstream outputs."""
    from automation.stack.config_check import require_config

    check_program_files(layer)
    require_config(ctx, ctx.stack(layer))
    require_docker_engine(ctx)
    require_upstream_outputs(ctx, layer)


def require_docker_engine(ctx: Context) -> None:
    """One line naming the engine and what to do, instead of the provider's `preview failed`."""
    from automation.docker_client import docker_client

    host = ctx.settings.docker_host or os.environ.get("DOCKER_HOST") or "the local Docker socket"
    try:
        client = docker_client(ctx.settings.docker_host)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # the SDK raises DockerException, requests' and OS errors alike
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise DriverError(
            f"the Docker engine at {host} is unreachable ({reason})",
            "start it (on this machine: scripts/ensure-docker.sh) or point DOCKER_HOST "
            "(or docker_host in sprocket.toml) at the Swarm manager",
        ) from None


def require_upstream_outputs(ctx: Context, layer: Layer) -> None:
    missing = missing_upstream_outputs(ctx, layer)
    if missing:
        detail = "; ".join(f"{stack}: {', '.join(keys)}" for stack, keys in missing.items())
        first = next(iter(missing)).split("-", 1)[1]
        raise UpstreamOutputsMissing(
            f"{layer.value} needs upstream outputs that are missing ({detail})",
            f"deploy {first} first: {driver_command(ctx.env, 'deploy', first)}",
        )
