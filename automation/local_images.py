"""Local images for an environment whose images cannot be pulled (offline build machines).

Every image reference the environment's layers declare is read from the programs themselves
(run under Pulumi mocks: sprocket_common.declared), with the command and healthcheck of each
service that uses it. An image already on the engine is left alone; one that `docker pull` can
fetch is pulled; one whose real software can be had here is made of it (automation/images/:
Traefik, the socket proxy, Gatus, Vault, Redis, RabbitMQ, Postgres, Telegraf, InfluxDB,
labelled `sprocket.real`);
for the rest a *stand-in image* is made: Debian's busybox-static and a small
shell server, not the real software. A stand-in keeps running, answers the declared healthcheck
only while its server is up (HTTP paths on the probed ports, listening ports, an established
connection where the check reads /proc/net/tcp), and stops at once on SIGTERM. It carries the
labels `sprocket.stand-in=true` and `sprocket.stand-in.recipe=<sha256>`: a changed declaration
remakes it, a real image of the same name is never replaced.

    python -m automation.local_images --env local [--dry-run] [--offline]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from automation.images.recipes import RealRecipe

WWW = "/tmp/standin-www"  # noqa: S108 - inside the stand-in container, not on this host
STAND_IN_LABEL = "sprocket.stand-in"
RECIPE_LABEL = "sprocket.stand-in.recipe"
BUSYBOX = Path("/bin/busybox")
SERVICE_TYPE = "docker:index/service:Service"
DASH = Path("/bin/dash")
# Applets linked into a stand-in under their own names. nc and curl are not among them: the
# declared checks use flags busybox lacks (`nc -z`, `curl -fsS`), so they become probes. The
# shell is Debian's dash, not busybox sh, which would run its own `nc` applet ahead of PATH.
APPLETS = (
    "sh", "httpd", "wget", "grep", "cat", "cp", "mkdir", "sleep", "echo", "ls", "rm", "env",
    "kill", "test", "[", "touch", "mv", "ln", "chmod", "sed", "tr", "cut", "head", "tail", "true",
    "false", "id", "ps", "date", "basename", "dirname",
)  # fmt: skip
_URL = re.compile(r"https?://(?:127\.0\.0\.1|localhost|0\.0\.0\.0)(?::(\d+))?(/[^\s'\")?]*)?")
_NC_PORT = re.compile(r"\bnc\b[^|;&]*?\s(?:127\.0\.0\.1|localhost)\s+(\d+)")
_TCP_TABLE_PORT = re.compile(
    r":([0-9A-F]{4}) 01 "
)  # a /proc/net/tcp grep: remote port, ESTABLISHED
_EXEC = re.compile(r"\bexec\s+([^\s;&|]+)")
# Placeholder upstream outputs: only the shape matters to what a service declares as its image.
_UPSTREAM: dict[str, dict[str, Any]] = {
    "layer_1": {
        "ingress_network": "traefik-ingress", "socket_proxy_network": "traefik-socket-proxy",
        "base_domain": "localhost", "tls_resolver": "", "forward_auth_middleware": "fa",
        "vault_address": "http://vault:8200", "spaces_endpoint": "", "spaces_buckets": {},
        "manager_ip": "127.0.0.1", "droplet_ips": [],
    },
    "layer_2": {
        "redis_host": "redis", "redis_port": 6379, "redis_password": "x", "rabbitmq_host": "mq",
        "rabbitmq_port": 5672, "rabbitmq_user": "x", "rabbitmq_password": "x",
        "influx_url": "http://influx:8086", "influx_token": "x", "influx_org": "x",
        "postgres_host": "postgres", "postgres_port": 5432, "postgres_database": "x",
        "app_db_user": "x", "app_db_password": "x", "monitoring_network": "monitoring",
        "data_network": "data", "influx_app_bucket": "x", "postgres_ssl_mode": "disable",
    },
}  # fmt: skip


@dataclass(frozen=True)
class DeclaredService:
    """One Swarm service as a layer declares it: name, image and what runs in the container."""

    layer: str
    name: str
    image: str
    command: tuple[str, ...] = ()
    healthcheck: tuple[str, ...] = ()
    user: str = ""


@dataclass
class StandInRecipe:
    """What a stand-in for one image must do, merged over every service that runs it."""

    image: str
    services: list[str] = field(default_factory=list)
    http: dict[int, set[str]] = field(default_factory=dict)  # port -> paths served
    listen: set[int] = field(default_factory=set)
    hold: set[int] = field(default_factory=set)  # ports kept ESTABLISHED to themselves
    servers: set[str] = field(default_factory=set)  # executables that start the server
    probes: dict[str, list[str]] = field(default_factory=dict)  # executable -> URLs it checks
    users: set[str] = field(default_factory=set)
    dirs: set[str] = field(default_factory=set)

    def digest(self, healthy: bool = True) -> str:
        data = {k: _jsonable(v) for k, v in vars(self).items() if k != "services"}
        data["healthy"] = healthy
        data["builder"] = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()  # a new recipe
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _jsonable(value: Any) -> Any:
    # Lists too: a probe's URLs arrive in the order the services register, which varies.
    if isinstance(value, set | list):
        return sorted(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    return value


# --- what the layers declare ---------------------------------------------------------------


def stack_config(env: str, layer: str) -> dict[str, Any]:
    """The non-secret config of `<env>-<layer>` as the driver would run it (for a local stack:
    this machine's copy, so image tags set by a rollout count; automation/pulumi/stack_files.py)."""
    from automation.pulumi.stack_files import stack_file
    from automation.settings import load_settings
    from sprocket_common.stack_info import StackInfo

    path = stack_file(load_settings(), StackInfo.parse(f"{env}-{layer}"))
    if not path.is_file():
        return {}
    config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    return {k: v for k, v in config.items() if not (isinstance(v, dict) and "secure" in v)}


def declared_services(env: str) -> list[DeclaredService]:
    """Every Swarm service the three layers declare for `env`, from the programs themselves."""
    from sprocket_common.declared import run_layer_program

    found: list[DeclaredService] = []
    for layer in ("layer_1", "layer_2", "platform"):
        record = run_layer_program(layer, env, config=stack_config(env, layer), upstream=_UPSTREAM)
        found.extend(_service(layer, r.inputs) for r in record.by_type(SERVICE_TYPE))
    return found


def _service(layer: str, inputs: Mapping[str, Any]) -> DeclaredService:
    spec = inputs["taskSpec"]["containerSpec"]
    return DeclaredService(
        layer=layer,
        name=str(inputs.get("name", "")),
        image=str(spec["image"]),
        command=tuple(spec.get("commands") or ()),
        healthcheck=tuple((spec.get("healthcheck") or {}).get("tests") or ()),
        user=str(spec.get("user") or ""),
    )


# --- the stand-in recipe ---------------------------------------------------------------------


def recipe_for(image: str, services: Iterable[DeclaredService]) -> StandInRecipe:
    """Merge what every service running `image` needs from it."""
    recipe = StandInRecipe(image=image)
    for service in services:
        recipe.services.append(service.name)
        _add_command(recipe, service.command)
        _add_healthcheck(recipe, service.healthcheck)
        if service.user and not service.user.split(":")[0].isdigit():
            recipe.users.add(service.user.split(":")[0])
    return recipe


def _add_command(recipe: StandInRecipe, command: tuple[str, ...]) -> None:
    if not command:
        return
    if PurePosixPath(command[0]).name == "sh" and "-c" in command:
        script = command[-1]
        recipe.servers.update(m for m in _EXEC.findall(script) if m not in APPLETS)
        # Where the script copies or writes files, their folders must exist.
        recipe.dirs.update(
            str(PurePosixPath(w).parent)
            for w in shlex.split(script)
            if w.startswith("/") and not w.startswith(("/run/", "/proc/", "/dev/"))
        )
    elif command[0] not in APPLETS:
        recipe.servers.add(command[0])


def _add_healthcheck(recipe: StandInRecipe, test: tuple[str, ...]) -> None:
    if not test or test[0] == "NONE":
        return
    text = " ".join(test[1:])
    urls = [(int(port or 80), path or "/") for port, path in _URL.findall(text)]
    for port, path in urls:
        recipe.http.setdefault(port, set()).add(path)
    recipe.listen.update(int(p) for p in _NC_PORT.findall(text))
    recipe.hold.update(int(p, 16) for p in _TCP_TABLE_PORT.findall(text))
    words = shlex.split(test[1]) if test[0] == "CMD-SHELL" else list(test[1:2])
    executable = next((w for w in words if "=" not in w), "")
    if executable and executable not in APPLETS:
        recipe.probes.setdefault(executable, []).extend(f"http://127.0.0.1:{p}{q}" for p, q in urls)


# --- the stand-in image --------------------------------------------------------------------


def _serve_script(recipe: StandInRecipe, healthy: bool) -> str:
    lines = [
        "#!/bin/sh",
        f"# Stand-in for {recipe.image}: NOT the real software (automation/local_images.py).",
        "trap 'exit 0' TERM INT",
        "mkdir -p /tmp/standin-www",
    ]
    if healthy:
        for port, paths in sorted(recipe.http.items()):
            for path in sorted(paths):
                target = WWW + (path if path != "/" else "/index.html")
                lines.append(f"mkdir -p {shlex.quote(str(PurePosixPath(target).parent))}")
                # Says who it is, so a test through Traefik sees which backend answered.
                who = shlex.quote(f"OK stand-in for {recipe.image}")
                lines.append(f"echo {who} > {shlex.quote(target)}")
            lines.append(f"httpd -p {port} -h {WWW}")
        for port in sorted(recipe.listen - set(recipe.http)):
            lines.append(f"httpd -p {port} -h /tmp/standin-www")
        for port in sorted(recipe.hold):
            lines.append(f"sleep 2147483647 | /bin/busybox nc -l -p {port} >/dev/null &")
            lines.append(f"(sleep 1; sleep 2147483647 | /bin/busybox nc 127.0.0.1 {port}) &")
        lines.append("echo $$ > /tmp/standin.pid")
    lines += ["while :; do sleep 3600 & wait $!; done", ""]
    return "\n".join(lines)


def _probe_script(urls: list[str], *, also_serves: bool) -> str:
    checks = [f"wget -q -O /dev/null {shlex.quote(u)} || exit 1" for u in urls]
    # A name that is both the server and its own check (`traefik healthcheck`) starts the server
    # when none runs yet; a pure probe (`curl`, `pg_isready`) then fails, as the real one would.
    not_running = "exec /usr/local/bin/standin-serve" if also_serves else "exit 1"
    return "\n".join(
        [
            "#!/bin/sh",
            "# Stand-in probe: the stand-in's server runs and answers; NOT the real client.",
            'if [ ! -f /tmp/standin.pid ] || ! kill -0 "$(cat /tmp/standin.pid)" 2>/dev/null; then',
            f"  {not_running}",
            "fi",
            *checks,
            'for a in "$@"; do [ "$a" = ping ] && echo PONG; done',
            "exit 0",
            "",
        ]
    )


def _add_file(tar: tarfile.TarFile, path: str, text: str, mode: int = 0o755) -> None:
    data = text.encode()
    info = tarfile.TarInfo(path.lstrip("/"))
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, path: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(path.lstrip("/"))
    info.type, info.mode = tarfile.DIRTYPE, mode
    tar.addfile(info)


def rootfs(recipe: StandInRecipe, healthy: bool = True) -> bytes:
    """The stand-in's root filesystem as an uncompressed tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder in ("bin", "etc", "usr/local/bin", "var/run", *sorted(recipe.dirs)):
            _add_dir(tar, folder)
        _add_dir(tar, "tmp", 0o1777)
        tar.add(str(BUSYBOX), arcname="bin/busybox")
        _add_dash(tar)
        for applet in (a for a in APPLETS if a != "sh"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        users = sorted(recipe.users)
        passwd = ["root:x:0:0:root:/root:/bin/sh", "nobody:x:65534:65534::/:/bin/false"]
        passwd += [f"{u}:x:{1000 + i}:{1000 + i}::/tmp:/bin/sh" for i, u in enumerate(users)]
        group = ["root:x:0:", "nobody:x:65534:"] + [
            f"{u}:x:{1000 + i}:" for i, u in enumerate(users)
        ]
        _add_file(tar, "etc/passwd", "\n".join(passwd) + "\n", 0o644)
        _add_file(tar, "etc/group", "\n".join(group) + "\n", 0o644)
        _add_file(tar, "usr/local/bin/standin-serve", _serve_script(recipe, healthy))
        for name in sorted(recipe.servers - set(recipe.probes)):
            _add_file(tar, _bin_path(name), "#!/bin/sh\nexec /usr/local/bin/standin-serve\n")
        for name, urls in sorted(recipe.probes.items()):
            _add_file(tar, _bin_path(name), _probe_script(urls, also_serves=name in recipe.servers))
    return buffer.getvalue()


def _add_dash(tar: tarfile.TarFile) -> None:
    """/bin/sh: dash and the C library it links (the paths `ldd` names)."""
    tar.add(str(DASH), arcname="bin/sh")
    listing = subprocess.run(["ldd", str(DASH)], capture_output=True, text=True, check=True)
    for library in re.findall(r"(/\S+) \(0x", listing.stdout):
        folder = PurePosixPath(library).parent
        _add_dir(tar, str(folder))
        tar.add(str(Path(library).resolve()), arcname=library.lstrip("/"))


def _bin_path(name: str) -> str:
    return name if name.startswith("/") else f"usr/local/bin/{name}"


def make_stand_in(client: Any, ref: str, recipe: StandInRecipe, *, healthy: bool = True) -> str:
    """Import a stand-in for `recipe` under `ref`; `healthy=False` makes one whose check fails."""
    repository, _, tag = ref.rpartition(":")
    if "/" in tag or not repository:
        repository, tag = ref, "latest"
    labels = {STAND_IN_LABEL: "true", RECIPE_LABEL: recipe.digest(healthy)}
    changes = [
        'ENTRYPOINT ["/usr/local/bin/standin-serve"]',
        "ENV PATH=/usr/local/bin:/bin",
        *(f"LABEL {k}={v}" for k, v in labels.items()),
    ]
    client.api.import_image_from_data(
        rootfs(recipe, healthy), repository=repository, tag=tag, changes=changes
    )
    return ref


# --- the command -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    image: str
    action: str  # present | pulled | real | stand-in | skipped
    services: tuple[str, ...]
    why: str = ""
    software: str = (
        "stand-in"  # real | stand-in: what runs (or would, on a machine that can't pull)
    )
    version: str = ""
    source: str = ""
    name: str = ""  # the real software's name (`traefik`), where real


def ensure_images(
    client: Any,
    services: list[DeclaredService],
    *,
    offline: bool,
    dry_run: bool,
    real: bool = False,
    build: bool = False,
) -> list[Outcome]:
    """Make every declared image available on the engine `client` talks to. With `real`, an
    image with a recipe in automation/images/recipes.py is made of the real software (its
    servers built first only with `build`; else from the cache, or a stand-in when absent)."""
    by_image: dict[str, list[DeclaredService]] = {}
    for service in services:
        by_image.setdefault(service.image, []).append(service)
    return [
        _ensure(
            client,
            image,
            recipe_for(image, users),
            offline=offline,
            dry_run=dry_run,
            real=real,
            build=build,
        )
        for image, users in sorted(by_image.items())
    ]


def _ensure(
    client: Any,
    image: str,
    recipe: StandInRecipe,
    *,
    offline: bool,
    dry_run: bool,
    real: bool = False,
    build: bool = False,
) -> Outcome:
    import docker.errors

    from automation.images import real as real_images
    from automation.images import recipes, rootfs, servers

    names = tuple(recipe.services)
    wanted = recipes.recipe_for(image) if real else None
    if "@" in image:
        return Outcome(image, "skipped", names, "a digest reference cannot be made locally")
    try:
        labels = client.images.get(image).labels or {}
    except docker.errors.ImageNotFound:
        labels = None
    is_stand_in = labels is not None and labels.get(STAND_IN_LABEL) == "true"
    made_real = labels is not None and real_images.REAL_LABEL in labels
    if labels is not None and made_real and wanted is None:
        software = str(labels[real_images.REAL_LABEL])
        return Outcome(image, "present", names, "", "real", software, "made here earlier")
    if labels is not None and not is_stand_in and not made_real:
        return Outcome(image, "present", names, "not made here", "real", "", "on the engine")
    reason = recipes.stand_in_reason(image)
    if wanted is not None:
        try:
            return _ensure_real(client, image, wanted, names, labels, dry_run, offline, build)
        except (servers.BuildError, rootfs.RootfsError) as exc:
            reason = f"the real build is not available: {exc}"
    if labels is not None and is_stand_in and labels.get(RECIPE_LABEL) == recipe.digest():
        return Outcome(image, "present", names, reason)
    # Missing, or a stand-in of an older recipe: the real image first, where it can be pulled.
    if dry_run:
        why = "dry run: offline" if offline else "dry run: a pull is tried first"
        return Outcome(image, "stand-in", names, f"{why}; {reason}")
    if not offline and _pulled(client, image):
        return Outcome(image, "pulled", names, "", "real", "", "docker pull")
    make_stand_in(client, image, recipe)
    return Outcome(image, "stand-in", names, reason)


def _ensure_real(
    client: Any,
    image: str,
    wanted: RealRecipe,
    names: tuple[str, ...],
    labels: dict[str, str] | None,
    dry_run: bool,
    offline: bool,
    build: bool,
) -> Outcome:
    """The real image of `wanted`: left alone when its recipe hash matches, else made."""
    from automation.images import real as real_images

    about = {
        "software": "real",
        "version": wanted.version,
        "source": wanted.source,
        "name": wanted.software,
    }
    if dry_run:
        return _dry_run_real(image, wanted, names, labels, build, about)
    binaries = wanted.binary_paths(cached_only=not build)
    digest = wanted.digest(binaries)
    if labels and labels.get(real_images.REAL_RECIPE_LABEL) == digest:
        return Outcome(image, "present", names, wanted.differs, **about)
    if not offline and _pulled(client, image):
        return Outcome(image, "pulled", names, "", "real", "", "docker pull")
    real_images.make_real(client, image, wanted, binaries)
    return Outcome(image, "real", names, wanted.differs, **about)


def _dry_run_real(
    image: str,
    wanted: RealRecipe,
    names: tuple[str, ...],
    labels: dict[str, str] | None,
    build: bool,
    about: dict[str, str],
) -> Outcome:
    """What the real run would do, from the server cache alone: `present` (the image of this
    recipe is on the engine), `real` (made from cached binaries, or built first), or the
    BuildError the real run would fall back to a stand-in on (Vault is only ever built by
    scripts/install-vault-dev.sh, so a cache without it means a stand-in)."""
    from automation.images import real as real_images
    from automation.images import servers

    try:
        binaries = wanted.binary_paths(cached_only=True)
    except servers.BuildError:
        if not build or "vault" in wanted.binaries:
            raise
        todo = ", ".join(servers.servers()[n].about for n in wanted.binaries)
        return Outcome(image, "real", names, f"dry run: to be built first ({todo} cold)", **about)
    if labels and labels.get(real_images.REAL_RECIPE_LABEL) == wanted.digest(binaries):
        return Outcome(image, "present", names, wanted.differs, **about)
    return Outcome(image, "real", names, wanted.differs or "dry run", **about)


def _pulled(client: Any, image: str) -> bool:
    import docker.errors

    try:
        client.images.pull(image)
    except (docker.errors.APIError, docker.errors.DockerException):
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m automation.local_images", description=__doc__)
    parser.add_argument(
        "--env",
        default="local",
        choices=("local", "staging", "prod"),
        help="environment whose images to make",
    )
    parser.add_argument("--offline", action="store_true", help="do not try `docker pull`")
    parser.add_argument("--dry-run", action="store_true", help="say what would be done")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument(
        "--stand-ins-only",
        action="store_true",
        help="no real software: stand-ins for every image not on the engine (no build)",
    )
    args = parser.parse_args(argv)
    import docker

    for tool, package in ((BUSYBOX, "busybox-static"), (DASH, "dash")):
        if not tool.is_file():
            print(f"local_images: {tool} is missing: apt-get install {package}", file=sys.stderr)
            return 1
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        host = os.environ.get("DOCKER_HOST") or "the local Docker socket"
        print(
            f"local_images: the Docker engine at {host} is unreachable ({exc}): start it"
            " (scripts/ensure-docker.sh) or point DOCKER_HOST at a running one",
            file=sys.stderr,
        )
        return 1
    try:
        outcomes = ensure_images(
            client,
            declared_services(args.env),
            offline=args.offline,
            dry_run=args.dry_run,
            real=not args.stand_ins_only,
            build=True,
        )
    except docker.errors.DockerException as exc:
        print(f"local_images: making an image failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([vars(o) for o in outcomes], indent=2))
    else:
        for o in outcomes:
            what = f"{o.software}: {o.name} {o.version}".strip() if o.name else o.software
            notes = "; ".join(n for n in (o.source, o.why) if n)
            print(f"{o.action:9} {o.image}  ({', '.join(o.services)})  {what}; {notes}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
