"""The morning check's judgements: pure functions over literal snapshots (the runbook's table)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from automation.exit_codes import ExitCode
from automation.health import checks, collect
from automation.health.checks import (
    CertificateInfo,
    ContainerSample,
    DiskUsage,
    GatusEndpoint,
    ServiceSnapshot,
    TaskSnapshot,
)
from automation.health.model import Finding, Level, Thresholds, exit_code_for, overall
from automation.health.probes import _gatus_endpoint, split_host_port
from automation.health.report import health_data, health_table

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
LIMITS = Thresholds()


def _task(state: str, desired: str = "running", age_h: float = 1, msg: str = "") -> TaskSnapshot:
    return TaskSnapshot(state, desired, NOW - timedelta(hours=age_h), msg)


def _service(
    *tasks: TaskSnapshot, replicas: int | None = 1, mode: str = "replicated"
) -> ServiceSnapshot:
    return ServiceSnapshot("prod-web", mode, replicas, tasks)


@pytest.mark.parametrize(
    ("service", "level", "observed"),
    [
        (_service(_task("running")), Level.OK, "1/1"),
        (_service(_task("running"), _task("running"), replicas=2), Level.OK, "2/2"),
        (_service(_task("running"), _task("starting"), replicas=2), Level.WARNING, "1/2"),
        # starting up, nothing failed yet: converging, not an outage
        (_service(_task("starting")), Level.WARNING, "0/1"),
        # a crash loop: a new task is starting again, but tasks have failed
        (_service(_task("starting"), _task("failed", "shutdown")), Level.CRITICAL, "0/1"),
        (
            _service(_task("failed", "shutdown", msg="task: non-zero exit (1)")),
            Level.CRITICAL,
            "0/1",
        ),
        (_service(replicas=0), Level.OK, "0/0"),
        # a task being shut down by an update does not count as running
        (_service(_task("running", "shutdown")), Level.CRITICAL, "0/1"),
        # global mode: desired = tasks the orchestrator wants running, one per node
        (
            _service(_task("running"), _task("pending"), replicas=None, mode="global"),
            Level.WARNING,
            "1/2",
        ),
    ],
)
def test_replicas_n_of_n_is_normal_none_running_is_critical(
    service: ServiceSnapshot, level: Level, observed: str
) -> None:
    finding = checks.check_replicas(service)
    assert (finding.level, finding.observed) == (level, observed)


@pytest.mark.parametrize(
    ("tasks", "level", "observed"),
    [
        ((_task("complete"),), Level.OK, "job complete"),
        # a retry after a failure that then completed: the newest task decides
        (
            (_task("failed", "shutdown", age_h=2), _task("complete", age_h=1)),
            Level.OK,
            "job complete",
        ),
        ((_task("running"),), Level.OK, "1/1"),  # still at work
        # it gave up: failed and nothing running is an outage like any other
        ((_task("failed", "shutdown"),), Level.CRITICAL, "0/1"),
    ],
)
def test_a_one_shot_job_that_completed_is_normal(
    tasks: tuple[TaskSnapshot, ...], level: Level, observed: str
) -> None:
    job = ServiceSnapshot("prod-postgres-grants", "replicated", 1, tasks, job=True)
    finding = checks.check_replicas(job)
    assert (finding.level, finding.observed) == (level, observed)


def test_a_completed_task_without_the_job_label_is_still_0_of_1() -> None:
    finding = checks.check_replicas(_service(_task("complete")))
    assert (finding.level, finding.observed) == (Level.CRITICAL, "0/1")


def test_zero_running_names_the_last_task_error() -> None:
    service = _service(
        _task("failed", "shutdown", age_h=2, msg="old"),
        _task("failed", "shutdown", age_h=0.1, msg="task: non-zero exit (1)"),
    )
    assert checks.check_replicas(service).message == "last task failed: task: non-zero exit (1)"


@pytest.mark.parametrize(
    ("failed_ages_h", "level"),
    [
        ((), Level.OK),
        ((1, 2), Level.OK),  # 2 < 3 is normal
        ((1, 2, 3), Level.WARNING),
        ((1, 2, 30, 40), Level.OK),  # older than 24 h does not count
    ],
)
def test_restarts_in_24h_under_3_is_normal(failed_ages_h: tuple[int, ...], level: Level) -> None:
    tasks = [_task("running")] + [_task("failed", "shutdown", age) for age in failed_ages_h]
    assert checks.check_restarts(_service(*tasks), NOW, LIMITS).level is level


@pytest.mark.parametrize(
    ("cpu", "memory", "levels"),
    [
        (10.0, 10.0, (Level.OK, Level.OK)),
        (80.0, 80.0, (Level.OK, Level.OK)),  # "over 80%" is abnormal; 80 itself is not
        (85.0, 85.0, (Level.WARNING, Level.WARNING)),
        (91.0, 91.0, (Level.CRITICAL, Level.WARNING)),  # CPU critical over 90, memory over 95
        (50.0, 96.0, (Level.OK, Level.CRITICAL)),
    ],
)
def test_cpu_and_memory_against_the_runbook_thresholds(
    cpu: float, memory: float, levels: tuple[Level, Level]
) -> None:
    cpu_finding, memory_finding = checks.check_container(
        ContainerSample("prod-web", "prod-web.1.abc", cpu, memory), LIMITS
    )
    assert (cpu_finding.level, memory_finding.level) == levels
    assert cpu_finding.subject == "prod-web (prod-web.1.abc)"


def test_error_lines_are_counted_by_word_not_substring() -> None:
    lines = [
        "INFO served /",
        "ERROR db timeout",
        "level=error msg=boom",
        "Traceback (most recent call last):",
        "terrorist detection disabled",  # not an error line
        "stderr ready",
    ]
    assert checks.count_error_lines(lines) == 3


@pytest.mark.parametrize(("count", "level"), [(0, Level.OK), (50, Level.OK), (51, Level.WARNING)])
def test_more_than_50_error_lines_is_a_warning(count: int, level: Level) -> None:
    assert checks.check_log_errors("prod-web", count, LIMITS).level is level


def test_unreadable_logs_are_skipped_not_healthy_or_failing() -> None:
    finding = checks.check_log_errors("prod-web", None, LIMITS)
    assert finding.level is Level.SKIPPED and "--loki-url" in finding.message


@pytest.mark.parametrize(
    ("used", "available", "level"),
    [(50, 50, Level.OK), (80, 20, Level.OK), (81, 19, Level.WARNING), (95, 5, Level.CRITICAL)],
)
def test_disk_over_80_percent_is_a_warning(used: int, available: int, level: Level) -> None:
    finding = checks.check_disk(
        DiskUsage("/var/lib/docker", used * 2**30, available * 2**30), LIMITS
    )
    assert finding.level is level
    assert finding.observed == f"{used:.1f}% used"


def test_disk_that_cannot_be_measured_says_why() -> None:
    finding = checks.check_disk(None, LIMITS, "tcp:// engine")
    assert finding.level is Level.SKIPPED and finding.message == "tcp:// engine"


def _cert(days: float, trusted: bool = True) -> CertificateInfo:
    return CertificateInfo("sprocket.example", NOW + timedelta(days=days), "CN=R11", trusted, "")


@pytest.mark.parametrize(
    ("days", "trusted", "level"),
    [
        (60, True, Level.OK),
        (30, True, Level.OK),
        (29.9, True, Level.WARNING),
        (7.5, True, Level.WARNING),
        (6.9, True, Level.CRITICAL),
        (-1, True, Level.CRITICAL),
        (60, False, Level.WARNING),  # e.g. Traefik's default certificate
    ],
)
def test_certificate_expiry_warns_under_30_days_and_is_critical_under_7(
    days: float, trusted: bool, level: Level
) -> None:
    finding = checks.check_certificate("sprocket.example", _cert(days, trusted), NOW, LIMITS)
    assert finding.level is level


def test_an_untrusted_certificate_is_ok_where_the_environment_has_no_acme() -> None:
    """local serves Traefik's default certificate by design (no ACME): the morning check does
    not warn for it, but still says it is not trusted and still checks its expiry."""
    untrusted = _cert(365, False)
    finding = checks.check_certificate("a.local.localhost", untrusted, NOW, LIMITS,
                                       trust_required=False)  # fmt: skip
    assert finding.level is Level.OK and "not trusted" in finding.message, finding
    expiring = checks.check_certificate("a.local.localhost", _cert(3, False), NOW, LIMITS,
                                        trust_required=False)  # fmt: skip
    assert expiring.level is Level.CRITICAL


def test_no_certificate_at_all_is_critical_with_the_error() -> None:
    finding = checks.check_certificate("a.example", None, NOW, LIMITS, "connection refused")
    assert finding.level is Level.CRITICAL and finding.message == "connection refused"


def test_gatus_down_endpoint_is_critical_and_unreachable_gatus_is_skipped() -> None:
    endpoints = [GatusEndpoint("web_app", True), GatusEndpoint("web_api", False, "[STATUS] == 200")]
    levels = [f.level for f in checks.check_gatus(endpoints)]
    assert levels == [Level.OK, Level.CRITICAL]
    assert checks.check_gatus(None, "timeout")[0].level is Level.SKIPPED


def test_gatus_newest_result_decides() -> None:
    item = {
        "name": "api",
        "group": "web",
        "key": "web_api",
        "results": [
            {"timestamp": "2026-11-28T07:59:00Z", "success": True},
            {
                "timestamp": "2026-11-28T08:00:00Z",
                "success": False,
                "conditionResults": [{"condition": "[STATUS] == 200", "success": False}],
            },
        ],
    }
    assert _gatus_endpoint(item) == GatusEndpoint("web_api", False, "[STATUS] == 200")
    assert _gatus_endpoint({"key": "x", "results": []}).success is None


@pytest.mark.parametrize(
    ("levels", "code"),
    [
        ((), ExitCode.OK),
        ((Level.OK, Level.SKIPPED), ExitCode.OK),
        ((Level.OK, Level.WARNING), ExitCode.HEALTH_WARNING),
        ((Level.WARNING, Level.CRITICAL, Level.OK), ExitCode.HEALTH_CRITICAL),
    ],
)
def test_exit_code_is_the_worst_finding(levels: tuple[Level, ...], code: ExitCode) -> None:
    findings = [Finding("x", "y", level, "", "") for level in levels]
    assert exit_code_for(overall(findings)) is code


def test_traefik_labels_give_the_tls_hostnames() -> None:
    labels = {
        "traefik.enable": "true",
        "traefik.http.routers.web-prod.rule": (
            "Host(`sprocket.example`) || Host(`www.sprocket.example`)"
        ),
        "traefik.http.routers.web-prod.tls.certresolver": "lets-encrypt",
        "traefik.http.routers.api-prod.rule": "Host(`api.sprocket.example`,`gql.sprocket.example`)",
        "traefik.http.routers.api-prod.entrypoints": "websecure",
        "traefik.http.routers.plain.rule": "Host(`plain.sprocket.example`)",  # no TLS
        "traefik.http.routers.off.rule": "Host(`off.sprocket.example`)",
        "traefik.http.routers.off.tls": "false",
        "traefik.tcp.routers.rmq.rule": "HostSNI(`*`)",
        "traefik.tcp.routers.rmq.tls": "true",
    }
    assert collect.tls_hostnames(labels) == {
        "sprocket.example",
        "www.sprocket.example",
        "api.sprocket.example",
        "gql.sprocket.example",
    }


def test_docker_timestamps_with_nanoseconds_parse() -> None:
    parsed = collect.parse_time("2026-11-28T07:59:01.123456789Z")
    assert parsed == datetime(2026, 11, 28, 7, 59, 1, 123456, tzinfo=UTC)


def test_cpu_percent_is_of_the_limit_when_there_is_one() -> None:
    stats = {
        "cpu_stats": {
            "cpu_usage": {"total_usage": 2_000},
            "system_cpu_usage": 10_000,
            "online_cpus": 2,
        },
        "precpu_stats": {"cpu_usage": {"total_usage": 1_000}, "system_cpu_usage": 8_000},
    }
    # 1000/2000 of the host's 2 CPUs = 1 core: 50% of the host, 200% of a half-CPU limit
    assert collect.cpu_percent(stats) == pytest.approx(50.0)
    assert collect.cpu_percent(stats, nano_cpus=500_000_000) == pytest.approx(200.0)


def test_memory_percent_leaves_out_page_cache() -> None:
    stats = {"memory_stats": {"usage": 600, "limit": 1000, "stats": {"inactive_file": 100}}}
    assert collect.memory_percent(stats) == pytest.approx(50.0)


def test_df_output_parses_to_used_and_available() -> None:
    out = "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda 100 81 19 81% /\n"
    assert collect.parse_df(out, "/var/lib/docker") == DiskUsage(
        "/var/lib/docker", 81 * 1024, 19 * 1024
    )


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("a.example", ("a.example", 443)),
        ("127.0.0.1:8443", ("127.0.0.1", 8443)),
        ("[::1]:9", ("::1", 9)),
    ],
)
def test_host_port_targets(target: str, expected: tuple[str, int]) -> None:
    assert split_host_port(target) == expected


def test_docker_host_password_never_reaches_the_report() -> None:
    assert collect.redact_url("tcp://ops:hunter22@manager:2376") == "tcp://ops:***@manager:2376"


def test_table_puts_abnormal_rows_first_and_ends_with_the_verdict() -> None:
    findings = [
        Finding("disk", "/var/lib/docker", Level.OK, "20.0% used", "<= 80% used"),
        Finding("replicas", "prod-web", Level.CRITICAL, "0/1", "N/N", "non-zero exit"),
    ]
    text = health_table(health_data(findings, env="prod", docker_host="ssh://root@manager"))
    lines = text.splitlines()
    assert lines[1].split() == [
        "abnormal",
        "critical",
        "replicas",
        "prod-web",
        "0/1",
        "N/N",
        "non-zero",
        "exit",
    ]
    assert lines[-1] == "CRITICAL: 1 critical, 0 warning, 1 normal, 0 skipped (ssh://root@manager)"


def test_the_failure_reason_wins_over_a_pending_task_message() -> None:
    service = _service(
        _task("failed", "shutdown", age_h=0.2, msg="task: non-zero exit (1)"),
        _task("ready", "running", age_h=0.1, msg="prepared"),
    )
    assert checks.check_replicas(service).message == "last task failed: task: non-zero exit (1)"


def test_public_routes_from_traefik_labels() -> None:
    labels = {
        "traefik.http.routers.web.rule": "Host(`sprocket.example`)",
        "traefik.http.routers.web.tls.certresolver": "le",
        "traefik.http.routers.api.rule": "Host(`api.sprocket.example`) && PathPrefix(`/graphql`)",
        "traefik.http.routers.api.entrypoints": "web",
        "traefik.tcp.routers.rmq.rule": "HostSNI(`rmq.sprocket.example`)",  # not an HTTP route
    }
    assert [route.url for route in collect.public_routes(labels)] == [
        "http://api.sprocket.example/graphql",
        "https://sprocket.example/",
    ]


def test_unreachable_docker_engine_is_one_clear_error(
    run_cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such-docker.sock")
    result = run_cli("health", "--no-tls")
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: cannot read the Swarm through the Docker API")
    assert "DOCKER_HOST" in line


def test_loki_label_comes_from_the_house_fluentd_tag() -> None:
    def attrs(driver: dict[str, Any]) -> dict[str, Any]:
        return {"Spec": {"TaskTemplate": {"LogDriver": driver}}}

    fluentd = {"Name": "fluentd", "Options": {"tag": "docker.sprocket-core.{{.Name}}"}}
    assert collect.loki_service_label(attrs(fluentd)) == "sprocket-core"
    assert collect.loki_service_label(attrs({"Name": "json-file"})) is None
    assert collect.loki_service_label(attrs({"Name": "fluentd", "Options": {}})) is None
