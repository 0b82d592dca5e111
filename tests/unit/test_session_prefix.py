"""The tests' SESSION_PREFIX (tests/conftest.py) names one process: its end-of-session sweep of
Swarm objects must find every object its tests made, and must never touch another worker's.

pytest loads tests/conftest.py as `conftest`; a test module's `from tests.conftest import ...`
executes the file a second time as another module. Both copies must agree on the prefix, and a
second process (another pytest-xdist worker, another session on the same engine) must not.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


def _load(name: str) -> ModuleType:
    """Execute tests/conftest.py as a new module `name`, as a second import path would."""
    spec = importlib.util.spec_from_file_location(name, CONFTEST)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def test_every_copy_of_conftest_in_one_process_has_one_prefix() -> None:
    first, second = _load("conftest_copy_a"), _load("conftest_copy_b")
    assert first.SESSION_PREFIX == second.SESSION_PREFIX
    assert first.SESSION_PREFIX.startswith(f"{first.TEST_PREFIX}-")


def test_another_process_has_another_prefix() -> None:
    here = _load("conftest_copy_here").SESSION_PREFIX
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('c', {str(CONFTEST)!r})\n"
        "m = sys.modules['c'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(m)\n"
        "print(m.SESSION_PREFIX)\n"
    )
    others = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=CONFTEST.parent,
        ).stdout.strip()
        for _ in range(2)
    }
    assert len(others) == 2 and here not in others
