"""The rollout gate: a rollout may change images of the services it names, and nothing else.

Pure. It works on the inputs the engine reports for each step (``resource_pre_event.metadata``
``old.inputs`` / ``new.inputs``), because dynamic providers report no ``diffs`` and the platform's
``docker:index/service:Service`` nests the image in ``taskSpec.containerSpec.image``. A Swarm
service is recognised by its name input, matched against the platform's ``service_names`` output.
Reasons name input paths, never values, so a secret input cannot leak into the output.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

# Where a service resource keeps its image: the dynamic Swarm provider, the docker provider.
IMAGE_PATHS = frozenset({"image", "taskSpec.containerSpec.image"})
NAME_INPUTS = ("service_name", "name")
IGNORED_OPS = frozenset({"same", "read", "refresh", "discard"})
STACK_TYPE = "pulumi:pulumi:Stack"
PROVIDER_TYPE_PREFIX = "pulumi:providers:"


@dataclass(frozen=True)
class PlannedStep:
    urn: str
    type: str
    op: str
    old_inputs: Mapping[str, Any] = field(default_factory=dict)
    new_inputs: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_metadata(cls, metadata: Any) -> PlannedStep:
        """From a pulumi.automation.events.StepEventMetadata."""
        op = getattr(metadata.op, "value", str(metadata.op))
        old = dict(metadata.old.inputs or {}) if metadata.old else {}
        new = dict(metadata.new.inputs or {}) if metadata.new else {}
        return cls(metadata.urn, metadata.type, op, old, new)

    @property
    def service_name(self) -> str | None:
        for inputs in (self.new_inputs, self.old_inputs):
            for key in NAME_INPUTS:
                if isinstance(inputs.get(key), str):
                    return str(inputs[key])
        return None


@dataclass(frozen=True)
class Blocked:
    urn: str
    op: str
    reason: str
    other_change: bool = True  # a non-image change, which --allow-other-changes lets through


@dataclass(frozen=True)
class ImageChange:
    service: str  # catalog name
    urn: str
    old_image: str | None
    new_image: str | None


@dataclass(frozen=True)
class RolloutGate:
    blocked: tuple[Blocked, ...]
    images: tuple[ImageChange, ...]

    @property
    def allowed(self) -> bool:
        return not self.blocked

    def as_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "blocked": [{"urn": b.urn, "op": b.op, "reason": b.reason} for b in self.blocked],
        }


def changed_paths(old: Any, new: Any, prefix: str = "") -> set[str]:
    """Dotted paths of the leaves that differ; keys starting with ``__`` are the SDK's own."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        paths: set[str] = set()
        for key in set(old) | set(new):
            if str(key).startswith("__"):
                continue
            child = f"{prefix}.{key}" if prefix else str(key)
            paths |= changed_paths(old.get(key), new.get(key), child)
        return paths
    return set() if old == new else {prefix or "<root>"}


def evaluate_rollout(
    steps: Collection[PlannedStep],
    service_names: Mapping[str, str],
    release: Collection[str],
    *,
    allow_other_changes: bool = False,
) -> RolloutGate:
    """Block every step that is not an image change of a service in ``release``.

    ``service_names`` maps catalog names to Swarm service names. With ``allow_other_changes`` the
    other steps pass too (the stateful-resource gate still applies, in the caller).
    """
    catalog_of = {swarm: name for name, swarm in service_names.items()}
    blocked: list[Blocked] = []
    images: list[ImageChange] = []
    for step in steps:
        if step.op in IGNORED_OPS or step.type == STACK_TYPE:
            continue
        catalog = catalog_of.get(step.service_name or "")
        paths = changed_paths(step.old_inputs, step.new_inputs) if step.op == "update" else set()
        if catalog and step.op == "update" and paths & IMAGE_PATHS:
            images.append(_image_change(catalog, step))
        reason = _why_blocked(step, catalog, paths, release)
        if reason and not allow_other_changes:
            blocked.append(Blocked(step.urn, step.op, reason))
    return RolloutGate(tuple(blocked), tuple(images))


def _why_blocked(
    step: PlannedStep, catalog: str | None, paths: set[str], release: Collection[str]
) -> str | None:
    if step.type.startswith(PROVIDER_TYPE_PREFIX) and step.op == "update":
        return None  # default providers carry the stack config, which the rollout just changed
    if step.op != "update":
        return f"{step.op} is not an image change"
    if catalog is None:
        return "updates a resource that is not a platform service: " + _paths(paths)
    if catalog not in release:
        return f"changes service {catalog!r}, which is not in this rollout: " + _paths(paths)
    if not paths & IMAGE_PATHS:
        # Secret inputs show as "[secret]" on both sides, so an update with no visible change may
        # be a secret changing: not an image change either way.
        return f"updates service {catalog!r} without changing its image: " + _paths(paths)
    other = sorted(paths - IMAGE_PATHS)
    if other:
        return f"changes more than the image of {catalog!r}: " + _paths(set(other))
    return None


def _paths(paths: set[str]) -> str:
    return ", ".join(sorted(paths)) or "(no input changes)"


def _image_change(catalog: str, step: PlannedStep) -> ImageChange:
    def image(inputs: Mapping[str, Any]) -> str | None:
        found = inputs.get("image")
        if found is None:
            found = inputs.get("taskSpec", {}).get("containerSpec", {}).get("image")
        return str(found) if found is not None else None

    return ImageChange(catalog, step.urn, image(step.old_inputs), image(step.new_inputs))
