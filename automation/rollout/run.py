"""A rollout end to end: record, lint, set tags, preview, gate, apply, watch, roll back.

The order matters and each step says why:
1. the release record (rollback point) is written before anything changes;
2. the lint refuses services Swarm could not judge or undo;
3. the tags go into the platform stack's config, then a preview whose steps the gate checks
   (only image changes of the release's services); a blocked plan restores the config;
4. apply, then watch every changed service converge (``swarm_watch.ServiceWatch``);
5. on any failure after the apply started, the *whole release* goes back to the rollback point's
   config, through the same gate, and is watched again: exit 7 when that converges, 8 when not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from automation.context import Context
from automation.docker_client import docker_api
from automation.errors import BadInput, DriverError
from automation.exit_codes import ExitCode
from automation.guard.driver_state import current_host, current_user, driver_dir
from automation.hints import driver_command
from automation.render import Result
from automation.rollout.display import RolloutDisplay
from automation.rollout.lint import Violation, lint_service
from automation.rollout.manifest import (
    IMAGE_KEYS,
    ImageConfig,
    Release,
    ReleaseStore,
    RollbackPoint,
    ServiceRecord,
    check_tag,
    config_delta,
    image_config_for_tag,
    new_release_id,
    now_iso,
    spec_hash,
)
from automation.rollout.policy import Blocked, PlannedStep, RolloutGate, evaluate_rollout
from automation.rollout.report import Attempt, recovery_timings, rollout_result
from automation.swarm import daemon_now, first_failure_time, spec_image, strip_digest
from automation.swarm_watch import (
    Convergence,
    Phase,
    ServiceWatch,
    Timing,
    WatchStopped,
    WatchTarget,
)
from automation.waiting import WaitTimeout, wait_until
from sprocket_common.stack_info import StackInfo

if TYPE_CHECKING:
    from pulumi.automation import Stack

    from automation.guard.operation import Operation


@dataclass(frozen=True)
class RolloutRequest:
    tag: str | None = None
    services: tuple[str, ...] = ()  # empty: every platform service
    to_release: str | None = None
    allow_other_changes: bool = False
    parallel: bool = False  # all services at once instead of one after another
    probe_url: str | None = None  # e.g. "https://{host}/": probe each route after convergence


def release_store(ctx: Context, info: StackInfo) -> ReleaseStore:
    return ReleaseStore(driver_dir(ctx.settings) / "releases" / info.name, env=info.env)


class Rollout:
    def __init__(
        self,
        ctx: Context,
        info: StackInfo,
        request: RolloutRequest,
        display: RolloutDisplay,
        op: Operation,
    ) -> None:
        self.ctx, self.info, self.request, self.display, self.op = ctx, info, request, display, op
        self.store = release_store(ctx, info)
        # What every step works on, set once at the start of run(): the platform stack, its
        # Swarm service names (catalog name -> Swarm name), and the manager's Docker API.
        self.stack: Stack
        self.service_names: dict[str, str] = {}
        self.api: Any = None
        self._provider_urns: list[str] = []
        self._routes: dict[str, list[str]] = {}

    # --- the whole flow ------------------------------------------------------------------------

    def run(self) -> Result:
        from automation.stack.upstream import check_program_files

        check_program_files(self.info.layer)
        self.stack = self._select_stack()
        self.service_names = self._service_names()
        names, target = self._plan()
        self.api = docker_api(self.ctx.settings.docker_host)
        specs = self._inspect()
        release = self._record(specs, names, target)
        self.display.step(f"release {release.id}: rollback point recorded ({len(specs)} services)")
        violations = [v for name in names for v in lint_service(name, specs[name]["Spec"])]
        if violations:
            return self._lint_blocked(release, violations)
        to_set, to_remove = config_delta(release.rollback_point.config, target)
        if not to_set and not to_remove:
            release = self._save(release.finish("unchanged", ["the tags are already set"]))
            return rollout_result(self.info, release, ExitCode.OK, None)
        self._apply_config(release.rollback_point.config, target)
        try:
            gate = self._preview_gate(names, release)
        except DriverError as exc:
            self._apply_config(target, release.rollback_point.config)  # nothing applied
            self._save(release.finish("failed", [exc.message]))
            raise
        if not gate.allowed:
            self._apply_config(target, release.rollback_point.config)
            release = self._save(release.finish("blocked", [b.reason for b in gate.blocked]))
            return rollout_result(self.info, release, ExitCode.GATE_BLOCKED, Attempt(gate))
        forward = Attempt(gate)
        try:
            forward = self._roll_forward(names, gate)
        except WatchStopped:
            return self._interrupted(release, forward)
        except DriverError as exc:
            forward.outcomes = {}
            return self._roll_back(release, forward, [exc.message])
        if forward.converged:
            forward.leftover = self._leftover_changes()
            note = [f"the preview after it still shows changes: {forward.leftover}"]
            release = self._save(release.finish("succeeded", note if forward.leftover else []))
            return rollout_result(self.info, release, ExitCode.OK, forward)
        return self._roll_back(release, forward, forward.failures())

    def _roll_forward(
        self,
        names: Sequence[str],
        gate: RolloutGate,
    ) -> Attempt:
        """Service by service (the release's order), each watched to convergence before the next
        starts, so a bad image stops at its first service; or all at once with --parallel."""
        changes = sorted(gate.images, key=lambda c: list(names).index(c.service))
        expected = {c.service: c.new_image for c in changes}
        if self.request.parallel or len(changes) <= 1:
            return self._apply_and_watch([c.service for c in changes], gate, expected, probe=True)
        outcomes: dict[str, Convergence] = {}
        since = daemon_now(self.api)
        for number, change in enumerate(changes, start=1):
            self.display.step(f"rolling {change.service} ({number}/{len(changes)})")
            one = self._apply_and_watch(
                [change.service], gate, expected,
                targets=[change.urn, *self._provider_urns], probe=True,
            )  # fmt: skip
            outcomes.update(one.outcomes)
            if not one.converged:
                return Attempt(gate, outcomes, since=since)
        # Every service is rolled; one untargeted apply brings the stack's outputs up to date.
        self._engine(lambda: self._up(), "apply")
        return Attempt(gate, outcomes, since=since)

    def _roll_back(
        self,
        release: Release,
        forward: Attempt,
        why: list[str],
    ) -> Result:
        detected = now_iso()
        try:
            first_failure = self._first_task_failure(forward)
        except docker_errors().DockerException:
            first_failure = None  # only a figure for the record: never a reason not to roll back
        self.display.step(
            f"rollout failed ({'; '.join(why)}); rolling the whole release back: "
            + ", ".join(release.services)
        )
        back = Attempt(RolloutGate((), ()))
        try:
            self._let_swarm_rollbacks_finish(release.services)
            moved = _moved_keys(release.rollback_point.other_config, read_other_config(self.stack))
            if moved:
                why = [*why, f"config changed outside the rollout (not restored): {moved}"]
            current = read_image_config(self.stack)
            self._apply_config(current, release.rollback_point.config)
            back.gate = self._preview_gate(release.services, release)
            if back.gate.allowed:
                points = release.rollback_point.services
                back = self._apply_and_watch(
                    release.services, back.gate,
                    expected={name: points[name].image for name in release.services},
                    fail_fast=False,
                )  # fmt: skip
        except (DriverError, WatchStopped, docker_errors().DockerException) as exc:
            message = (
                exc.message
                if isinstance(exc, DriverError)
                else "interrupted"
                if isinstance(exc, WatchStopped)
                else f"Docker API: {exc}"
            )
            return self._rollback_failed(release, forward, back, [*why, f"rollback: {message}"])
        if not back.gate.allowed:
            reasons = [f"rollback blocked: {b.urn}: {b.reason}" for b in back.gate.blocked]
            return self._rollback_failed(release, forward, back, [*why, *reasons])
        if not back.converged:
            return self._rollback_failed(release, forward, back, [*why, *back.failures()])
        timings = recovery_timings(first_failure, detected, now_iso())
        back.leftover = self._leftover_changes()
        if back.leftover:
            why = [*why, f"after the rollback the preview still shows changes: {back.leftover}"]
        release = self._save(release.finish("rolled_back", why, **timings))
        return rollout_result(self.info, release, ExitCode.ROLLED_BACK, forward, back)

    def _leftover_changes(self) -> dict[str, int]:
        """A rolled-back release must preview clean (0 changes): state, config and code agree."""
        from automation.stack.gate import ChangeCollector, change_counts

        collector = ChangeCollector()
        try:
            self._engine(lambda: self.stack.preview(color="never", on_event=collector), "preview")
        except DriverError as exc:
            return {f"preview failed: {exc.message}": 1}
        return change_counts(c for c in collector.changes if not c.type.startswith("pulumi:"))

    def _let_swarm_rollbacks_finish(self, names: Sequence[str]) -> None:
        """Swarm's own rollback of a failed service replaces its tasks all at once; an update
        applied on top of it would restart them one by one with a monitor window each. So wait
        (bounded) for the rollbacks in flight to end, then apply the release's rollback."""

        def probe() -> tuple[bool | None, object]:
            states = {
                n: (self.api.inspect_service(self.service_names[n]).get("UpdateStatus") or {}).get(
                    "State"
                )
                for n in names
            }
            busy = {n: state for n, state in states.items() if state == "rollback_started"}
            return (None if busy else True), busy

        specs = [self.api.inspect_service(self.service_names[n])["Spec"] for n in names]
        timeout = max(Timing.from_spec(spec).deadline_s for spec in specs) / 2
        try:
            wait_until(probe, what="Swarm's own rollbacks to finish", timeout_s=timeout)
        except WaitTimeout as exc:
            self.display.step(f"{exc}; applying the release rollback anyway")

    def _rollback_failed(
        self, release: Release, forward: Attempt, back: Attempt, why: list[str]
    ) -> Result:
        release = self._save(release.finish("rollback_failed", why))
        return rollout_result(self.info, release, ExitCode.ROLLBACK_FAILED, forward, back)

    # --- steps -----------------------------------------------------------------------------------

    def _select_stack(self) -> Stack:
        from automation.errors import NoSuchStack
        from automation.pulumi.workspace import existing_stack

        stack = existing_stack(self.ctx.settings, self.info)
        if stack is None:
            raise NoSuchStack(
                f"the {self.info.name} stack does not exist yet",
                f"deploy it first: {driver_command(self.info.env, 'deploy', 'platform')}",
            )
        return stack

    def _service_names(self) -> dict[str, str]:
        outputs = self.stack.outputs()
        names = outputs.get("service_names")
        if names is None or not isinstance(names.value, dict) or not names.value:
            raise DriverError(
                f"the {self.info.name} stack exports no service_names",
                "deploy the platform layer first (it exports {catalog name: Swarm service})",
            )
        routes = outputs.get("routes")
        if routes is not None and isinstance(routes.value, dict):
            self._routes = {str(k): [str(h) for h in v] for k, v in routes.value.items()}
        return {str(k): str(v) for k, v in names.value.items()}

    def _plan(self) -> tuple[list[str], ImageConfig]:
        """The release's services and the image config it sets."""
        if self.request.to_release:
            old = self.store.get(self.request.to_release)
            if old.result not in ("succeeded", "unchanged"):
                good = [r.id for r in self.store.all() if r.result == "succeeded"][-3:]
                raise BadInput(
                    f"release {old.id} ended {old.result}: its images never ran as a release",
                    f"pick a succeeded release ({', '.join(good) or 'none yet'})",
                )
            unknown = sorted(set(old.services) - set(self.service_names))
            if unknown:
                raise BadInput(
                    f"release {old.id} names services the platform no longer has: "
                    + ", ".join(unknown),
                    "roll out a tag instead: rollout --tag TAG",
                )
            # Returning to a release sets the whole stack's image config: every service is in it.
            return sorted(self.service_names), dict(old.target_config)
        assert self.request.tag is not None
        tag = check_tag(self.request.tag)
        unknown = sorted(set(self.request.services) - set(self.service_names))
        if unknown:
            raise BadInput(
                f"unknown service(s) {', '.join(repr(u) for u in unknown)}",
                f"platform services are: {', '.join(sorted(self.service_names))}",
            )
        named = list(dict.fromkeys(self.request.services)) or None
        current = read_image_config(self.stack)
        return named or sorted(self.service_names), image_config_for_tag(current, tag, named)

    def _inspect(self) -> dict[str, Any]:
        import docker

        specs = {}
        for name, swarm_name in self.service_names.items():
            try:
                specs[name] = self.api.inspect_service(swarm_name)
            except docker.errors.NotFound:
                raise DriverError(
                    f"platform service {name!r} (Swarm service {swarm_name}) is not in the Swarm",
                    "check DOCKER_HOST points at the right manager, or redeploy the platform",
                ) from None
        return specs

    def _record(
        self,
        specs: Mapping[str, Any],
        names: list[str],
        target: ImageConfig,
    ) -> Release:
        services = {
            name: ServiceRecord(
                name=name,
                service_name=self.service_names[name],
                image=spec_image(specs[name]["Spec"]),
                spec_hash=spec_hash(specs[name]["Spec"]),
            )
            for name in self.service_names
        }
        release = Release(
            id=new_release_id(),
            stack=self.info.name,
            created=now_iso(),
            user=current_user(),
            host=current_host(),
            services=names,
            tag=self.request.tag,
            from_release=self.request.to_release,
            rollback_point=RollbackPoint(
                config=read_image_config(self.stack),
                services=services,
                other_config=read_other_config(self.stack),
            ),
            target_config=target,
        )
        self.op.details["release"] = release.id
        return self._save(release)

    def _lint_blocked(self, release: Release, violations: list[Violation]) -> Result:
        release = self._save(release.finish("blocked", [f"lint: {v}" for v in violations]))
        return rollout_result(self.info, release, ExitCode.GATE_BLOCKED, None, lint=violations)

    def _apply_config(self, current: ImageConfig, target: ImageConfig) -> None:
        from pulumi.automation import ConfigValue

        to_set, to_remove = config_delta(current, target)
        if to_set:
            self.stack.set_all_config({key: ConfigValue(value) for key, value in to_set.items()})
        if to_remove:
            self.stack.remove_all_config(to_remove)

    def _preview_gate(
        self,
        names: Sequence[str],
        release: Release,
    ) -> RolloutGate:
        from automation.stack.gate import ChangeCollector, GatePolicy, evaluate

        steps: dict[str, PlannedStep] = {}
        collector = ChangeCollector()

        def on_event(event: Any) -> None:
            collector(event)
            pre = getattr(event, "resource_pre_event", None)
            if pre is not None and pre.metadata is not None:
                steps[pre.metadata.urn] = PlannedStep.from_metadata(pre.metadata)

        self._engine(lambda: self.stack.preview(color="never", on_event=on_event), "preview")
        # A targeted apply must include the providers the new config changes.
        self._provider_urns = [
            step.urn
            for step in steps.values()
            if step.type.startswith("pulumi:providers:") and step.op == "update"
        ]
        gate = evaluate_rollout(
            steps.values(),
            self.service_names,
            set(names),
            allow_other_changes=self.request.allow_other_changes,
        )
        # The stateful-resource gate holds even with --allow-other-changes.
        stateful = evaluate(collector.changes, GatePolicy())
        extra = tuple(
            Blocked(c.urn, c.op, reason, other_change=False) for c, reason in stateful.blocked
        )
        gate = RolloutGate(gate.blocked + extra, gate.images)
        verdict = "allowed" if gate.allowed else f"blocked {len(gate.blocked)} step(s)"
        images = ", ".join(f"{c.service} {c.old_image} -> {c.new_image}" for c in gate.images)
        self.display.step(f"release {release.id}: preview {verdict}; images: {images or 'none'}")
        return gate

    def _apply_and_watch(
        self,
        names: Sequence[str],
        gate: RolloutGate,
        expected: Mapping[str, str | None],
        *,
        fail_fast: bool = True,
        targets: Sequence[str] = (),
        probe: bool = False,
    ) -> Attempt:
        baseline = {
            n: self.api.inspect_service(self.service_names[n]).get("UpdateStatus") for n in names
        }
        since = daemon_now(self.api)
        self._engine(lambda: self._up(targets), "apply")
        if not names:
            return Attempt(gate, since=since)
        watched = [
            WatchTarget(
                n, self.service_names[n], expected.get(n), baseline_status=baseline[n], since=since
            )
            for n in names
        ]
        watch = ServiceWatch(
            self.api,
            watched,
            on_change=self.display.service,
            stop=lambda: self.op.interrupted,
            fail_fast=fail_fast,
        )
        try:
            timeout = watch.deadline_s()
            self.display.watching(f"watching convergence (deadline {timeout:.0f}s)", list(names))
            outcomes = watch.run(timeout)
        except docker_errors().DockerException as exc:
            raise DriverError(
                f"lost track of the services: {exc}", "check the Swarm: docker service ls"
            ) from exc
        if (
            probe
            and self.request.probe_url
            and all(c.phase is Phase.COMPLETED for c in outcomes.values())
        ):
            outcomes = self._probe_routes(outcomes)
        return Attempt(gate, outcomes, since=since)

    def _probe_routes(self, outcomes: dict[str, Convergence]) -> dict[str, Convergence]:
        """Converged services must also answer on their public routes (through Traefik)."""
        from automation.rollout.probe import probe_routes

        converged = [n for n, c in outcomes.items() if c.phase is Phase.COMPLETED]
        hosts = [h for n in converged for h in self._routes.get(n, [])]
        if not hosts:
            return outcomes
        assert self.request.probe_url is not None
        self.display.step(f"probing routes: {', '.join(hosts)}")
        failures = probe_routes(self._routes, converged, url_template=self.request.probe_url)
        for failure in failures:
            conv = outcomes[failure.service]
            outcomes[failure.service] = Convergence(
                Phase.FAILED, conv.running, conv.desired, conv.update_state,
                f"route {failure.url} did not answer: {failure.last}",
            )  # fmt: skip
            self.display.service(failure.service, outcomes[failure.service])
        return outcomes

    def _up(self, targets: Sequence[str] = ()) -> None:
        from automation.stack.progress import Progress

        with Progress(self.info.name, "apply") as progress:
            self.stack.up(color="never", on_event=progress, target=list(targets) or None)

    def _engine(self, call: Callable[[], Any], what: str) -> None:
        """Run an engine call; its failure keeps the classifier's exception (a held lock stays
        exit 4) and redaction, with what failed in front."""
        from pulumi.automation import errors as auto_errors

        from automation.pulumi.errors import engine_error

        try:
            call()
        except auto_errors.CommandError as exc:
            error = engine_error(exc, self.info)
            error.message = f"{what} failed: {error.message}"
            raise error from exc

    def _first_task_failure(self, forward: Attempt) -> datetime | None:
        """When the new image's first task failed (the daemon's clock), for the recovery time."""
        times = []
        for name, conv in forward.outcomes.items():
            if conv.phase is Phase.COMPLETED:
                continue
            tasks = self.api.tasks(filters={"service": self.service_names[name]})
            new_image = next((c.new_image for c in forward.gate.images if c.service == name), None)
            mine = [t for t in tasks if _task_image(t) == strip_digest(new_image or "")]
            if (found := first_failure_time(mine, forward.since)) is not None:
                times.append(found)
        return min(times) if times else None

    def _interrupted(self, release: Release, forward: Attempt) -> Result:
        message = "interrupted while watching: the update goes on in Swarm (docker service ps)"
        release = self._save(release.finish("interrupted", [message]))
        return rollout_result(self.info, release, ExitCode.INTERRUPTED, forward)

    def _save(self, release: Release) -> Release:
        self.store.save(release)
        self.op.details["release_result"] = release.result
        return release


def docker_errors() -> Any:
    import docker.errors

    return docker.errors


def read_other_config(stack: Stack) -> dict[str, str]:
    """Every non-image config value; secrets as "[secret]", never their value."""
    return {
        key: "[secret]" if value.secret else value.value
        for key, value in sorted(stack.get_all_config().items())
        if key not in IMAGE_KEYS
    }


def read_image_config(stack: Stack) -> ImageConfig:
    config = stack.get_all_config()
    return {key: (config[key].value if key in config else None) for key in IMAGE_KEYS}


def _moved_keys(before: Mapping[str, str], now: Mapping[str, str]) -> str:
    return ", ".join(sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k)))


def _task_image(task: Mapping[str, Any]) -> str:
    image: str = task.get("Spec", {}).get("ContainerSpec", {}).get("Image", "")
    return strip_digest(image)
