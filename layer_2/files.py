"""The config files layer_2's services read (layer_2/files/), loaded and rendered."""

from __future__ import annotations

from pathlib import Path

FILES_DIR = Path(__file__).resolve().parent / "files"


def read(name: str) -> str:
    return (FILES_DIR / name).read_text()
