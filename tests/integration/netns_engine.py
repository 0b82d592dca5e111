"""A Docker engine of the tests' own: a second dockerd in its own network namespace, a Swarm.

The real layers give their Swarm objects fixed names (`traefik`, `vault`, `redis` ... : other
services find them by DNS), so a test that deploys them on the machine's engine would collide
with an operator's `make deploy` there. This engine has its own data root, socket and network
stack (TOOLCHAIN.md, "Swarm networking": `nsenter --net`, not `ip netns exec`), so the test owns
everything on it and removes all of it afterwards, even when the test fails.

    with netns_engine("sprtest-1a2b") as engine:   # engine.host = "unix:///.../docker.sock"
        client = engine.client()
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
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


@contextlib.contextmanager
def netns_engine(name: str) -> Iterator[Engine]:
    """Start the engine, make it a single-node Swarm manager; stop and remove it all after."""
    root = Path(tempfile.mkdtemp(prefix=f"{name}-", dir="/var/tmp"))
    netns = f"/var/run/netns/{name}"
    engine = Engine(name, root)
    process: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        with (root / "dockerd.log").open("wb") as log:
            process = subprocess.Popen(
                [
                    "nsenter",
                    f"--net={netns}",
                    "dockerd",
                    "--data-root",
                    str(root / "data"),
                    "--exec-root",
                    str(root / "exec"),
                    "--pidfile",
                    str(root / "docker.pid"),
                    "-H",
                    engine.host,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_for_dockerd(engine, process)
        engine.docker("swarm", "init", "--advertise-addr", "127.0.0.1")
        yield engine
    finally:
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        # Containers' shims outlive a killed dockerd; they run inside the namespace's roots.
        subprocess.run(["pkill", "-9", "-f", str(root)], capture_output=True, check=False)
        _unmount_below(root)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)
