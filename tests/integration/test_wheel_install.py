"""The `sprocket` command from a built wheel, installed in a fresh virtualenv, run outside the
checkout: every package of the driver is in the wheel, and the layer programs (which are not:
they live in the checkout) are found through SPROCKET_PROJECT_DIR or refused by name."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from automation.exit_codes import ExitCode

pytestmark = pytest.mark.integration

CHECKOUT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sprocket(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `sprocket` entry point of the wheel, in a virtualenv of its own. The wheel's
    dependencies come from the project's virtualenv through one .pth line (not downloaded
    again); its editable install of this checkout is not: that .pth file is not read."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"  # a copy: setuptools builds in the source tree (build/, egg-info)
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "automation", "sprocket_common"):
        copy = shutil.copytree if (CHECKOUT / name).is_dir() else shutil.copy
        copy(CHECKOUT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(root / "dist"), str(source)],
        check=True, capture_output=True,
    )  # fmt: skip
    [wheel] = (root / "dist").glob("sprocket_infra-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    Path(site, "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    return venv / "bin" / "sprocket"


def _run(sprocket: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SPROCKET_", "PULUMI_"))}
    return subprocess.run(
        [str(sprocket), *args], cwd=cwd, env={**clean, **env}, capture_output=True, text=True,
        check=False, timeout=300,
    )  # fmt: skip


def test_the_wheel_holds_every_driver_package(sprocket: Path, tmp_path: Path) -> None:
    shown = _run(sprocket, tmp_path, "--help")
    assert shown.returncode == 0, shown.stderr
    assert "deploy" in shown.stdout and "rollout" in shown.stdout
    python = sprocket.parent / "python"
    where = subprocess.run(
        [str(python), "-c", "import automation.backup.store, automation.rollout.run, "
         "automation.stack.run, automation.guard.operation, automation.pulumi.cli; "
         "print(automation.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert where.returncode == 0, where.stderr
    assert str(CHECKOUT) not in where.stdout  # the installed copy, not the checkout's


def test_outside_the_checkout_the_programs_are_named_or_found_through_the_project_dir(
    sprocket: Path, tmp_path: Path
) -> None:
    state = {
        "SPROCKET_STATE_DIR": str(tmp_path / "state"),
        "SPROCKET_PULUMI_HOME": str(CHECKOUT / ".sprocket" / "pulumi-home"),
        "SPROCKET_PULUMI_CLI_DIR": str(Path(sys.executable).parent),
    }
    lost = _run(sprocket, tmp_path, "--json", "preview", "layer_1", "--no-refresh", **state)
    assert lost.returncode == ExitCode.BAD_INPUT, lost.stdout + lost.stderr
    assert "SPROCKET_PROJECT_DIR" in lost.stdout and "layer_1/" in lost.stdout

    found = _run(
        sprocket, tmp_path, "--json", "preview", "layer_1", "--no-refresh",
        SPROCKET_PROJECT_DIR=str(CHECKOUT), **state,
    )  # fmt: skip
    assert found.returncode == ExitCode.CHANGES_PRESENT, found.stdout + found.stderr
    assert '"create"' in found.stdout
