"""scripts/install-plugins.sh on bad input: a missing or tampered tarball, no Go toolchain.

Each case runs the real script against an empty plugin cache and an empty PULUMI_HOME, offline
(SPROCKET_PLUGINS_OFFLINE=1: no download is tried), so it reaches the build from source and
stops there. A user must get one line naming the cause and what to do, and nothing may be left
registered. The script's happy path is what `make test` runs before these tests (the plugins
the real-stack tests use).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "install-plugins.sh"
VENDOR = Path(
    os.environ.get(
        "SPROCKET_PROVIDER_SOURCES", ROOT.parent / "shared" / "vendor" / "pulumi-providers"
    )
)


def _sources(tmp_path: Path) -> Path:
    """A writable copy of the vendor folder (tarballs linked, SHA256SUMS copied)."""
    if not (VENDOR / "SHA256SUMS").is_file():
        pytest.fail(
            f"the vendored provider sources are not at {VENDOR}: set SPROCKET_PROVIDER_SOURCES"
        )
    sources = tmp_path / "sources"
    sources.mkdir()
    for item in VENDOR.iterdir():
        if item.name == "SHA256SUMS":
            shutil.copy(item, sources / item.name)
        else:
            (sources / item.name).symlink_to(item)
    return sources


def _run(
    tmp_path: Path, sources: Path, path: str | None = None
) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "pulumi-home"
    env = {
        **os.environ,
        "SPROCKET_PROVIDER_SOURCES": str(sources),
        "SPROCKET_CACHE": str(tmp_path / "cache"),
        "SPROCKET_PULUMI_HOME": str(home),
        "SPROCKET_PLUGINS_OFFLINE": "1",
    }
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        ["bash", str(SCRIPT), "--no-language-host"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _nothing_registered(tmp_path: Path) -> None:
    plugins = tmp_path / "pulumi-home" / "plugins"
    assert not plugins.exists() or list(plugins.iterdir()) == []
    cache = tmp_path / "cache" / "plugins"
    assert not cache.exists() or [p.name for p in cache.iterdir()] == []


def test_a_tampered_tarball_is_named_and_nothing_is_built_or_registered(tmp_path: Path) -> None:
    sources = _sources(tmp_path)
    tarball = sources / "pulumi-docker-v5.1.0.tar.gz"
    data = bytearray(tarball.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tarball.unlink()
    tarball.write_bytes(bytes(data))

    result = _run(tmp_path, sources)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert str(tarball) in line and "does not match SHA256SUMS" in line and "tampered" in line
    _nothing_registered(tmp_path)


def test_a_missing_tarball_names_both_ways_to_get_the_plugin(tmp_path: Path) -> None:
    sources = _sources(tmp_path)
    (sources / "pulumi-docker-v5.1.0.tar.gz").unlink()

    result = _run(tmp_path, sources)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "pulumi-docker-v5.1.0.tar.gz" in line
    assert "get.pulumi.com" in line and "SPROCKET_PROVIDER_SOURCES" in line
    _nothing_registered(tmp_path)


def test_without_a_go_toolchain_it_says_to_install_go(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    go = shutil.which("go")
    for entry in os.environ["PATH"].split(os.pathsep):
        folder = Path(entry)
        if not folder.is_dir() or (go and folder == Path(go).parent):
            continue
        for tool in folder.iterdir():
            if tool.name != "go" and not (bin_dir / tool.name).exists():
                (bin_dir / tool.name).symlink_to(tool)
    result = _run(tmp_path, _sources(tmp_path), path=str(bin_dir))
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "docker v5.1.0" in line and "no 'go' toolchain" in line and "Go 1.25" in line
    _nothing_registered(tmp_path)
