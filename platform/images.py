"""Which image each app runs: a pure function of the catalog entry and the stack config.

- `sprocket:image_tag`: the release tag of every Sprocket image (default `main`);
- `sprocket:image_tags`: `{entry: tag}` overrides for single apps (what `rollout` sets), so
  changing one app's tag changes that app's image and nothing else;
- `sprocket:image_digests`: `{entry: sha256:...}` pins, giving `repo:tag@sha256:...` (Swarm runs
  exactly that digest; the tag stays readable in `docker service ls`).
"""

from __future__ import annotations

import re
from collections.abc import Collection

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .catalog import _TAG, AppEntry

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
DEFAULT_TAG = "main"


class ImageSettings(BaseModel):
    """The `sprocket:image_*` stack config (field names are the config keys)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image_tag: str = DEFAULT_TAG
    image_tags: dict[str, str] = Field(default_factory=dict)
    image_digests: dict[str, str] = Field(default_factory=dict)
    image_namespace: str | None = None  # e.g. a local registry instead of the catalog's

    @field_validator("image_tag")
    @classmethod
    def _tag(cls, value: str) -> str:
        if not _TAG.match(value):
            raise ValueError(f"{value!r} is not a Docker image tag")
        return value

    @field_validator("image_tags")
    @classmethod
    def _tags(cls, values: dict[str, str]) -> dict[str, str]:
        for name, tag in values.items():
            if not _TAG.match(tag):
                raise ValueError(f"{name}: {tag!r} is not a Docker image tag")
        return values

    @field_validator("image_digests")
    @classmethod
    def _digests(cls, values: dict[str, str]) -> dict[str, str]:
        for name, digest in values.items():
            if not _DIGEST.match(digest):
                raise ValueError(f"{name}: {digest!r} is not a digest like sha256:<64 hex>")
        return values

    def unknown_entries(self, catalog_names: Collection[str]) -> list[str]:
        """Override keys that name no catalog entry (a typo would silently do nothing)."""
        named = set(self.image_tags) | set(self.image_digests)
        return sorted(named - set(catalog_names))


def image_for(name: str, entry: AppEntry, settings: ImageSettings, namespace: str) -> str:
    """The image reference of catalog entry `name`; depends on that entry's config only."""
    repository = entry.image.repository
    if "/" not in repository:
        repository = f"{settings.image_namespace or namespace}/{repository}"
    tag = settings.image_tags.get(name) or entry.image.tag or settings.image_tag
    image = f"{repository}:{tag}"
    digest = settings.image_digests.get(name)
    return f"{image}@{digest}" if digest else image
