"""A database consumer on the test Swarm, as a stand-in layer_2 program, for `rotate` tests.

`consumer_program(...)` declares what layer_2 declares for a database client: a Swarm secret
holding the app password (the rotated one from `rotation:db_app_*` config once a rotation
stored it, sprocket_common/rotation.py, else the initial one) and a service mounting it, with
the same outputs layer_2 exports (`app_db_user`, `app_db_password`). The service runs the
psql stand-in image: it inserts a heartbeat row every half second with the mounted password,
and its healthcheck logs in the same way, so a task that cannot log in never counts as up.

`python -m rotate_consumer CONFIG_JSON ARGS...` runs the driver's real CLI with the program
substituted for layer_2 (and an outputs-only layer_1), for a test that kills a driver midway.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pulumi

PSQL = Path("/usr/lib/postgresql/15/bin/psql")
STANDIN_IMAGE = "sprocket-test/psql-standin:1"
SECRET_FILE = "/run/secrets/db_password"
APPLETS = ("sh", "cat", "sleep", "true")

# Every half second: one row with the login that made it (session_user: the second login's
# sessions run SET role to the group role, so current_user would always say `app`).
BEAT = "INSERT INTO heartbeat (task, login) VALUES ('$HOSTNAME', session_user)"
HEARTBEAT = (
    f'while true; do PGPASSWORD=$(cat {SECRET_FILE}) psql -XAtq -c "{BEAT}"; sleep 0.5; done'
)
HEALTH = f"PGPASSWORD=$(cat {SECRET_FILE}) psql -XAtq -c 'SELECT 1'"


@dataclass(frozen=True)
class ConsumerConfig:
    service: str  # the Swarm service name (carries the test prefix)
    pg_host: str  # where a container reaches Postgres (the docker_gwbridge gateway)
    pg_port: int
    user: str
    initial_password: str
    database: str


def build_standin_image(work: Path) -> str:
    """psql and the libraries `ldd` names, plus busybox for the shell, as an imported image."""
    # Here, not at the top: `python -m rotate_consumer` runs from tests/integration alone.
    from busybox_rootfs import add_busybox

    libs = [
        part
        for line in subprocess.run(
            ["ldd", str(PSQL)], capture_output=True, text=True, check=True
        ).stdout.splitlines()
        for part in line.split()
        if part.startswith("/")
    ]
    tar_path = work / "psql-rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        add_busybox(tar, APPLETS)
        tar.add(PSQL, arcname="bin/psql")
        for lib in libs:  # the real file under the name the loader asks for
            tar.add(os.path.realpath(lib), arcname=lib.lstrip("/"))
        tmp = tarfile.TarInfo("tmp")
        tmp.type, tmp.mode = tarfile.DIRTYPE, 0o1777
        tar.addfile(tmp)
    with tar_path.open("rb") as data:
        subprocess.run(
            ["docker", "import", "--change", 'CMD ["sh"]', "-", STANDIN_IMAGE],
            stdin=data,
            check=True,
            capture_output=True,
        )
    return STANDIN_IMAGE


def consumer_config(cfg: ConsumerConfig, login: str) -> Any:
    """The house ServiceConfig of the consumer (defaults: start-first rolling update, rollback
    on failure, the update monitored for the healthcheck's worst case)."""
    from sprocket_common.service import Healthcheck, SecretMount, ServiceConfig

    return ServiceConfig(
        name=cfg.service,
        image=STANDIN_IMAGE,
        command=["sh", "-c", HEARTBEAT],
        env={
            "PGHOST": cfg.pg_host,
            "PGPORT": str(cfg.pg_port),
            "PGUSER": login,
            "PGDATABASE": cfg.database,
            "PGSSLMODE": "disable",
            "PGCONNECT_TIMEOUT": "3",
        },
        healthcheck=Healthcheck(
            test=["CMD", "sh", "-c", HEALTH], interval_s=1, timeout_s=4, retries=2, start_period_s=1
        ),
        secret_mounts=[SecretMount(name="db-password", target=SECRET_FILE.rsplit("/", 1)[1])],
    )


def consumer_program(cfg: ConsumerConfig) -> Callable[[], None]:
    def program() -> None:
        from sprocket_common.rotation import db_credentials
        from sprocket_common.swarm_service import SwarmService

        login, password = db_credentials(cfg.user) or (
            cfg.user,
            pulumi.Output.secret(cfg.initial_password),
        )
        # As layer_2 declares a service: its secret `<service>-db-password-<suffix>` (test
        # prefix first) is auto-named, so a new value is a new Swarm secret, created before the
        # old one is deleted.
        SwarmService(cfg.service, consumer_config(cfg, login), {"db-password": password})
        pulumi.export("app_db_user", login)
        pulumi.export("app_db_password", pulumi.Output.secret(password))

    return program


LAYER1_EXPORTS: dict[str, Any] = {
    "ingress_network": "ingress",
    "socket_proxy_network": "socket-proxy",
    "base_domain": "sprocket.localhost",
    "tls_resolver": "",
    "forward_auth_middleware": "forward-auth@docker",
    "vault_address": "http://127.0.0.1:8200",
    "spaces_endpoint": "",
    "spaces_buckets": {},
    "manager_ip": "",
    "droplet_ips": [],
}


def layer1_program() -> None:
    """Only layer_1's outputs: what layer_2's preflight asks for upstream."""
    for key, value in LAYER1_EXPORTS.items():
        pulumi.export(key, value)


def programs(cfg: ConsumerConfig) -> dict[str, Callable[[], None]]:
    return {"layer_1": layer1_program, "layer_2": consumer_program(cfg)}


def command(cfg: ConsumerConfig, *args: str) -> list[str]:
    """The argv of a separate driver process running these programs."""
    return [sys.executable, "-m", "rotate_consumer", json.dumps(asdict(cfg)), *args]


def _main() -> None:
    import automation.pulumi.workspace
    from automation.cli import main

    cfg = ConsumerConfig(**json.loads(sys.argv[1]))
    made = programs(cfg)
    automation.pulumi.workspace.load_program = lambda layer: made[str(layer.value)]  # type: ignore[assignment]
    main(sys.argv[2:])


def remove_swarm_objects(swarm: Any, name: str) -> None:
    """The service `name` and every secret named after it (`<name>-<mount>-<suffix>`)."""
    for service in swarm.services.list(filters={"name": name}):
        if service.name == name:
            service.remove()
    import docker.errors

    for secret in swarm.secrets.list(filters={"name": f"{name}-"}):
        if not secret.name.startswith(f"{name}-"):
            continue
        for _ in range(20):  # Swarm lets go of a removed service's secrets within moments
            try:
                secret.remove()
                break
            except docker.errors.NotFound:
                break
            except docker.errors.APIError:
                time.sleep(0.5)


def plugins_home(pulumi_home: Path) -> None:
    """Share the provider plugins `make test` registered (scripts/install-plugins.sh)."""
    from importlib.metadata import version

    checkout = Path(__file__).resolve().parents[2]
    plugins = checkout / ".sprocket" / "pulumi-home" / "plugins"
    plugin = plugins / f"resource-docker-v{version('pulumi-docker')}" / "pulumi-resource-docker"
    if not plugin.is_file():
        import pytest

        pytest.fail(f"no docker provider plugin at {plugin}: run scripts/install-plugins.sh")
    pulumi_home.mkdir(parents=True, exist_ok=True)
    target = pulumi_home / "plugins"
    if target.is_symlink() or target.exists():
        shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
    target.symlink_to(plugins)


if __name__ == "__main__":
    _main()
