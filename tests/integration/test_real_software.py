"""The local platform on the real software (issue 27): real Traefik, the real socket proxy
(HAProxy with the project's config), real Gatus and Vault, made by the images step
(automation/images/) on an engine of this module's own in a network namespace.

Stand-ins remain for the images no real software exists for here (Grafana, Loki, FluentD,
forward auth, the Sprocket apps; automation/images/recipes.py says why for each); a stand-in
says who it is (`OK stand-in for <image>`), so a request through Traefik shows which backend
answered. Requests go only to the namespace's loopback (`nsenter --net` + curl), never from the
host towards Swarm task addresses.

The tests run in file order on one deployment (deploy all once).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from netns_engine import Engine, driver_setup, netns_engine
from test_real_stacks import _plugins_dir, _wait_converged

from automation import local_images
from automation.exit_codes import ExitCode

pytestmark = pytest.mark.integration

REAL = {
    "socket-proxy": "haproxy",
    "traefik": "traefik 2.11.14",
    "gatus": "gatus 5.12.1",
}
TRAEFIK_404 = "404 page not found"


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    with netns_engine(f"sprr{uuid.uuid4().hex[:6]}") as started:
        yield started


@pytest.fixture(scope="module")
def real(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("real-software")
    env = driver_setup(root, engine.host, _plugins_dir(), "real software, test passphrase")
    env["SPROCKET_PULUMI_CLI_DIR"] = str(Path(sys.executable).parent)
    client = engine.client()
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
        patch.delenv("SPROCKET_SETTINGS", raising=False)
        for key, value in env.items():
            patch.setenv(key, value)
        outcomes = local_images.ensure_images(
            client,
            local_images.declared_services("local"),
            offline=True,
            dry_run=False,
            real=True,
            build=False,  # make tools built them; a test never runs a 10 min build
        )
        yield {"env": env, "client": client, "engine": engine, "outcomes": outcomes}
    client.close()


def request(
    engine: Engine, host: str, path: str = "/", *, method: str = "GET", port: int = 443
) -> tuple[int, str, str]:
    """(status, body, TLS/verbose trace) of a request to the namespace's loopback."""
    scheme = "https" if port == 443 else "http"
    done = subprocess.run(
        [
            "nsenter", f"--net=/var/run/netns/{engine.name}", "curl", "-sk", "-v",
            "--max-time", "10", "-X", method, "--resolve", f"{host}:{port}:127.0.0.1",
            "-o", "-", "-w", "\n%{http_code}", f"{scheme}://{host}:{port}{path}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    body, _, status = done.stdout.rpartition("\n")
    return int(status or 0), body, done.stderr


def _service_labels(client: Any) -> dict[str, dict[str, str]]:
    return {s.name: dict(s.attrs["Spec"].get("Labels") or {}) for s in client.services.list()}


def routers(client: Any) -> list[dict[str, Any]]:
    """Every router the deployed services' labels declare: host, path, middlewares, service."""
    found = []
    for service, labels in _service_labels(client).items():
        for key, rule in labels.items():
            match = re.fullmatch(r"traefik\.http\.routers\.([^.]+)\.rule", key)
            if not match:
                continue
            router = match.group(1)
            hosts = re.findall(r"Host\(`([^`]+)`\)", rule)
            prefix = re.findall(r"PathPrefix\(`([^`]+)`\)", rule)
            middlewares = labels.get(f"traefik.http.routers.{router}.middlewares", "")
            found.append(
                {
                    "router": router,
                    "service": service,
                    "host": hosts[0],
                    "path": prefix[0] if prefix else "/",
                    "middlewares": middlewares,
                    "internal": labels.get(f"traefik.http.routers.{router}.service", ""),
                }
            )
    return found


def _image(client: Any, service: str) -> str:
    image = client.services.get(service).attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    return str(image).split("@")[0]


# --- images -------------------------------------------------------------------------------------


def test_the_images_step_made_the_real_software_where_it_can(real: dict[str, Any]) -> None:
    client = real["client"]
    by_service = {name: o for o in real["outcomes"] for name in o.services}
    for service, software in REAL.items():
        outcome = by_service[service]
        assert (outcome.action, outcome.software) == ("real", "real"), outcome
        labels = client.images.get(outcome.image).labels
        assert labels["sprocket.real"].startswith(software), labels
        assert "sprocket.stand-in" not in labels
        assert re.fullmatch(r"[0-9a-f]{16}", labels["sprocket.real.recipe"])
    for name in ("grafana", "loki", "fluentd", "forward-auth", "local-web"):
        assert by_service[name].software == "stand-in", by_service[name]
    # A second run reuses every real image (same recipe hash) and makes nothing.
    again = local_images.ensure_images(
        client, local_images.declared_services("local"), offline=True, dry_run=False, real=True
    )
    assert {o.action for o in again} == {"present"}, [o for o in again if o.action != "present"]


# --- deploy -------------------------------------------------------------------------------------


def test_deploy_all_on_the_real_software_converges(
    real: dict[str, Any], run_cli: Callable[..., Any]
) -> None:
    deploy = run_cli("--json", "--yes", "deploy", "all")
    assert deploy.exit_code == ExitCode.OK, deploy.stdout + deploy.stderr
    counts = _wait_converged(real["client"], timeout_s=120)
    assert {n: c for n, c in counts.items() if c[0] != c[1]} == {}, counts
    _wait_for_routes(real)


def _wait_for_routes(real: dict[str, Any], timeout_s: float = 60) -> None:
    """Traefik sees the Swarm through the proxy within its poll; until then, routes 404."""
    deadline = time.monotonic() + timeout_s
    web = next(r for r in routers(real["client"]) if r["service"] == "local-web")
    while time.monotonic() < deadline:
        status, body, _ = request(real["engine"], web["host"], web["path"])
        if status == 200:
            return
        time.sleep(1)
    pytest.fail(
        f"no route of web answered through Traefik in {timeout_s} s: {status} {body}\n"
        + _logs(real)
    )


def _logs(real: dict[str, Any]) -> str:
    """Traefik's and the proxy's log lines that are not access-log or healthcheck lines."""
    client = real["client"]
    text = []
    web = client.services.get("local-web")
    labels = {k: v for k, v in (web.attrs["Spec"].get("Labels") or {}).items() if "port" in k}
    tasks = [t.get("NetworksAttachments") for t in web.tasks() if t["Status"]["State"] == "running"]
    addresses = [a for n in tasks[0] or [] for a in n.get("Addresses", [])] if tasks else []
    [traefik] = client.containers.list(filters={"label": "com.docker.swarm.service.name=traefik"})
    for address in addresses:
        ip = address.split("/")[0]
        for port in {v for v in labels.values()}:
            got = traefik.exec_run(["wget", "-q", "-T", "3", "-O-", f"http://{ip}:{port}/"])
            text.append(f"from traefik {ip}:{port} -> {got.exit_code} {got.output[:200]!r}")
    text.append(f"web labels: {labels}")
    for name in ("traefik", "socket-proxy"):
        done = real["engine"].docker("service", "logs", "--tail", "300", name, check=False)
        lines = (done.stdout + done.stderr).splitlines()
        kept = [line for line in lines if "RequestAddr" not in line and "/_ping" not in line]
        text.append(f"--- {name}:\n" + "\n".join(kept[-25:]))
    return "\n".join(text)


# --- Traefik ------------------------------------------------------------------------------------


def test_every_route_answers_through_real_traefik_with_its_backend(real: dict[str, Any]) -> None:
    client, engine = real["client"], real["engine"]
    found = routers(client)
    assert len(found) >= 10, found
    wrong = []
    for route in found:
        status, body, trace = request(engine, route["host"], route["path"])
        if "TRAEFIK DEFAULT CERT" not in trace:
            wrong.append((route["host"], "not Traefik's local default certificate"))
            continue
        image = _image(client, route["service"])
        if route["middlewares"] or route["internal"]:
            continue  # forward auth / basic auth answer first: the next test
        if route["service"] in REAL or route["service"] == "vault":
            ok = status < 500 and TRAEFIK_404 not in body
        else:
            ok = status == 200 and f"OK stand-in for {image}" in body
        if not ok:
            wrong.append((route["host"], route["path"], route["service"], status, body[:120]))
    assert wrong == []


def test_a_forward_auth_route_gets_the_forward_auth_answer_first(real: dict[str, Any]) -> None:
    client, engine = real["client"], real["engine"]
    guarded = [r for r in routers(client) if "forward-auth" in r["middlewares"]]
    assert guarded, routers(client)
    for route in guarded:
        status, body, _ = request(engine, route["host"], route["path"])
        backend = f"OK stand-in for {_image(client, route['service'])}"
        # The forward-auth stand-in answers no path with 2xx: Traefik returns its answer.
        assert backend not in body, (route, status, body)
        assert TRAEFIK_404 not in body and status != 502, (route, status, body)


def test_an_unknown_host_gets_traefiks_404(real: dict[str, Any]) -> None:
    status, body, _ = request(real["engine"], "nobody.local.localhost")
    assert (status, body.strip()) == (404, TRAEFIK_404)


# --- the socket proxy ---------------------------------------------------------------------------


def _proxy_exec(real: dict[str, Any], *command: str) -> str:
    """Run a command in the socket proxy's container (its own network: Traefik's view)."""
    client = real["client"]
    [container] = client.containers.list(
        filters={"label": "com.docker.swarm.service.name=socket-proxy"}
    )
    result = container.exec_run(list(command))
    return str(result.output.decode(errors="replace"))


def test_traefik_reads_the_swarm_only_through_the_socket_proxy(real: dict[str, Any]) -> None:
    client = real["client"]
    traefik = client.services.get("traefik").attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    mounts = [m.get("Source") for m in traefik.get("Mounts") or []]
    assert "/var/run/docker.sock" not in mounts
    # Through the proxy: GET of an allowed section answers, POST and other paths are 403.
    listed = _proxy_exec(real, "wget", "-q", "-O-", "http://127.0.0.1:2375/v1.41/services")
    assert '"traefik"' in listed or "traefik" in listed
    post = _proxy_exec(
        real,
        "wget",
        "-S",
        "-q",
        "-O-",
        "--post-data=",
        "http://127.0.0.1:2375/v1.41/services/create",
    )
    assert "403" in post, post
    other = _proxy_exec(real, "wget", "-S", "-q", "-O-", "http://127.0.0.1:2375/v1.41/secrets")
    assert "403" in other, other
