"""The real Gatus v5.12.1 (built from ../shared/vendor/servers by automation/images/servers.py)
runs layer_2's generated local and prod configs on loopback, with every endpoint pointed at a
refused loopback port: nothing answers, so every endpoint must be down in Gatus's API, in
`health`'s Gatus row and in `report sla`.

The defect this guards: a failed call has status 0 and a ~1 ms response time, so endpoints
whose only conditions were `[STATUS] < 500` / `[RESPONSE_TIME] < 500` were `success=true`.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import yaml

from sprocket_common.declared import run_layer_program

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "sprocket.example.gg"
LAYER1 = {
    "ingress_network": "traefik-ingress",
    "socket_proxy_network": "socket-proxy",
    "base_domain": DOMAIN,
    "tls_resolver": "letsencrypt",
    "forward_auth_middleware": "forward-auth@docker",
    "vault_address": "https://vault.sprocket.example.gg",
    "spaces_endpoint": "nyc3.digitaloceanspaces.com",
    "spaces_buckets": {},
    "manager_ip": "203.0.113.1",
    "droplet_ips": ["203.0.113.1", "203.0.113.2"],
}
# A configured extra check whose healthy answer is "not 5xx" (the `[STATUS] < 500` case).
PUBLIC_CHECK = {"name": f"dgraph.{DOMAIN}", "url": f"https://dgraph.{DOMAIN}/", "expect_ok": False}
START_TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def gatus_binary() -> Path:
    from automation.images import servers

    try:
        return servers.ensure(servers.servers()["gatus"], cached_only=True)
    except servers.BuildError as exc:
        pytest.fail(f"{exc} (make tools builds it)")


def generated_config(env: str) -> dict[str, Any]:
    """layer_2's Gatus config as the program renders it for `env` (under Pulumi's mocks)."""
    config = {} if env == "local" else {"base_domain": DOMAIN}
    if env == "prod":
        config["layer_2:public_checks"] = [PUBLIC_CHECK]
    record = run_layer_program("layer_2", env, config=config, upstream={"layer_1": LAYER1})
    data = record.one("docker:index/secret:Secret", "gatus-gatus-config").inputs["data"]
    if isinstance(data, dict):
        data = data["value"]
    loaded = yaml.safe_load(base64.b64decode(data).decode())
    assert isinstance(loaded, dict)
    return loaded


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pointed_at_nothing(config: dict[str, Any], web_port: int, data: Path) -> dict[str, Any]:
    """The generated config, every endpoint moved to a loopback port nothing listens on
    (scheme and path kept), Gatus's own storage and web port moved under the test."""
    refused = _free_port()  # bound and released: nothing listens there
    for endpoint in config["endpoints"]:
        url = urlsplit(endpoint["url"])
        endpoint["url"] = url._replace(netloc=f"127.0.0.1:{refused}").geturl()
        endpoint.pop("alerts", None)
    config.pop("alerting", None)
    config["storage"] = {"type": "sqlite", "path": str(data / "data.db")}
    config["web"] = {"address": "127.0.0.1", "port": web_port}
    return config


def _wait_for_results(base: str, count: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gatus exited {process.returncode}: {log.read_text()[-2000:]}")
        try:
            listed = requests.get(f"{base}/api/v1/endpoints/statuses", timeout=2).json()
        except (requests.RequestException, ValueError):
            listed = []
        if len(listed) == count and all(e.get("results") for e in listed):
            return
        time.sleep(0.5)
    pytest.fail(f"gatus has no result for every endpoint in {START_TIMEOUT_S} s: {log.read_text()}")


@pytest.fixture(scope="module")
def running(gatus_binary: Path, tmp_path_factory: Any) -> Iterator[dict[str, tuple[str, int]]]:
    """env -> (base URL, number of endpoints) of a real Gatus running that env's generated
    config. Both run side by side: Gatus starts its endpoints' monitors 777 ms apart
    (watchdog.go), so the first result of the last endpoint comes ~40 s after the start."""
    started: dict[str, tuple[str, int, subprocess.Popen[bytes], Path]] = {}
    try:
        for env in ("local", "prod"):
            folder = tmp_path_factory.mktemp(f"gatus-{env}")
            port = _free_port()
            config = pointed_at_nothing(generated_config(env), port, folder)
            path = folder / "config.yaml"
            path.write_text(yaml.safe_dump(config))
            log = folder / "gatus.log"
            with log.open("w") as out:
                process = subprocess.Popen(
                    [str(gatus_binary)],
                    env={"PATH": os.environ["PATH"], "GATUS_CONFIG_PATH": str(path)},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            started[env] = (f"http://127.0.0.1:{port}", len(config["endpoints"]), process, log)
        for base, count, process, log in started.values():
            _wait_for_results(base, count, process, log)
        yield {env: (base, count) for env, (base, count, _, _) in started.items()}
    finally:
        for _, _, process, _ in started.values():
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture(params=["local", "prod"])
def gatus(request: Any, running: dict[str, tuple[str, int]]) -> tuple[str, int]:
    return running[request.param]


def test_every_generated_endpoint_is_down_when_nothing_answers(gatus: tuple[str, int]) -> None:
    base, count = gatus
    listed = requests.get(f"{base}/api/v1/endpoints/statuses", timeout=5).json()
    assert len(listed) == count
    up = [f"{e['group']}/{e['name']}" for e in listed if e["results"][-1]["success"]]
    assert up == [], "Gatus counts these as up although nothing answered"


def test_health_gatus_row_reads_them_as_down(gatus: tuple[str, int]) -> None:
    from automation.health import checks, probes
    from automation.health.model import Level

    base, count = gatus
    findings = checks.check_gatus(probes.gatus_endpoints(base))
    assert len(findings) == count
    assert {f.level for f in findings} == {Level.CRITICAL}, [
        (f.subject, f.level) for f in findings if f.level != Level.CRITICAL
    ]


def test_report_sla_counts_them_as_down(gatus: tuple[str, int]) -> None:
    base, _ = gatus
    year, week, _ = datetime.now(UTC).isocalendar()
    done = subprocess.run(
        [
            *(sys.executable, "-m", "automation", "--json", "report", "sla"),
            *("--week", f"{year}-W{week:02d}", "--gatus-url", base),
        ],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    services = report["data"]["services"] if "data" in report else report["services"]
    assert services, report
    still_up = [s["name"] for s in services if s["uptime_pct"] not in (None, 0.0)]
    assert still_up == [], f"report sla counts these as up: {still_up}"
    assert all(s["incidents"] for s in services)
