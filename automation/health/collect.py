"""Read the Swarm's state through the Docker SDK into the plain snapshots checks.py judges.

Only the manager's API is used (DOCKER_HOST may be ssh://...). Container stats and disk usage
are of the node the API belongs to: the manager, which on Sprocket's single-node prod is all.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from automation.health.checks import (
    ContainerSample,
    DiskUsage,
    ServiceSnapshot,
    TaskSnapshot,
    count_error_lines,
)

SERVICE_LABEL = "com.docker.swarm.service.name"
JOB_LABEL = "sprocket.job"  # layer_2 marks one-shot services (postgres-grants) with it
# Traefik v2/v3 router rules: Host(`a`, `b`) or Host(`a`) || Host(`b`); HostSNI for TCP routers.
_HOST_RULE = re.compile(r"Host(?:SNI)?\(([^)]*)\)")
_BACKTICKED = re.compile(r"`([^`]+)`")
_ROUTER_KEY = re.compile(r"^traefik\.(http|tcp)\.routers\.([^.]+)\.(.+)$")


def redact_url(url: str) -> str:
    """A Docker host URL for reports: never with a password in it."""
    parsed = urlparse(url)
    if parsed.password:
        return parsed._replace(
            netloc=parsed.netloc.replace(f":{parsed.password}@", ":***@")
        ).geturl()
    return url


def parse_time(text: str) -> datetime:
    """A task's Status.Timestamp (automation/times.py); the epoch when Docker gave none."""
    from automation.times import parse_time as parse

    try:
        return parse(text).astimezone(UTC)
    except ValueError:
        return datetime.fromtimestamp(0, UTC)


def service_snapshot(
    attrs: dict[str, Any], tasks: Sequence[dict[str, Any]], nodes: Any = None
) -> ServiceSnapshot:
    """`nodes` (automation/swarm.py active_nodes): with them, N/N is counted by the same rule
    deploy waits for (eligible nodes only, none on a Down node, one task per slot)."""
    from automation.swarm import replica_counts

    spec = attrs["Spec"]
    mode = spec.get("Mode", {})
    replicated = mode.get("Replicated")
    return ServiceSnapshot(
        name=spec["Name"],
        mode="replicated" if replicated is not None else "global",
        replicas=int(replicated.get("Replicas", 0)) if replicated is not None else None,
        tasks=tuple(_task_snapshot(task) for task in tasks),
        job=spec.get("Labels", {}).get(JOB_LABEL) == "true",
        counts=None if nodes is None else replica_counts(spec, tasks, nodes),
    )


def _task_snapshot(task: dict[str, Any]) -> TaskSnapshot:
    status = task.get("Status", {})
    return TaskSnapshot(
        state=status.get("State", "unknown"),
        desired_state=task.get("DesiredState", "unknown"),
        timestamp=parse_time(status.get("Timestamp", "")),
        message=status.get("Err") or status.get("Message", ""),
    )


def list_services(client: Any, name_prefix: str | None = None) -> list[Any]:
    filters = {"name": name_prefix} if name_prefix else None
    services = client.services.list(filters=filters)
    # Docker's name filter matches substrings; a prefix means a prefix.
    return [s for s in services if not name_prefix or s.name.startswith(name_prefix)]


def snapshots(services: Iterable[Any], nodes: Any = None) -> list[ServiceSnapshot]:
    return [service_snapshot(s.attrs, s.tasks(), nodes) for s in services]


# --- container stats -----------------------------------------------------------------------


def cpu_percent(stats: dict[str, Any], nano_cpus: int = 0) -> float:
    """CPU use between the two samples of one `stats` call, as a share of what it may use."""
    cpu, pre = stats.get("cpu_stats", {}), stats.get("precpu_stats", {})
    cpu_delta = cpu.get("cpu_usage", {}).get("total_usage", 0) - pre.get("cpu_usage", {}).get(
        "total_usage", 0
    )
    system_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    if cpu_delta <= 0 or system_delta <= 0:
        return 0.0
    online = cpu.get("online_cpus") or len(cpu.get("cpu_usage", {}).get("percpu_usage") or [1])
    cores_used = cpu_delta / system_delta * online
    allowed = nano_cpus / 1e9 if nano_cpus else online
    return float(100.0 * cores_used / allowed)


def memory_percent(stats: dict[str, Any]) -> float:
    """Like `docker stats`: usage minus reclaimable page cache, over the limit."""
    memory = stats.get("memory_stats", {})
    usage, limit = memory.get("usage", 0), memory.get("limit", 0)
    details = memory.get("stats", {})
    cache = details.get("inactive_file", details.get("total_inactive_file", 0))
    if not limit:
        return 0.0
    return float(100.0 * max(usage - cache, 0) / limit)


def container_samples(client: Any, service_names: set[str]) -> list[ContainerSample]:
    containers = [
        c
        for c in client.containers.list(filters={"label": SERVICE_LABEL})
        if c.labels.get(SERVICE_LABEL) in service_names
    ]
    # Each stats call waits for a second sample (about 1-2 s): ask in parallel.
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(_sample, containers))


def _sample(container: Any) -> ContainerSample:
    stats = container.stats(stream=False)
    nano_cpus = container.attrs.get("HostConfig", {}).get("NanoCpus") or 0
    return ContainerSample(
        service=container.labels[SERVICE_LABEL],
        container=container.name,
        cpu_pct=cpu_percent(stats, nano_cpus),
        memory_pct=memory_percent(stats),
    )


# --- logs ----------------------------------------------------------------------------------


def error_lines_24h(service: Any, now: float | None = None) -> int | None:
    """Error lines in the service's logs over 24 h; None when its log driver cannot be read."""
    import docker.errors

    since = int((now or time.time()) - 86_400)
    try:
        chunks = service.logs(stdout=True, stderr=True, since=since, follow=False)
        return count_error_lines(_lines(chunks))
    except docker.errors.APIError:
        return None


_FLUENTD_TAG = re.compile(r"^docker\.([^.{]+)\.")


def loki_service_label(attrs: dict[str, Any]) -> str | None:
    """The `service_name` Loki label of a service logging through FluentD, else None.

    The house log driver tags records `docker.<service>.{{.Name}}` and FluentD turns the
    second tag part into the label (layer_2/files/fluentd.conf).
    """
    driver = attrs["Spec"].get("TaskTemplate", {}).get("LogDriver") or {}
    if driver.get("Name") != "fluentd":
        return None
    match = _FLUENTD_TAG.match((driver.get("Options") or {}).get("tag", ""))
    return match.group(1) if match else None


def error_lines_each(services: Sequence[Any]) -> list[int | None]:
    """error_lines_24h of every service, read in parallel (each is one streaming API call)."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(error_lines_24h, services))


def _lines(chunks: Iterable[bytes]) -> Iterator[str]:
    pending = ""
    for chunk in chunks:
        pending += chunk.decode("utf-8", "replace")
        *complete, pending = pending.split("\n")
        yield from complete
    if pending:
        yield pending


# --- disk ----------------------------------------------------------------------------------


def data_root_usage(client: Any, docker_host: str | None) -> tuple[DiskUsage | None, str]:
    """Usage of the filesystem holding Docker's data root, or None and the reason."""
    root = client.info().get("DockerRootDir", "/var/lib/docker")
    url = urlparse(docker_host or os.environ.get("DOCKER_HOST", "") or "unix://")
    if url.scheme in ("unix", "npipe", ""):
        stat = os.statvfs(root)
        used = (stat.f_blocks - stat.f_bfree) * stat.f_frsize
        return DiskUsage(root, used, stat.f_bavail * stat.f_frsize), ""
    if url.scheme == "ssh":
        return _ssh_df(url, root)
    return None, f"the data root of a {url.scheme}:// engine cannot be measured from here"


def _ssh_df(url: Any, root: str) -> tuple[DiskUsage | None, str]:
    target = f"{url.username}@{url.hostname}" if url.username else str(url.hostname)
    port = ["-p", str(url.port)] if url.port else []
    try:
        out = subprocess.run(
            ["ssh", *port, target, "df", "-P", "-k", root],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"ssh df on {target} failed: {exc}"
    return parse_df(out, root), ""


def parse_df(output: str, root: str) -> DiskUsage | None:
    """`df -P -k PATH`: the last line's used and available columns (1 KiB blocks)."""
    lines = output.strip().splitlines()
    if len(lines) < 2:
        return None
    fields = lines[-1].split()
    return DiskUsage(root, int(fields[2]) * 1024, int(fields[3]) * 1024)


# --- public hostnames ----------------------------------------------------------------------


def tls_hostnames(labels: dict[str, str]) -> set[str]:
    """Hostnames of the service's Traefik routers that terminate TLS (tls.* or websecure)."""
    hosts: set[str] = set()
    for settings in _routers(labels).values():
        if _uses_tls(settings):
            hosts.update(_rule_hosts(settings.get("rule", "")))
    return hosts


@dataclass(frozen=True)
class Route:
    """One public Traefik HTTP route: what a user's browser asks for."""

    router: str
    scheme: str  # https when the router terminates TLS
    host: str
    path: str = "/"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}{self.path}"


_PATH_RULE = re.compile(r"Path(?:Prefix)?\(`([^`]+)`")


def public_routes(labels: dict[str, str]) -> list[Route]:
    """Every (host, path) of the service's Traefik HTTP routers, sorted."""
    routers = _routers(labels, kinds=("http",))
    routes: set[Route] = set()
    for name, settings in routers.items():
        scheme = "https" if _uses_tls(settings) else "http"
        rule = settings.get("rule", "")
        paths = _PATH_RULE.findall(rule) or ["/"]
        for host in _rule_hosts(rule):
            routes.update(Route(name, scheme, host, path) for path in paths)
    return sorted(routes, key=lambda r: (r.host, r.path, r.scheme))


def _routers(
    labels: dict[str, str], kinds: tuple[str, ...] = ("http", "tcp")
) -> dict[str, dict[str, str]]:
    routers: dict[str, dict[str, str]] = {}
    for key, value in labels.items():
        match = _ROUTER_KEY.match(key)
        if match and match.group(1) in kinds:
            routers.setdefault(match.group(2), {})[match.group(3)] = value
    return routers


def _uses_tls(settings: dict[str, str]) -> bool:
    if settings.get("tls") == "false":
        return False
    return any(k == "tls" or k.startswith("tls.") for k in settings) or any(
        e.strip() in ("websecure", "https") for e in settings.get("entrypoints", "").split(",")
    )


def _rule_hosts(rule: str) -> set[str]:
    hosts: set[str] = set()
    for args in _HOST_RULE.findall(rule):
        hosts.update(h for h in _BACKTICKED.findall(args) if h != "*")
    return hosts
