"""`health` against the real Swarm, real TLS servers on loopback, and Gatus's API over HTTP."""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from driver_toys import check_schema
from waiting import wait_until

from automation.exit_codes import ExitCode

pytestmark = pytest.mark.integration


def _tasks_in(swarm: Any, name: str, state: str) -> list[dict[str, Any]]:
    tasks = swarm.services.get(name).tasks()
    return [t for t in tasks if t["Status"]["State"] == state]


def _checks(result: Any, check: str) -> list[dict[str, Any]]:
    return [c for c in result.json()["data"]["checks"] if c["check"] == check]


def test_service_whose_image_exits_is_critical_at_0_of_1(
    swarm: Any, test_images: dict[str, str], service_name: str, run_cli: Any
) -> None:
    swarm.services.create(test_images["1"], command=["sh", "-c", "exit 1"], name=service_name)
    wait_until(lambda: _tasks_in(swarm, service_name, "failed"), "a failed task")

    result = run_cli("--json", "health", "--services", service_name, "--no-tls")

    assert result.exit_code == ExitCode.HEALTH_CRITICAL, result.stdout + result.stderr
    assert result.json()["data"]["verdict"] == "critical"
    [replicas] = _checks(result, "replicas")
    assert replicas["subject"] == service_name
    assert (replicas["observed"], replicas["level"], replicas["verdict"]) == (
        "0/1",
        "critical",
        "abnormal",
    )
    assert "exit" in replicas["message"]  # Swarm's reason, e.g. "task: non-zero exit (1)"


def test_a_completed_one_shot_job_is_healthy_when_labelled_as_a_job(
    swarm: Any, test_images: dict[str, str], service_name: str, run_cli: Any
) -> None:
    """layer_2's postgres-grants runs once and exits 0; the morning check must not page on it."""
    import docker

    for suffix, labels in (("-job", {"sprocket.job": "true"}), ("-plain", {})):
        swarm.services.create(
            test_images["1"],
            command=["sh", "-c", "exit 0"],
            name=f"{service_name}{suffix}",
            labels=labels,
            restart_policy=docker.types.RestartPolicy(condition="on-failure", max_attempts=5),
        )
    for suffix in ("-job", "-plain"):
        name = f"{service_name}{suffix}"
        wait_until(lambda n=name: _tasks_in(swarm, n, "complete"), f"{name}'s task to complete")

    result = run_cli("--json", "health", "--services", service_name, "--no-tls", "--no-stats")

    replicas = {c["subject"]: c for c in _checks(result, "replicas")}
    job = replicas[f"{service_name}-job"]
    assert (job["observed"], job["level"]) == ("job complete", "ok")
    # The same exit without the label looks like a service that stopped: critical.
    plain = replicas[f"{service_name}-plain"]
    assert (plain["observed"], plain["level"]) == ("0/1", "critical")
    assert result.exit_code == ExitCode.HEALTH_CRITICAL


def test_healthy_service_gives_a_healthy_verdict_and_exit_0(
    swarm: Any, test_images: dict[str, str], service_name: str, run_cli: Any
) -> None:
    swarm.services.create(test_images["1"], name=service_name)
    wait_until(lambda: _tasks_in(swarm, service_name, "running"), "a running task")

    result = run_cli("--json", "health", "--services", service_name, "--no-tls")

    assert result.exit_code == ExitCode.OK, result.stdout
    check_schema(result.json())
    data = result.json()["data"]
    assert data["verdict"] == "healthy"
    by_check = {c["check"]: c for c in data["checks"] if c["subject"].startswith(service_name)}
    assert by_check["replicas"]["observed"] == "1/1"
    assert by_check["restarts"]["observed"] == "0 in 24 h"
    assert by_check["log-errors"]["observed"] == "0 in 24 h"
    assert by_check["cpu"]["level"] == by_check["memory"]["level"] == "ok"
    [disk] = _checks(result, "disk")
    assert disk["subject"] == swarm.info()["DockerRootDir"]

    human = run_cli("health", "--services", service_name, "--no-tls", "--no-stats")
    assert human.exit_code == ExitCode.OK
    assert human.stdout.splitlines()[-1].startswith("HEALTHY: 0 critical, 0 warning")


def test_more_than_50_error_lines_in_the_logs_is_a_warning(
    swarm: Any, test_images: dict[str, str], service_name: str, run_cli: Any
) -> None:
    noisy = (
        'i=0; while [ "$i" -lt 60 ]; do echo "ERROR upstream refused ($i)"; i=$((i+1)); done; '
        "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"
    )
    swarm.services.create(test_images["1"], command=["sh", "-c", noisy], name=service_name)
    wait_until(lambda: _tasks_in(swarm, service_name, "running"), "a running task")

    result = run_cli("--json", "health", "--services", service_name, "--no-tls", "--no-stats")

    assert result.exit_code == ExitCode.HEALTH_WARNING, result.stdout
    [errors] = _checks(result, "log-errors")
    assert (errors["observed"], errors["level"]) == ("60 in 24 h", "warning")


def test_fluentd_logging_service_gets_its_error_count_from_loki_stub(
    swarm: Any, test_images: dict[str, str], service_name: str, run_cli: Any
) -> None:
    """FluentD logs are counted by Loki (a loopback stub answers: Loki cannot be installed here)."""
    from urllib.parse import parse_qs, urlsplit

    queries: list[str] = []

    class Loki(_Quiet):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            queries.append(parse_qs(url.query)["query"][0])
            body = {"status": "success", "data": {"resultType": "vector",
                    "result": [{"metric": {}, "value": [1764316800, "61"]}]}}  # fmt: skip
            data = json.dumps(body).encode()
            self.send_response(200 if url.path == "/loki/api/v1/query" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(data)

    swarm.services.create(
        test_images["1"],
        name=service_name,
        log_driver="fluentd",
        log_driver_options={
            "fluentd-address": "127.0.0.1:24224",  # nothing listens: async mode never blocks
            "fluentd-async": "true",
            "tag": f"docker.{service_name}-svc.{{{{.Name}}}}",
        },
    )
    wait_until(lambda: _tasks_in(swarm, service_name, "running"), "a running task")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Loki)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        loki = f"http://127.0.0.1:{server.server_address[1]}"
        without = run_cli("--json", "health", "--services", service_name, "--no-tls", "--no-stats")
        with_loki = run_cli(
            "--json", "health", "--services", service_name, "--no-tls", "--no-stats",
            "--loki-url", loki,
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    [cached] = _checks(without, "log-errors")  # Docker's dual-logging cache, and says so
    assert "give --loki-url" in cached["message"]
    [counted] = _checks(with_loki, "log-errors")
    assert (counted["level"], counted["observed"]) == ("warning", "61 in 24 h")
    assert with_loki.exit_code == ExitCode.HEALTH_WARNING
    assert queries == [
        f'sum(count_over_time({{service_name="{service_name}-svc"}} '
        '|~ "(?i)\\\\b(error|fatal|panic|exception|traceback)\\\\b" [24h]))'
    ]


# --- TLS certificates ----------------------------------------------------------------------


def _self_signed(tmp_path: Path, days: float) -> tuple[Path, Path]:
    """A certificate for localhost/127.0.0.1 valid from an hour ago for `days` days."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sprocket-test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"cert-{days}.pem", tmp_path / f"key-{days}.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[Callable[[float], tuple[int, Path]]]:
    """Start HTTPS servers on 127.0.0.1 with certificates valid for N days; stopped after."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(days: float) -> tuple[int, Path]:
        cert, key = _self_signed(tmp_path, days)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1], cert

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("days", "level", "code"),
    [
        (3, "critical", ExitCode.HEALTH_CRITICAL),
        (20, "warning", ExitCode.HEALTH_WARNING),
        # Valid long enough but self-signed: in local (no ACME, Traefik's default certificate
        # by design) that is normal, and said; an ACME environment warns (tests/unit).
        (90, "ok", None),
    ],
)
def test_certificate_expiry_of_a_local_tls_server(
    tls_server: Any, run_cli: Any, swarm: Any, days: float, level: str, code: ExitCode | None
) -> None:
    port, _cert = tls_server(days)
    result = run_cli(
        "--json", "health", "--services", "no-such-service-", "--no-stats",
        "--host", f"127.0.0.1:{port}",
    )  # fmt: skip
    [tls] = _checks(result, "tls")
    assert tls["subject"] == f"127.0.0.1:{port}"
    assert tls["level"] == level
    if code is not None:
        assert result.exit_code == code
    else:
        assert "not trusted" in tls["message"] and "no ACME" in tls["message"], tls
    assert "CN=sprocket-test" in tls["message"]
    left = float(tls["observed"].split()[0])
    assert days - 1 < left <= days


def test_trusted_certificate_with_time_left_is_normal(tls_server: Any) -> None:
    from automation.health import checks, probes
    from automation.health.model import Level, Thresholds

    port, cert_path = tls_server(90)
    cert = probes.fetch_certificate("127.0.0.1", port, cafile=str(cert_path))
    assert cert.trusted and cert.trust_error == ""
    finding = checks.check_certificate("127.0.0.1", cert, probes.now_utc(), Thresholds())
    assert finding.level is Level.OK


def test_a_local_localhost_route_is_probed_on_loopback(tls_server: Any) -> None:
    """The local environment's routes are `*.local.localhost`: loopback by RFC 6761, though
    glibc does not resolve them; health reads their certificate there, not 'name not known'."""
    from automation.health import probes

    port, _cert = tls_server(90)
    cert = probes.fetch_certificate("grafana.local.localhost", port)
    assert cert.hostname == "grafana.local.localhost"
    assert "CN=sprocket-test" in cert.issuer and not cert.trusted  # self-signed, as Traefik's


def test_no_tls_server_listening_is_critical(run_cli: Any, swarm: Any) -> None:
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago and has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_cli(
        "--json", "health", "--services", "no-such-service-", "--no-stats",
        "--host", f"127.0.0.1:{port}",
    )  # fmt: skip
    [tls] = _checks(result, "tls")
    assert (tls["level"], tls["observed"]) == ("critical", "no certificate")
    assert "refused" in tls["message"].lower()


# --- Gatus ---------------------------------------------------------------------------------


def test_gatus_states_read_over_http_from_a_stub_server(run_cli: Any, swarm: Any) -> None:
    """Gatus itself cannot be installed here; a loopback server answers with its API's shape."""
    statuses = [
        {"name": "app", "group": "web", "key": "web_app", "results": [{"success": True}]},
        {
            "name": "api",
            "group": "web",
            "key": "web_api",
            "results": [
                {
                    "timestamp": "2026-11-28T08:00:00Z",
                    "success": False,
                    "conditionResults": [{"condition": "[STATUS] == 200", "success": False}],
                }
            ],
        },
    ]
    body = json.dumps(statuses).encode()

    class Gatus(_Quiet):
        def do_GET(self) -> None:
            ok = self.path == "/api/v1/endpoints/statuses"
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body if ok else b"{}")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Gatus)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = run_cli(
            "--json", "health", "--services", "no-such-service-", "--no-stats", "--no-tls",
            "--gatus-url", url,
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    gatus = {c["subject"]: c for c in _checks(result, "gatus")}
    assert gatus["web_app"]["level"] == "ok"
    assert gatus["web_api"]["level"] == "critical"
    assert gatus["web_api"]["message"] == "[STATUS] == 200"
    assert result.exit_code == ExitCode.HEALTH_CRITICAL


def test_a_scheduled_job_whose_timer_stopped_shows_after_its_period_and_grace(
    swarm: Any,
    test_images: dict[str, str],
    service_name: str,
    run_cli: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Runs recorded as run-job records them (automation/health/jobs.py record_run), of
    various ages, on the backend the CLI reads: on time, late (warning), very late (critical)."""
    from automation.health.jobs import SCHEDULES, record_run
    from automation.settings import load_settings

    (tmp_path / "backend").mkdir()
    monkeypatch.setenv("SPROCKET_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path / 'backend'}")
    settings, now = load_settings(), datetime.now(UTC)
    swarm.services.create(test_images["1"], name=service_name)
    wait_until(lambda: _tasks_in(swarm, service_name, "running"), "a running task")
    args = ("--json", "health", "--services", service_name, "--no-tls", "--no-stats")

    fresh = run_cli(*args)  # nothing recorded: every job "not yet run", not an alarm
    [row] = _checks(fresh, "scheduled-jobs")
    assert (row["level"], fresh.exit_code) == ("ok", ExitCode.OK), fresh.stdout
    assert row["observed"] == f"0 on time, 0 late, {len(SCHEDULES)} not yet run"

    for job, schedule in SCHEDULES.items():  # every job on time, but the hourly drift
        record_run(settings, job, 0, now - schedule.period / 2)
    record_run(settings, "drift", 10, now - timedelta(hours=2))  # 1 h + 30 min grace: late
    late = run_cli(*args)
    [row] = _checks(late, "scheduled-jobs")
    assert (row["level"], late.exit_code) == ("warning", ExitCode.HEALTH_WARNING), late.stdout
    assert row["message"].startswith("drift last ran ") and "(2.0 h ago, exit 10)" in row["message"]

    record_run(settings, "backup", 0, now - timedelta(hours=15))  # > 2 x (6 h + 1 h)
    critical = run_cli(*args)
    [row] = _checks(critical, "scheduled-jobs")
    assert (row["level"], critical.exit_code) == ("critical", ExitCode.HEALTH_CRITICAL)
    assert "backup last ran" in row["message"] and "drift last ran" in row["message"]
    human = run_cli(*args[1:])
    assert "scheduled jobs" in human.stdout and "backup last ran" in human.stdout
