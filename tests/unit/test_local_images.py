"""What a stand-in image must do, read from a service's declared command and healthcheck."""

from __future__ import annotations

import io
import tarfile

from automation.local_images import DeclaredService, StandInRecipe, recipe_for, rootfs


def _recipe(
    command: tuple[str, ...] = (), healthcheck: tuple[str, ...] = (), user: str = ""
) -> StandInRecipe:
    service = DeclaredService("layer_2", "svc", "img:1", command, healthcheck, user)
    return recipe_for("img:1", [service])


def test_http_checks_become_served_paths_on_their_ports() -> None:
    recipe = _recipe(
        healthcheck=("CMD-SHELL", "wget -q -O /dev/null 'http://127.0.0.1:8200/v1/sys/health?x=1'")
    )
    assert recipe.http == {8200: {"/v1/sys/health"}}
    assert recipe.probes == {}  # wget is a busybox applet: the real one runs the check


def test_a_client_busybox_lacks_becomes_a_probe_of_the_running_server() -> None:
    recipe = _recipe(healthcheck=("CMD", "curl", "-fsS", "http://127.0.0.1:6080/health"))
    assert recipe.probes == {"curl": ["http://127.0.0.1:6080/health"]}
    assert recipe.http == {6080: {"/health"}}
    nc = _recipe(healthcheck=("CMD-SHELL", "nc -z 127.0.0.1 3000 || exit 1"))
    assert nc.listen == {3000} and "nc" in nc.probes


def test_an_established_connection_check_holds_one_to_that_port() -> None:
    check = "grep -qE '^ *[0-9]+: [0-9A-F]+:[0-9A-F]+ [0-9A-F]+:1628 01 ' /proc/net/tcp"
    assert _recipe(healthcheck=("CMD-SHELL", check)).hold == {0x1628}  # 5672, RabbitMQ


def test_env_assignments_before_the_check_are_not_the_executable() -> None:
    check = 'REDISCLI_AUTH="$(cat /run/secrets/redis_password)" redis-cli ping | grep -q PONG'
    assert set(_recipe(healthcheck=("CMD-SHELL", check)).probes) == {"redis-cli"}


def test_a_shell_command_gets_its_exec_target_and_the_folders_it_writes_to() -> None:
    script = "cp /run/secrets/c.conf /etc/rabbitmq/conf.d/30.conf && exec docker-entrypoint.sh x"
    recipe = _recipe(command=("sh", "-c", script), user="telegraf")
    assert recipe.servers == {"docker-entrypoint.sh"}
    assert "/etc/rabbitmq/conf.d" in recipe.dirs and not any(
        d.startswith("/run") for d in recipe.dirs
    )
    with tarfile.open(fileobj=io.BytesIO(rootfs(recipe)), mode="r") as tar:
        names = set(tar.getnames())
        passwd = tar.extractfile("etc/passwd").read().decode()  # type: ignore[union-attr]
    assert {"bin/sh", "usr/local/bin/docker-entrypoint.sh", "etc/rabbitmq/conf.d"} <= names
    assert "telegraf:x:" in passwd


def test_an_unhealthy_variant_never_starts_its_server() -> None:
    recipe = _recipe(healthcheck=("CMD", "curl", "http://127.0.0.1:3000/"))
    assert recipe.digest(healthy=True) != recipe.digest(healthy=False)
    with tarfile.open(fileobj=io.BytesIO(rootfs(recipe, healthy=False)), mode="r") as tar:
        serve = tar.extractfile("usr/local/bin/standin-serve").read().decode()  # type: ignore[union-attr]
    assert "httpd" not in serve and "standin.pid" not in serve
