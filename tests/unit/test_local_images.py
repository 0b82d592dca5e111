"""What a stand-in image must do, read from a service's declared command and healthcheck."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

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


class _NoImages:
    """An engine that has no image (images.get raises ImageNotFound)."""

    class images:  # the docker SDK's attribute name
        @staticmethod
        def get(ref: str) -> None:
            import docker.errors

            raise docker.errors.ImageNotFound(ref)


def test_the_dry_run_lists_real_or_stand_in_with_version_and_source_for_every_image() -> None:
    from automation.images.recipes import RECIPES, repository_of
    from automation.local_images import declared_services, ensure_images

    declared = declared_services("local")
    outcomes = ensure_images(
        _NoImages(), declared, offline=True, dry_run=True, real=True, build=True
    )
    assert {o.image for o in outcomes} == {s.image for s in declared}
    by_repo = {repository_of(o.image): o for o in outcomes}
    for repository in ("traefik", "tecnativa/docker-socket-proxy", "twinproduction/gatus"):
        outcome = by_repo[repository]
        assert outcome.software == "real" and outcome.version and outcome.source, outcome
    assert by_repo["traefik"].version == "2.11.14"
    # Where the version is not the pin's, it is said; Vault is real only where
    # scripts/install-vault-dev.sh built it (make tools), as in the real run.
    vault = by_repo["hashicorp/vault"]
    if _vault_built():
        assert vault.software == "real" and "1.17 pin" in vault.why, vault
    else:
        assert vault.software == "stand-in" and "not available" in vault.why, vault
    for repository, outcome in by_repo.items():
        if repository not in RECIPES:
            assert outcome.software == "stand-in" and outcome.why, outcome
    for repository in ("grafana/grafana", "grafana/loki", "grafana/fluent-plugin-loki"):
        assert by_repo[repository].software == "stand-in"


def _vault_built() -> bool:
    from automation.images import servers

    try:
        servers.vault_binary()
    except servers.BuildError:
        return False
    return True


def test_the_dry_run_says_what_the_real_run_would_do_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On an empty build cache: a server the images step may build is real 'to be built
    first'; without building allowed, or for Vault (only install-vault-dev.sh builds it), it
    is the stand-in the real run falls back to. It said 'real' for all of them before."""
    from automation.images.recipes import repository_of
    from automation.local_images import declared_services, ensure_images

    monkeypatch.setenv("SPROCKET_CACHE", str(tmp_path / "empty-cache"))
    declared = declared_services("local")

    def dry(build: bool) -> dict[str, Any]:
        outcomes = ensure_images(
            _NoImages(), declared, offline=True, dry_run=True, real=True, build=build
        )
        return {repository_of(o.image): o for o in outcomes}

    building = dry(build=True)
    assert building["traefik"].software == "real"
    assert "to be built first (about 8 min cold)" in building["traefik"].why
    assert building["hashicorp/vault"].software == "stand-in"
    assert "vault" in building["hashicorp/vault"].why.lower()
    cached_only = dry(build=False)
    assert cached_only["traefik"].software == "stand-in"
    assert "not built yet" in cached_only["traefik"].why


def _readme_image_table() -> dict[str, tuple[str, str]]:
    """README's table of local images: each pinned repository -> (real | stand-in, version)."""
    import re
    from pathlib import Path

    from automation.images.recipes import repository_of

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[1].startswith(("real", "stand-in")):
            continue
        kind = "real" if cells[1].startswith("real") else "stand-in"
        version = cells[2].strip("*").split(",")[0].strip("*")
        for image in re.findall(r"`([^`]+)`", cells[0]):
            rows[repository_of(image)] = (kind, version)
        if "Sprocket apps" in cells[0] or "forward auth" in cells[0]:
            rows["asaxplayinghorse/"] = (kind, version)
    return rows


def test_the_readme_table_agrees_with_the_recipes_and_the_dry_run() -> None:
    """README's real/stand-in table, recipes.py and what the images step makes (the dry run's
    `software`, the label's `<software> <version>`) say the same for every declared image."""
    from automation.images.recipes import RECIPES, repository_of
    from automation.local_images import declared_services, ensure_images

    table = _readme_image_table()
    outcomes = ensure_images(
        _NoImages(), declared_services("local"), offline=True, dry_run=True, real=True,
        build=True,
    )  # fmt: skip
    for outcome in outcomes:
        repository = repository_of(outcome.image)
        key = "asaxplayinghorse/" if repository.startswith("asaxplayinghorse/") else repository
        assert key in table, f"README's image table has no row for {outcome.image}"
        kind, version = table[key]
        if repository == "hashicorp/vault" and not _vault_built():  # real after `make tools`
            assert outcome.software == "stand-in" and "not available" in outcome.why, outcome
            continue
        assert kind == outcome.software, (outcome.image, table[key], outcome)
        if kind == "real":
            recipe = RECIPES[repository]()
            assert version.startswith(recipe.version.split(" ")[0]), (outcome.image, version)
            assert recipe.label == f"{recipe.software} {recipe.version}"  # the image's label
    assert {r for r, (kind, _) in table.items() if kind == "real"} == set(RECIPES)


def test_a_real_image_tar_holds_the_server_folder_its_files_and_links(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """What `docker import` gets for Redis: the root filesystem asked for (with its older
    suite), the server's folder, and the links where layer_2's command and redis.conf look."""
    from automation.images import real, recipes
    from automation.images import rootfs as rootfs_module

    base = tmp_path / "rootfs.tar"
    with tarfile.open(base, "w") as tar:
        info = tarfile.TarInfo("etc")
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    asked: list[tuple[Any, Any]] = []

    def fake_rootfs(packages: Any, *, suites: Any = ()) -> Path:
        asked.append((tuple(packages), tuple(suites)))
        return base

    monkeypatch.setattr(rootfs_module, "rootfs", fake_rootfs)
    server = tmp_path / "redis-stack"
    (server / "bin").mkdir(parents=True)
    (server / "bin" / "redis-server").write_text("#!/bin/sh\n")
    (server / "lib").mkdir()
    (server / "lib" / "rejson.so").write_text("")
    recipe = recipes.RECIPES["redislabs/rejson"]()
    out = real.image_tar(recipe, {"redis-stack": server}, tmp_path)
    with tarfile.open(out) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert asked == [(("libssl1.1",), ("bullseye",))]
    assert "opt/redis-stack/bin/redis-server" in members
    link = members["usr/lib/redis/modules/rejson.so"]
    assert link.issym() and link.linkname == "/opt/redis-stack/lib/rejson.so"
    assert members["usr/local/bin/redis-server"].linkname == "/opt/redis-stack/bin/redis-server"


def test_a_real_image_with_a_system_user_has_one_passwd_holding_it(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """Telegraf runs as `telegraf` (layer_2's user): the image's /etc/passwd and /etc/group
    hold it, once each (Docker's import refuses a tar naming a path twice: 'duplicates of file
    paths not supported')."""
    import io

    from automation.images import real, recipes
    from automation.images import rootfs as rootfs_module

    base = tmp_path / "rootfs.tar"
    with tarfile.open(base, "w") as tar:
        for name, text in (("./etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
                           ("./etc/group", "root:x:0:\n")):  # fmt: skip
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text.encode()))
    monkeypatch.setattr(rootfs_module, "rootfs", lambda packages, *, suites=(): base)
    binary = tmp_path / "telegraf"
    binary.write_text("#!/bin/sh\n")
    out = real.image_tar(recipes.RECIPES["telegraf"](), {"telegraf": binary}, tmp_path)
    with tarfile.open(out) as tar:
        names = [m.name.removeprefix("./") for m in tar.getmembers()]
        passwd = (tar.extractfile("etc/passwd") or io.BytesIO()).read().decode()
        group = (tar.extractfile("etc/group") or io.BytesIO()).read().decode()
    assert len(names) == len(set(names)), sorted(names)
    assert passwd.splitlines() == [
        "root:x:0:0:root:/root:/bin/sh",
        "telegraf:x:999:999::/nonexistent:/usr/sbin/nologin",
    ]
    assert group.splitlines() == ["root:x:0:", "telegraf:x:999:"]
    assert "usr/bin/telegraf" in names
