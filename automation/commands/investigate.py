"""logs and exec: the incident-investigation verbs, in place of `docker service logs` and
`docker exec` on whichever node a task happens to run."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from automation.context import Context
from automation.exit_codes import ExitCode
from automation.render import Result
from automation.verb import run_verb
from sprocket_common.stack_info import LAYER_ORDER, Layer


def _redactor(ctx: Context) -> Callable[[str], str]:
    """Every secret value of the env's stacks' config, and the secret environment's."""
    from automation.stack.report_markdown import (
        Redactor,
        secret_values_from_env,
        stack_secret_values,
    )

    names = [ctx.stack(layer).name for layer in LAYER_ORDER]
    return Redactor.of([*stack_secret_values(ctx, names), *secret_values_from_env()])


def _catalog_names(ctx: Context) -> dict[str, str]:
    """{catalog name: Swarm service} from the platform stack's outputs; {} when not deployed."""
    from automation.pulumi.workspace import existing_stack

    try:
        stack = existing_stack(ctx.settings, ctx.stack(Layer.PLATFORM))
        names = stack.outputs().get("service_names") if stack is not None else None
    except Exception as exc:  # an unreadable stack still leaves the Swarm names
        print(f"note: platform service names not read ({type(exc).__name__})", file=sys.stderr)
        return {}
    if names is None or not isinstance(names.value, dict):
        return {}
    return {str(k): str(v) for k, v in names.value.items()}


def _service(ctx: Context, api: Any, name: str) -> str:
    """The Swarm service for NAME; an unknown one is BadInput, which says so when catalog
    names cannot be known (the platform stack has no service_names: not deployed here)."""
    from automation.cluster.investigate import resolve_service
    from automation.errors import BadInput
    from automation.hints import driver_command

    live = [s["Spec"]["Name"] for s in api.services()]
    catalog = _catalog_names(ctx)
    try:
        return resolve_service(name, catalog, live)
    except BadInput as exc:
        if not catalog:
            exc.hint = (
                "the platform stack is not deployed here, so catalog names (web, core ...) "
                f"are not known: deploy it ({driver_command(ctx.env, 'deploy', 'platform')}) "
                f"or give a Swarm service name; {exc.hint}"
            )
        raise


# --- logs ---------------------------------------------------------------------------------


# Docker's engine refuses a tail beyond int64 with a 500 and hangs on values near it; no task
# keeps more lines than this in its json-file log anyway.
MAX_TAIL = 1_000_000


def _logs(
    ctx: Context,
    name: str,
    since_text: str | None,
    grep_text: str | None,
    follow: bool,
    tail: int | None,
) -> Result:
    from automation.cluster import investigate
    from automation.docker_client import docker_api
    from automation.errors import BadInput

    since = investigate.parse_since(since_text)
    grep = investigate.parse_grep(grep_text)
    if follow and ctx.json_output:
        raise BadInput("--follow with --json", "--json gives one document: drop --follow")
    api = docker_api(ctx.settings.docker_host)
    service = _service(ctx, api, name)
    redact = _redactor(ctx)
    hostnames = investigate.node_hostnames(api)
    raw = investigate.service_log_lines(api, service, since=since, tail=tail, follow=follow)
    lines = investigate.select_lines(raw, hostnames, redact, grep)
    data: dict[str, Any] = {"service": service, "requested": name}
    if follow:  # streamed as they come, until Ctrl-C
        count = 0
        try:
            for line in lines:
                click.echo(line.human())
                count += 1
        except KeyboardInterrupt:  # the way a follow ends: not an interrupted operation
            pass
        data["lines"] = count
        return Result("logs", ExitCode.OK, data)
    data["lines"] = [line.as_dict() for line in lines]
    return Result("logs", ExitCode.OK, data, human=_logs_text)


def _logs_text(data: dict[str, Any]) -> str:
    from automation.cluster.investigate import LogLine

    return "\n".join(LogLine(**line).human() for line in data["lines"])


@click.command(name="logs")
@click.argument("service")
@click.option("--since", "since", default=None, help="A duration (30s, 15m, 1h, 2d) or a time.")
@click.option("--grep", "grep", default=None, help="Only lines matching this regex.")
@click.option("--follow", "-f", is_flag=True, help="Keep streaming new lines (until Ctrl-C).")
@click.option(
    "--tail",
    "tail",
    type=click.IntRange(0, MAX_TAIL),
    default=None,
    help=f"The last N lines (of each task), 0 to {MAX_TAIL}; default all.",
)
def logs_command(
    service: str, since: str | None, grep: str | None, follow: bool, tail: int | None
) -> ExitCode:
    """A service's logs from all its tasks on every node, each line with task and node.

    SERVICE is a catalog name (web, core ...) or a Swarm service name. Read from the Swarm
    manager (DOCKER_HOST); every secret value of the env's stacks is shown as [secret].
    An unknown service, a bad --since or --grep is exit 64.
    """
    return run_verb("logs", lambda ctx: _logs(ctx, service, since, grep, follow, tail))


# --- exec ---------------------------------------------------------------------------------


def _exec(ctx: Context, name: str, node: str, argv: tuple[str, ...]) -> Result:
    from automation.cluster import investigate
    from automation.docker_client import docker_api
    from automation.errors import BadInput, DriverError
    from automation.guard.audit import audited
    from automation.guard.operation import sigterm_interrupts
    from automation.hints import driver_command

    redact = _redactor(ctx)
    shown = [redact(a) for a in argv]  # a password on the command line stays out of the record
    info = ctx.stack(Layer.PLATFORM)
    with (
        sigterm_interrupts(),  # `kill`, a CI cancel: recorded and 130, as Ctrl-C
        audited(ctx.settings, "exec", info.name, service=name, argv=shown) as run,
    ):
        if not argv:
            raise BadInput("exec needs a command after --", "e.g. exec web -- id")
        api = docker_api(ctx.settings.docker_host)
        service = _service(ctx, api, name)
        hostnames = investigate.node_hostnames(api)
        tasks = api.tasks(filters={"service": service, "desired-state": "running"})
        place = investigate.pick_task(tasks, hostnames, service, node)
        run.details.update(service=service, **place.as_dict())
        own = api.info().get("Swarm", {}).get("NodeID", "")
        if place.node_id == own:
            engine, where = api, "manager"
        else:
            host = investigate.node_docker_host(ctx.settings.node_docker_host, place.node)
            try:
                engine = docker_api(host)
            except DriverError as exc:
                raise DriverError(
                    f"cannot reach node {place.node}'s engine at {host}: {exc.message}",
                    f"check {investigate.NODE_HOST_ENV} and that the node's engine is reachable "
                    "from this host (ssh key, TLS port)",
                ) from None
            where = host
        try:
            outcome = investigate.run_in_container(engine, place.container, argv)
        except KeyboardInterrupt:  # the driver stops waiting; the container's process does not
            raise DriverError(
                f"interrupted: {' '.join(shown)} may still be running in container "
                f"{place.container[:12]} on node {place.node}",
                f"see it with {driver_command(ctx.env, 'exec', name, '--node', place.node)} -- ps"
                " and end it there if needed",
                code=ExitCode.INTERRUPTED,
            ) from None
        run.details["command_exit_code"] = outcome.exit_code
        data: dict[str, Any] = {
            "service": service,
            "requested": name,
            **place.as_dict(),
            "engine": where,
            "argv": shown,
            "command_exit_code": outcome.exit_code,
            "stdout": redact(outcome.stdout),
            "stderr": redact(outcome.stderr),
        }
        if outcome.exit_code == 0:
            return Result("exec", ExitCode.OK, data, human=_exec_text)
        run.exit_code = int(ExitCode.ERROR)
        run.error = f"the command exited {outcome.exit_code}"
        message = f"{' '.join(shown)} exited {outcome.exit_code} in {place.container[:12]}"
        if outcome.exit_code in (126, 127) and "not found" in outcome.stdout + outcome.stderr:
            # The runtime's own words (OCI: "executable file not found in $PATH") on stdout.
            message = (
                f"{shown[0]}: not found in container {place.container[:12]} "
                f"(exit {outcome.exit_code})"
            )
        error = {"message": message, "hint": f"on node {place.node}, task {place.task[:12]}"}
        return Result("exec", ExitCode.ERROR, data, errors=[error], human=_exec_text)


def _exec_text(data: dict[str, Any]) -> str:
    if data["stderr"]:
        sys.stderr.write(data["stderr"])
    return str(data["stdout"])


@click.command(name="exec", context_settings={"ignore_unknown_options": True})
@click.argument("service")
@click.option("--node", "node", default="", help="A task on this node (hostname or id).")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def exec_command(service: str, node: str, command: tuple[str, ...]) -> ExitCode:
    """Run a command in a running task of SERVICE: `exec web -- id`.

    The task's container is reached through the manager's engine when it runs there, else
    through its node's engine by SPROCKET_NODE_DOCKER_HOST (ssh://root@{node} ...). Audited:
    who, the service, task, container, node, the command and its exit code, never the output.
    Exit 0 when the command returned 0; 1 when it returned anything else (its code is in the
    message and in --json's command_exit_code) or could not run; 64 for an unknown service.

    Not a terminal session: stdin is not connected (the command reads end of file at once, so
    an interactive shell or prompt ends right away) and the output is collected, redacted and
    printed when the command ends, not as it runs (a long or endless command shows nothing
    until then: give it a bound, e.g. `timeout 10 ...`, `tail -n 100` instead of `tail -f`).
    """
    return run_verb("exec", lambda ctx: _exec(ctx, service, node, command))


COMMANDS: list[click.Command] = [logs_command, exec_command]
