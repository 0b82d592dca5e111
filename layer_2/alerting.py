"""Grafana alerting as code: the runbook's rules in ONE table, rendered into Grafana's alerting
file-provisioning format (apiVersion 1: `groups` of rules, `contactPoints`, `policies`).

The rules read what the stack already collects into InfluxDB through Telegraf (host `cpu`,
`mem`, `disk`; the manager's `docker_swarm` task counts; Traefik's and Gatus's Prometheus
metrics scraped by Telegraf, measurement `prometheus`). Every rule is three queries: A the Flux
query (one series per host/service/route), B `reduce` (last value of A), C `threshold` on B;
C is the rule's condition and `for` is the runbook's duration.

Routing is by the `severity` label, one contact point per severity holding the channels the
runbook names for it (SEVERITY_CHANNELS). Channel secrets are Swarm secret files that Grafana
reads at provisioning time with `$__file{...}` (provisioning values expand it, like
grafana.ini does); only the file path is in this rendered, non-secret config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from . import names

FOLDER = "Sprocket runbook"
GROUP = "runbook"
INTERVAL = "1m"
INFLUX_UID = "influxdb"  # grafana-datasources.yaml
EXPR_UID = "__expr__"  # Grafana's server-side expressions
BUCKET = names.INFLUX_METRICS_BUCKET
SECRETS = "/run/secrets"

CRITICAL, HIGH, WARNING, INFO = "critical", "high", "warning", "info"
SLACK, PAGERDUTY, EMAIL = "slack", "pagerduty", "email"
# The runbook's routing: pages for critical, chat for everything a person should see today,
# mail for the record.
SEVERITY_CHANNELS: dict[str, tuple[str, ...]] = {
    CRITICAL: (PAGERDUTY, SLACK),
    HIGH: (SLACK, EMAIL),
    WARNING: (SLACK,),
    INFO: (EMAIL,),
}
# PagerDuty's event severities are critical, error, warning, info.
PAGERDUTY_SEVERITY = {CRITICAL: "critical", HIGH: "error", WARNING: "warning", INFO: "info"}
# Swarm secret name -> file under /run/secrets, per channel (layer_2 stack secrets feed them).
CHANNEL_SECRETS = {
    SLACK: ("alert-slack-webhook", "alert_slack_webhook"),
    PAGERDUTY: ("alert-pagerduty-key", "alert_pagerduty_key"),
    EMAIL: ("alert-smtp-password", "alert_smtp_password"),
}


@dataclass(frozen=True)
class Rule:
    """One row of the runbook's table: alert when `query`'s last value is `op` `threshold`
    for `duration`; `unit` says what the number is."""

    uid: str
    title: str
    query: str  # Flux; one series per thing alerted on
    op: str  # "gt" or "lt" (Grafana threshold evaluator types)
    threshold: float
    duration: str
    severity: str
    unit: str
    summary: str


def _flux(measurement: str, field: str, extra: str = "", window: str = "5m") -> str:
    return (
        f'from(bucket: "{BUCKET}")\n'
        f"  |> range(start: -{window})\n"
        f'  |> filter(fn: (r) => r._measurement == "{measurement}" and r._field == "{field}"'
        f"{extra})\n"
        "  |> aggregateWindow(every: 1m, fn: mean, createEmpty: false)"
    )


# Share of Traefik's requests answered 5xx over the last 5 minutes, per Traefik service
# (counters: the increase of each series, summed per service).
_ERROR_RATE = f"""counts = from(bucket: "{BUCKET}")
  |> range(start: -5m)
  |> filter(fn: (r) => r._measurement == "prometheus" and r._field == "traefik_service_requests_total")
  |> group(columns: ["host", "service", "code", "method", "protocol"])
  |> difference(nonNegative: true)
total = counts |> group(columns: ["service"]) |> sum()
errors = counts |> filter(fn: (r) => r.code =~ /^5/) |> group(columns: ["service"]) |> sum()
join(tables: {{t: total, e: errors}}, on: ["service"])
  |> filter(fn: (r) => r._value_t > 0)
  |> map(fn: (r) => ({{service: r.service, _time: now(), _value: 100.0 * float(v: r._value_e) / float(v: r._value_t)}}))"""  # noqa: E501

# Tasks missing per Swarm service: desired minus running (Telegraf's docker input on a manager).
# pivot puts both fields on one row (a join would not match: their group keys differ by _field).
_MISSING_TASKS = f"""from(bucket: "{BUCKET}")
  |> range(start: -3m)
  |> filter(fn: (r) => r._measurement == "docker_swarm" and (r._field == "tasks_desired" or r._field == "tasks_running"))
  |> aggregateWindow(every: 1m, fn: last, createEmpty: false)
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> map(fn: (r) => ({{_time: r._time, service_name: r.service_name, _value: float(v: r.tasks_desired) - float(v: r.tasks_running)}}))
  |> group(columns: ["service_name"])"""  # noqa: E501

# Days until the certificate of each public route expires, as Gatus measured it.
_CERT_DAYS = (
    _flux(
        "prometheus",
        "gatus_results_certificate_expiration_seconds",
        ' and r.group == "critical"',  # each route has a critical and a warning endpoint
        window="30m",
    )
    + "\n  |> map(fn: (r) => ({r with _value: r._value / 86400.0}))"
)

RULES: tuple[Rule, ...] = (
    Rule(
        "sprocket-error-rate",
        "Error rate over 5%",
        _ERROR_RATE,
        "gt",
        5,
        "5m",
        CRITICAL,
        "% of requests answered 5xx",
        "{{ $labels.service }} answers more than 5% of its requests with a 5xx",
    ),
    Rule(
        "sprocket-replicas-missing",
        "Replicas below desired",
        _MISSING_TASKS,
        "gt",
        0,
        "2m",
        CRITICAL,
        "tasks missing",
        "{{ $labels.service_name }} runs fewer tasks than desired",
    ),
    Rule(
        "sprocket-cpu-high",
        "CPU over 85%",
        _flux("cpu", "usage_idle", ' and r.cpu == "cpu-total"', window="10m")
        + "\n  |> map(fn: (r) => ({r with _value: 100.0 - r._value}))",
        "gt",
        85,
        "10m",
        WARNING,
        "% CPU busy",
        "{{ $labels.host }} CPU is over 85%",
    ),
    Rule(
        "sprocket-disk-full",
        "Disk over 90%",
        _flux("disk", "used_percent"),
        "gt",
        90,
        "5m",
        HIGH,
        "% of the filesystem used",
        "{{ $labels.host }} {{ $labels.path }} is over 90% full",
    ),
    Rule(
        "sprocket-memory-full",
        "Memory over 95%",
        _flux("mem", "used_percent"),
        "gt",
        95,
        "5m",
        HIGH,
        "% of memory used",
        "{{ $labels.host }} memory is over 95% used",
    ),
    Rule(
        "sprocket-cert-7d",
        "Certificate expires within 7 days",
        _CERT_DAYS,
        "lt",
        7,
        "0s",
        CRITICAL,
        "days until expiry",
        "the certificate of {{ $labels.name }} expires within 7 days",
    ),
    Rule(
        "sprocket-cert-30d",
        "Certificate expires within 30 days",
        _CERT_DAYS,
        "lt",
        30,
        "0s",
        INFO,
        "days until expiry",
        "the certificate of {{ $labels.name }} expires within 30 days",
    ),
)


def _rule(rule: Rule) -> dict[str, Any]:
    seconds = 1800 if "gatus" in rule.query else 600
    return {
        "uid": rule.uid,
        "title": rule.title,
        "condition": "C",
        "data": [
            {
                "refId": "A",
                "datasourceUid": INFLUX_UID,
                "relativeTimeRange": {"from": seconds, "to": 0},
                "model": {"refId": "A", "query": rule.query},
            },
            {
                "refId": "B",
                "datasourceUid": EXPR_UID,
                "model": {
                    "refId": "B",
                    "type": "reduce",
                    "expression": "A",
                    "reducer": "last",
                    "settings": {"mode": "dropNN"},
                },
            },
            {
                "refId": "C",
                "datasourceUid": EXPR_UID,
                "model": {
                    "refId": "C",
                    "type": "threshold",
                    "expression": "B",
                    "conditions": [
                        {"evaluator": {"type": rule.op, "params": [rule.threshold]}},
                    ],
                },
            },
        ],
        "for": rule.duration,
        # A rule with no data is not an alert (a quiet service has no requests); an error
        # evaluating it is, since then the rule watches nothing.
        "noDataState": "OK",
        "execErrState": "Error",
        "labels": {"severity": rule.severity},
        "annotations": {"summary": rule.summary, "unit": rule.unit},
        "isPaused": False,
    }


@dataclass(frozen=True)
class Channels:
    """Which channels are configured (their secrets are set) and their non-secret settings."""

    slack: bool = False
    pagerduty: bool = False
    email_to: str = ""  # addresses, `;`-separated; email needs SMTP (grafana env GF_SMTP_*)

    @classmethod
    def configured(
        cls, *, slack: bool, pagerduty: bool, smtp_password: bool, email_to: str, smtp_host: str
    ) -> Channels:
        """Email is on only with a password, a server and recipients."""
        email = smtp_password and bool(smtp_host) and bool(email_to)
        return cls(slack=slack, pagerduty=pagerduty, email_to=email_to if email else "")

    def enabled(self) -> tuple[str, ...]:
        on = {SLACK: self.slack, PAGERDUTY: self.pagerduty, EMAIL: bool(self.email_to)}
        return tuple(name for name, ok in on.items() if ok)


def _secret_file(channel: str) -> str:
    return f"$__file{{{SECRETS}/{CHANNEL_SECRETS[channel][1]}}}"


def _receiver(channel: str, severity: str, channels: Channels) -> dict[str, Any]:
    uid = f"sprocket-{severity}-{channel}"
    if channel == SLACK:
        settings: dict[str, Any] = {"url": _secret_file(SLACK)}
    elif channel == PAGERDUTY:
        settings = {
            "integrationKey": _secret_file(PAGERDUTY),
            "severity": PAGERDUTY_SEVERITY[severity],
        }
    else:
        settings = {"addresses": channels.email_to, "singleEmail": True}
    return {"uid": uid, "type": channel, "settings": settings, "disableResolveMessage": False}


def severity_receivers(severity: str, channels: Channels) -> tuple[str, ...]:
    """The runbook's channels for `severity` that are configured; all configured ones when
    none of the runbook's is (an alert nobody receives is worse than one on the wrong
    channel)."""
    wanted = tuple(c for c in SEVERITY_CHANNELS[severity] if c in channels.enabled())
    return wanted or channels.enabled()


def contact_point(severity: str) -> str:
    return f"sprocket-{severity}"


def render(channels: Channels) -> str:
    """The alerting provisioning file (rules always; contact points and policies when at least
    one channel is configured, else Grafana's default policy keeps its own receiver)."""
    doc: dict[str, Any] = {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": GROUP,
                "folder": FOLDER,
                "interval": INTERVAL,
                "rules": [_rule(rule) for rule in RULES],
            }
        ],
    }
    if channels.enabled():
        doc["contactPoints"] = [
            {
                "orgId": 1,
                "name": contact_point(severity),
                "receivers": [
                    _receiver(channel, severity, channels)
                    for channel in severity_receivers(severity, channels)
                ],
            }
            for severity in SEVERITY_CHANNELS
        ]
        doc["policies"] = [
            {
                "orgId": 1,
                "receiver": contact_point(WARNING),
                "group_by": ["grafana_folder", "alertname"],
                "routes": [
                    {
                        "receiver": contact_point(severity),
                        "object_matchers": [["severity", "=", severity]],
                    }
                    for severity in SEVERITY_CHANNELS
                ],
            }
        ]
    return yaml.safe_dump(doc, sort_keys=False, width=200)
