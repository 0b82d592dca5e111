"""Pure checks: plain snapshots in, Findings out. No Docker, network or clock access here.

Each function takes what collect.py / probes.py read, plus the Thresholds and (where time matters)
`now`, so the tests can drive every branch with literal data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from automation.health.model import Finding, Level, Thresholds

DAY = timedelta(days=1)
# Task states that mean a container died or could not start (Swarm then starts a new task).
FAILED_TASK_STATES = frozenset({"failed", "rejected"})
# States a task passes through on its way to running.
STARTING_TASK_STATES = frozenset(
    {"new", "pending", "assigned", "accepted", "preparing", "ready", "starting"}
)
# An "error line": the words log levels and stack traces use, not any line containing "err".
ERROR_LINE = re.compile(r"\b(error|fatal|panic|exception|traceback)\b", re.IGNORECASE)


@dataclass(frozen=True)
class TaskSnapshot:
    state: str  # Status.State: running, starting, failed, rejected, shutdown, complete ...
    desired_state: str  # DesiredState: running or shutdown
    timestamp: datetime  # Status.Timestamp (aware, UTC)
    message: str = ""  # Status.Err or Status.Message


@dataclass(frozen=True)
class ServiceSnapshot:
    name: str
    mode: str  # replicated or global
    replicas: int | None  # desired replicas (replicated mode only)
    tasks: tuple[TaskSnapshot, ...]
    job: bool = False  # labelled sprocket.job=true: a one-shot task whose exit is its success
    # (running, desired) by the Swarm model's N/N rule (automation/swarm.py replica_counts), the
    # one `deploy` waits for; collect.service_snapshot fills it from the live Swarm.
    counts: tuple[int, int] | None = None


@dataclass(frozen=True)
class ContainerSample:
    """One `docker stats` sample of a service's container on the node the driver talks to."""

    service: str
    container: str
    cpu_pct: float  # of the CPU the container may use (its limit, else every host CPU)
    memory_pct: float  # of its memory limit (else host memory)


@dataclass(frozen=True)
class DiskUsage:
    """Like df: used and available to unprivileged users (root's reserved blocks excluded)."""

    path: str
    used_bytes: int
    available_bytes: int


@dataclass(frozen=True)
class CertificateInfo:
    hostname: str
    not_after: datetime  # aware, UTC
    issuer: str
    trusted: bool  # verified against the system trust store (or the given CA file)
    trust_error: str = ""


@dataclass(frozen=True)
class GatusEndpoint:
    key: str  # <group>_<name>
    success: bool | None  # the newest result; None if Gatus has no result yet
    detail: str = ""


# --- Swarm services ------------------------------------------------------------------------


def desired_tasks(service: ServiceSnapshot) -> int:
    if service.counts is not None:
        return service.counts[1]
    # Without the Swarm's own data (a snapshot made by hand): the tasks desired running.
    if service.mode == "replicated":
        return service.replicas or 0
    # global: one task per eligible node; the orchestrator marks exactly those desired running
    return sum(1 for t in service.tasks if t.desired_state == "running")


def running_tasks(service: ServiceSnapshot) -> int:
    if service.counts is not None:
        return service.counts[0]
    return sum(1 for t in service.tasks if t.state == "running" and t.desired_state == "running")


def check_replicas(service: ServiceSnapshot) -> Finding:
    """N/N is normal; some missing is a warning; none of N running is critical.

    Except a service that is still starting (a task on its way to running, none failed):
    that is converging, a warning, not an outage.
    """
    if service.job and _job_completed(service):
        return Finding("replicas", service.name, Level.OK, "job complete", "N/N or job complete")
    desired, running = desired_tasks(service), running_tasks(service)
    observed = f"{running}/{desired}"
    if running >= desired:
        return Finding("replicas", service.name, Level.OK, observed, "N/N")
    outage = running == 0 and not _converging(service)
    level = Level.CRITICAL if outage else Level.WARNING
    return Finding("replicas", service.name, level, observed, "N/N", _last_task_error(service))


def _job_completed(service: ServiceSnapshot) -> bool:
    """The newest task of a one-shot job exited 0 (Swarm's state `complete`)."""
    newest = max(service.tasks, key=lambda t: t.timestamp, default=None)
    return newest is not None and newest.state == "complete"


def _converging(service: ServiceSnapshot) -> bool:
    """A task is on its way to running and no task has failed: the service is starting up."""
    starting = any(
        t.desired_state == "running" and t.state in STARTING_TASK_STATES for t in service.tasks
    )
    failed = any(t.state in FAILED_TASK_STATES for t in service.tasks)
    return starting and not failed


def check_restarts(service: ServiceSnapshot, now: datetime, limits: Thresholds) -> Finding:
    """Tasks that failed in the last 24 h: a crash loop shows as many failed tasks."""
    since = now - DAY
    failed = [t for t in service.tasks if t.state in FAILED_TASK_STATES and t.timestamp >= since]
    level = Level.OK if len(failed) < limits.restarts_24h else Level.WARNING
    return Finding(
        "restarts",
        service.name,
        level,
        f"{len(failed)} in 24 h",
        f"< {limits.restarts_24h}",
        _last_task_error(service) if failed else "",
    )


def _last_task_error(service: ServiceSnapshot) -> str:
    """Why the newest failed task failed; else what the newest pending task is doing."""
    with_message = [t for t in service.tasks if t.message and t.state in FAILED_TASK_STATES]
    with_message = with_message or [t for t in service.tasks if t.message and t.state != "running"]
    if not with_message:
        return ""
    newest = max(with_message, key=lambda t: t.timestamp)
    return f"last task {newest.state}: {newest.message}"


# --- containers ----------------------------------------------------------------------------


def _level_over(value: float, warn: float, critical: float) -> Level:
    if value > critical:
        return Level.CRITICAL
    if value > warn:
        return Level.WARNING
    return Level.OK


def check_container(sample: ContainerSample, limits: Thresholds) -> list[Finding]:
    subject = f"{sample.service} ({sample.container})"
    cpu = _level_over(sample.cpu_pct, limits.cpu_warn_pct, limits.cpu_critical_pct)
    memory = _level_over(sample.memory_pct, limits.memory_warn_pct, limits.memory_critical_pct)
    return [
        Finding("cpu", subject, cpu, f"{sample.cpu_pct:.1f}%", f"<= {limits.cpu_warn_pct:g}%"),
        Finding(
            "memory",
            subject,
            memory,
            f"{sample.memory_pct:.1f}%",
            f"<= {limits.memory_warn_pct:g}%",
        ),
    ]


def count_error_lines(lines: Iterable[str]) -> int:
    return sum(1 for line in lines if ERROR_LINE.search(line))


def check_log_errors(
    service: str,
    error_lines: int | None,
    limits: Thresholds,
    *,
    source: str = "",
    unreadable: str = "its log driver cannot be read through the Docker API; give --loki-url",
) -> Finding:
    """None means the logs could not be read (a log driver without read support, no Loki)."""
    expected = f"<= {limits.log_errors_warn}"
    if error_lines is None:
        return Finding("log-errors", service, Level.SKIPPED, "unreadable", expected, unreadable)
    level = Level.WARNING if error_lines > limits.log_errors_warn else Level.OK
    return Finding("log-errors", service, level, f"{error_lines} in 24 h", expected, source)


# --- host ----------------------------------------------------------------------------------


def check_disk(usage: DiskUsage | None, limits: Thresholds, reason: str = "") -> Finding:
    expected = f"<= {limits.disk_warn_pct:g}% used"
    if usage is None:
        return Finding("disk", "docker data root", Level.SKIPPED, "unknown", expected, reason)
    usable = usage.used_bytes + usage.available_bytes
    pct = 100.0 * usage.used_bytes / usable if usable else 0.0
    level = _level_over(pct, limits.disk_warn_pct, limits.disk_critical_pct)
    free_gib = usage.available_bytes / 2**30
    return Finding(
        "disk", usage.path, level, f"{pct:.1f}% used", expected, f"{free_gib:.1f} GiB free"
    )


# --- public endpoints ----------------------------------------------------------------------


def check_certificate(
    hostname: str,
    cert: CertificateInfo | None,
    now: datetime,
    limits: Thresholds,
    error: str = "",
    *,
    trust_required: bool = True,
) -> Finding:
    """Expiry: warn under 30 days, critical under 7 (or expired, or no TLS answer at all).
    An untrusted certificate warns too, unless `trust_required` is False: an environment
    without ACME (local) serves Traefik's default certificate by design."""
    expected = f">= {limits.cert_warn_days:g} days"
    if cert is None:
        return Finding("tls", hostname, Level.CRITICAL, "no certificate", expected, error)
    days = (cert.not_after - now) / DAY
    if days < limits.cert_critical_days:
        level = Level.CRITICAL
    elif days < limits.cert_warn_days or (trust_required and not cert.trusted):
        level = Level.WARNING
    else:
        level = Level.OK
    observed = "expired" if days < 0 else f"{days:.1f} days left"
    message = f"issuer {cert.issuer}"
    if not cert.trusted:
        message += f"; not trusted: {cert.trust_error}"
        if not trust_required:
            message += " (expected here: this environment has no ACME certificates)"
    return Finding("tls", hostname, level, observed, expected, message)


def check_gatus(endpoints: Sequence[GatusEndpoint] | None, error: str = "") -> list[Finding]:
    """Gatus's own verdicts; Gatus not reachable is reported as skipped, not as a failure."""
    if endpoints is None:
        return [Finding("gatus", "gatus", Level.SKIPPED, "unreachable", "reachable", error)]
    findings = []
    for endpoint in endpoints:
        if endpoint.success is None:
            level, observed = Level.SKIPPED, "no result yet"
        else:
            level = Level.OK if endpoint.success else Level.CRITICAL
            observed = "up" if endpoint.success else "down"
        findings.append(Finding("gatus", endpoint.key, level, observed, "up", endpoint.detail))
    return findings
