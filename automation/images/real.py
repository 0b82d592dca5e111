"""Make a real image: the recipe's Debian root filesystem, its binaries and files, `docker import`.

Labels: `sprocket.real=<software> <version>` and `sprocket.real.recipe=<hash>` (a changed
recipe or a rebuilt binary remakes the image; one of the same hash is left alone).
"""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from automation.images import rootfs
from automation.images.recipes import RealRecipe

REAL_LABEL = "sprocket.real"
REAL_RECIPE_LABEL = "sprocket.real.recipe"


def _add_bytes(tar: tarfile.TarFile, path: str, data: bytes, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(path.lstrip("/"))
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def _add_parents(tar: tarfile.TarFile, path: str, have: set[str]) -> None:
    parts = path.strip("/").split("/")[:-1]
    for index in range(1, len(parts) + 1):
        folder = "/".join(parts[:index])
        if folder not in have:
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
            have.add(folder)


def _users_files(base: Path, users: dict[str, int]) -> dict[str, bytes]:
    """/etc/passwd and /etc/group of the root filesystem with the recipe's system users added."""
    found: dict[str, bytes] = {}
    with tarfile.open(base) as original:
        for member in original:
            name = member.name.removeprefix("./")
            if name not in ("etc/passwd", "etc/group") or not member.isfile():
                continue
            text = (original.extractfile(member) or io.BytesIO()).read().decode()
            line = (
                "{0}:x:{1}:{1}::/nonexistent:/usr/sbin/nologin"
                if name == "etc/passwd"
                else "{0}:x:{1}:"
            )
            text += "".join(line.format(user, uid) + "\n" for user, uid in users.items())
            found[name] = text.encode()
    return found


def _copy_without(base: Path, out: Path, left_out: set[str]) -> None:
    """A copy of the tar less some members (Docker's import refuses a path given twice)."""
    with tarfile.open(base) as original, tarfile.open(out, "w") as copy:
        for member in original:
            if member.name.removeprefix("./") in left_out:
                continue
            copy.addfile(member, original.extractfile(member) if member.isfile() else None)


def image_tar(recipe: RealRecipe, binaries: dict[str, Path], into: Path) -> Path:
    """The root filesystem tar of the image, written to `into`."""
    base = rootfs.rootfs(recipe.packages, suites=recipe.suites)
    out = into / "image.tar"
    replaced = _users_files(base, recipe.users) if recipe.users else {}
    if replaced:
        _copy_without(base, out, set(replaced))
    else:
        shutil.copyfile(base, out)
    with tarfile.open(out, "a") as tar:
        have = {name.rstrip("/").removeprefix("./") for name in tar.getnames()}
        for name, target in recipe.binaries.items():
            _add_parents(tar, target, have)
            tar.add(str(binaries[name]), arcname=target.lstrip("/"))
        for target, content in recipe.files.items():
            _add_parents(tar, target, have)
            _add_bytes(tar, target, content.encode())
        for path, data in replaced.items():
            _add_bytes(tar, path, data, mode=0o644)
        for path, points_to in recipe.links.items():
            _add_parents(tar, path, have)
            link = tarfile.TarInfo(path.lstrip("/"))
            link.type, link.linkname = tarfile.SYMTYPE, points_to
            tar.addfile(link)
    return out


def make_real(client: Any, ref: str, recipe: RealRecipe, binaries: dict[str, Path]) -> str:
    repository, _, tag = ref.rpartition(":")
    if "/" in tag or not repository:
        repository, tag = ref, "latest"
    changes = [
        "ENTRYPOINT " + _json_list(recipe.entrypoint),
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        *(f"ENV {k}={v}" for k, v in recipe.env.items()),
        f'LABEL {REAL_LABEL}="{recipe.label}"',
        f"LABEL {REAL_RECIPE_LABEL}={recipe.digest(binaries)}",
    ]
    with tempfile.TemporaryDirectory(prefix="sprocket-image-") as folder:
        tar = image_tar(recipe, binaries, Path(folder))
        client.api.import_image_from_file(str(tar), repository=repository, tag=tag, changes=changes)
    return ref


def _json_list(items: tuple[str, ...]) -> str:
    import json

    return json.dumps(list(items))
