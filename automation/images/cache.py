"""Build outputs cached outside the repo, beside the pulumi CLI and plugin caches.

An entry is `<root>/servers/<name>-<version>/<recipe hash>/`; it counts only once its
`done` stamp is written (an interrupted build leaves no half entry that looks finished).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

DONE = "done"


def cache_root() -> Path:
    """`$SPROCKET_CACHE`, else ~/.cache/sprocket-infra (as scripts/install-*.sh use)."""
    configured = os.environ.get("SPROCKET_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "sprocket-infra"


def recipe_hash(facts: dict[str, Any]) -> str:
    """The first 16 hex digits of the sha256 of the recipe's facts (as canonical JSON)."""
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def entry(name: str, version: str, facts: dict[str, Any]) -> Path:
    return cache_root() / "servers" / f"{name}-{version}" / recipe_hash(facts)


def is_done(folder: Path) -> bool:
    return (folder / DONE).is_file()


def mark_done(folder: Path) -> None:
    (folder / DONE).write_text("")


def fresh(folder: Path) -> Path:
    """An empty folder for a new build of this entry (what an interrupted one left is removed)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder
