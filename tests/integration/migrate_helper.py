"""The busybox helper image the migration's volume copies run in, made on a given engine (the
tests cannot pull `busybox:1.36`): /bin/busybox and the applets the copy and digest use."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

from busybox_rootfs import add_busybox

APPLETS = ("sh", "find", "sort", "sha256sum", "wc", "ls", "cp", "rm", "sleep", "cat", "mkdir")
APPLETS += ("echo", "mv", "true")


def make_helper_image(docker_host: str, ref: str, workdir: Path) -> str:
    """Import the helper rootfs as `ref` on the engine at `docker_host`; returns `ref`."""
    tar_path = workdir / "helper.tar"
    with tarfile.open(tar_path, "w") as tar:
        add_busybox(tar, APPLETS)
    with tar_path.open("rb") as data:
        subprocess.run(
            ["docker", "-H", docker_host, "import", "-", ref],
            stdin=data,
            check=True,
            capture_output=True,
        )
    return ref
