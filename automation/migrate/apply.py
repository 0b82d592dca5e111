"""Running a migration plan's steps (apply), undoing them (rollback), and the clean-up (finish).

The steps of the first apply are written to the journal and kept: a resumed apply runs the
same list (the live Swarm has changed by then: a removed old service is no longer in a new
plan), skipping the completed ones. Rollback undoes completed steps newest first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automation.context import Context
from automation.errors import BadInput, DriverError
from automation.hints import driver_command
from automation.migrate import plan as plans
from automation.migrate import steps as ops
from automation.migrate.inventory import KINDS_BY_TYPE, from_export, from_swarm, with_export_names
from automation.migrate.journal import Journal, journal_path
from sprocket_common.stack_info import LAYER_ORDER, StackInfo

SERVICE_TYPE = "docker:index/service:Service"
VOLUME = "docker:index/volume:Volume"


@dataclass(frozen=True)
class Sources:
    """Where the plan's old objects come from: the live Swarm, narrowed by an export."""

    export: Path | None = None
    mapping: Path | None = None
    helper_image: str = ops.DEFAULT_HELPER_IMAGE


# --- planning -------------------------------------------------------------------------------


def _again(info: StackInfo, verb: str) -> str:
    """The migration verb to run again, for this stack's env and layer."""
    if verb == "rollback":  # each written out, so the hint-command test parses it
        return driver_command(info.env, "migrate", "rollback", info.layer.value)
    return driver_command(info.env, "migrate", "apply", info.layer.value)


def _api(ctx: Context) -> Any:
    from automation.docker_client import docker_api

    return docker_api(ctx.settings.docker_host)


def owned_names(ctx: Context) -> frozenset[str]:
    """Live names of the Docker objects this program's stacks of the env already manage (none
    before their first deploy), read from ciphertext exports: never planned, in any layer."""
    from automation.errors import NoSuchStack
    from automation.pulumi.cli import run_pulumi_json

    names = set()
    for layer in LAYER_ORDER:
        try:
            exported = run_pulumi_json(ctx.settings, ctx.stack(layer), ["stack", "export"]) or {}
        except NoSuchStack:
            continue
        for resource in (exported.get("deployment") or {}).get("resources") or []:
            outputs = resource.get("outputs") or {}
            if isinstance(outputs.get("name"), str):
                names.add(outputs["name"])
    return frozenset(names)


def build_plan(ctx: Context, info: StackInfo, sources: Sources) -> plans.Plan:
    mapping = plans.load_mapping(info.layer.value, sources.mapping)
    objects = from_swarm(_api(ctx))
    if sources.export is not None:
        exported = from_export(sources.export, mapping.original.project, mapping.original.stack)
        objects = with_export_names(objects, exported)
    return plans.make_plan(info.layer.value, info.name, objects, mapping, owned=owned_names(ctx))


# --- apply ----------------------------------------------------------------------------------


@dataclass
class Run:
    """What one apply or rollback did, for its Result."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def stored_steps(journal: Journal) -> list[plans.Step] | None:
    """The steps of the apply in progress (some done, some not), else None."""
    if not journal.plan:
        return None
    listed = [plans.Step(s["kind"], s["subject"], s.get("args") or {}) for s in journal.plan]
    if not journal.completed or all(s.id in journal.completed for s in listed):
        return None
    return listed


def _saved_spec(ctx: Context, info: StackInfo, service: str) -> Path:
    return journal_path(ctx.settings, info.name).with_suffix(f".{service}.spec.json")


def check_before_apply(ctx: Context, info: StackInfo, todo: list[plans.Step]) -> None:
    """Refuse, before any change, a volume to move that something the plan cannot stop uses."""
    stopping = {s.subject for s in todo if s.kind == "stop"}
    volumes = {s.subject: stopping for s in todo if s.kind == "copy"}
    ops.refuse_volumes_in_use(_api(ctx), volumes, again=_again(info, "apply"))


def apply(
    ctx: Context,
    info: StackInfo,
    planned: list[plans.Step],
    journal: Journal,
    sources: Sources,
    confirm: Callable[[list[plans.Step]], None],
) -> Run:
    """Run the steps not yet in the journal, recording each as it completes."""
    run = Run(notes=list(journal.damaged))
    todo = [s for s in planned if s.id not in journal.completed]
    run.skipped = [s.id for s in planned if s.id in journal.completed]
    if not todo:
        return run
    check_before_apply(ctx, info, todo)
    confirm(todo)
    if not journal.plan or stored_steps(journal) is None:
        journal.start(
            [{"kind": s.kind, "subject": s.subject, "args": dict(s.args)} for s in planned]
        )
    for step in todo:
        redo = journal.ours(step.id)  # cut off earlier, or rolled back since
        journal.begin(step.id)
        data = _do(ctx, info, step, sources, redo=redo)
        journal.done(step.id, **data)
        run.done.append(step.id)
    run.details["downtime_s"] = downtime(planned, journal)
    return run


def _do(
    ctx: Context, info: StackInfo, step: plans.Step, sources: Sources, *, redo: bool
) -> dict[str, Any]:
    if step.kind == "stop":
        return ops.stop_service(_api(ctx), step.subject, wait=step.args.get("wait", True))
    if step.kind == "settle":
        ops.settle(_api(ctx), list(step.args["services"]))
        return {}
    if step.kind == "copy":
        from automation.docker_client import docker_client

        client = docker_client(ctx.settings.docker_host)
        target = step.args["target"]
        return ops.copy_volume(client, sources.helper_image, step.subject, target, redo=redo)
    if step.kind == "remove":
        ops.remove_service(_api(ctx), step.subject, _saved_spec(ctx, info, step.subject))
        return {}
    if step.kind == "volumes":  # new resources only: nothing to refresh
        targets = tuple(step.args["targets"])
        return _deploy(ctx, info, targets=targets, wait=False, refresh=False)
    if step.kind == "deploy":
        return _deploy(ctx, info, targets=(), wait=True, refresh=True)
    if step.kind == "adopt":
        return _adopt(ctx, info, step)
    raise DriverError(f"unknown migration step {step.id} in the journal", "a driver bug")


def _deploy(
    ctx: Context, info: StackInfo, *, targets: tuple[str, ...], wait: bool, refresh: bool
) -> dict[str, Any]:
    """The layer's deploy (gated, confirmed by --yes or the prompt, waits for convergence)."""
    from automation.exit_codes import ExitCode
    from automation.stack.run import RunOptions, deploy_stack

    outcome = deploy_stack(ctx, info, RunOptions(targets=targets, wait=wait, refresh=refresh))
    if outcome.exit_code != ExitCode.OK:
        raise DriverError(
            f"deploy of {info.name} during the migration: {outcome.status}: {outcome.message}",
            f"fix it, then run {_again(info, 'apply')} again: it resumes here",
            code=outcome.exit_code,
        )
    return {"status": outcome.status}


def _adopt(ctx: Context, info: StackInfo, step: plans.Step) -> dict[str, Any]:
    """`pulumi import` of the live object as the program's resource (never changes it); the
    layer's next deploy then finds it declared identically, or shows the difference.

    The import names the provider version the program uses (pulumi-docker's): a plain import
    registers an unversioned default provider, and the program's deploy (whose first step is
    a targeted one) then fails on "a change of providers mixed with --target"."""
    from importlib.metadata import version

    from automation.exit_codes import ExitCode
    from automation.stack.run import RunOptions, import_resources

    kind_type = {kind: type_ for type_, kind in KINDS_BY_TYPE.items()}[step.args["kind"]]
    name = step.args.get("role") or step.subject
    resource = {"type": kind_type, "name": name, "id": step.args["id"]}
    resource["version"] = version(f"pulumi-{kind_type.split(':', 1)[0]}")
    urn = f"urn:pulumi:{info.name}::{plans.PROJECT}::{kind_type}::{name}"
    outcome = import_resources(ctx, info, {urn: resource}, RunOptions())
    if outcome.exit_code != ExitCode.OK:
        raise DriverError(
            f"import into {info.name} during the migration: {outcome.status}: {outcome.message}",
            f"fix it, then run {_again(info, 'apply')} again: it resumes here",
            code=outcome.exit_code,
        )
    return {"urn": f"urn:pulumi:{info.name}::{plans.PROJECT}::{kind_type}::{name}"}


def downtime(planned: list[plans.Step], journal: Journal) -> dict[str, float]:
    """Seconds each old service was stopped before the program's took over: from its stop to
    the end of the deploy step (which waits for every service to converge); 0 for services
    stopped only after the deploy (the program's ran first). An upper bound per service."""
    deploy = next((journal.completed.get(s.id) for s in planned if s.kind == "deploy"), None)
    if deploy is None:
        return {}
    out: dict[str, float] = {}
    for step in planned:
        record = journal.completed.get(step.id)
        if step.kind != "stop" or record is None:
            continue
        out[step.subject] = round(max(0.0, deploy["at"] - record["at"]), 1)
    return out


# --- rollback -------------------------------------------------------------------------------


def rollback(
    ctx: Context, info: StackInfo, journal: Journal, confirm: Callable[[list[str]], None]
) -> Run:
    """Undo completed steps newest first: old services started or recreated, the program's
    services removed from the layer (its volumes and their copies stay), imports released."""
    run = Run(notes=list(journal.damaged))
    # A step an apply began and was killed in (no `done` line) may have acted: the newest.
    begun: list[tuple[str, dict[str, Any]]] = [
        (s, {}) for s in sorted(journal.started - journal.rolled_back) if s not in journal.completed
    ]
    todo = [*begun, *journal.in_reverse()]
    if not todo:
        return run
    confirm([step for step, _ in todo])
    for step, record in todo:
        if step.startswith("adopt:") and "urn" not in record:
            run.notes.append(
                f"{step} was cut off: if `pulumi stack --show-urns` of {info.name} lists it, "
                "`pulumi state delete` it (the volume stays)"
            )
        else:
            _undo(ctx, info, step, record)
        journal.undone(step)
        run.done.append(step)
    return run


def _undo(ctx: Context, info: StackInfo, step: str, record: dict[str, Any]) -> None:
    kind, subject = step.split(":", 1)
    if kind == "stop":
        ops.start_service(_api(ctx), subject)
    elif kind == "remove":
        saved = _saved_spec(ctx, info, subject)
        ops.recreate_service(_api(ctx), subject, saved, again=_again(info, "rollback"))
    elif kind == "deploy":
        _remove_program_services(ctx, info)
    elif kind == "adopt":
        from automation.pulumi.cli import run_pulumi

        # released from the state, never deleted (--force: the deploy may have protected it)
        run_pulumi(ctx.settings, info, ["state", "delete", "--yes", "--force", record["urn"]])
    # copy: the copy stays in the program's volume; volumes: the program's volumes stay;
    # settle: only waited.


def _remove_program_services(ctx: Context, info: StackInfo) -> None:
    """The layer's Swarm services (and what depends on them) destroyed through the gated
    destroy: previewed, judged and confirmed like `destroy LAYER`, never `--skip-preview`."""
    from automation.exit_codes import ExitCode
    from automation.pulumi.cli import run_pulumi_json
    from automation.stack.gate import GatePolicy
    from automation.stack.run import RunOptions, destroy_stack

    exported = run_pulumi_json(ctx.settings, info, ["stack", "export"]) or {}
    resources = (exported.get("deployment") or {}).get("resources") or []
    urns = [r["urn"] for r in resources if r.get("type") == SERVICE_TYPE]
    if not urns:
        return
    # The rollback's own standing allowance: the services and what depends on them (Postgres
    # roles on the server, the house service's secrets...), as the apply created them; never a
    # volume, whose delete still needs the operator's --allow-delete through the gate.
    deps = _dependents(resources, set(urns))
    allowed = [r["urn"] for r in resources if r.get("urn") in deps and r.get("type") != VOLUME]
    policy = GatePolicy(allow_delete=frozenset(allowed), unmatched_ok=True)
    options = RunOptions(policy=policy, targets=tuple(urns), target_dependents=True)
    outcome = destroy_stack(ctx, info, options)
    if outcome.exit_code != ExitCode.OK:
        raise DriverError(
            f"removing the program's services from {info.name}: {outcome.status}: "
            f"{outcome.message}",
            f"fix it, then run {_again(info, 'rollback')} again: it resumes here",
            code=outcome.exit_code,
        )


def _dependents(resources: list[dict[str, Any]], urns: set[str]) -> set[str]:
    """`urns` and every resource of the export that depends on one, transitively (as
    `--target-dependents` finds them: dependencies, property dependencies, parent)."""
    found = set(urns)
    while True:
        more = {
            str(r["urn"])
            for r in resources
            if r.get("urn") not in found
            and found
            & {
                *(r.get("dependencies") or []),
                *(u for deps in (r.get("propertyDependencies") or {}).values() for u in deps),
                *([r["parent"]] if r.get("parent") else []),
            }
        }
        if not more:
            return found
        found |= more


# --- finish ---------------------------------------------------------------------------------


def finish(
    ctx: Context, journal: Journal, volumes: list[str], confirm: Callable[[list[str]], None]
) -> Run:
    """Remove the old services the migration stopped and the named old volumes it copied.

    Raises BadInput for a name that is not an old volume whose copy the journal verified."""
    import docker.errors

    copied = {
        step.split(":", 1)[1]: rec
        for step, rec in journal.completed.items()
        if step.startswith("copy:")
    }
    unknown = [v for v in volumes if v not in copied]
    if unknown:
        raise BadInput(
            f"{', '.join(unknown)}: not an old volume this migration copied and verified",
            f"name one of: {', '.join(sorted(copied)) or '(none: apply first)'}",
        )
    if journal.plan and stored_steps(journal) is not None:
        info = StackInfo.parse(journal.path.stem)
        raise BadInput(
            "the migration is not complete", f"run {_again(info, 'apply')} to the end first"
        )
    api = _api(ctx)
    removed = {s.split(":", 1)[1] for s in journal.completed if s.startswith("remove:")}
    stopped = [
        s.split(":", 1)[1]
        for s in journal.completed
        if s.startswith("stop:") and s.split(":", 1)[1] not in removed
    ]
    _refuse_volumes_in_use(api, volumes, set(stopped))
    confirm([*(f"service {s}" for s in stopped), *(f"volume {v}" for v in volumes)])
    run = Run()
    for name in stopped:
        # Only a service the migration stopped: `influx` and `loki` are the program's by now.
        try:
            labels = api.inspect_service(name)["Spec"].get("Labels") or {}
        except docker.errors.NotFound:
            run.skipped.append(f"service {name} (already gone)")
            continue
        if ops.MODE_LABEL not in labels:
            run.skipped.append(f"service {name} (not one the migration stopped: kept)")
            continue
        api.remove_service(name)
        run.done.append(f"removed service {name}")
    for volume in volumes:
        _remove_volume_when_free(api, volume)
        run.done.append(f"removed volume {volume}")
    return run


def _refuse_volumes_in_use(api: Any, volumes: list[str], removing: set[str]) -> None:
    """BadInput, before any change, for a named volume a container (running or not) uses that
    is neither a task of an old service this finish removes nor a migration helper: finish
    would otherwise remove the services, wait, fail, or delete someone's stopped container."""
    for volume in volumes:
        users = [
            str(c["Names"][0]).lstrip("/")
            for c in api.containers(all=True, filters={"volume": volume})
            if (c.get("Labels") or {}).get("com.docker.swarm.service.name") not in removing
            and (c.get("Labels") or {}).get("sprocket.migrate") != "helper"
        ]
        if users:
            raise BadInput(
                f"volume {volume} is in use by {', '.join(users)}, which finish does not remove; "
                "nothing was changed",
                "stop and remove that container, or leave the volume out of --remove-volume",
            )


def _remove_volume_when_free(api: Any, volume: str, timeout_s: float = 60) -> None:
    """Swarm removes a removed service's task containers shortly after; then the volume."""
    import docker.errors

    from automation.waiting import WaitTimeout, wait_until

    def removed() -> tuple[bool | None, object]:
        for container in api.containers(all=True, filters={"volume": volume}):
            if container.get("State") != "running":
                api.remove_container(container["Id"])
        try:
            api.remove_volume(volume)
        except docker.errors.NotFound:
            return True, "gone"
        except docker.errors.APIError as exc:
            return None, exc.explanation
        return True, "removed"

    try:
        wait_until(removed, what=f"volume {volume} to be free", timeout_s=timeout_s, interval_s=1)
    except WaitTimeout as exc:
        raise DriverError(f"cannot remove volume {volume}: {exc.last}") from None
