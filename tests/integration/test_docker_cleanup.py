"""scripts/docker_cleanup.py on the real engine, limited by a unique label to this test's litter."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "docker_cleanup.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120
    )


def _dangling_image(label: str, size: int = 256 * 1024) -> str:
    """An untagged image (dangling) carrying the label, from a one-file root filesystem."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("payload.bin")
        info.size = size
        tar.addfile(info, io.BytesIO(uuid.uuid4().bytes * (size // 16)))
    out = subprocess.run(
        ["docker", "import", "--change", f"LABEL {label}", "-"],
        input=data.getvalue(),
        capture_output=True,
        check=True,
    )
    return out.stdout.decode().strip()  # sha256:...


@pytest.fixture
def litter(swarm: Any, test_images: dict[str, str]) -> Iterator[dict[str, Any]]:
    """A stopped container, a dangling image and an unused volume, all with one unique label."""
    key = f"sprockettest.cleanup={uuid.uuid4().hex[:8]}"
    name, value = key.split("=")
    labels = {name: value}
    container = swarm.containers.create(
        test_images["1"], command=["sh", "-c", "exit 0"], labels=labels
    )
    container.start()
    container.wait(timeout=30)
    image_id = _dangling_image(key)
    volume = swarm.volumes.create(f"sprockettest-vol-{value}", labels=labels)
    yield {"label": key, "container": container, "image": image_id, "volume": volume}
    for remove in (
        lambda: container.remove(force=True),
        lambda: swarm.images.remove(image_id, force=True),
        lambda: volume.remove(force=True),
    ):
        try:
            remove()
        except Exception as exc:  # already cleaned up by the test: that is the point
            print(f"teardown: {exc}")


def _exists(swarm: Any, kind: str, ident: str) -> bool:
    import docker.errors

    try:
        getattr(swarm, kind).get(ident)
    except docker.errors.NotFound:
        return False
    return True


def test_dry_run_lists_and_removes_nothing(swarm: Any, litter: dict[str, Any]) -> None:
    result = _run("--dry-run", "--json", "--label", litter["label"])
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    steps = {s["name"]: s for s in report["steps"]}
    assert steps["stopped containers"]["removed"] == [litter["container"].name]
    assert steps["dangling images"]["removed"] == [litter["image"][7:19]]
    assert report["reclaimed_bytes"] >= 256 * 1024
    assert _exists(swarm, "containers", litter["container"].id)
    assert _exists(swarm, "images", litter["image"])


def test_cleanup_reports_space_and_never_touches_unnamed_volumes(
    swarm: Any, litter: dict[str, Any]
) -> None:
    result = _run("--json", "--label", litter["label"])
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    steps = {s["name"]: s for s in report["steps"]}
    assert steps["stopped containers"]["removed"] == [litter["container"].id]
    assert report["reclaimed_bytes"] >= 256 * 1024  # the image's layer
    assert not _exists(swarm, "containers", litter["container"].id)
    assert not _exists(swarm, "images", litter["image"])
    assert "never pruned" in steps["named volumes"]["skipped"]
    assert _exists(swarm, "volumes", litter["volume"].name)

    human = _run("--label", litter["label"])  # nothing left: still a clean report
    assert human.returncode == 0
    assert human.stdout.splitlines()[-1].startswith("total")


def test_a_volume_goes_only_when_named(swarm: Any, litter: dict[str, Any]) -> None:
    name = litter["volume"].name
    dry = _run("--dry-run", "--label", litter["label"], "--volume", name)
    assert dry.returncode == 0 and _exists(swarm, "volumes", name)
    result = _run("--label", litter["label"], "--volume", name)
    assert result.returncode == 0, result.stderr
    assert "named volumes        removed 1" in result.stdout
    assert not _exists(swarm, "volumes", name)


def test_a_volume_in_use_is_refused_before_anything_is_removed(
    swarm: Any, litter: dict[str, Any], test_images: dict[str, str]
) -> None:
    name = litter["volume"].name
    user = swarm.containers.create(
        test_images["1"],
        command=["sh", "-c", "exit 0"],
        volumes={name: {"bind": "/data", "mode": "rw"}},
    )
    try:
        result = _run("--label", litter["label"], "--volume", name)
        assert result.returncode == 64
        assert f"volume {name!r} is used by {user.name}" in result.stderr
        # refused up front: the labelled stopped container is still there
        assert _exists(swarm, "containers", litter["container"].id)
    finally:
        user.remove(force=True)


def test_unknown_volume_and_bad_duration_are_bad_input(swarm: Any) -> None:
    missing = _run("--dry-run", "--volume", "sprockettest-no-such-volume")
    assert missing.returncode == 64 and "no volume named" in missing.stderr
    bad = _run("--until", "tomorrow")
    assert bad.returncode == 64 and "--until 'tomorrow'" in bad.stderr


def test_help_says_volumes_are_never_pruned() -> None:
    result = _run("--help")
    assert result.returncode == 0
    assert "--dry-run" in result.stdout and "nothing else here ever deletes one" in result.stdout
