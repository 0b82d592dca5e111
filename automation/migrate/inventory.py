"""What the original stacks left on the Swarm, as OldObjects, from one of three sources.

- the live Swarm (`from_swarm`): every service, volume, overlay network, config and secret;
  the logical name is the live name without Pulumi's random suffix (`influx-volume-5275127`);
- an export of the old stack (`from_export`, `pulumi stack export` of the old project): the
  logical names and which objects the old stack managed; refused when it is another project's;
- an inventory file (`from_inventory`, ../shared/fixtures/original-system-inventory.json shape).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from automation.errors import BadInput

# Pulumi's auto-naming: `<logical>-<7 hex>`.
SUFFIX = re.compile(r"^(?P<stem>.+)-[0-9a-f]{7}$")

KINDS_BY_TYPE = {
    "docker:index/service:Service": "service",
    "docker:index/volume:Volume": "volume",
    "docker:index/network:Network": "network",
    "docker:index/serviceConfig:ServiceConfig": "config",
    "docker:index/secret:Secret": "secret",
}


@dataclass(frozen=True)
class OldObject:
    """One Docker object of the old system. `mounts`: names of the volumes a service mounts."""

    kind: str
    logical_name: str
    live_name: str
    image: str = ""
    mounts: tuple[str, ...] = ()
    global_mode: bool = False
    suffixed: bool = field(default=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "logical_name": self.logical_name,
            "live_name": self.live_name,
            **(
                {"image": self.image, "mounts": list(self.mounts)} if self.kind == "service" else {}
            ),
        }


def stem(live_name: str) -> str:
    """The live name without a Pulumi random suffix."""
    found = SUFFIX.match(live_name)
    return found.group("stem") if found else live_name


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise BadInput(
            f"cannot read {what} {path}: {exc.strerror}", "pass a readable file"
        ) from None
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"{what} {path} is not JSON (line {exc.lineno}): {exc.msg}", "pass the file unchanged"
        ) from None
    except UnicodeDecodeError:
        raise BadInput(
            f"{what} {path} is not JSON: not UTF-8 text", "pass the file unchanged"
        ) from None


# --- inventory file -------------------------------------------------------------------------


def from_inventory(path: Path, layer: str) -> list[OldObject]:
    """The objects the inventory file lists for `layer` (an empty list for a layer it lacks)."""
    data = _read_json(path, "inventory")
    stacks = data.get("stacks") if isinstance(data, dict) else None
    if not isinstance(stacks, dict):
        raise BadInput(f"inventory {path} has no `stacks` object", "pass an inventory file")
    return [_inventory_object(entry) for entry in stacks.get(layer) or []]


def _inventory_object(entry: Mapping[str, Any]) -> OldObject:
    mounts = tuple(m["source"] for m in entry.get("mounts") or [] if m.get("type") == "volume")
    return OldObject(
        kind=KINDS_BY_TYPE.get(entry["type"], entry["type"]),
        logical_name=entry["logical_name"],
        live_name=entry["live_name"],
        image=entry.get("image") or "",
        mounts=mounts,
        global_mode=bool(entry.get("global")),
        suffixed=bool(SUFFIX.match(entry["live_name"])),
    )


# --- export of the old stack ----------------------------------------------------------------


def from_export(path: Path, project: str, stack: str) -> list[OldObject]:
    """The Docker objects of an export of the old `project`/`stack`.

    Raises BadInput when the export is of another project or stack (its URNs say which)."""
    data = _read_json(path, "export")
    resources = (
        ((data or {}).get("deployment") or {}).get("resources") if isinstance(data, dict) else None
    )
    if not isinstance(resources, list):
        raise BadInput(
            f"export {path} has no deployment.resources", "pass the output of `pulumi stack export`"
        )
    objects = []
    for resource in resources:
        urn = str(resource.get("urn", ""))
        parts = urn.split("::")
        if len(parts) < 4 or not parts[0].startswith("urn:pulumi:"):
            continue
        found_stack, found_project = parts[0].removeprefix("urn:pulumi:"), parts[1]
        if (found_project, found_stack) != (project, stack):
            raise BadInput(
                f"export {path} is of project {found_project!r} stack {found_stack!r}, not the "
                f"original {project!r} stack {stack!r}",
                f"pass `pulumi stack export` of {project}/{stack}, or a --mapping naming that "
                "project and stack",
            )
        kind = KINDS_BY_TYPE.get(str(resource.get("type")))
        if kind is None:
            continue
        outputs = resource.get("outputs") or {}
        live_name = str(outputs.get("name") or resource.get("id") or "")
        objects.append(
            OldObject(
                kind=kind,
                logical_name=parts[-1],
                live_name=live_name,
                image=_export_image(outputs),
                mounts=_export_mounts(outputs),
                suffixed=bool(SUFFIX.match(live_name)),
            )
        )
    return objects


def _export_image(outputs: Mapping[str, Any]) -> str:
    spec = (outputs.get("taskSpec") or {}).get("containerSpec") or {}
    return str(spec.get("image") or "")


def _export_mounts(outputs: Mapping[str, Any]) -> tuple[str, ...]:
    spec = (outputs.get("taskSpec") or {}).get("containerSpec") or {}
    return tuple(
        str(m.get("source")) for m in spec.get("mounts") or [] if m.get("type") == "volume"
    )


# --- the live Swarm -------------------------------------------------------------------------


def from_swarm(api: Any) -> list[OldObject]:
    """Every service, volume, swarm-scoped network, config and secret on the engine `api`
    (docker.APIClient). Logical names are the live names without their random suffix."""
    objects = [_swarm_service(s) for s in api.services()]
    objects += [_named("volume", v["Name"]) for v in (api.volumes() or {}).get("Volumes") or []]
    objects += [
        _named("network", n["Name"])
        for n in api.networks()
        if n.get("Scope") == "swarm" and n["Name"] != "ingress"
    ]
    objects += [_named("config", c["Spec"]["Name"]) for c in api.configs()]
    objects += [_named("secret", s["Spec"]["Name"]) for s in api.secrets()]
    return objects


def _named(kind: str, name: str) -> OldObject:
    return OldObject(kind, stem(name), name, suffixed=bool(SUFFIX.match(name)))


def _swarm_service(service: Mapping[str, Any]) -> OldObject:
    spec = service["Spec"]
    container = spec["TaskTemplate"].get("ContainerSpec") or {}
    mounts = tuple(
        str(m["Source"]) for m in container.get("Mounts") or [] if m.get("Type") == "volume"
    )
    return replace(
        _named("service", spec["Name"]),
        image=str(container.get("Image", "")).split("@")[0],
        mounts=mounts,
        global_mode="Global" in spec.get("Mode", {}),
    )


def with_export_names(live: Iterable[OldObject], exported: Iterable[OldObject]) -> list[OldObject]:
    """The live objects the export names, with the export's logical names; an exported object
    no longer live is dropped (nothing to take over)."""
    by_name = {(o.kind, o.live_name): o for o in exported}
    return [
        replace(obj, logical_name=by_name[(obj.kind, obj.live_name)].logical_name)
        for obj in live
        if (obj.kind, obj.live_name) in by_name
    ]
