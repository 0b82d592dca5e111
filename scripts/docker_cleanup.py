#!/usr/bin/env python3
"""Reclaim Docker storage on a Swarm node: the runbook's cleanup, with a report of what it freed.

What it removes (like `docker system prune`, never volumes):
  1. stopped containers (exited, created, dead): leftovers of restart loops and one-off runs
  2. dangling images (untagged layers); with --all-images, every image no container uses
  3. the build cache (skipped when --label narrows the cleanup: cache entries carry no labels)
  4. unused networks, only with --networks (Swarm overlay networks Pulumi declared but no
     service uses yet would go too, and show up as drift)
  5. volumes: only those named with --volume NAME, and only if no container uses them.
     Volumes hold data (Redis, RabbitMQ, InfluxDB): nothing else here ever deletes one.

--dry-run lists what would go and its size, and removes nothing. --until 24h keeps anything
newer (a container that just crashed is evidence). --label KEY=VALUE limits every step to
objects carrying that label. DOCKER_HOST selects the engine (ssh://root@manager works).

Exit status: 0 done (or nothing to do), 1 a Docker API error, 64 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

STOPPED_STATES = ("exited", "created", "dead")
_DURATION = re.compile(r"^\d+[smh]$")


@dataclass
class Step:
    name: str
    removed: list[str] = field(default_factory=list)  # ids or names
    reclaimed_bytes: int = 0
    skipped: str = ""  # why this step did nothing


def _filters(args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    filters: dict[str, Any] = dict(extra)
    if args.until:
        filters["until"] = args.until
    if args.label:
        filters["label"] = args.label
    return filters


def containers_step(client: Any, args: argparse.Namespace) -> Step:
    step = Step("stopped containers")
    if args.dry_run:
        filters = {"status": list(STOPPED_STATES)}
        if args.label:
            filters["label"] = args.label
        for info in client.api.containers(all=True, size=True, filters=filters):
            if args.until and not _older_than(info.get("Created", 0), args.until):
                continue
            step.removed.append(info["Names"][0].lstrip("/") if info.get("Names") else info["Id"])
            step.reclaimed_bytes += info.get("SizeRw", 0) or 0
        return step
    result = client.containers.prune(filters=_filters(args))
    step.removed = result.get("ContainersDeleted") or []
    step.reclaimed_bytes = result.get("SpaceReclaimed") or 0
    return step


def images_step(client: Any, args: argparse.Namespace) -> Step:
    step = Step("unused images" if args.all_images else "dangling images")
    dangling = not args.all_images
    if args.dry_run:
        used = {c.get("ImageID") for c in client.api.containers(all=True)}
        filters: dict[str, Any] = {"dangling": True} if dangling else {}
        if args.label:
            filters["label"] = args.label
        for image in client.api.images(filters=filters):
            if image["Id"] in used:
                continue
            if args.until and not _older_than(image.get("Created", 0), args.until):
                continue
            step.removed.append(image["Id"][7:19])
            step.reclaimed_bytes += image.get("Size", 0)
        return step
    result = client.images.prune(filters=_filters(args, dangling=dangling))
    step.removed = [
        entry.get("Deleted") or entry.get("Untagged", "")
        for entry in result.get("ImagesDeleted") or []
    ]
    step.reclaimed_bytes = result.get("SpaceReclaimed") or 0
    return step


def build_cache_step(client: Any, args: argparse.Namespace) -> Step:
    step = Step("build cache")
    if args.label:
        step.skipped = "--label given: build cache entries carry no labels"
        return step
    if args.dry_run:
        for entry in client.df().get("BuildCache") or []:
            if not entry.get("InUse"):
                step.removed.append(entry.get("ID", "")[:12])
                step.reclaimed_bytes += entry.get("Size", 0)
        return step
    result = client.api.prune_builds(filters=_filters(args) or None)
    step.removed = result.get("CachesDeleted") or []
    step.reclaimed_bytes = result.get("SpaceReclaimed") or 0
    return step


def networks_step(client: Any, args: argparse.Namespace) -> Step:
    step = Step("unused networks")
    if not args.networks:
        step.skipped = "not asked (--networks)"
        return step
    if args.dry_run:
        step.skipped = "dry run: Docker offers no preview of network prune"
        return step
    result = client.networks.prune(filters=_filters(args))
    step.removed = result.get("NetworksDeleted") or []
    return step


class BadVolume(Exception):
    """A volume named on the command line that does not exist or is still in use."""


def check_volumes(client: Any, names: list[str]) -> dict[str, int]:
    """Before anything is removed: every named volume exists and no container uses it."""
    sizes = {v["Name"]: (v.get("UsageData") or {}).get("Size", 0) for v in client.df()["Volumes"]}
    for name in names:
        if name not in sizes:
            raise BadVolume(f"no volume named {name!r} (see `docker volume ls`)")
        users = client.containers.list(all=True, filters={"volume": name})
        if users:
            raise BadVolume(
                f"volume {name!r} is used by {', '.join(c.name for c in users)}; "
                "remove those containers (or their services) first"
            )
    return {name: max(sizes[name], 0) for name in names}


def volumes_step(client: Any, args: argparse.Namespace) -> Step:
    """Only the volumes named on the command line (checked by check_volumes first)."""
    step = Step("named volumes")
    if not args.volume:
        step.skipped = "none named (--volume NAME); volumes are never pruned"
        return step
    for name, size in check_volumes(client, args.volume).items():
        if not args.dry_run:
            client.volumes.get(name).remove()
        step.removed.append(name)
        step.reclaimed_bytes += size
    return step


def _older_than(created: int | str, until: str) -> bool:
    import time

    seconds = int(until[:-1]) * {"s": 1, "m": 60, "h": 3600}[until[-1]]
    if isinstance(created, str):  # volumes and some APIs give RFC 3339
        from datetime import datetime

        created = int(datetime.fromisoformat(created.replace("Z", "+00:00")[:26]).timestamp())
    return created <= time.time() - seconds


def human_size(num: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(num) < 1024 or unit == "GiB":
            return f"{num:.0f} {unit}" if unit == "B" else f"{num:.1f} {unit}"
        num /= 1024
    return f"{num:.1f} GiB"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="docker_cleanup.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dry-run", action="store_true", help="show what would go; remove nothing")
    parser.add_argument(
        "--all-images", action="store_true", help="every unused image, not only dangling"
    )
    parser.add_argument("--networks", action="store_true", help="also prune unused networks")
    parser.add_argument(
        "--until", metavar="DURATION", help="only objects older than this (e.g. 24h, 90m)"
    )
    parser.add_argument("--label", metavar="KEY[=VALUE]", help="only objects with this label")
    parser.add_argument(
        "--volume",
        metavar="NAME",
        action="append",
        default=[],
        help="remove this unused volume (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    if args.until and not _DURATION.match(args.until):
        parser.exit(64, f"error: --until {args.until!r}: use a number and s, m or h (e.g. 24h)\n")
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # argparse's usage errors are 2; this project's bad input is 64
        return 64 if exc.code == 2 else int(exc.code or 0)
    import docker
    import docker.errors

    try:
        client = docker.from_env()
        check_volumes(client, args.volume)  # refuse before removing anything
        steps = [
            step(client, args)
            for step in (
                containers_step,
                images_step,
                build_cache_step,
                networks_step,
                volumes_step,
            )
        ]
    except docker.errors.DockerException as exc:
        print(f"error: Docker API: {exc}", file=sys.stderr)
        return 1
    except BadVolume as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 64
    total = sum(s.reclaimed_bytes for s in steps)
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, "reclaimed_bytes": total,
                          "steps": [asdict(s) for s in steps]}, indent=2))  # fmt: skip
        return 0
    verb = "would remove" if args.dry_run else "removed"
    for s in steps:
        detail = s.skipped or f"{verb} {len(s.removed)}, {human_size(s.reclaimed_bytes)}"
        print(f"{s.name:<20} {detail}")
    print(f"{'total':<20} {'would reclaim' if args.dry_run else 'reclaimed'} {human_size(total)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
