"""What a checkpoint must pass before `stack import`, whatever it came from (catalog or --file).

- integrity: the engine's own snapshot check (pkg/resource/deploy/snapshot.go VerifyIntegrity,
  v3.274): parents, dependencies, providers, duplicate URNs; plus pending operations that are
  well formed. `stack import --force` imports a checkpoint failing it, after which every
  preview and deploy fails with "snapshot integrity error"; the driver refuses it before the
  import, names the defect and the resource, and no --force lifts that.
- secrets: the checkpoint's secrets provider is the passphrase one this project uses, and the
  configured passphrase opens every secret (counted, never kept).
- pending operations: `stack import` always drops them (pkg/cmd/pulumi/stack/io.go
  SaveSnapshot), so they are named before the import and after it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from automation.errors import unreadable

PROVIDER_TYPE_PREFIX = "pulumi:providers:"
OPERATION_TYPES = frozenset({"creating", "updating", "deleting", "reading", "importing"})
SECRETS_PROVIDER = "passphrase"  # what `stack init --secrets-provider passphrase` makes
MAX_NAMED = 10  # defects named in one message; the rest are counted


class _Resource(BaseModel):
    """The fields of a checkpoint resource (apitype.ResourceV3) the integrity check reads."""

    model_config = ConfigDict(extra="allow")

    urn: str = ""
    type: str = ""
    custom: bool = False
    id: str = ""
    delete: bool = False
    parent: str = ""
    provider: str = ""
    dependencies: list[str] | None = None
    property_dependencies: dict[str, list[str]] | None = Field(None, alias="propertyDependencies")
    deleted_with: str = Field("", alias="deletedWith")
    replace_with: list[str] | None = Field(None, alias="replaceWith")
    pending_replacement: bool = Field(False, alias="pendingReplacement")

    def references(self) -> list[tuple[str, str]]:
        """(what, URN) of every resource this one needs before it in the checkpoint."""
        refs = [("parent", self.parent)] if self.parent else []
        refs += [("dependency", urn) for urn in self.dependencies or []]
        for key, urns in (self.property_dependencies or {}).items():
            refs += [(f"property dependency (from {key})", urn) for urn in urns]
        refs += [("deleted-with", self.deleted_with)] if self.deleted_with else []
        refs += [("replace-with", urn) for urn in self.replace_with or []]
        return refs


class _Pending(BaseModel):
    model_config = ConfigDict(extra="allow")

    resource: _Resource
    type: str = ""


def pending_operations(export: dict[str, Any]) -> list[dict[str, str]]:
    """The checkpoint's pending operations as {type, urn}."""
    deployment = export.get("deployment") or {}
    return [
        {"type": str(op.get("type", "?")), "urn": str((op.get("resource") or {}).get("urn", "?"))}
        for op in deployment.get("pending_operations") or []
        if isinstance(op, dict)
    ]


def integrity_defects(export: dict[str, Any]) -> list[str]:
    """What makes this checkpoint unsound, one line per defect naming the resource; [] if none."""
    deployment = export.get("deployment")
    if not isinstance(deployment, dict):
        return ["the checkpoint has no `deployment` object: not a `pulumi stack export`"]
    defects: list[str] = []
    resources = _parse_all(deployment.get("resources"), _Resource, "resource", defects)
    defects += _resource_defects(resources)
    for index, pending in enumerate(
        _parse_all(deployment.get("pending_operations"), _Pending, "pending operation", defects)
    ):
        if pending.type not in OPERATION_TYPES:
            defects.append(f"pending operation {index} has unknown type {pending.type!r}")
        if not pending.resource.urn:
            defects.append(f"pending operation {index} names no resource URN")
    return defects


def _parse_all(raw: Any, model: Any, what: str, defects: list[str]) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        defects.append(f"the checkpoint's {what}s are not a list")
        return []
    parsed = []
    for index, item in enumerate(raw):
        try:
            parsed.append(model.model_validate(item))
        except ValidationError as exc:
            defects.append(f"{what} at index {index} is malformed ({unreadable(exc)})")
    return parsed


def _resource_defects(resources: list[_Resource]) -> list[str]:
    defects: list[str] = []
    seen: set[str] = set()
    providers: set[str] = set()
    all_urns = {r.urn for r in resources}
    for index, res in enumerate(resources):
        if not res.urn:
            defects.append(f"resource at index {index} has no URN")
            continue
        if not res.type:
            defects.append(f"resource {res.urn} has no type")
        if not res.custom and res.id:
            defects.append(f"resource {res.urn} is not custom but has an ID")
        if res.provider and res.provider not in providers and not res.pending_replacement:
            defects.append(f"resource {res.urn} refers to unknown provider {res.provider}")
        for what, urn in res.references():
            if urn not in seen:
                where = "comes after it" if urn in all_urns else "is missing"
                defects.append(f"resource {res.urn}: its {what} {urn} {where}")
        if res.type.startswith(PROVIDER_TYPE_PREFIX):
            providers.add(f"{res.urn}::{res.id}")
        seen.add(res.urn)
    deletes = Counter(r.urn for r in resources if r.delete)
    for urn, count in Counter(r.urn for r in resources if r.urn).items():
        if count > 1 and deletes[urn] < count - 1:
            defects.append(f"resource {urn} appears {count} times (not marked for deletion)")
    return defects


def secrets_provider_problem(export: dict[str, Any]) -> str | None:
    """Why this checkpoint's secrets cannot be read by this stack's secrets provider, if so."""
    providers = (export.get("deployment") or {}).get("secrets_providers") or {}
    kind = providers.get("type") if isinstance(providers, dict) else None
    if kind is None:  # `pulumi stack export` of a deployed stack always names it
        return "it names no secrets provider: it is not the export of a deployed stack"
    if kind == SECRETS_PROVIDER:
        return None
    return (
        f"its secrets are encrypted by the {kind!r} secrets provider; this stack uses "
        f"{SECRETS_PROVIDER!r}"
    )


def summarise(problems: list[str]) -> str:
    named = "; ".join(problems[:MAX_NAMED])
    more = len(problems) - MAX_NAMED
    return named + (f"; and {more} more" if more > 0 else "")


def explain_difference(restored: dict[str, Any], backup: dict[str, Any]) -> tuple[str, bool]:
    """Why the imported state is not the backup's: (reason, only pending operations dropped)."""
    from automation.backup.manifest import canonical_state

    pending = pending_operations(backup)
    without = {**backup, "deployment": {**(backup.get("deployment") or {})}}
    without["deployment"].pop("pending_operations", None)
    if pending and canonical_state(restored) == canonical_state(without):
        listed = ", ".join(f"{op['type']} {op['urn']}" for op in pending)
        return (
            f"the import dropped the backup's {len(pending)} pending operation(s) ({listed}): "
            "`pulumi stack import` always clears them",
            True,
        )
    mine, theirs = _by_urn(restored), _by_urn(backup)
    named = [f"missing {urn}" for urn in sorted(theirs.keys() - mine.keys())]
    named += [f"added {urn}" for urn in sorted(mine.keys() - theirs.keys())]
    named += [
        f"changed {urn}"
        for urn in sorted(mine.keys() & theirs.keys())
        if canonical_state(mine[urn]) != canonical_state(theirs[urn])
    ]
    if pending:
        named.append(f"{len(pending)} pending operation(s) dropped")
    return "the imported state differs from the backup: " + (
        summarise(named) if named else "outside the resources (stack-level fields)"
    ), False


def _by_urn(export: dict[str, Any]) -> dict[str, Any]:
    resources = (export.get("deployment") or {}).get("resources") or []
    return {str(r.get("urn")): r for r in resources if isinstance(r, dict)}
