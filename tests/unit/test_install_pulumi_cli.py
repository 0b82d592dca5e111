"""scripts/install-pulumi-cli.sh: reuse of the cached CLI, and a clear error when no path works."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "install-pulumi-cli.sh"


def _run(cache: Path, *, path: str, version: str = "3.272.0") -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "HOME": str(cache), "SPROCKET_CACHE": str(cache), "PYTHON": "false"}
    env["SPROCKET_LOG_DIR"] = str(cache / "logs")
    return subprocess.run(
        ["bash", str(SCRIPT), version],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _path_without_go(tmp_path: Path) -> str:
    """A PATH holding only the plain tools the script uses, so no Go toolchain is found."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "mkdir", "cat", "chmod", "timeout", "false"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def test_without_installer_or_go_it_says_what_is_missing(tmp_path: Path) -> None:
    # PYTHON=false stands for a Python without the Pulumi SDK: the official installer path fails.
    result = _run(tmp_path, path=_path_without_go(tmp_path))
    assert result.returncode == 1
    assert "no 'go' toolchain" in result.stderr
    assert "could not install the pulumi CLI v3.272.0" in result.stderr
    assert not list(tmp_path.glob("pulumi-v*/bin/pulumi"))


def _cached_cli(cache: Path, version: str, prints: str) -> Path:
    """A cached CLI that answers `pulumi version` with `prints` (a stand-in: the test must not
    need the real CLI, nor fall into a Go build when the cache is not taken)."""
    bin_dir = cache / f"pulumi-v{version}" / "bin"
    bin_dir.mkdir(parents=True)
    for name, body in (("pulumi", f"echo {prints}"), ("pulumi-resource-pulumi-python", "")):
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir


def test_reuses_a_cached_cli_that_prints_the_pinned_version(tmp_path: Path) -> None:
    bin_dir = _cached_cli(tmp_path, "3.274.1", prints="v3.274.1")
    result = _run(tmp_path, path=_path_without_go(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(bin_dir)
    assert "reusing cached pulumi v3.274.1" in result.stderr


def test_a_cached_cli_that_prints_another_version_is_not_reused(tmp_path: Path) -> None:
    _cached_cli(tmp_path, "3.274.1", prints="v3.200.0")
    result = _run(tmp_path, path=_path_without_go(tmp_path))
    assert result.returncode == 1
    assert "reusing" not in result.stderr
    assert "could not install the pulumi CLI v3.272.0" in result.stderr
