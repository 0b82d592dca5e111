"""The health result as data (for --json) and as the runbook's table (for people)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from automation.health.model import Finding, Level, overall, verdict_name

_LEVEL_ORDER = {Level.CRITICAL: 0, Level.WARNING: 1, Level.OK: 2, Level.SKIPPED: 3}


def health_data(findings: Sequence[Finding], *, env: str, docker_host: str) -> dict[str, Any]:
    level = overall(findings)
    counts = Counter(f.level.label for f in findings)
    return {
        "env": env,
        "docker_host": docker_host,
        "verdict": verdict_name(level),
        "counts": {lvl.label: counts.get(lvl.label, 0) for lvl in Level},
        "checks": [f.as_json() for f in findings],
    }


def health_table(data: dict[str, Any]) -> str:
    """Abnormal rows first; one line per finding; the verdict last, where the eye ends."""
    rows = sorted(data["checks"], key=lambda c: _LEVEL_ORDER[Level[c["level"].upper()]])
    header = ("verdict", "level", "check", "subject", "observed", "normal", "note")
    table = [header, *[_row(check) for check in rows]]
    widths = [min(max(len(row[i]) for row in table), 48) for i in range(len(header) - 1)]
    lines = []
    for row in table:
        cells = [cell[:48].ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    counts = data["counts"]
    lines.append("")
    lines.append(
        f"{data['verdict'].upper()}: {counts['critical']} critical, {counts['warning']} warning, "
        f"{counts['ok']} normal, {counts['skipped']} skipped ({data['docker_host']})"
    )
    return "\n".join(lines)


def _row(check: dict[str, Any]) -> tuple[str, ...]:
    return (
        check["verdict"],
        check["level"],
        check["check"],
        check["subject"],
        check["observed"],
        check["expected"],
        check["message"],
    )
