"""`logs` and `exec`: a service's logs across the Swarm's nodes, and a command in one of its tasks.

Both go through the Swarm manager's engine (the driver's DOCKER_HOST). Logs come from the
Docker API's service logs, which the manager gathers from every node; with details each line
carries its task and node id, and the node id is shown as the node's hostname. Every line is
redacted with the stacks' secret values before it is shown.

`exec` runs in a running task's container: through the manager's engine when the task is on
the manager itself, else through that node's own engine, reached by the
`SPROCKET_NODE_DOCKER_HOST` template (``ssh://root@{node}``, ``tcp://{node}:2376``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from automation.errors import BadInput, DriverError
from automation.times import parse_duration, parse_time

NODE_HOST_ENV = "SPROCKET_NODE_DOCKER_HOST"
MAX_SINCE = timedelta(days=366)
_TASK_KEY = "com.docker.swarm.task.id"
_NODE_KEY = "com.docker.swarm.node.id"


# --- options ------------------------------------------------------------------------------


def parse_since(text: str | None, now: datetime | None = None) -> datetime | None:
    """`--since`: a duration back from now (30s, 15m, 1h, 2d) or an RFC 3339 time; BadInput
    naming the option and an example otherwise."""
    if text is None or text == "":
        return None
    now = now or datetime.now(UTC)
    try:
        delta = parse_duration(text)
    except OverflowError:
        delta = MAX_SINCE * 2  # beyond any calendar: refused below as too far back
    if delta is not None:
        if delta > MAX_SINCE:
            raise BadInput(f"--since {text}: more than a year back", "e.g. --since 1h or 2d")
        return now - delta
    try:
        since = parse_time(text).astimezone(UTC)
    except ValueError:
        raise BadInput(
            f"--since {text!r} is neither a duration nor a time",
            "e.g. --since 1h (also 30s, 15m, 2d) or --since 2026-01-31T18:00:00Z",
        ) from None
    if since > now:  # no line can be newer than now: an empty answer would hide the typo
        raise BadInput(
            f"--since {text} is in the future (now {now.isoformat(timespec='seconds')})",
            "pass a past time, or a duration back from now such as 1h",
        )
    return since


def parse_grep(text: str | None) -> re.Pattern[str] | None:
    if not text:
        return None
    try:
        return re.compile(text)
    except re.error as exc:
        raise BadInput(
            f"--grep {text!r} is not a regular expression: {exc}",
            "a Python regex, e.g. --grep 'ERROR|timeout'",
        ) from None


# --- service names ------------------------------------------------------------------------


def resolve_service(name: str, catalog: Mapping[str, str], live: Iterable[str]) -> str:
    """The Swarm service for a catalog name (the platform's service_names output) or a Swarm
    service name as it runs; BadInput naming it and listing the known ones."""
    live_names = sorted(set(live))
    if name in catalog and catalog[name] in live_names:
        return catalog[name]
    if name in live_names:
        return name
    if name in catalog:
        raise DriverError(
            f"service {name} ({catalog[name]}) is declared but not running on this Swarm",
            "deploy the platform layer, then try again",
        )
    known = sorted(catalog) + [s for s in live_names if s not in catalog.values()]
    raise BadInput(
        f"no service {name!r} on this Swarm",
        f"known services: {', '.join(known) or 'none'} (catalog or Swarm names)",
    )


# --- log lines ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LogLine:
    timestamp: str
    task: str
    node: str
    text: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def human(self) -> str:
        return f"{self.timestamp} {self.task}@{self.node} {self.text}"


def parse_line(raw: str, hostnames: Mapping[str, str]) -> LogLine:
    """One line of service logs read with timestamps and details:
    ``TIME k=v,k=v MESSAGE``; the details may be empty (``TIME  MESSAGE``). The task id is
    shortened to 12 characters as `docker` shows it; the node id becomes its hostname."""
    timestamp, _, rest = raw.partition(" ")
    details, sep, text = rest.partition(" ")
    attributes: dict[str, str] = {}
    for pair in details.split(","):
        key, eq, value = pair.partition("=")
        if eq:
            attributes[key] = value
    if not sep or (details and _TASK_KEY not in attributes and _NODE_KEY not in attributes):
        text = rest  # no details field: the rest is all message
    node_id = attributes.get(_NODE_KEY, "")
    return LogLine(
        timestamp=timestamp,
        task=attributes.get(_TASK_KEY, "")[:12] or "?",
        node=hostnames.get(node_id, node_id[:12] or "?"),
        text=text,
    )


def split_lines(chunks: Iterable[bytes | str]) -> Iterator[str]:
    """Whole lines from the API's stream, whose frames may cut a line or hold several."""
    pending = ""
    for chunk in chunks:
        pending += chunk.decode("utf-8", "replace") if isinstance(chunk, bytes) else chunk
        *whole, pending = pending.split("\n")
        yield from (line.rstrip("\r") for line in whole)
    if pending:
        yield pending.rstrip("\r")


def select_lines(
    raw_lines: Iterable[str],
    hostnames: Mapping[str, str],
    redact: Callable[[str], str],
    grep: re.Pattern[str] | None = None,
) -> Iterator[LogLine]:
    """Parsed, redacted lines; with `grep`, only those whose redacted text matches (a pattern
    that would match a secret matches only its [secret] mark)."""
    for raw in raw_lines:
        if not raw:
            continue
        line = parse_line(raw, hostnames)
        line = LogLine(line.timestamp, line.task, line.node, redact(line.text))
        if grep is None or grep.search(line.text):
            yield line


def node_hostnames(api: Any) -> dict[str, str]:
    return {n["ID"]: n.get("Description", {}).get("Hostname", n["ID"][:12]) for n in api.nodes()}


def service_log_lines(
    api: Any, service: str, *, since: datetime | None, tail: int | None, follow: bool
) -> Iterator[str]:
    kwargs: dict[str, Any] = {"details": True, "timestamps": True, "stdout": True, "stderr": True}
    if since is not None:
        kwargs["since"] = int(since.timestamp())
    if tail is not None:
        kwargs["tail"] = tail
    return split_lines(api.service_logs(service, follow=follow, **kwargs))


# --- exec ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskPlace:
    task: str  # task id
    slot: str
    node_id: str
    node: str  # hostname
    container: str  # container id

    def as_dict(self) -> dict[str, str]:
        return {
            "task": self.task[:12],
            "slot": self.slot,
            "node": self.node,
            "container": self.container[:12],
        }


def pick_task(
    tasks: Sequence[Mapping[str, Any]], hostnames: Mapping[str, str], service: str, node: str = ""
) -> TaskPlace:
    """A running task of the service with a container (the lowest slot first), on `node`
    (hostname or node id) when given; DriverError/BadInput naming what is missing."""
    running = []
    for task in tasks:
        status = task.get("Status") or {}
        container = (status.get("ContainerStatus") or {}).get("ContainerID")
        if status.get("State") != "running" or not container:
            continue
        node_id = str(task.get("NodeID", ""))
        running.append(
            TaskPlace(
                task=str(task["ID"]),
                slot=str(task.get("Slot", "")),
                node_id=node_id,
                node=hostnames.get(node_id, node_id[:12]),
                container=str(container),
            )
        )
    running.sort(key=lambda t: (int(t.slot) if t.slot.isdigit() else 0, t.task))
    if not running:
        raise DriverError(
            f"service {service} has no running task to exec into",
            "check its state with `docker service ps` or the driver's health verb",
        )
    if not node:
        return running[0]
    if node not in hostnames and node not in hostnames.values():
        raise BadInput(
            f"--node {node}: no such node in this Swarm",
            f"nodes: {', '.join(sorted(hostnames.values()))}",
        )
    on_node = [t for t in running if node in (t.node, t.node_id)]
    if not on_node:
        where = sorted({t.node for t in running})
        raise DriverError(
            f"service {service} has no running task on node {node}",
            f"its running tasks are on: {', '.join(where)} (pass one of them to --node)",
        )
    return on_node[0]


def node_docker_host(template: str | None, node: str) -> str:
    """The node's engine from the template; DriverError naming the node and how to reach it."""
    if not template:
        raise DriverError(
            f"the task is on node {node}, another node than the manager: its engine is not "
            "reachable from here",
            f"set {NODE_HOST_ENV} (or node_docker_host in the settings file) to how nodes' "
            "engines are reached, e.g. ssh://root@{node} or tcp://{node}:2376",
        )
    if "{node}" not in template:
        raise BadInput(
            f"{NODE_HOST_ENV}={template!r} has no {{node}} placeholder",
            "e.g. ssh://root@{node} or tcp://{node}:2376",
        )
    return template.replace("{node}", node)


@dataclass(frozen=True)
class ExecOutcome:
    exit_code: int
    stdout: str
    stderr: str


def run_in_container(api: Any, container: str, argv: Sequence[str]) -> ExecOutcome:
    """exec_create + exec_start + the exit code from exec_inspect."""
    created = api.exec_create(container, list(argv), stdout=True, stderr=True)
    out, err = api.exec_start(created["Id"], demux=True)
    code = api.exec_inspect(created["Id"]).get("ExitCode")
    return ExecOutcome(
        exit_code=int(code) if code is not None else -1,
        stdout=(out or b"").decode("utf-8", "replace"),
        stderr=(err or b"").decode("utf-8", "replace"),
    )
