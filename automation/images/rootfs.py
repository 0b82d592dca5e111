"""Debian bookworm root filesystems (mmdebstrap, from the Debian mirror apt uses), cached as tars.

One tar per package set, `<cache>/servers/rootfs-bookworm/<hash>/rootfs.tar`: minbase plus the
packages asked for, bookworm-updates and bookworm-security included, an /etc/hosts added.
A real image is that tar plus the project's files, loaded with `docker import`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from automation.images import cache

SUITE = "bookworm"
BASE_PACKAGES = ("ca-certificates", "wget")  # wget: the declared healthchecks use it
SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY = "http://deb.debian.org/debian-security"


class RootfsError(RuntimeError):
    pass


def mirrors() -> tuple[str, str]:
    """(Debian mirror, security mirror) as this machine's apt is configured (deb822 sources)."""
    uris = re.findall(r"^URIs:\s*(\S+)", SOURCES.read_text(), re.M) if SOURCES.is_file() else []
    main = next((u for u in uris if not u.rstrip("/").endswith("-security")), DEFAULT_MIRROR)
    security = next((u for u in uris if u.rstrip("/").endswith("-security")), DEFAULT_SECURITY)
    return main, security


def facts(packages: Sequence[str], suites: Sequence[str] = ()) -> dict[str, object]:
    main, security = mirrors()
    found: dict[str, object] = {
        "suite": SUITE,
        "variant": "minbase",
        "packages": sorted({*BASE_PACKAGES, *packages}),
        "mirror": main,
        "security": security,
    }
    if suites:
        found["extra_suites"] = list(suites)
    return found


def rootfs(
    packages: Sequence[str] = (), *, suites: Sequence[str] = (), cached_only: bool = False
) -> Path:
    """The cached root filesystem tar with `packages` (made first when absent). `suites`:
    older Debian suites added to the sources for packages bookworm no longer has (bullseye's
    libssl1.1); apt takes every other package from bookworm, whose versions are newer."""
    recipe = facts(packages, suites)
    wanted = sorted({*BASE_PACKAGES, *packages})
    main, security = mirrors()
    entry = cache.entry("rootfs", SUITE, recipe)
    tar = entry / "rootfs.tar"
    if cache.is_done(entry) and tar.is_file():
        return tar
    if cached_only:
        raise RootfsError(f"no cached {SUITE} root filesystem with {wanted}")
    if shutil.which("mmdebstrap") is None:
        raise RootfsError("mmdebstrap is missing: apt-get install mmdebstrap")
    cache.fresh(entry)
    log = entry / "build.log"
    print(
        f"images: making a Debian {SUITE} root filesystem with {', '.join(wanted)}"
        f" (about 1-2 min; log: {log})",
        flush=True,
        file=sys.stderr,
    )
    started = time.monotonic()
    command = [
        "nice", "-n", "10", "mmdebstrap", "--variant=minbase", "--format=tar",
        f"--include={','.join(wanted)}",
        "--customize-hook=printf '127.0.0.1 localhost\\n::1 localhost\\n' > \"$1/etc/hosts\"",
        "--customize-hook=rm -rf \"$1\"/var/cache/apt/archives/*.deb \"$1\"/var/lib/apt/lists/*",
        SUITE, str(tar),
        f"deb {main} {SUITE} main", f"deb {main} {SUITE}-updates main",
        f"deb {security} {SUITE}-security main",
        *(f"deb {main} {suite} main" for suite in suites),
    ]  # fmt: skip
    with log.open("w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise RootfsError(f"mmdebstrap failed (exit {done.returncode}); see {log}")
    cache.mark_done(entry)
    print(
        f"images: root filesystem made in {time.monotonic() - started:.0f} s",
        flush=True,
        file=sys.stderr,
    )
    return tar
