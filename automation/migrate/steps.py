"""One migration step on the Docker engine: stop/start an old service, remove/recreate one,
copy a volume with a helper container and verify it. Each checks the engine first, so a step
redone after an interruption does no harm.

Stopping keeps the service: a replicated one is scaled to 0, a global one gets a placement
constraint no node meets; the service's label `sprocket.migrate.mode` keeps what it was
(`replicated:N` or `global`), so starting it again needs nothing but the service itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automation.errors import BadInput, DriverError
from automation.swarm import active_nodes, eligible_nodes
from automation.waiting import WaitTimeout, wait_until

MODE_LABEL = "sprocket.migrate.mode"
STOPPED_CONSTRAINT = "node.labels.sprocket-migrate==stopped"
DEFAULT_HELPER_IMAGE = "busybox:1.36"
STOP_TIMEOUT_S = 120.0


def _inspect(api: Any, name: str) -> dict[str, Any] | None:
    import docker.errors

    try:
        return dict(api.inspect_service(name))
    except docker.errors.NotFound:
        return None


def _update(api: Any, service: Mapping[str, Any], spec: Mapping[str, Any]) -> None:
    api.update_service(
        service["ID"],
        service["Version"]["Index"],
        task_template=spec["TaskTemplate"],
        name=spec["Name"],
        labels=spec.get("Labels") or {},
        mode=spec["Mode"],
        fetch_current_spec=True,
    )


ALIVE = ("running", "starting", "preparing", "assigned", "accepted", "ready")


def _running_tasks(api: Any, name: str, states: tuple[str, ...]) -> int:
    tasks = api.tasks(filters={"service": name})
    return sum(1 for t in tasks if t["Status"]["State"] in states)


def stop_service(
    api: Any, name: str, timeout_s: float = STOP_TIMEOUT_S, *, wait: bool = True
) -> dict[str, Any]:
    """Stop the old service `name` and (`wait`) wait until none of its tasks runs.
    Returns {"mode": "replicated:N" | "global"}; a missing service is a DriverError."""
    service = _inspect(api, name)
    if service is None:
        raise DriverError(f"old service {name} is not on the Swarm", "check `docker service ls`")
    spec = dict(service["Spec"])
    labels = dict(spec.get("Labels") or {})
    mode = labels.get(MODE_LABEL)
    if mode is None:  # not stopped yet
        if "Global" in spec["Mode"]:
            mode = "global"
            template = dict(spec["TaskTemplate"])
            placement = dict(template.get("Placement") or {})
            placement["Constraints"] = [*(placement.get("Constraints") or []), STOPPED_CONSTRAINT]
            template["Placement"] = placement
            spec["TaskTemplate"] = template
        else:
            mode = f"replicated:{spec['Mode'].get('Replicated', {}).get('Replicas', 1)}"
            spec["Mode"] = {"Replicated": {"Replicas": 0}}
        labels[MODE_LABEL] = mode
        spec["Labels"] = labels
        _update(api, service, spec)
    if wait:
        _wait(api, name, 0, timeout_s, "to stop")
    return {"mode": mode}


def settle(api: Any, names: list[str], timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Wait until no task of any of `names` (stopped without waiting) is alive."""
    for name in names:
        _wait(api, name, 0, timeout_s, "to stop")


def start_service(api: Any, name: str, timeout_s: float = STOP_TIMEOUT_S) -> bool:
    """Undo stop_service: the mode its label kept, then wait until its tasks run. False when
    the service was not stopped by a migration (nothing to do)."""
    service = _inspect(api, name)
    if service is None:
        raise DriverError(f"old service {name} is gone: it cannot be started again")
    spec = dict(service["Spec"])
    labels = dict(spec.get("Labels") or {})
    mode = labels.pop(MODE_LABEL, None)
    if mode is None:
        return False
    if mode == "global":
        template = dict(spec["TaskTemplate"])
        placement = dict(template.get("Placement") or {})
        placement["Constraints"] = [
            c for c in placement.get("Constraints") or [] if c != STOPPED_CONSTRAINT
        ]
        template["Placement"] = placement
        spec["TaskTemplate"] = template
    else:
        spec["Mode"] = {"Replicated": {"Replicas": int(mode.split(":", 1)[1])}}
    spec["Labels"] = labels
    _update(api, service, spec)
    fresh = _inspect(api, name) or service
    _wait(api, name, _desired(api, fresh["Spec"]), timeout_s, "to run again")
    return True


def _desired(api: Any, spec: Mapping[str, Any]) -> int:
    if "Global" in spec["Mode"]:
        return len(eligible_nodes(spec, active_nodes(api)))
    return int(spec["Mode"].get("Replicated", {}).get("Replicas", 1))


def _wait(api: Any, name: str, running: int, timeout_s: float, what: str) -> None:
    """Until `running` tasks run: for 0, none alive at all; else that many in state running."""
    states = ALIVE if running == 0 else ("running",)

    def probe() -> tuple[bool | None, object]:
        now = _running_tasks(api, name, states)
        return (True if now == running else None), f"{now} task(s) running"

    try:
        wait_until(probe, what=f"{name} {what}", timeout_s=timeout_s)
    except WaitTimeout as exc:
        raise DriverError(str(exc), f"check `docker service ps {name}`") from None


# --- remove / recreate (an old service whose name the program takes) ------------------------


def remove_service(api: Any, name: str, spec_file: Path) -> None:
    """Save the service's spec to `spec_file` (first, so rollback can recreate it), remove it."""
    service = _inspect(api, name)
    if service is None:
        if not spec_file.exists():
            raise DriverError(f"old service {name} is gone and no saved spec of it exists")
        return  # removed by an earlier run
    spec_file.write_text(json.dumps(service["Spec"], sort_keys=True))
    api.remove_service(service["ID"])


def recreate_service(api: Any, name: str, spec_file: Path, *, again: str = "the rollback") -> None:
    """Create the old service again from the spec remove_service saved (stopped, as it was).

    A service of that name that is not the saved one (another image or volumes: the program's,
    left on the Swarm by an interrupted deploy) is a DriverError: never taken for the old one."""
    current = _inspect(api, name)
    if current is not None and not spec_file.exists():
        return  # never removed
    try:
        spec = json.loads(spec_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DriverError(
            f"cannot recreate {name}: its saved spec {spec_file} is unreadable ({exc})",
            "recreate it by hand from the original stack",
        ) from None
    if current is not None:
        if _identity(current["Spec"]) == _identity(spec):
            return  # recreated by an earlier rollback
        image, volumes = _identity(current["Spec"])
        raise DriverError(
            f"cannot recreate the old service {name}: a service of that name runs {image} on "
            f"{', '.join(volumes) or 'no volume'}, not the old one (the program's, left by an "
            "interrupted deploy?)",
            f"check it, remove it (`docker service rm {name}`), then run {again} again",
        )
    api.create_service(
        spec["TaskTemplate"],
        name=spec["Name"],
        labels=spec.get("Labels"),
        mode=spec.get("Mode"),
        update_config=spec.get("UpdateConfig"),
        rollback_config=spec.get("RollbackConfig"),
        endpoint_spec=spec.get("EndpointSpec"),
    )


def _identity(spec: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """A service's image (without the digest Swarm adds) and volume sources."""
    container = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    sources = tuple(sorted(str(m.get("Source")) for m in container.get("Mounts") or []))
    return str(container.get("Image", "")).split("@")[0], sources


# --- volumes --------------------------------------------------------------------------------

# Count and one SHA-256 over every file's content hash and path, lines sorted. sha256sum gets
# the names from find itself: a `while read` loop split a name holding a newline, and that
# file's content was then in neither side's digest. (The count is of lines: such a name
# counts twice, on both sides alike.)
DIGEST_SCRIPT = (
    "cd {dir} && n=$(find . -type f | wc -l) && "
    "d=$(find . -type f -exec sha256sum {{}} + | sort | sha256sum) && "
    'echo "$n ${{d%% *}}" && ls -A | wc -l'
)


EMPTY_SCRIPT = "cd /to && find . -mindepth 1 -maxdepth 1 -exec rm -rf {} +"


@dataclass(frozen=True)
class Tree:
    files: int
    sha256: str
    entries: int  # top-level entries, files or not (an "empty" volume has none)


def _helper(client: Any, image: str, script: str, mounts: dict[str, dict[str, str]]) -> str:
    """Run `script` in a throw-away container of `image` (never pulled: the engine may have no
    registry access, and which image reads the data is the operator's choice)."""
    import docker.errors

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        raise DriverError(
            f"the helper image {image} is not on the engine",
            "load it there (docker pull/load), or pass --helper-image with a busybox image "
            "the engine has",
        ) from None
    try:
        out = client.containers.run(
            image,
            ["sh", "-c", script],
            volumes=mounts,
            remove=True,
            labels={"sprocket.migrate": "helper"},
            network_mode="none",
        )
    except docker.errors.ContainerError as exc:
        raise DriverError(f"helper container failed: {exc}", "nothing was removed") from None
    except docker.errors.APIError as exc:
        raise DriverError(
            f"helper container could not run: {exc.explanation}", "nothing was removed"
        ) from None
    return bytes(out).decode()


def tree(client: Any, image: str, volume: str) -> Tree:
    """File count and digest of a volume (a name) or a bind path (absolute)."""
    out = _helper(
        client, image, DIGEST_SCRIPT.format(dir="/v"), {volume: {"bind": "/v", "mode": "ro"}}
    )
    first, entries = out.strip().splitlines()[-2:]
    files, digest = first.split()
    return Tree(int(files), digest, int(entries))


def copy_volume(
    client: Any, image: str, source: str, target: str, *, redo: bool = False
) -> dict[str, Any]:
    """Copy `source` into `target` and verify file count and SHA-256 on both sides.

    Already identical: nothing copied (a resumed apply). A target holding other data: refused
    (the program's volume is never overwritten), unless `redo` (a copy of this migration was
    cut off: what the target holds is its partial copy, emptied first). Returns the figures."""
    before = tree(client, image, source)
    held = tree(client, image, target)
    copied = False
    if (held.files, held.sha256) != (before.files, before.sha256):
        if held.entries and redo:
            _helper(client, image, EMPTY_SCRIPT, {target: {"bind": "/to", "mode": "rw"}})
        elif held.entries:
            raise DriverError(
                f"the program's volume {target} already holds other data "
                f"({held.files} file(s)); {source} was not copied",
                f"check {target}; if it holds nothing of value, empty it and apply again",
            )
        mounts = {source: {"bind": "/from", "mode": "ro"}, target: {"bind": "/to", "mode": "rw"}}
        _helper(client, image, "cp -a /from/. /to/", mounts)
        copied = True
    after = tree(client, image, target)
    if (after.files, after.sha256) != (before.files, before.sha256):
        raise DriverError(
            f"copy of {source} to {target} does not verify: {before.files} file(s) sha256 "
            f"{before.sha256[:12]} vs {after.files} sha256 {after.sha256[:12]}",
            f"{source} is untouched; check the engine's disk, then apply again",
        )
    return {"files": after.files, "sha256": after.sha256, "copied": copied}


def users_outside(api: Any, volume: str, stopping: set[str]) -> list[str]:
    """Running containers that mount `volume` and are not tasks of a service in `stopping`."""
    containers = api.containers(filters={"volume": volume})
    return [
        str(c["Names"][0]).lstrip("/")
        for c in containers
        if (c.get("Labels") or {}).get("com.docker.swarm.service.name") not in stopping
    ]


def refuse_volumes_in_use(
    api: Any, volumes: Mapping[str, set[str]], *, again: str = "the apply"
) -> None:
    """BadInput for the first volume (to be moved) in use by something apply cannot stop."""
    for volume, stopping in volumes.items():
        others = users_outside(api, volume, stopping)
        if others:
            raise BadInput(
                f"volume {volume} is in use by {', '.join(others)}, which the migration cannot "
                "stop (not an old service of the plan); nothing was changed",
                f"stop that container, then run {again} again",
            )
