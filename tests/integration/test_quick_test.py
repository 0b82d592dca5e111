"""scripts/quick_test.py: the health check plus HTTP probes of routes read from Traefik labels."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "quick_test.py"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=180
    )


def _serving(port: int, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise AssertionError(f"nothing served on 127.0.0.1:{port} after {timeout:g} s")


def _wait_running(swarm: Any, name: str, timeout: float = 60) -> None:
    """Running means its healthcheck passed (a task with a healthcheck is `starting` until then)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(t["Status"]["State"] == "running" for t in swarm.services.get(name).tasks()):
            return
        time.sleep(0.5)
    raise AssertionError(f"{name} has no running task after {timeout:g} s")


@pytest.fixture
def routed_service(swarm: Any, test_images: dict[str, str], service_name: str) -> dict[str, Any]:
    """The test app published on a host port, with Traefik labels for two routes."""
    from docker.types import EndpointSpec

    port = _free_port()
    host = f"{service_name}.localhost"
    labels = {
        "traefik.enable": "true",
        "traefik.http.routers.app.rule": f"Host(`{host}`)",
        "traefik.http.routers.app.entrypoints": "web",
    }
    swarm.services.create(
        test_images["1"],
        name=service_name,
        labels=labels,
        endpoint_spec=EndpointSpec(ports={port: (8080, "tcp", "host")}),
    )
    _serving(port)
    _wait_running(swarm, service_name)
    return {"port": port, "host": host, "name": service_name}


def test_healthy_service_and_route_pass(routed_service: dict[str, Any]) -> None:
    result = _run(
        "--services", routed_service["name"], "--no-tls", "--json",
        "--via", f"http://127.0.0.1:{routed_service['port']}",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["health"]["data"]["verdict"] == "healthy"
    [probe] = report["probes"]
    assert probe == {
        "url": f"http://{routed_service['host']}/",
        "router": "app",
        "status": 200,
        "verdict": "normal",
        "detail": "",
    }


def test_unmatched_route_is_a_warning_and_no_answer_is_critical(
    swarm: Any, routed_service: dict[str, Any]
) -> None:
    service = swarm.services.get(routed_service["name"])
    labels = {
        **service.attrs["Spec"]["Labels"],
        "traefik.http.routers.gone.rule": f"Host(`{routed_service['host']}`) && Path(`/gone`)",
    }
    service.update(labels=labels, fetch_current_spec=True)
    time.sleep(1)  # a label change does not restart the task; let the spec settle
    via = f"http://127.0.0.1:{routed_service['port']}"
    result = _run("--services", routed_service["name"], "--skip-health", "--via", via)
    assert result.returncode == 11, result.stdout + result.stderr
    assert f"warning   404        http://{routed_service['host']}/gone  route not matched" in (
        result.stdout
    )
    assert result.stdout.splitlines()[-1] == "WARNING"

    closed = f"http://127.0.0.1:{_free_port()}"
    down = _run("--services", routed_service["name"], "--skip-health", "--via", closed)
    assert down.returncode == 12
    assert "critical  no answer" in down.stdout


def test_bad_via_is_bad_input() -> None:
    result = _run("--via", "ftp://example")
    assert result.returncode == 64 and "--via 'ftp://example'" in result.stderr
