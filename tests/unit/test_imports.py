"""Every module of automation/ and sprocket_common/ imports on its own, whatever came before.

A module that imports only because some other module was imported first (the commands package
needed automation.cli, which imports the commands) breaks `python -c "import X"` and any tool
that starts there. One fresh interpreter: before each module the project's own modules are
dropped from sys.modules (third-party ones stay, so this takes seconds, not minutes), then the
whole tree is imported again in a shuffled order.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("automation", "sprocket_common")

_PROBE = r"""
import importlib, json, random, sys, traceback
names, seed = json.loads(sys.argv[1]), int(sys.argv[2])
own = lambda m: m.split(".")[0] in ("automation", "sprocket_common")
failures = {}
def forget():
    for m in [m for m in sys.modules if own(m)]:
        del sys.modules[m]
for name in names:
    forget()
    try:
        importlib.import_module(name)
    except BaseException:
        failures[name] = traceback.format_exc(limit=3)
forget()
order = list(names)
random.Random(seed).shuffle(order)
for name in order:
    try:
        importlib.import_module(name)
    except BaseException:
        failures["(shuffled) " + name] = traceback.format_exc(limit=3)
print(json.dumps(failures))
"""


def module_names() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__main__":
                continue
            if parts[-1] == "__init__":
                parts.pop()
            names.append(".".join(parts))
    return names


def test_the_module_list_covers_the_entry_points() -> None:
    names = module_names()
    assert "automation.commands" in names and "automation.commands.deploy" in names
    assert "sprocket_common.service" in names


def test_every_module_imports_alone_and_in_any_order() -> None:
    names = module_names()
    for seed in (0, 1):
        out = subprocess.run(
            [sys.executable, "-c", _PROBE, json.dumps(names), str(seed)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        ).stdout
        failures = json.loads(out.strip().splitlines()[-1])
        assert failures == {}, "\n".join(f"{k}:\n{v}" for k, v in failures.items())
