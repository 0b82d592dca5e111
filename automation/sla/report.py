"""The SLA report's data (JSON) and its markdown view."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from automation.sla import compute, targets
from automation.sla.period import Period


def apex_of(names: list[str]) -> str | None:
    """The apex hostname: the public name every other public name ends with."""
    for name in sorted(names, key=len):
        if all(other == name or other.endswith(f".{name}") for other in names):
            return name
    return None


def build(statuses: list[dict[str, Any]], period: Period, now: datetime) -> dict[str, Any]:
    """The report from endpoint statuses that carry events (compute.endpoint_sla's input)."""
    counted = [s for s in statuses if s.get("group") in targets.COUNTED_GROUPS]
    apex = apex_of([str(s.get("name")) for s in counted if s.get("group") == "critical"])
    services = [
        compute.endpoint_sla(
            status, period, targets.target_pct(str(status["group"]), str(status["name"]), apex), now
        )
        for status in sorted(counted, key=lambda s: (str(s.get("group")), str(s.get("name"))))
    ]
    unreadable = {str(s.get("key")): str(s["unreadable"]) for s in counted if s.get("unreadable")}
    rows = []
    for service in services:
        row = service.as_json()
        row["unreadable"] = unreadable.get(service.key)  # None: its history was read
        rows.append(row)
    return {
        "period": {
            "label": period.label,
            "start": compute._iso(period.start),
            "end": compute._iso(period.end),
            "minutes": round(period.minutes, 2),
            "partial": now < period.end,
        },
        "services": rows,
        "summary": {
            "services": len(services),
            "met": sum(s.met for s in services),
            "missed": [s.name for s in services if not s.met],
            "incomplete": [s.name for s in services if not s.complete],
            "unreadable": [row["name"] for row in rows if row["unreadable"]],
            "incidents": sum(len(s.incidents) for s in services),
        },
    }


def markdown(data: dict[str, Any]) -> str:
    """The weekly/monthly review's table, then the incidents."""
    period = data["period"]
    lines = [
        f"# SLA {period['label']} ({period['start']} to {period['end']})",
        "",
        "| Service | Group | Target | Uptime | Budget (min) | Used | Left | Met |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for s in data["services"]:
        uptime = "n/a" if s["uptime_pct"] is None else f"{s['uptime_pct']:.3f}%"
        note = "" if s["complete"] else f" (history from {s['history_from']})"
        if not s["complete"] and s["history_from"] is None:
            note = " (no history in the period)"
        if s.get("unreadable"):
            note = f" (incomplete: {s['unreadable']})"
        met = "yes" if s["met"] else "**NO**"
        if s.get("unreadable"):
            met = "unknown"
        lines.append(
            f"| {s['name']}{note} | {s['group']} | {s['target_pct']}% | {uptime} | "
            f"{s['budget_minutes']:.1f} | {s['budget_used_minutes']:.1f} | "
            f"{s['budget_left_minutes']:.1f} | {met} |"
        )
    incidents = [(s["name"], i) for s in data["services"] for i in s["incidents"]]
    lines += ["", f"## Incidents ({len(incidents)})", ""]
    if not incidents:
        lines.append("None.")
    for name, incident in sorted(incidents, key=lambda item: item[1]["start"]):
        end = "ongoing" if incident["ongoing"] else incident["end"]
        lines.append(f"- {name}: {incident['start']} to {end} ({incident['minutes']:.1f} min)")
    summary = data["summary"]
    lines += ["", f"{summary['met']}/{summary['services']} services met their target."]
    if period["partial"]:
        lines.append("The period is not over: figures cover it up to now.")
    return "\n".join(lines)
