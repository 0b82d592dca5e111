"""Real parts for the tests, started here and torn down after.

- `pulumi_env`: the real pulumi CLI with a private file backend and passphrase, fully offline.
- `swarm`: a real Docker engine that is a single-node Swarm manager (scripts/ensure-docker.sh).
- `test_images`: local images made with `docker import` from Debian's busybox-static.
- `s3_endpoint`: moto's threaded S3 server on loopback, for boto3.
- `run_cli`: `python -m automation ...` in-process, returning its exit code and output.

Each pytest-xdist worker (scripts/test-integration.sh) is a session of its own on the machine's
engine: its own SESSION_PREFIX, moto server, tmp_path tree and file backends; the Swarm objects
a test makes carry unique names. Tests that change the whole engine's state are marked `serial`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from busybox_rootfs import BUSYBOX, add_busybox
from xdist_order import pytest_collection_modifyitems  # noqa: F401 - a hook: pytest finds it here

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEST_IMAGE_REPO = "sprocket-test/app"
TEST_PREFIX = "sprockettest"  # every Swarm object a test makes carries it, so teardown can sweep


def _session_prefix() -> str:
    """`sprockettest-` and 6 hex digits naming this process: the same for every import of this
    file in one process (pytest loads it as `conftest`; `from tests.conftest import ...` loads a
    second copy, whose objects the session's sweep must still find), different in each process
    (each pytest-xdist worker is a session of its own and sweeps only its own objects)."""
    # Field 22 of /proc/self/stat: the process's start time, so a reused pid gets a new prefix.
    started = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]
    digest = hashlib.sha256(f"{os.getpid()}-{started}".encode()).hexdigest()
    return f"{TEST_PREFIX}-{digest[:6]}"


SESSION_PREFIX = _session_prefix()  # this pytest session's objects


# --- the pulumi CLI ---------------------------------------------------------------------------


def _pulumi_cli_dir() -> Path:
    for candidate in (Path(sys.prefix) / "bin", PROJECT_ROOT / ".venv" / "bin"):
        if (candidate / "pulumi").exists():
            return candidate
    found = shutil.which("pulumi")
    if not found:
        pytest.fail("no pulumi CLI: run `scripts/setup.sh --dev` (the tests need the real engine)")
    return Path(found).parent


@dataclass(frozen=True)
class PulumiEnv:
    """A private, offline Pulumi setup: backend dir, project dir, passphrase, PULUMI_HOME."""

    root: Path
    project_dir: Path
    backend_dir: Path
    env: dict[str, str]

    @property
    def backend_url(self) -> str:
        return f"file://{self.backend_dir}"

    def workspace_options(self, work_dir: Path | None = None, **extra: Any) -> Any:
        from pulumi import automation as auto

        return auto.LocalWorkspaceOptions(
            work_dir=str(work_dir or self.project_dir),
            pulumi_home=self.env["PULUMI_HOME"],
            env_vars=self.env,
            pulumi_command=auto.PulumiCommand(
                root=str(_pulumi_cli_dir().parent), skip_version_check=True
            ),
            secrets_provider="passphrase",
            **extra,
        )

    def stack_file(self, stack: str) -> Path:
        """Where the driver keeps `stack`'s settings file (a local stack's: this machine's copy,
        automation/pulumi/stack_files.py); reading the path changes nothing."""
        from automation.pulumi.stack_files import local_stack_dir
        from automation.settings import load_settings

        folder = self.project_dir
        if stack.startswith("local-"):
            folder = local_stack_dir(load_settings({**os.environ, **self.env}))
        return folder / f"Pulumi.{stack}.yaml"

    def with_backend(self, backend_dir: Path) -> PulumiEnv:
        backend_dir.mkdir(parents=True, exist_ok=True)
        env = {**self.env, "PULUMI_BACKEND_URL": f"file://{backend_dir}"}
        return PulumiEnv(self.root, self.project_dir, backend_dir, env)


@pytest.fixture
def pulumi_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PulumiEnv:
    """Temp file backend + passphrase; the driver's settings point there through the environment."""
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    shutil.copy(PROJECT_ROOT / "Pulumi.yaml", project_dir / "Pulumi.yaml")
    for config in PROJECT_ROOT.glob("Pulumi.local-*.yaml"):
        # A local deploy in the checkout salts these files for its own passphrase; not ours.
        lines = config.read_text().splitlines(keepends=True)
        kept = [line for line in lines if not line.startswith("encryptionsalt:")]
        (project_dir / config.name).write_text("".join(kept))
    backend_dir = tmp_path / "backend"
    backend_dir.mkdir()
    env = {
        "PULUMI_BACKEND_URL": f"file://{backend_dir}",
        "PULUMI_CONFIG_PASSPHRASE": "correct horse battery staple",
        "PULUMI_HOME": str(tmp_path / "pulumi-home"),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_PYTHON_CMD": sys.executable,
        "SPROCKET_PROJECT_DIR": str(project_dir),
        "SPROCKET_STATE_DIR": str(tmp_path / "state"),
        "SPROCKET_PULUMI_HOME": str(tmp_path / "pulumi-home"),
        "SPROCKET_PULUMI_CLI_DIR": str(_pulumi_cli_dir()),
    }
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    monkeypatch.delenv("SPROCKET_SETTINGS", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # The dynamic-provider shim runs `python3`; make it this interpreter.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return PulumiEnv(tmp_path, project_dir, backend_dir, env)


# --- Docker Swarm -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def swarm() -> Iterator[Any]:
    """A Docker client on a real single-node Swarm manager; sweeps test services afterwards."""
    import docker

    subprocess.run([str(PROJECT_ROOT / "scripts" / "ensure-docker.sh")], check=True)
    client = docker.from_env()
    yield client
    # Only this session's services: other pytest sessions may share the daemon.
    for service in client.services.list(filters={"name": SESSION_PREFIX}):
        service.remove()
    client.close()


def _busybox_rootfs_tar(dest: Path) -> Path:
    """A root filesystem holding busybox-static and its applets, as an uncompressed tar."""
    if not BUSYBOX.exists():
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "busybox-static"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    tar_path = dest / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        add_busybox(tar, ("sh", "httpd", "wget", "echo", "sleep", "cat", "mkdir"))
    return tar_path


def _import_image(client: Any, tar_path: Path, tag: str, *, version: str, health_port: int) -> str:
    """Import the rootfs as an image whose httpd serves `version` on 8080."""
    serve = f"mkdir -p /www && echo {version} > /www/index.html && exec httpd -f -p 8080 -h /www"
    health = (
        f"HEALTHCHECK --interval=2s --timeout=2s --start-period=2s --retries=2 "
        f"CMD wget -q -O- http://127.0.0.1:{health_port}/ || exit 1"
    )
    ref = f"{TEST_IMAGE_REPO}:{tag}"
    with tar_path.open("rb") as data:
        subprocess.run(
            [
                "docker",
                "import",
                "--change",
                f'CMD ["sh", "-c", "{serve}"]',
                "--change",
                health,
                "-",
                ref,
            ],
            stdin=data,
            check=True,
            capture_output=True,
        )
    return ref


@pytest.fixture(scope="session")
def test_images(swarm: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """`1` and `2` are healthy; `bad` fails its healthcheck (it checks a port nothing serves)."""
    tar_path = _busybox_rootfs_tar(tmp_path_factory.mktemp("rootfs"))
    return {
        "1": _import_image(swarm, tar_path, "1", version="v1", health_port=8080),
        "2": _import_image(swarm, tar_path, "2", version="v2", health_port=8080),
        "bad": _import_image(swarm, tar_path, "bad", version="bad", health_port=8081),
    }


@pytest.fixture
def service_name() -> str:
    """A unique Swarm service name with this session's prefix (swept at session end)."""
    return f"{SESSION_PREFIX}-{uuid.uuid4().hex[:8]}"


# --- S3 ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    bucket: str
    access_key_id: str = "testing"
    secret_access_key: str = "testing"  # moto accepts any credentials
    region: str = "us-east-1"

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )


@pytest.fixture(scope="session")
def _moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_endpoint(_moto_server: str, monkeypatch: pytest.MonkeyPatch) -> S3Endpoint:
    """A fresh versioned bucket on the real S3 endpoint; the driver's backup settings use it."""
    endpoint = S3Endpoint(url=_moto_server, bucket=f"sprocket-test-{uuid.uuid4().hex[:10]}")
    client = endpoint.client()
    client.create_bucket(Bucket=endpoint.bucket)
    client.put_bucket_versioning(
        Bucket=endpoint.bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    for key, value in {
        "SPROCKET_BACKUP_BUCKET": endpoint.bucket,
        "SPROCKET_BACKUP_ENDPOINT_URL": endpoint.url,
        "SPROCKET_BACKUP_REGION": endpoint.region,
        "SPROCKET_BACKUP_ACCESS_KEY_ID": endpoint.access_key_id,
        "SPROCKET_BACKUP_SECRET_ACCESS_KEY": endpoint.secret_access_key,
    }.items():
        monkeypatch.setenv(key, value)
    return endpoint


# --- the driver's CLI -------------------------------------------------------------------------


@dataclass(frozen=True)
class CliRun:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliRun]:
    """Run `python -m automation ARGS` in this process; returns exit code, stdout and stderr."""
    from automation.cli import main

    def run(*args: str) -> CliRun:
        capsys.readouterr()  # drop what earlier steps printed
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        else:  # pragma: no cover - main always exits
            code = 0
        out, err = capsys.readouterr()
        return CliRun(code, out, err)

    return run
