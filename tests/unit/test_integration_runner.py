"""scripts/test-integration.sh, on a small real test tree: pytest-xdist workers for the tests
not marked `serial`, then the serial ones alone, one exit status for both parts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
SCRIPT = TESTS.parent / "scripts" / "test-integration.sh"

# Each test writes which process ran it: PYTEST_XDIST_WORKER is set only inside a worker.
BODY = """\
import os
from pathlib import Path

import pytest


def _ran(name: str) -> None:
    out = Path(os.environ["RUNNER_LOG"]) / name
    out.write_text(os.environ.get("PYTEST_XDIST_WORKER", "alone"))
"""

PYPROJECT = """\
[tool.pytest.ini_options]
addopts = "--strict-markers -p no:cacheprovider"
markers = ["serial: runs alone", "long: handed out first"]
"""

# The suite's own ordering hook, as tests/conftest.py takes it.
CONFTEST = "from xdist_order import pytest_collection_modifyitems  # noqa: F401\n"


def _tree(tmp_path: Path, tests: dict[str, str]) -> Path:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "conftest.py").write_text(CONFTEST)
    for name, text in tests.items():
        (root / f"test_{name}.py").write_text(BODY + text)
    return root


def _run(tmp_path: Path, root: Path, workers: str) -> subprocess.CompletedProcess[str]:
    log = tmp_path / "ran"
    log.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "SPROCKET_TEST_WORKERS": workers,
        "PYTHON": sys.executable,
        "RUNNER_LOG": str(log),
        "PYTHONPATH": str(TESTS),
    }
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run(
        ["bash", str(SCRIPT), str(root)], capture_output=True, text=True, env=env, timeout=120
    )


def _who_ran(tmp_path: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in (tmp_path / "ran").iterdir()}


PARALLEL_A = "\ndef test_a() -> None:\n    _ran('a')\n"
PARALLEL_B = "\ndef test_b() -> None:\n    _ran('b')\n"
SERIAL = "\n@pytest.mark.serial\ndef test_s() -> None:\n    _ran('s')\n"
SERIAL_FAILS = "\n@pytest.mark.serial\ndef test_s() -> None:\n    _ran('s')\n    assert False\n"


def test_workers_run_the_parallel_tests_and_the_serial_ones_run_alone_after(
    tmp_path: Path,
) -> None:
    root = _tree(tmp_path, {"a": PARALLEL_A, "b": PARALLEL_B, "s": SERIAL})
    result = _run(tmp_path, root, "2")
    assert result.returncode == 0, result.stdout + result.stderr
    ran = _who_ran(tmp_path)
    assert ran["s"] == "alone"
    assert {ran["a"], ran["b"]} <= {"gw0", "gw1"}


def test_one_worker_is_one_serial_session_of_every_test(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"a": PARALLEL_A, "s": SERIAL})
    result = _run(tmp_path, root, "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _who_ran(tmp_path) == {"a": "alone", "s": "alone"}
    assert "2 passed" in result.stdout


def test_a_failure_in_the_serial_part_fails_the_run(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"a": PARALLEL_A, "s": SERIAL_FAILS})
    result = _run(tmp_path, root, "2")
    assert result.returncode == 1, result.stdout + result.stderr
    assert set(_who_ran(tmp_path)) == {"a", "s"}


def test_a_selection_without_serial_tests_passes(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"a": PARALLEL_A})
    result = _run(tmp_path, root, "2")
    assert result.returncode == 0, result.stdout + result.stderr


def test_nothing_collected_in_either_part_is_exit_5(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"a": "\n"})
    assert _run(tmp_path, root, "2").returncode == 5


@pytest.mark.parametrize("workers", ["0", "two", "-1", "2 "])
def test_a_bad_worker_count_is_named(tmp_path: Path, workers: str) -> None:
    root = _tree(tmp_path, {"a": PARALLEL_A})
    result = _run(tmp_path, root, workers)
    assert result.returncode == 2
    assert f"SPROCKET_TEST_WORKERS must be a whole number >= 1 (got '{workers}')" in result.stderr
    assert not (tmp_path / "ran" / "a").exists()


# Each records the order it ran in on its worker (a time stamp), then takes a moment.
TIMED = """
import time

{mark}
def test_{name}() -> None:
    _ran("{name}")
    (Path(os.environ["RUNNER_LOG"]) / "{name}.at").write_text(repr(time.time()))
    time.sleep(0.5)
"""


def test_workers_are_handed_the_long_modules_first(tmp_path: Path) -> None:
    names = ["a", "b", "c", "z"]  # z, last in collection order, is the long one
    root = _tree(
        tmp_path,
        {n: TIMED.format(name=n, mark="@pytest.mark.long" if n == "z" else "") for n in names},
    )
    result = _run(tmp_path, root, "2")
    assert result.returncode == 0, result.stdout + result.stderr
    log = tmp_path / "ran"
    worker = {n: (log / n).read_text() for n in names}
    at = {n: float((log / f"{n}.at").read_text()) for n in names}
    on_its_worker = sorted((at[n], n) for n in names if worker[n] == worker["z"])
    assert on_its_worker[0][1] == "z", (worker, at)
