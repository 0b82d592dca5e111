"""Debian's busybox-static as the root filesystem of the tests' own images (no registry here):
the one place that writes the binary and its applet links into an image tar. Used by the test
images (tests/conftest.py), the migration's helper image and the psql stand-in."""

from __future__ import annotations

import tarfile
from collections.abc import Iterable
from pathlib import Path

BUSYBOX = Path("/bin/busybox")


def add_busybox(tar: tarfile.TarFile, applets: Iterable[str]) -> None:
    """/bin/busybox, and /bin/<applet> as a symlink to it for each of `applets`."""
    tar.add(BUSYBOX, arcname="bin/busybox")
    for applet in applets:
        link = tarfile.TarInfo(f"bin/{applet}")
        link.type, link.linkname = tarfile.SYMTYPE, "busybox"
        tar.addfile(link)
