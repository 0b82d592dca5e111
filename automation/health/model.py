"""What a health check says: a level per finding, the runbook's thresholds, the overall verdict."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import Any

from automation.exit_codes import ExitCode


class Level(IntEnum):
    """Ordered so that max() of a set of findings is the verdict."""

    SKIPPED = -1  # could not be checked here (said why); never changes the verdict
    OK = 0
    WARNING = 1
    CRITICAL = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def verdict(self) -> str:
        """The runbook's words: a value is either normal or abnormal."""
        if self is Level.SKIPPED:
            return "skipped"
        return "normal" if self is Level.OK else "abnormal"


@dataclass(frozen=True)
class Finding:
    check: str  # replicas, restarts, cpu, memory, log-errors, disk, tls, gatus
    subject: str  # a service, container, hostname, path or Gatus endpoint
    level: Level
    observed: str  # what was measured, e.g. "0/1" or "12 days"
    expected: str  # the normal range, e.g. "N/N" or ">= 30 days"
    message: str = ""

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["level"] = self.level.label
        data["verdict"] = self.level.verdict
        return data


@dataclass(frozen=True)
class Thresholds:
    """The runbook's limits for the morning check (strictly greater or smaller is abnormal)."""

    restarts_24h: int = 3  # normal: fewer than 3 task failures per service in 24 h
    cpu_warn_pct: float = 80.0
    cpu_critical_pct: float = 90.0
    memory_warn_pct: float = 80.0
    memory_critical_pct: float = 95.0
    log_errors_warn: int = 50  # error lines per service in 24 h
    disk_warn_pct: float = 80.0
    disk_critical_pct: float = 90.0
    cert_warn_days: float = 30.0
    cert_critical_days: float = 7.0


def overall(findings: Iterable[Finding]) -> Level:
    """The worst level among the findings; skipped checks do not count, no findings is OK."""
    return max((f.level for f in findings if f.level is not Level.SKIPPED), default=Level.OK)


def exit_code_for(level: Level) -> ExitCode:
    return {
        Level.CRITICAL: ExitCode.HEALTH_CRITICAL,
        Level.WARNING: ExitCode.HEALTH_WARNING,
    }.get(level, ExitCode.OK)


def verdict_name(level: Level) -> str:
    return {Level.CRITICAL: "critical", Level.WARNING: "warning"}.get(level, "healthy")
