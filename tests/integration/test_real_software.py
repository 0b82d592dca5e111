"""The local platform on the real software (issue 27): real Traefik, the real socket proxy
(HAProxy with the project's config), real Gatus, Vault, Telegraf and InfluxDB, made by the
images step (automation/images/) on an engine of this module's own in a network namespace.

Stand-ins remain for the images no real software exists for here (Grafana, Loki, FluentD,
forward auth, the Sprocket apps; automation/images/recipes.py says why for each); a stand-in
says who it is (`OK stand-in for <image>`), so a request through Traefik shows which backend
answered. Requests go only to the namespace's loopback (`nsenter --net` + curl), never from the
host towards Swarm task addresses.

The tests run in file order on one deployment (deploy all once).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from netns_engine import Engine, driver_setup, netns_engine, registered_plugins
from test_real_stacks import _wait_converged

from automation import local_images
from automation.exit_codes import ExitCode

pytestmark = pytest.mark.integration

REAL = {
    "socket-proxy": "haproxy",
    "traefik": "traefik 2.11.14",
    "gatus": "gatus 5.12.1",
    "layer2redis-redis-primary": "redis 7.4.1",
    "rabbitmq-service": "rabbitmq 3.10.8",
    "vault": "vault 1.21.3",
    "postgres": "postgresql 16.4",
    "telegraf": "telegraf 1.32.3",
    "influx": "influxdb 2.7.10",
}
TRAEFIK_404 = "404 page not found"


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    with netns_engine(f"sprr{uuid.uuid4().hex[:6]}") as started:
        yield started


@pytest.fixture(scope="module")
def real(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("real-software")
    env = driver_setup(root, engine.host, registered_plugins(), "real software, test passphrase")
    # The socket proxy reads this module's engine: /var/run/docker.sock is the machine's own.
    layer_1 = Path(env["SPROCKET_PROJECT_DIR"]) / "Pulumi.local-layer_1.yaml"
    socket_path = engine.host.removeprefix("unix://")
    layer_1.write_text(layer_1.read_text() + f"  sprocket:docker_socket: {socket_path}\n")
    # And Telegraf's docker input (Swarm task counts of this engine, not the machine's).
    layer_2 = Path(env["SPROCKET_PROJECT_DIR"]) / "Pulumi.local-layer_2.yaml"
    layer_2.write_text(layer_2.read_text() + f"  layer_2:docker_socket: {socket_path}\n")
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


def _wait_for_routes(real: dict[str, Any], timeout_s: float = 90) -> None:
    """Traefik sees the Swarm through the proxy within its poll (15 s), and a service created
    late in the deploy one poll later than the rest: until then its routes get Traefik's own
    404. Wait for every declared route, not one (CI saw dgraph's 404 after web answered)."""
    deadline = time.monotonic() + timeout_s
    unseen: list[tuple[str, str, int]] = []
    while time.monotonic() < deadline:
        unseen = []
        for route in routers(real["client"]):
            status, body, _ = request(real["engine"], route["host"], route["path"])
            if status == 0 or (status == 404 and body.strip() == TRAEFIK_404):
                unseen.append((route["host"], route["path"], status))
        if not unseen:
            return
        time.sleep(2)
    pytest.fail(
        f"routes Traefik did not serve in {timeout_s} s (status 0: no answer): {unseen}\n"
        + _logs(real)
    )


def _logs(real: dict[str, Any]) -> str:
    """Traefik's and the proxy's log lines that are not access-log or healthcheck lines."""
    text = []
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
    wrong: list[tuple[Any, ...]] = []
    for route in found:
        status, body, trace = request(engine, route["host"], route["path"])
        if "TRAEFIK DEFAULT CERT" not in trace:
            wrong.append((route["host"], "not Traefik's local default certificate"))
            continue
        image = _image(client, route["service"])
        if route["middlewares"] or route["internal"]:
            continue  # forward auth / basic auth answer first: the next test
        if route["service"] in REAL:
            ok = status < 500 and TRAEFIK_404 not in body
        else:
            ok = status == 200 and f"OK stand-in for {image}" in body
        if not ok:
            wrong.append((route["host"], route["path"], route["service"], status, body[:120]))
    assert wrong == []


def test_a_forward_auth_route_gets_the_forward_auth_answer_first(real: dict[str, Any]) -> None:
    client, engine = real["client"], real["engine"]
    # The middlewares some service declares as forward auth (layer_1's fa-*), by their names.
    forward_auth = {
        match.group(1) + "@docker"
        for labels in _service_labels(client).values()
        for key in labels
        if (
            match := re.fullmatch(r"traefik\.http\.middlewares\.([^.]+)\.forwardauth\.address", key)
        )
    }
    guarded = [
        r for r in routers(client) if forward_auth & set(filter(None, r["middlewares"].split(",")))
    ]
    assert guarded, (forward_auth, routers(client))
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
    # This module's engine, not the machine's (the proxy mounts layer_1's docker_socket).
    assert {s["ID"] for s in json.loads(listed)} == {s.id for s in client.services.list()}
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


# --- Gatus --------------------------------------------------------------------------------------

GATUS_INTERVAL_S = 15  # Pulumi.local-layer_2.yaml's check_interval
TRAEFIK_REFRESH_S = 15  # Traefik's swarm provider polls the services this often (its default)


def gatus_statuses(real: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Gatus's own API through real Traefik (what `health` and `report sla` read), by key."""
    status, body, _ = request(
        real["engine"], "status.local.localhost", "/api/v1/endpoints/statuses"
    )
    assert status == 200, (status, body[:300])
    return {e["key"]: e for e in json.loads(body)}


def _newest(endpoint: dict[str, Any]) -> bool | None:
    results = endpoint.get("results") or []
    return bool(results[-1]["success"]) if results else None


def _wait_gatus(real: dict[str, Any], keys: set[str], success: bool, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    seen: dict[str, bool | None] = {}
    while time.monotonic() < deadline:
        statuses = gatus_statuses(real)
        seen = {key: _newest(statuses[key]) if key in statuses else None for key in keys}
        if all(value is success for value in seen.values()):
            return
        time.sleep(2)
    newest = {k: (statuses.get(k, {}).get("results") or [{}])[-1] for k in keys}
    pytest.fail(f"Gatus did not report {sorted(keys)} success={success} in {timeout_s} s: {newest}")


UP = {
    "critical_local-localhost",  # the web app's stand-in, through Traefik
    "critical_status-local-localhost",  # real Gatus itself
    "critical_fa-local-localhost",  # forward auth: not 5xx
    "critical_grafana-local-localhost",  # behind forward auth: its answer, not 5xx
}


def test_gatus_probes_the_real_routes_through_traefik(real: dict[str, Any]) -> None:
    statuses = gatus_statuses(real)
    public = [e for e in statuses.values() if e["group"] == "critical"]
    assert len(public) >= 10, sorted(statuses)
    # Routes that answer are up once Gatus has probed them (every 15 s here).
    _wait_gatus(real, UP, True, timeout_s=3 * GATUS_INTERVAL_S)
    # Gatus reached them on this machine: through Traefik, whose access log names the host.
    done = real["engine"].docker("service", "logs", "--since", "2m", "traefik", check=False)
    assert '"RequestHost":"local.localhost"' in done.stdout + done.stderr


def test_gatus_reaches_each_layer_2_service_by_name_from_inside_the_swarm(
    real: dict[str, Any],
) -> None:
    """Gatus's internal checks (layer_2/gatus.py internal_checks) connect to each data and
    monitoring service by its Swarm name. Here the kernel has no IPVS, so a service's virtual IP
    routes nowhere: local resolves names to the tasks (env_defaults.service_vips), and before
    that redis, postgres, influx, loki and grafana were down in Gatus on a healthy platform."""
    names = ("redis", "rabbitmq", "postgres", "influx", "loki", "grafana")
    _wait_gatus(real, {f"internal_{n}" for n in names}, True, timeout_s=4 * GATUS_INTERVAL_S)


def _health_in_gatus_namespace(real: dict[str, Any], *options: str) -> dict[str, Any]:
    """`health --json` run in the Gatus container's network namespace (one of this module's
    engine), reading Gatus on that namespace's loopback: the host cannot reach the route."""
    client = real["client"]
    [gatus] = client.containers.list(filters={"label": "com.docker.swarm.service.name=gatus"})
    pid = gatus.attrs["State"]["Pid"]
    done = subprocess.run(
        [
            "nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-m", "automation",
            "--json", "health", *(options or ("--no-tls", "--no-stats")),
            "--gatus-url", "http://127.0.0.1:8080",
        ],
        capture_output=True, text=True, env={**os.environ, **real["env"]}, check=False,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert done.stdout, done.stderr
    report = json.loads(done.stdout)
    return dict(report.get("data", report))


def _wait_until_no_task(client: Any, service: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        # A task being shut down still runs (and serves) until its container has stopped.
        tasks = client.services.get(service).tasks()
        if not [t for t in tasks if t["Status"]["State"] in ("running", "shutdown-pending")]:
            return
        time.sleep(1)
    pytest.fail(f"{service} still had a running task {timeout_s} s after scaling it to 0")


def test_the_morning_check_is_healthy_on_the_running_platform(real: dict[str, Any]) -> None:
    """The runbook's morning check, every check on (TLS, stats, Gatus through its route), run
    where the operator runs it: beside the engine, whose loopback has Traefik's ports (this
    module's namespace), with no `*.local.localhost` name in any resolver."""
    done = subprocess.run(
        [
            "nsenter", f"--net=/var/run/netns/{real['engine'].name}", sys.executable, "-m",
            "automation", "--json", "health", "--env", "local",
        ],
        capture_output=True, text=True, env={**os.environ, **real["env"]}, check=False,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert done.stdout, done.stderr
    report = json.loads(done.stdout)
    report = dict(report.get("data", report))
    bad = [c for c in report["checks"] if c["level"] not in ("ok", "skipped")]
    assert report["verdict"] == "healthy", json.dumps(bad, indent=1)


def test_a_service_scaled_to_zero_is_down_in_gatus_and_in_health(real: dict[str, Any]) -> None:
    engine = real["engine"]
    # The web route is checked as "not 5xx" (it may be behind forward auth): with its service
    # gone Traefik answers its own 404, which must count as down.
    key = "critical_local-localhost"
    engine.docker("service", "scale", "--detach", "local-web=0")
    try:
        # From the moment its last task has stopped: Traefik drops the route at its next poll,
        # then Gatus sees it down within two of its intervals.
        _wait_until_no_task(real["client"], "local-web", timeout_s=30)
        _wait_gatus(real, {key}, False, timeout_s=TRAEFIK_REFRESH_S + 2 * GATUS_INTERVAL_S)
        rows = {c["subject"]: c for c in _health_in_gatus_namespace(real)["checks"]}
        assert rows[key]["level"] == "critical", rows[key]
        assert rows["critical_status-local-localhost"]["level"] == "ok", rows
    finally:
        engine.docker("service", "scale", "--detach", "local-web=1")


# --- Redis --------------------------------------------------------------------------------------


def _redis_cli(real: dict[str, Any], *args: str, auth: bool = True) -> str:
    """redis-cli in the Redis container, with the password layer_2 generated (its secret)."""
    [redis] = real["client"].containers.list(
        filters={"label": "com.docker.swarm.service.name=layer2redis-redis-primary"}
    )
    login = 'REDISCLI_AUTH="$(cat /run/secrets/redis_password)" ' if auth else ""
    quoted = " ".join(shlex.quote(a) for a in args)
    done = redis.exec_run(["sh", "-c", f"{login}redis-cli {quoted}"])
    return str(done.output.decode(errors="replace")).strip()


def test_the_layer_2_password_opens_the_real_redis_with_json_and_search(
    real: dict[str, Any],
) -> None:
    modules = _redis_cli(real, "MODULE", "LIST")
    assert "ReJSON" in modules and "search" in modules, modules
    assert _redis_cli(real, "JSON.SET", "sprocket:check", "$", '{"ok":true}') == "OK"
    assert _redis_cli(real, "JSON.GET", "sprocket:check", "$.ok") == "[true]"
    # Without the password nothing is served (requirepass from the included secret file).
    assert "NOAUTH" in _redis_cli(real, "GET", "sprocket:check", auth=False)


# --- RabbitMQ -----------------------------------------------------------------------------------


def _rabbitmq(real: dict[str, Any], script: str) -> tuple[int, str]:
    [broker] = real["client"].containers.list(
        filters={"label": "com.docker.swarm.service.name=rabbitmq-service"}
    )
    done = broker.exec_run(["sh", "-c", script])
    return done.exit_code, str(done.output.decode(errors="replace"))


def test_the_layer_2_credentials_open_the_real_rabbitmq(real: dict[str, Any]) -> None:
    # The password layer_2 generated, from the secret its command copies into conf.d.
    password = 'pass="$(sed -n "s/^default_pass = //p" /run/secrets/rabbitmq-credentials.conf)"'
    code, out = _rabbitmq(real, f'{password}; rabbitmqctl authenticate_user sprocket "$pass"')
    assert code == 0 and "Success" in out, out
    code, out = _rabbitmq(real, "rabbitmqctl authenticate_user sprocket not-the-password")
    assert code != 0, out
    code, out = _rabbitmq(real, "rabbitmqctl list_permissions -p /")
    assert re.search(r"^sprocket\s+\.\*\s+\.\*\s+\.\*$", out, re.M), out
    # The management API (the UI route, Telegraf's input) answers the app user.
    code, out = _rabbitmq(
        real,
        f'{password}; wget -q -O- --user sprocket --password "$pass"'
        " http://127.0.0.1:15672/api/overview",
    )
    assert '"management_version":"3.10.8"' in out, out


# --- Postgres -----------------------------------------------------------------------------------


def _psql(real: dict[str, Any], secret: str, user: str, database: str, sql: str) -> tuple[int, str]:
    """psql over TCP in the Postgres container, logging in with a password layer_2 generated."""
    [postgres] = real["client"].containers.list(
        filters={"label": "com.docker.swarm.service.name=postgres"}
    )
    login = f'PGPASSWORD="$(cat /run/secrets/{secret})"' if secret else "PGPASSWORD=wrong"
    command = f"{login} psql -h 127.0.0.1 -U {user} -d {database} -Atc {shlex.quote(sql)}"
    done = postgres.exec_run(["sh", "-c", command])
    return done.exit_code, str(done.output.decode(errors="replace")).strip()


def test_the_layer_2_passwords_open_the_real_postgres_with_the_init_roles(
    real: dict[str, Any],
) -> None:
    # The entrypoint ran init-roles.sh from /docker-entrypoint-initdb.d on the empty volume.
    who = "select current_user || ' ' || current_database()"
    assert _psql(real, "pg_app_password", "sprocket_app", "sprocket_main", who) == (
        0,
        "sprocket_app sprocket_main",
    )
    assert _psql(real, "pg_grafana_password", "grafana", "grafana", who) == (0, "grafana grafana")
    # The admin password came from POSTGRES_PASSWORD_FILE; no role of the apps is a superuser.
    roles = "select string_agg(rolname, ',' order by rolname) from pg_roles where rolsuper"
    assert _psql(real, "pg_admin_password", "postgres", "postgres", roles) == (0, "postgres")
    code, out = _psql(real, "", "sprocket_app", "sprocket_main", "select 1")
    assert code != 0 and "password authentication failed" in out, out


# --- metrics: Telegraf into InfluxDB, the alert rules' queries ----------------------------------


def _influx(real: dict[str, Any], *args: str, stdin: str = "") -> str:
    """The influx CLI in the InfluxDB container with the operator token layer_2 generated (its
    secret file: the CLI config setup saved is the container's own, gone with a new task)."""
    [influx] = real["client"].containers.list(
        filters={"label": "com.docker.swarm.service.name=influx"}
    )
    login = 'INFLUX_TOKEN="$(cat /run/secrets/influx_token)" INFLUX_ORG=sprocket'
    command = login + " " + " ".join(shlex.quote(a) for a in ("influx", *args))
    if stdin:
        command = f"printf '%s\\n' {shlex.quote(stdin)} | env {command}"
    done = influx.exec_run(["sh", "-c", command])
    out = str(done.output.decode(errors="replace"))
    assert done.exit_code == 0, f"{command}: {out}"
    return out


def _flux_tables(real: dict[str, Any], flux: str) -> list[dict[str, str]]:
    """The rows of a Flux query's annotated CSV (`influx query --raw`), one dict per row."""
    import csv
    import io

    rows: list[dict[str, str]] = []
    header: list[str] = []
    for line in csv.reader(io.StringIO(_influx(real, "query", "--raw", flux))):
        if not line or line[0].startswith("#"):
            header = [] if not line else header
            continue
        if not header:
            header = line
            continue
        rows.append(dict(zip(header, line, strict=False)))
    return rows


def _measurements(real: dict[str, Any]) -> set[str]:
    flux = (
        'import "influxdata/influxdb/schema"\nschema.measurements(bucket: "metrics", start: -10m)'
    )
    return {row["_value"] for row in _flux_tables(real, flux)}


def test_telegrafs_metrics_arrive_in_the_bucket_the_alert_rules_read(real: dict[str, Any]) -> None:
    """What the rules read (layer_2/alerting.py): host cpu/mem/disk, the manager's Swarm task
    counts and Traefik's request counters, written by the real Telegraf through its
    influxdb_v2 output with the token from its secret store."""
    wanted = {"cpu", "mem", "disk", "docker_swarm", "prometheus"}
    deadline = time.monotonic() + 90  # agent interval and flush 10 s (+ jitter)
    found: set[str] = set()
    while time.monotonic() < deadline and not wanted <= found:
        found = _measurements(real)
        time.sleep(5)
    logs = "".join(
        c.logs(tail=30).decode(errors="replace")
        for c in real["client"].containers.list(
            filters={"label": "com.docker.swarm.service.name=telegraf"}
        )
    )
    assert wanted <= found, f"missing {sorted(wanted - found)}; Telegraf said:\n{logs}"
    # The Swarm counts are this engine's services (the docker input reads layer_2's socket).
    flux = (
        'from(bucket: "metrics") |> range(start: -10m)'
        ' |> filter(fn: (r) => r._measurement == "docker_swarm")'
        ' |> keep(columns: ["service_name"]) |> distinct(column: "service_name")'
    )
    services = {row["_value"] for row in _flux_tables(real, flux)}
    assert {"influx", "telegraf", "traefik"} <= services, services


def _synthetic_points(now_s: int) -> str:
    """Line protocol that meets every rule's condition, under tags no real series has."""
    t1, t2 = now_s - 90, now_s - 30
    fake = "synthetic-node"
    return "\n".join(
        [
            f"cpu,cpu=cpu-total,host={fake} usage_idle=3 {t2}",  # 97 % busy > 85
            f"disk,host={fake},path=/ used_percent=97 {t2}",  # > 90
            f"mem,host={fake} used_percent=99 {t2}",  # > 95
            f"docker_swarm,service_name=synthetic tasks_desired=3i,tasks_running=1i {t2}",
            # 10 of 20 requests 5xx in the window: 50 % > 5
            f"prometheus,host={fake},service=synthetic,code=200,method=GET,protocol=http"
            f" traefik_service_requests_total=100 {t1}",
            f"prometheus,host={fake},service=synthetic,code=200,method=GET,protocol=http"
            f" traefik_service_requests_total=110 {t2}",
            f"prometheus,host={fake},service=synthetic,code=500,method=GET,protocol=http"
            f" traefik_service_requests_total=5 {t1}",
            f"prometheus,host={fake},service=synthetic,code=500,method=GET,protocol=http"
            f" traefik_service_requests_total=15 {t2}",
            # 3 days to expiry: < 7 and < 30
            f"prometheus,group=critical,name=synthetic"
            f" gatus_results_certificate_expiration_seconds={3 * 86400} {t2}",
        ]
    )


def test_every_alert_rule_query_runs_on_the_real_influxdb_and_meets_its_condition(
    real: dict[str, Any],
) -> None:
    """Each rule's Flux (A) on the real InfluxDB returns a series, and with a synthetic point
    its last value (B: reduce last) passes the rule's threshold (C), as Grafana evaluates it."""
    from layer_2.alerting import RULES

    _influx(real, "write", "--bucket", "metrics", "--precision", "s",
            stdin=_synthetic_points(int(time.time())))  # fmt: skip
    synthetic = {"synthetic-node", "synthetic"}
    for rule in RULES:
        rows = _flux_tables(real, rule.query)
        assert rows, f"{rule.uid}: no series"
        mine = [r for r in rows if synthetic & {r.get("host"), r.get("service"),
                                                r.get("service_name"), r.get("name")}]  # fmt: skip
        assert mine, f"{rule.uid}: no synthetic series in {rows[:3]}"
        last = float(mine[-1]["_value"])
        met = last > rule.threshold if rule.op == "gt" else last < rule.threshold
        assert met, f"{rule.uid}: last value {last} is not {rule.op} {rule.threshold}"
    # The real series are there too for the host and Swarm rules (not only the synthetic one).
    for uid in ("sprocket-cpu-high", "sprocket-memory-full", "sprocket-disk-full",
                "sprocket-replicas-missing"):  # fmt: skip
        rule = next(r for r in RULES if r.uid == uid)
        real_rows = [
            r for r in _flux_tables(real, rule.query)
            if not synthetic & {r.get("host"), r.get("service_name")}
        ]  # fmt: skip
        assert real_rows, f"{uid}: only the synthetic series"


# --- Vault --------------------------------------------------------------------------------------


def _vault(real: dict[str, Any], *args: str, token: str = "") -> tuple[int, str]:
    """The vault CLI in the Vault container, as layer_1/README.md's operator steps run it."""
    [vault] = real["client"].containers.list(
        filters={"label": "com.docker.swarm.service.name=vault"}
    )
    done = vault.exec_run(["vault", *args], environment={"VAULT_TOKEN": token} if token else {})
    return done.exit_code, str(done.output.decode(errors="replace"))


def test_the_local_vault_inits_unseals_and_backs_up_and_restores_into_scratch(
    real: dict[str, Any],
    s3_endpoint: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., Any],
) -> None:
    """layer_1's vault.hcl on the real server: the README's init and unseal (its defaults: 5
    shares, 3 to unseal), then `backup vault` of the vault-data volume and `restore vault
    --into scratch` with the escrow's shares (docs/backups.md)."""
    from automation.images import servers

    code, out = _vault(real, "status", "-format=json")
    assert code == 2 and json.loads(out)["initialized"] is False, out  # 2: sealed
    assert json.loads(out)["storage_type"] == "file", out
    code, out = _vault(real, "operator", "init", "-format=json")
    assert code == 0, out
    init = json.loads(out)
    shares, root = init["unseal_keys_b64"], init["root_token"]
    for share in shares[:3]:
        assert _vault(real, "operator", "unseal", share)[0] in (0, 2)
    code, out = _vault(real, "status", "-format=json")
    assert code == 0 and json.loads(out)["sealed"] is False, out
    assert _vault(real, "secrets", "enable", "-path=secret", "kv-v2", token=root)[0] == 0
    code, out = _vault(real, "kv", "put", "secret/sprocket/dr-check", "a=1", "b=2", token=root)
    assert code == 0, out

    escrow = tmp_path / "escrow.json"
    escrow.write_text(json.dumps(init))
    storage = real["client"].volumes.get("vault-data").attrs["Mountpoint"]
    monkeypatch.setenv("SPROCKET_VAULT_STORAGE_DIR", storage)
    monkeypatch.setenv("SPROCKET_VAULT_ESCROW", str(escrow))
    monkeypatch.setenv("SPROCKET_VAULT_BIN", str(servers.vault_binary()))
    taken = run_cli("--json", "backup", "vault")
    assert taken.exit_code == ExitCode.OK, taken.stdout + taken.stderr
    facts = taken.json()["data"]["facts"]
    assert (facts["threshold"], facts["shares"], facts["escrow_shares"]) == (3, 5, 5), facts
    assert not any(s in taken.stdout + taken.stderr for s in [*shares, root])

    keys = tmp_path / "keys.txt"
    keys.write_text("\n".join(shares[:3]) + "\n")
    restored = run_cli("--json", "restore", "vault", "--into", "scratch", "--keys-file", str(keys))
    assert restored.exit_code == ExitCode.OK, restored.stdout + restored.stderr
    report = restored.json()["data"]
    assert report["sealed"] is False, report
    assert report["kv"] == {"path": "secret/sprocket/dr-check", "found": True, "keys": 2}
    # The live Vault is untouched: still unsealed, the secret still there.
    code, out = _vault(real, "kv", "get", "-format=json", "secret/sprocket/dr-check", token=root)
    assert code == 0 and json.loads(out)["data"]["data"] == {"a": "1", "b": "2"}, out


# --- InfluxDB's first start -----------------------------------------------------------------


def _influx_first_start(real: dict[str, Any], volume: str, password: str) -> tuple[int, str]:
    """One container of the real InfluxDB image on `volume`, set up as layer_2 sets it up
    (DOCKER_INFLUXDB_INIT_*): (exit code or 0 while running, its log)."""
    client = real["client"]
    image = next(o.image for o in real["outcomes"] if "influx" in o.services)
    container = client.containers.run(
        image,
        detach=True,
        environment={
            "DOCKER_INFLUXDB_INIT_MODE": "setup",
            "DOCKER_INFLUXDB_INIT_USERNAME": "admin",
            "DOCKER_INFLUXDB_INIT_PASSWORD": password,
            "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN": "first-start-token",
            "DOCKER_INFLUXDB_INIT_ORG": "sprocket",
            "DOCKER_INFLUXDB_INIT_BUCKET": "metrics",
            "INFLUXD_REPORTING_DISABLED": "true",
        },
        volumes={volume: {"bind": "/var/lib/influxdb2", "mode": "rw"}},
        network_mode="none",
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            container.reload()
            if container.status == "exited":
                return int(container.attrs["State"]["ExitCode"]), container.logs().decode()
            ping = container.exec_run(["influx", "ping"])
            if ping.exit_code == 0:
                return 0, container.logs().decode()
            time.sleep(1)
        pytest.fail(f"InfluxDB neither answered nor exited in 60 s: {container.logs()!r}")
    finally:
        container.remove(force=True)


def test_a_failed_first_setup_of_influxdb_is_set_up_again_at_the_next_start(
    real: dict[str, Any],
) -> None:
    """A first start that fails in setup (here a password InfluxDB refuses as too short) must
    leave nothing behind: else the next start skips setup and serves an InfluxDB that nobody
    owns, its onboarding open (`/api/v2/setup` allowed) and the operator token unknown to it.
    The project's entrypoint removes what a failed setup made, as the official image does."""
    client = real["client"]
    volume = client.volumes.create(f"influx-first-start-{uuid.uuid4().hex[:6]}")
    try:
        code, log = _influx_first_start(real, volume.name, "short")
        assert code != 0 and "password is too short" in log, log
        code, log = _influx_first_start(real, volume.name, "a-long-enough-password")
        assert code == 0, log
        # The retry set it up: the token opens it, and onboarding is closed.
        checked = client.containers.run(
            next(o.image for o in real["outcomes"] if "influx" in o.services),
            [
                "sh",
                "-c",
                "influxd >/dev/null 2>&1 & until influx ping >/dev/null 2>&1;"
                " do sleep 0.5; done; influx bucket list --org sprocket --token first-start-token;"
                " wget -q -O- http://127.0.0.1:8086/api/v2/setup",
            ],
            volumes={volume.name: {"bind": "/var/lib/influxdb2", "mode": "rw"}},
            network_mode="none",
            remove=True,
        ).decode()
        assert "metrics" in checked and re.search(r'"allowed":\s*false', checked), checked
    finally:
        volume.remove(force=True)
