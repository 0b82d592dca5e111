"""Release records: what a rollout changed and the point it can return to.

Before a rollout changes anything it records the rollback point: every platform service's image
(tag or digest, as Swarm runs it) and spec hash, and the stack's image config. Swarm keeps one
previous spec per service; these records keep every release, for the whole stack.

Records are JSON files, one per release, under the driver's directory next to the state
(``automation.guard.driver_state.driver_dir``): ``releases/<stack>/<id>.json``, written atomically.
They hold no secret values: images, hashes and the image config keys only.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from automation.errors import BadInput, unreadable
from automation.hints import driver_command
from sprocket_common.docker_tag import TAG_PATTERN
from sprocket_common.stack_info import Env

IMAGE_TAG = "sprocket:image_tag"  # the default tag of every app
IMAGE_TAGS = "sprocket:image_tags"  # object: catalog name -> tag, overriding the default
IMAGE_DIGESTS = "sprocket:image_digests"  # object: catalog name -> digest, overriding both
IMAGE_KEYS = (IMAGE_TAG, IMAGE_TAGS, IMAGE_DIGESTS)


ImageConfig = dict[str, str | None]  # image key -> raw config value (JSON text for objects)


class ServiceRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str  # catalog name
    service_name: str  # Swarm service name
    image: str  # as Swarm runs it, with @sha256:... when Swarm resolved one
    spec_hash: str


class RollbackPoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    config: ImageConfig  # restored by a rollback
    services: dict[str, ServiceRecord]
    # The rest of the stack config, for the record: secret values are never stored, only
    # "[secret]". A rollout does not change these; a rollback reports any that moved.
    other_config: dict[str, str] = Field(default_factory=dict)


class Release(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    stack: str
    created: str
    user: str
    host: str
    services: list[str]  # catalog names in this release
    tag: str | None = None
    from_release: str | None = None  # set by `rollout --to-release`
    rollback_point: RollbackPoint
    target_config: ImageConfig
    result: str = "started"
    finished: str | None = None
    messages: list[str] = Field(default_factory=list)
    timings: dict[str, Any] = Field(default_factory=dict)

    def finish(self, result: str, messages: Sequence[str] = (), **timings: Any) -> Release:
        return self.model_copy(
            update={
                "result": result,
                "finished": now_iso(),
                "messages": [*self.messages, *messages],
                "timings": {**self.timings, **timings},
            }
        )

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created": self.created,
            "tag": self.tag or _describe_tags(self.target_config),
            "services": self.services,
            "result": self.result,
            "finished": self.finished,
            "from_release": self.from_release,
            "recovery_s": self.timings.get("recovery_s"),
        }


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_release_id(now: datetime | None = None) -> str:
    """Sortable by time, short enough to type: 20261128T135012Z-3fa2."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def spec_hash(spec: Mapping[str, Any]) -> str:
    """A hash of the whole Swarm spec (env included, so it is hashed, never stored)."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def check_tag(tag: str) -> str:
    if not TAG_PATTERN.match(tag):
        raise BadInput(
            f"image tag {tag!r} is not a valid Docker tag",
            "a tag is up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'",
        )
    return tag


def _object(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    value = json.loads(raw)
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _json_or_none(value: Mapping[str, str]) -> str | None:
    return json.dumps(dict(sorted(value.items()))) if value else None


def image_config_for_tag(
    current: Mapping[str, str | None], tag: str, services: Sequence[str] | None
) -> ImageConfig:
    """The image config after rolling ``tag`` out: to every app (``services`` None) or the named.

    Every app: the default tag becomes ``tag`` and per-service tags and digests go. Named apps:
    each gets its own tag entry, and loses any digest pin that would override it.
    """
    if services is None:
        return {IMAGE_TAG: tag, IMAGE_TAGS: None, IMAGE_DIGESTS: None}
    tags = _object(current.get(IMAGE_TAGS))
    digests = _object(current.get(IMAGE_DIGESTS))
    for name in services:
        tags[name] = tag
        digests.pop(name, None)
    return {
        IMAGE_TAG: current.get(IMAGE_TAG),
        IMAGE_TAGS: _json_or_none(tags),
        IMAGE_DIGESTS: _json_or_none(digests),
    }


def config_delta(
    current: Mapping[str, str | None], target: Mapping[str, str | None]
) -> tuple[dict[str, str], list[str]]:
    """What to set and what to remove to turn ``current`` into ``target`` (image keys only)."""
    to_set = {key: value for key, value in target.items() if value is not None}
    to_set = {key: value for key, value in to_set.items() if current.get(key) != value}
    to_remove = [key for key in IMAGE_KEYS if target.get(key) is None and current.get(key)]
    return to_set, to_remove


def _describe_tags(config: Mapping[str, str | None]) -> str:
    parts = [config.get(IMAGE_TAG) or "-"]
    parts += [f"{name}={tag}" for name, tag in sorted(_object(config.get(IMAGE_TAGS)).items())]
    return " ".join(parts)


class ReleaseStore:
    """One JSON file per release of one stack."""

    def __init__(self, root: Path, *, env: Env) -> None:
        self.root, self.env = root, env  # env: for the commands its hints name

    def save(self, release: Release) -> Path:
        from automation.guard.records import write_atomic

        path = self.root / f"{release.id}.json"
        # atomic: a reader sees the old record or the new, never half
        write_atomic(path, release.model_dump_json(indent=2) + "\n", mode=0o644)
        return path

    def all(self) -> list[Release]:
        """Every readable release, oldest first (a damaged record is in `damaged()`)."""
        return [release for release in self._read() if isinstance(release, Release)]

    def damaged(self) -> list[str]:
        """One line per release record that cannot be read: path and why."""
        return [problem for problem in self._read() if isinstance(problem, str)]

    def _read(self) -> list[Release | str]:
        if not self.root.is_dir():
            return []
        read: list[Release | str] = []
        for path in sorted(self.root.glob("*.json")):
            try:
                read.append(Release.model_validate_json(path.read_bytes()))
            except (ValueError, OSError) as exc:  # pydantic's ValidationError included
                read.append(f"release record {path} cannot be read ({unreadable(exc)}); skipped")
        return read

    def get(self, release_id: str) -> Release:
        """By id or a unique prefix of one."""
        matches = [r for r in self.all() if r.id.startswith(release_id)] if release_id else []
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(r.id for r in self.all()[-5:]) or "none yet"
        problem = "matches several releases" if matches else "is not a release of this stack"
        raise BadInput(
            f"release {release_id!r} {problem}",
            f"{driver_command(self.env, 'releases')} lists them (latest: {known})",
        )
