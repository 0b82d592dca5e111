"""node drain / node activate: Swarm node maintenance with a plan, a wait and an audit record."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import click

from automation.context import Context
from automation.exit_codes import ExitCode
from automation.guard.audit import AuditedRun, audited
from automation.render import Result
from automation.verb import run_verb
from sprocket_common.stack_info import Layer

RISKS = ("last-task", "placement", "volume", "global")


def _drain(ctx: Context, name: str, allow: tuple[str, ...], timeout_s: float) -> Result:
    from automation.cluster.drain import Drain, Risk, blocking, plan
    from automation.cluster.nodes import NodeView, find_node, swarm_nodes
    from automation.docker_client import docker_api
    from automation.swarm import active_nodes
    from automation.waiting import WaitTimeout

    api = docker_api(ctx.settings.docker_host)
    node = NodeView.of(find_node(swarm_nodes(api, ctx.settings.docker_host), name))
    tasks = api.tasks(filters={"desired-state": "running"})
    displaced = plan(node.id, active_nodes(api), api.services(), tasks)
    blocked = blocking(displaced, {Risk(a) for a in allow})
    data: dict[str, Any] = {
        "node": node.hostname,
        "node_id": node.id,
        "displaced": [d.as_dict() for d in displaced],
        "allowed": sorted(allow),
    }
    with _audited(ctx, "node drain", data) as record:
        if blocked:
            data["refused"] = [d.service for d in blocked]
            record.exit_code = ExitCode.GATE_BLOCKED
            return Result("node drain", ExitCode.GATE_BLOCKED, data, human=_drain_text)
        moves: list[dict[str, Any]] = []
        drain = Drain(api, node.id, displaced, timeout_s, lambda m: moves.append(m.as_dict()))
        try:
            drain.run()
        except WaitTimeout as exc:
            data.update(moves=moves, error=str(exc))
            record.exit_code = ExitCode.NOT_CONVERGED
            return Result("node drain", ExitCode.NOT_CONVERGED, data, human=_drain_text)
        data["moves"] = moves
        return Result("node drain", ExitCode.OK, data, human=_drain_text)


def _activate(ctx: Context, name: str) -> Result:
    from automation.cluster.drain import set_availability
    from automation.cluster.nodes import NodeView, find_node, swarm_nodes
    from automation.docker_client import docker_api

    api = docker_api(ctx.settings.docker_host)
    node = NodeView.of(find_node(swarm_nodes(api, ctx.settings.docker_host), name))
    data: dict[str, Any] = {"node": node.hostname, "node_id": node.id, "was": node.availability}
    with _audited(ctx, "node activate", data):
        set_availability(api, node.id, "active")
    # Swarm does not move running tasks back by itself: new tasks (updates, scale, restarts)
    # land there; `rollout` or `deploy` with a change rebalances.
    return Result("node activate", ExitCode.OK, data, human=_activate_text)


@contextlib.contextmanager
def _audited(ctx: Context, command: str, data: dict[str, Any]) -> Iterator[AuditedRun]:
    """The layer_1 stack's lock (the layer that declares the nodes) around the change, and one
    audit record after it whatever happened (a held lock included): the node, the plan, the
    moves, and the exit code the block sets on the yielded run."""
    from automation.guard.freeze import refuse_if_frozen
    from automation.guard.lock import stack_lock

    stack = ctx.stack(Layer.LAYER_1).name
    with (
        audited(ctx.settings, command, stack, node=data) as run,
        stack_lock(ctx.settings, stack, command),
    ):
        refuse_if_frozen(ctx, command, run.details)
        yield run


def _drain_text(data: dict[str, Any]) -> str:
    lines = [f"node {data['node']} ({data['node_id'][:12]})"]
    for d in data["displaced"]:
        risks = "; ".join(f"{k}: {v}" for k, v in d["risks"].items()) or "moves elsewhere"
        lines.append(f"  {d['service']} ({d['tasks']} task(s)): {risks}")
    if "refused" in data:
        lines.append(
            f"refused: {', '.join(data['refused'])} would lose service; nothing was changed. "
            "Allow a risk with --allow KIND (e.g. --allow last-task) once it is planned for."
        )
        return "\n".join(lines)
    for move in data.get("moves", []):
        lines.append(f"  moved {move['service']} -> {move['to']} in {move['seconds']} s")
    if "error" in data:
        lines.append(f"drained, but: {data['error']}")
    else:
        lines.append(f"drained: every displaced task runs elsewhere ({len(data['moves'])} moves)")
    return "\n".join(lines)


def _activate_text(data: dict[str, Any]) -> str:
    return (
        f"node {data['node']} is active (was {data['was']}); running tasks stay where they are "
        "until updated or restarted"
    )


@click.group()
def node() -> None:
    """Swarm node maintenance: drain a node before work on it, activate it after."""


@node.command()
@click.argument("name", metavar="NODE")
@click.option(
    "--allow",
    multiple=True,
    type=click.Choice(RISKS),
    help="Drain although services take this risk; repeat for more. last-task: a service's only "
    "running task is there; placement: no other node meets its constraints; volume: a local "
    "volume stays behind; global: a global service's task there stops.",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=1),
    default=300.0,
    show_default=True,
    help="Seconds to wait for the displaced tasks to run elsewhere.",
)
def drain(name: str, allow: tuple[str, ...], timeout_s: float) -> ExitCode:
    """Drain NODE (hostname or ID): Swarm moves its tasks to the other nodes.

    First lists each service with tasks there and what it would lose (its last running task,
    nowhere else to run, a node-local volume, a global service's task); any such risk refuses
    the drain (exit 3, nothing changed) unless --allow names it. Then drains and waits until
    every displaced task runs elsewhere, healthy, reporting each move and its time (exit 14
    when they do not within --timeout). The audit log records the plan and the moves.
    """
    return run_verb("node drain", lambda ctx: _drain(ctx, name, allow, timeout_s))


@node.command()
@click.argument("name", metavar="NODE")
def activate(name: str) -> ExitCode:
    """Make NODE (hostname or ID) active again: Swarm may schedule tasks there.

    Running tasks stay where they are; new ones (updates, scaling, restarts) can land on it.
    """
    return run_verb("node activate", lambda ctx: _activate(ctx, name))


COMMANDS: list[click.Command] = [node]
