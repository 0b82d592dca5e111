"""health: the runbook's morning check as one command, against the Swarm manager's Docker API.

Checks: replicas N/N, task failures in 24 h, CPU and memory per container, error lines in the
logs over 24 h, disk use of Docker's data root, TLS expiry of every public hostname (from the
services' Traefik labels, plus --host), Gatus's endpoint states when Gatus is reachable, the
newest verified backups, and whether each scheduled job ran on time (automation/health/jobs.py).
Exit 0 healthy, 11 warnings, 12 critical.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from automation.context import Context
from automation.exit_codes import ExitCode
from automation.render import Result
from automation.verb import run_verb

if TYPE_CHECKING:
    from automation.health.model import Finding, Thresholds


@dataclass(frozen=True)
class HealthOptions:
    services_prefix: str | None = None  # only services whose name starts with this
    extra_hosts: tuple[str, ...] = ()  # host[:port] to check TLS on besides the Traefik hosts
    gatus_url: str | None = None
    loki_url: str | None = None  # counts error lines of services that log through FluentD
    check_tls: bool = True
    check_stats: bool = True


def run_health(ctx: Context, options: HealthOptions) -> Result:
    from automation.errors import DriverError
    from automation.health import collect
    from automation.health.model import exit_code_for, overall
    from automation.health.report import health_data, health_table

    try:
        findings = _gather(ctx, options)
    except DriverError:
        raise
    except Exception as exc:  # the Docker API is unreachable or refused us
        raise DriverError(
            f"cannot read the Swarm through the Docker API: {exc}",
            "start the engine (scripts/ensure-docker.sh) or set DOCKER_HOST to the manager",
        ) from exc
    host = ctx.settings.docker_host or os.environ.get("DOCKER_HOST") or "local engine"
    data = health_data(findings, env=ctx.env.value, docker_host=collect.redact_url(host))
    return Result("health", exit_code_for(overall(findings)), data, human=health_table)


def _gather(ctx: Context, options: HealthOptions) -> list[Finding]:
    from automation.docker_client import docker_client
    from automation.health import probes
    from automation.health.model import Thresholds

    limits, now = Thresholds(), probes.now_utc()
    client = docker_client(ctx.settings.docker_host)
    try:
        findings, hosts = _swarm_findings(ctx, client, options, limits, now)
    finally:
        client.close()
    if options.check_tls:
        from sprocket_common.env_defaults import env_defaults

        targets = sorted(hosts | set(options.extra_hosts))
        trust = env_defaults(ctx.env).acme_tls  # local: Traefik's default certificate
        findings.extend(_certificates(targets, now, limits, trust_required=trust))
    findings.extend(_gatus(options.gatus_url))
    findings.append(_backups(ctx, now))
    findings.append(_scheduled_jobs(ctx, now))
    return findings


def _scheduled_jobs(ctx: Context, now: datetime) -> Finding:
    from automation.health.jobs import jobs_finding

    return jobs_finding(ctx.settings, now)


def _backups(ctx: Context, now: datetime) -> Finding:
    from automation.health.backups import backup_finding

    return backup_finding(ctx.settings, ctx.env, now)


def _swarm_findings(
    ctx: Context, client: Any, options: HealthOptions, limits: Thresholds, now: datetime
) -> tuple[list[Finding], set[str]]:
    """Everything read through the Docker API, and the public hostnames found on the way."""
    from automation.cluster.node_health import swarm_node_findings
    from automation.health import checks, collect

    services = collect.list_services(client, options.services_prefix)
    findings: list[Finding] = []
    from automation.swarm import active_nodes

    for snapshot in collect.snapshots(services, active_nodes(client.api)):
        findings += [checks.check_replicas(snapshot), checks.check_restarts(snapshot, now, limits)]
    findings += swarm_node_findings(client.api)  # a row per node on a multi-node Swarm
    if options.check_stats:
        for sample in collect.container_samples(client, {s.name for s in services}):
            findings.extend(checks.check_container(sample, limits))
    for service, errors in zip(services, collect.error_lines_each(services), strict=True):
        findings.append(_log_errors(service, errors, options.loki_url, limits))
    usage, reason = collect.data_root_usage(client, ctx.settings.docker_host)
    findings.append(checks.check_disk(usage, limits, reason))
    hosts: set[str] = set()
    for service in services:
        hosts |= collect.tls_hostnames(service.attrs["Spec"].get("Labels") or {})
    return findings, hosts


def _log_errors(
    service: Any, errors: int | None, loki_url: str | None, limits: Thresholds
) -> Finding:
    """Docker's count, or Loki's for a service that logs through FluentD when Loki is known.

    Docker 20.10+ keeps a local cache of remote-driver logs ("dual logging"), so the API may
    still answer for a FluentD service, but only with what its cache kept.
    """
    from automation.health import checks, collect, probes

    label = collect.loki_service_label(service.attrs)
    if label is None:
        return checks.check_log_errors(service.name, errors, limits)
    if not loki_url:
        note = "logs go to FluentD: Docker's local cache only; give --loki-url for Loki's count"
        return checks.check_log_errors(service.name, errors, limits, source=note, unreadable=note)
    try:
        count = probes.loki_error_lines(loki_url, label)
    except Exception as exc:  # any HTTP or JSON failure: say so, do not guess
        return checks.check_log_errors(service.name, None, limits, unreadable=f"Loki: {exc}")
    return checks.check_log_errors(
        service.name, count, limits, source=f"counted by Loki (service_name={label})"
    )


def _certificates(
    targets: list[str], now: datetime, limits: Thresholds, *, trust_required: bool
) -> list[Finding]:
    from automation.health import checks, probes

    findings: list[Finding] = []
    for target in targets:
        host, port = probes.split_host_port(target)
        try:
            cert = probes.fetch_certificate(host, port)
        except OSError as exc:  # refused, timed out, TLS alert: users see no valid TLS either
            findings.append(checks.check_certificate(target, None, now, limits, str(exc)))
        else:
            findings.append(
                checks.check_certificate(target, cert, now, limits, trust_required=trust_required)
            )
    return findings


def _gatus(url: str | None) -> list[Finding]:
    from automation.health import checks, probes

    if not url:
        return checks.check_gatus(None, "no Gatus URL (--gatus-url or SPROCKET_GATUS_URL)")
    try:
        return checks.check_gatus(probes.gatus_endpoints(url))
    except Exception as exc:  # any HTTP or JSON failure means "not reachable" here
        return checks.check_gatus(None, f"{url}: {exc}")


@click.command()
@click.option(
    "--services", "services_prefix", metavar="PREFIX", help="Only services named PREFIX*."
)
@click.option(
    "--host",
    "extra_hosts",
    multiple=True,
    metavar="HOST[:PORT]",
    help="Also check the TLS certificate of HOST (repeatable).",
)
@click.option(
    "--gatus-url",
    envvar="SPROCKET_GATUS_URL",
    metavar="URL",
    help="Gatus's base URL (env SPROCKET_GATUS_URL); skipped when unset or unreachable.",
)
@click.option(
    "--loki-url",
    envvar="SPROCKET_LOKI_URL",
    metavar="URL",
    help="Loki's base URL (env SPROCKET_LOKI_URL): error counts of FluentD-logging services.",
)
@click.option("--no-tls", is_flag=True, help="Skip the certificate checks (offline).")
@click.option("--no-stats", is_flag=True, help="Skip CPU/memory sampling (about 2 s).")
def health(
    services_prefix: str | None,
    extra_hosts: tuple[str, ...],
    gatus_url: str | None,
    loki_url: str | None,
    no_tls: bool,
    no_stats: bool,
) -> ExitCode:
    """The morning check: exit 0 healthy, 11 warnings, 12 critical."""
    options = HealthOptions(
        services_prefix=services_prefix,
        extra_hosts=extra_hosts,
        gatus_url=gatus_url,
        loki_url=loki_url,
        check_tls=not no_tls,
        check_stats=not no_stats,
    )
    return run_verb("health", lambda ctx: run_health(ctx, options))


COMMANDS = [health]
