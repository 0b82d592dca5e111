"""A Docker engine of the tests' own: a second dockerd in its own network namespace, a Swarm.

The real layers give their Swarm objects fixed names (`traefik`, `vault`, `redis` ... : other
services find them by DNS), so a test that deploys them on the machine's engine would collide
with an operator's `make deploy` there. This engine has its own data root, socket and network
stack (TOOLCHAIN.md, "Swarm networking": `nsenter --net`, not `ip netns exec`), so the test owns
everything on it and removes all of it afterwards, even when the test fails.

    with netns_engine("sprtest-1a2b") as engine:   # engine.host = "unix:///.../docker.sock"
        client = engine.client()

`netns_swarm` makes several such engines one Swarm (a manager and workers) over a Linux bridge
with veth pairs on a private range, the bridge's forwarding accepted in the host's iptables
FORWARD chain (policy DROP once the main dockerd runs), and given images loaded on every node
(no registry here):

    with netns_swarm("sprc-1a2b", workers=2, images=[ref]) as cluster:
        cluster.manager.client().nodes.list()   # 3 nodes, all Ready
        cluster.stop(cluster.workers[0])        # its dockerd killed: the node goes down
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Engine:
    name: str
    root: Path

    @property
    def host(self) -> str:
        return f"unix://{self.root / 'docker.sock'}"

    def client(self) -> Any:
        import docker

        return docker.DockerClient(base_url=self.host, timeout=120)

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The docker CLI against this engine."""
        return subprocess.run(
            ["docker", "-H", self.host, *args], capture_output=True, text=True, check=check
        )


PROVIDER_PLUGINS = ("docker", "random", "digitalocean", "vault")


def registered_plugins() -> Path:
    """The provider plugins `make test` registered (scripts/install-plugins.sh) into the
    driver's home; the test fails naming the missing ones and the fix."""
    from importlib.metadata import version

    import pytest

    checkout = Path(__file__).resolve().parents[2]
    home = Path(os.environ.get("SPROCKET_PULUMI_HOME", checkout / ".sprocket" / "pulumi-home"))
    plugins = home / "plugins"
    missing = [
        p
        for p in PROVIDER_PLUGINS
        if not (
            plugins / f"resource-{p}-v{version(f'pulumi-{p}')}" / f"pulumi-resource-{p}"
        ).is_file()
    ]
    if missing:
        pytest.fail(
            f"provider plugins {missing} are not registered in {home}:"
            " run scripts/install-plugins.sh (make test does)"
        )
    return plugins


def driver_setup(root: Path, docker_host: str, plugins: Path, passphrase: str) -> dict[str, str]:
    """A driver of its own under `root` for the local stacks on `docker_host`: a project folder
    with the tracked Pulumi.local-*.yaml, a file backend, a PULUMI_HOME sharing `plugins`.
    Returns the environment variables that point the driver (and the plain CLI) there."""
    checkout = Path(__file__).resolve().parents[2]
    project, home = root / "project", root / "pulumi-home"
    for folder in (project, home, root / "backend"):
        folder.mkdir()
    for path in [checkout / "Pulumi.yaml", *checkout.glob("Pulumi.local-*.yaml")]:
        shutil.copy(path, project / path.name)
    (home / "plugins").symlink_to(plugins)
    return {
        "PULUMI_BACKEND_URL": f"file://{root / 'backend'}",
        "PULUMI_CONFIG_PASSPHRASE": passphrase,
        "PULUMI_HOME": str(home),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "SPROCKET_PROJECT_DIR": str(project),
        "SPROCKET_STATE_DIR": str(root / "state"),
        "SPROCKET_PULUMI_HOME": str(home),
        "DOCKER_HOST": docker_host,
    }


def _wait_for(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def _wait_for_dockerd(engine: Engine, process: subprocess.Popen[bytes]) -> None:
    """Until the engine answers; its log's last lines in the error if it never does."""

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"dockerd exited with {process.returncode}: {_log_tail(engine)}")
        return engine.docker("info", check=False).returncode == 0

    try:
        _wait_for(ready, 60, "dockerd")
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}: {_log_tail(engine)}") from None


def _log_tail(engine: Engine) -> str:
    lines = (engine.root / "dockerd.log").read_text(errors="replace").splitlines()
    return " | ".join(lines[-5:])


def _unmount_below(root: Path) -> None:
    """dockerd can leave overlay and namespace mounts below its roots; lazily unmount them."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for target in sorted((m for m in mounts if m.startswith(str(root))), reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True, check=False)


def _start_dockerd(engine: Engine, hostname: str | None = None) -> subprocess.Popen[bytes]:
    """dockerd entered into the engine's network namespace (which must exist), roots below
    `engine.root`; returns once it answers. With `hostname`, in a UTS namespace of its own
    with that host name (the Swarm node's name: several nodes on one machine would all be
    called after it)."""
    uts = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', hostname]
    with (engine.root / "dockerd.log").open("wb") as log:
        process = subprocess.Popen(
            [
                "nsenter",
                f"--net=/var/run/netns/{engine.name}",
                *(uts if hostname else []),
                "dockerd",
                "--data-root",
                str(engine.root / "data"),
                "--exec-root",
                str(engine.root / "exec"),
                "--pidfile",
                str(engine.root / "docker.pid"),
                "-H",
                engine.host,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _wait_for_dockerd(engine, process)
    return process


def _stop_dockerd(engine: Engine, process: subprocess.Popen[bytes] | None) -> None:
    """Stop the daemon and every container shim it left (they run inside its roots)."""
    if process is not None and process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # Containers' shims outlive a killed dockerd; they run inside the namespace's roots.
    subprocess.run(["pkill", "-9", "-f", str(engine.root)], capture_output=True, check=False)


def _remove_engine(engine: Engine) -> None:
    _unmount_below(engine.root)
    subprocess.run(["ip", "netns", "del", engine.name], capture_output=True, check=False)
    shutil.rmtree(engine.root, ignore_errors=True)


def _new_engine(name: str) -> Engine:
    root = Path(tempfile.mkdtemp(prefix=f"{name}-", dir="/var/tmp"))
    return Engine(name, root)


def _add_netns(name: str) -> None:
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)


@contextlib.contextmanager
def netns_engine(name: str) -> Iterator[Engine]:
    """Start the engine, make it a single-node Swarm manager; stop and remove it all after."""
    engine = _new_engine(name)
    process: subprocess.Popen[bytes] | None = None
    try:
        _add_netns(name)
        process = _start_dockerd(engine)
        engine.docker("swarm", "init", "--advertise-addr", "127.0.0.1")
        yield engine
    finally:
        _stop_dockerd(engine, process)
        _remove_engine(engine)


@dataclass
class Cluster:
    """A manager and workers, one dockerd each; `address[engine.name]` is its bridge IP."""

    manager: Engine
    workers: tuple[Engine, ...]
    address: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def engines(self) -> tuple[Engine, ...]:
        return (self.manager, *self.workers)

    def node_id(self, engine: Engine) -> str:
        return engine.docker("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()

    def stop(self, engine: Engine) -> None:
        """Kill one node's dockerd and its containers, as a machine that went away would."""
        _stop_dockerd(engine, self.processes.pop(engine.name, None))


def _bridge_net(name: str) -> tuple[str, str]:
    """A bridge name (at most 15 characters) and a /24 of 10.231.0.0/16 chosen by the name, so
    two sessions' clusters rarely meet (the bridge add fails loudly if the name is taken)."""
    third = int(hashlib.sha256(name.encode()).hexdigest(), 16) % 250 + 1
    return f"br{name[-12:]}", f"10.231.{third}"


def _plug(engine: Engine, bridge: str, index: int, ip: str) -> None:
    """A veth pair: one end on the bridge, the other `eth0` in the engine's namespace."""
    host_end = f"v{engine.name[-10:]}h"[:15]
    run = functools.partial(subprocess.run, check=True, capture_output=True)
    run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", f"tmp{index}{bridge}"[:15]])
    run(["ip", "link", "set", f"tmp{index}{bridge}"[:15], "netns", engine.name])
    run(["ip", "-n", engine.name, "link", "set", f"tmp{index}{bridge}"[:15], "name", "eth0"])
    run(["ip", "-n", engine.name, "addr", "add", f"{ip}/24", "dev", "eth0"])
    run(["ip", "-n", engine.name, "link", "set", "eth0", "up"])
    run(["ip", "link", "set", host_end, "master", bridge])
    run(["ip", "link", "set", host_end, "up"])


def _load_images(engine: Engine, images: list[str]) -> None:
    """`docker save` from the machine's engine into this node (no registry to pull from)."""
    if not images:
        return
    saved = subprocess.run(["docker", "save", *images], capture_output=True, check=True)
    subprocess.run(
        ["docker", "-H", engine.host, "load"], input=saved.stdout, capture_output=True, check=True
    )


@contextlib.contextmanager
def netns_swarm(name: str, workers: int = 2, images: list[str] | None = None) -> Iterator[Cluster]:
    """A Swarm of 1 + `workers` nodes named `<name>-m`, `<name>-w1` ...; `images` (refs on the
    machine's engine) loaded on each. Everything (daemons, shims, mounts, namespaces, veths,
    bridge, the FORWARD rule) is removed afterwards, even when the body or the setup fails."""
    bridge, net = _bridge_net(name)
    rule = ["FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"]
    engines = [_new_engine(f"{name}-m"), *(_new_engine(f"{name}-w{i + 1}") for i in range(workers))]
    cluster = Cluster(
        engines[0],
        tuple(engines[1:]),
        {engine.name: f"{net}.{i + 2}" for i, engine in enumerate(engines)},
    )
    made_bridge = made_rule = False
    try:
        subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
        made_bridge = True
        subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
        subprocess.run(["iptables", "-I", *rule], check=True)
        made_rule = True
        for index, engine in enumerate(engines):
            _add_netns(engine.name)
            _plug(engine, bridge, index, cluster.address[engine.name])
            cluster.processes[engine.name] = _start_dockerd(engine, hostname=engine.name)
            _load_images(engine, images or [])
        manager_ip = cluster.address[cluster.manager.name]
        cluster.manager.docker("swarm", "init", "--advertise-addr", manager_ip)
        token = cluster.manager.docker("swarm", "join-token", "-q", "worker").stdout.strip()
        for worker in cluster.workers:
            worker.docker(
                "swarm", "join", "--token", token,
                "--advertise-addr", cluster.address[worker.name], f"{manager_ip}:2377",
            )  # fmt: skip
        _wait_for(lambda: _ready_nodes(cluster.manager) == len(engines), 60, "nodes Ready")
        yield cluster
    finally:
        for engine in engines:
            _stop_dockerd(engine, cluster.processes.pop(engine.name, None))
        for engine in engines:
            _remove_engine(engine)  # its namespace's end of the veth goes with it
        if made_rule:
            subprocess.run(["iptables", "-D", *rule], capture_output=True, check=False)
        if made_bridge:
            subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)


def _ready_nodes(manager: Engine) -> int:
    out = manager.docker("node", "ls", "--format", "{{.Status}}", check=False).stdout
    return out.split().count("Ready")
