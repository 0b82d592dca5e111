"""`rollout` end to end on the real Swarm, through the real engine and the real CLI entry point.

The platform layer's own program needs the docker provider plugin, which cannot be installed here,
so these tests give the driver an inline stand-in through one seam:
`automation.pulumi.workspace.load_program` returns a program of dynamic Swarm services
(sprocket_common.testing) that reads the platform's image config keys (`sprocket:image_tag`,
`sprocket:image_tags`) and exports `images` and `service_names` like the platform does. Everything
else is real: the pulumi CLI and file backend, the Swarm, the images, the healthchecks, Swarm's own
rollback.
"""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pulumi
import pytest

from automation.exit_codes import ExitCode
from automation.pulumi import workspace
from automation.swarm import parse_docker_time
from sprocket_common.stack_info import Env, Layer, StackInfo
from sprocket_common.testing.dynamic_service import SwarmServiceResource

pytestmark = [pytest.mark.integration, pytest.mark.long]

# Healthy only when the app answers with a version ("v1", "v2"); `bad` answers "bad".
HEALTHCHECK = {
    "test": ["CMD-SHELL", "wget -q -O- http://127.0.0.1:8080/ | grep -q '^v'"],
    "interval_s": 2,
    "timeout_s": 2,
    "start_period_s": 2,
    "retries": 2,
}
CANARY = "canary-5e1f-never-in-a-rollout-record"
UPDATE = {"order": "stop-first"}  # the monitor window is the house one, from the healthcheck
REPLICAS = {"web": 2, "core": 1}


def platform_stand_in(
    prefix: str,
    *,
    without_healthcheck: tuple[str, ...] = (),
    routes: dict[str, list[str]] | None = None,
) -> Any:
    def program() -> None:
        config = pulumi.Config("sprocket")
        default_tag = config.get("image_tag") or "1"
        tags = config.get_object("image_tags") or {}
        token = config.require_secret("canary")
        images, names = {}, {}
        for name, replicas in REPLICAS.items():
            image = f"sprocket-test/app:{tags.get(name, default_tag)}"
            SwarmServiceResource(
                name,
                service_name=f"{prefix}-{name}",
                image=image,
                replicas=config.get_int(f"{name}_replicas") or replicas,
                healthcheck=None if name in without_healthcheck else HEALTHCHECK,
                update=UPDATE,
                env={"CANARY": token},  # a secret value in the spec, never in a record
            )
            images[name], names[name] = image, f"{prefix}-{name}"
        pulumi.export("images", images)
        pulumi.export("service_names", names)
        pulumi.export("routes", routes or {})

    return program


@pytest.fixture
def service_name() -> str:
    """Not the shared `sprockettest` prefix: every other test session on this daemon sweeps that
    prefix when it ends, which would remove these services mid-rollout. The fixture below
    removes its own services."""
    return f"sprocketrollout-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def platform(
    pulumi_env: Any,
    swarm: Any,
    test_images: dict[str, str],
    service_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., Any]]:
    """Deploys the stand-in platform on tag 1; the driver's load_program returns it."""
    from automation.settings import load_settings

    def deploy(**program_options: Any) -> Any:
        program = platform_stand_in(service_name, **program_options)
        monkeypatch.setattr(
            workspace, "load_program", lambda layer: program if layer is Layer.PLATFORM else None
        )
        from pulumi.automation import ConfigValue

        # The copied Pulumi.local-platform.yaml carries the salt of the repo's local passphrase,
        # not the test's: a fresh stack config for the fresh backend.
        (pulumi_env.project_dir / "Pulumi.local-platform.yaml").unlink(missing_ok=True)
        stack = workspace.select_stack(
            load_settings(), StackInfo(Env.LOCAL, Layer.PLATFORM), program=program
        )
        stack.set_config("sprocket:image_tag", ConfigValue("1"))
        stack.set_config("sprocket:canary", ConfigValue(CANARY, secret=True))
        stack.up(color="never")
        wait_running(swarm, service_name, {"web": "1", "core": "1"})
        return stack

    yield deploy
    for service in swarm.services.list(filters={"name": service_name}):
        service.remove()


def running_images(swarm: Any, prefix: str) -> dict[str, set[str]]:
    """Per service: the tags of the tasks that are running and meant to be."""
    tags: dict[str, set[str]] = {}
    for name in REPLICAS:
        tasks = swarm.api.tasks(filters={"service": f"{prefix}-{name}", "desired-state": "running"})
        tags[name] = {
            t["Spec"]["ContainerSpec"]["Image"].split("@")[0].rsplit(":", 1)[-1]
            for t in tasks
            if t["Status"]["State"] == "running"
        }
    return tags


def wait_running(swarm: Any, prefix: str, want: dict[str, str], timeout_s: float = 90) -> None:
    from automation.waiting import wait_until

    def probe() -> tuple[bool | None, object]:
        seen = running_images(swarm, prefix)
        ok = all(seen[name] == {tag} for name, tag in want.items())
        counts = {
            name: len(swarm.api.tasks(filters={"service": f"{prefix}-{name}",
                                                 "desired-state": "running"}))
            for name in REPLICAS
        }  # fmt: skip
        return (True if ok and all(counts[n] == REPLICAS[n] for n in want) else None), seen

    wait_until(probe, what=f"services on {want}", timeout_s=timeout_s, interval_s=1)


def spec_tags(swarm: Any, prefix: str) -> dict[str, str]:
    return {
        name: swarm.services.get(f"{prefix}-{name}")
        .attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        .split("@")[0]
        .rsplit(":", 1)[-1]
        for name in REPLICAS
    }


def test_rollouts_converge_and_a_recorded_release_can_be_returned_to(
    platform: Any, run_cli: Any, swarm: Any, service_name: str
) -> None:
    platform()
    first = run_cli("--json", "rollout", "--tag", "2")
    assert first.exit_code == 0, first.stdout + first.stderr
    doc = first.json()["data"]
    assert (doc["result"], doc["clean_preview"]) == ("succeeded", True)
    assert doc["images"] == [
        {"service": "core", "from": "sprocket-test/app:1", "to": "sprocket-test/app:2"},
        {"service": "web", "from": "sprocket-test/app:1", "to": "sprocket-test/app:2"},
    ]
    assert {n: (c["phase"], c["running"]) for n, c in doc["convergence"].items()} == {
        "core": ("completed", 1),
        "web": ("completed", 2),
    }
    assert running_images(swarm, service_name) == {"web": {"2"}, "core": {"2"}}
    # One service after the other: web's update began only once core's had completed.
    core, web = (swarm.api.inspect_service(f"{service_name}-{n}") for n in ("core", "web"))
    core_done = parse_docker_time(core["UpdateStatus"]["CompletedAt"])
    assert parse_docker_time(web["UpdateStatus"]["StartedAt"]) > core_done
    all_on_2 = doc["release"]

    one = run_cli("--json", "rollout", "--tag", "1", "--service", "core")
    assert one.exit_code == 0, one.stdout + one.stderr
    assert [i["service"] for i in one.json()["data"]["images"]] == ["core"]
    assert running_images(swarm, service_name) == {"web": {"2"}, "core": {"1"}}

    back = run_cli("--json", "rollout", "--to-release", all_on_2)
    assert back.exit_code == 0, back.stdout + back.stderr
    assert back.json()["data"]["images"] == [
        {"service": "core", "from": "sprocket-test/app:1", "to": "sprocket-test/app:2"}
    ]
    assert running_images(swarm, service_name) == {"web": {"2"}, "core": {"2"}}

    listed = run_cli("--json", "releases").json()["data"]["releases"]
    assert [(r["tag"], r["result"], r["from_release"]) for r in listed] == [
        ("2", "succeeded", None),
        ("1", "succeeded", None),
        ("2", "succeeded", all_on_2),
    ]
    human = run_cli("releases")
    assert all_on_2 in human.stdout and "succeeded" in human.stdout
    # State, config and code agree after returning to a release: the preview is clean.
    assert back.json()["data"]["clean_preview"] is True


def test_a_failing_image_rolls_the_whole_release_back_to_version_1(
    platform: Any,
    run_cli: Any,
    swarm: Any,
    service_name: str,
    capsys: pytest.CaptureFixture[str],
    s3_endpoint: Any,
) -> None:
    platform()
    started = datetime.now(UTC)
    result = run_cli("--json", "rollout", "--tag", "bad")
    returned = datetime.now(UTC)
    envelope = result.json()
    assert result.exit_code == 7, result.stdout + result.stderr
    assert envelope["status"] == "error"
    data = envelope["data"]
    assert data["result"] == "rolled_back"
    assert "the whole release was rolled back" in envelope["errors"][0]["message"]
    failed = [n for n, c in data["convergence"].items() if c["phase"] == "failed"]
    assert failed, data["convergence"]
    assert any(data["convergence"][n]["task_errors"] for n in failed)
    assert {n: c["phase"] for n, c in data["rollback"]["convergence"].items()} == {
        "web": "completed",
        "core": "completed",
    }
    assert data["rollback"]["clean_preview"] is True
    # Really on version 1: spec and running tasks, for every service in the release.
    assert spec_tags(swarm, service_name) == {"web": "1", "core": "1"}
    assert running_images(swarm, service_name) == {"web": {"1"}, "core": {"1"}}

    # Recovery time, measured independently from the daemon's own task records.
    first_unhealthy = first_failed_bad_task(swarm, service_name)
    assert first_unhealthy is not None and started <= first_unhealthy <= returned
    measured = (returned - first_unhealthy).total_seconds()
    reported = data["timings"]["recovery_s"]
    with capsys.disabled():  # the figure for the report, and the progress an operator sees
        print(f"\n{result.stderr}")
        print(
            f"\nROLLBACK FIGURES: first failing 'bad' task at {first_unhealthy.isoformat()}, "
            f"release back on version 1 (converged, verified) {measured:.1f}s later "
            f"(driver's own figure: {reported}s; "
            f"whole command {(returned - started).total_seconds():.1f}s)"
        )
    assert reported <= measured + 1
    assert measured < 120

    # The release changed the state twice; the backups bracket it, the end state included.
    backups = run_cli("--json", "backup", "list", "platform").json()["data"]["backups"]
    assert [b["reason"] for b in backups] == ["post-rollout", "pre-rollout"]
    listed = run_cli("--json", "releases").json()["data"]["releases"]
    assert [(r["tag"], r["result"]) for r in listed] == [("bad", "rolled_back")]
    again = run_cli("rollout", "--to-release", data["release"])
    assert again.exit_code == 64
    assert "ended rolled_back: its images never ran as a release" in again.stderr
    # Audited, the refused one too.
    assert audit_of_rollouts() == [(7, data["release"], "rolled_back"), (64, None, None)]
    assert CANARY not in result.stdout + result.stderr


def audit_of_rollouts() -> list[tuple[int, str | None, str | None]]:
    from automation.guard import audit
    from automation.settings import load_settings

    return [
        (entry["exit_code"], entry.get("release"), entry.get("release_result"))
        for entry in audit.read(load_settings(), stack="local-platform")
        if entry["command"] == "rollout"
    ]


def test_a_rollback_point_that_fails_too_exits_8_for_a_person(
    platform: Any, run_cli: Any, swarm: Any, service_name: str
) -> None:
    """The last deploy, outside the driver, left core's config on `bad`: `pulumi up` said
    success while Swarm rolled core back to 1 (anchors.md pain point 12). A rollout from there
    that fails goes back to that recorded config, which cannot converge either."""
    from pulumi.automation import ConfigValue

    from automation.waiting import wait_until

    stack = platform()
    stack.set_config("sprocket:image_tags", ConfigValue('{"core": "bad"}'))
    stack.up(color="never")  # returns success: Swarm has not even judged the image yet

    def rolled_back() -> tuple[bool | None, object]:
        state = (swarm.api.inspect_service(f"{service_name}-core").get("UpdateStatus") or {}).get(
            "State"
        )
        return (True if state == "rollback_completed" else None), state

    wait_until(rolled_back, what="Swarm's own rollback of core", timeout_s=120, interval_s=1)

    result = run_cli("--json", "rollout", "--tag", "missing", "--service", "core")
    assert result.exit_code == ExitCode.ROLLBACK_FAILED, result.stdout + result.stderr
    envelope = result.json()
    assert "the rollback failed: a person is needed now" in envelope["errors"][0]["message"]
    data = envelope["data"]
    assert data["result"] == "rollback_failed"
    assert data["convergence"]["core"]["phase"] == "failed"
    assert data["rollback"]["convergence"]["core"]["phase"] == "failed"
    assert "unhealthy container" in " ".join(data["rollback"]["convergence"]["core"]["task_errors"])
    assert audit_of_rollouts() == [(8, data["release"], "rollback_failed")]


def first_failed_bad_task(swarm: Any, prefix: str) -> datetime | None:
    times = [
        parse_docker_time(t["Status"]["Timestamp"])
        for name in REPLICAS
        for t in swarm.api.tasks(filters={"service": f"{prefix}-{name}"})
        if t["Spec"]["ContainerSpec"]["Image"].startswith("sprocket-test/app:bad")
        and t["Status"]["State"] in ("failed", "shutdown", "rejected")
        and t["Status"].get("Err")
    ]
    return min(times) if times else None


def test_a_rollout_that_would_change_more_than_images_is_blocked_by_the_gate(
    platform: Any, run_cli: Any, swarm: Any, service_name: str, pulumi_env: Any
) -> None:
    stack = platform()
    from pulumi.automation import ConfigValue

    # Someone changed a setting but never deployed it: a rollout must not carry it along.
    stack.set_config("sprocket:web_replicas", ConfigValue("3"))
    result = run_cli("--json", "rollout", "--tag", "2")
    assert result.exit_code == 3, result.stdout + result.stderr
    blocked = result.json()["data"]["gate"]["blocked"]
    assert [b["reason"] for b in blocked] == ["changes more than the image of 'web': replicas"]
    assert blocked[0]["urn"].endswith("::web")
    # Nothing changed: not the services, not the stack's image config.
    assert spec_tags(swarm, service_name) == {"web": "1", "core": "1"}
    assert stack.get_config("sprocket:image_tag").value == "1"
    releases = run_cli("--json", "releases").json()["data"]["releases"]
    assert [r["result"] for r in releases] == ["blocked"]
    # The services carry a secret in their env: it is in no output, record or audit line.
    assert CANARY not in result.stdout + result.stderr
    record = next((pulumi_env.backend_dir / ".sprocket" / "releases").rglob("*.json"))
    assert json.loads(record.read_text())["rollback_point"]["other_config"] == {
        "sprocket:canary": "[secret]",
        "sprocket:web_replicas": "3",
    }
    assert_no_canary_in_driver_records(pulumi_env)


def assert_no_canary_in_driver_records(pulumi_env: Any) -> None:
    records = list((pulumi_env.backend_dir / ".sprocket").rglob("*"))
    assert any(path.name.endswith(".json") for path in records)
    for path in records:
        if path.is_file():
            assert CANARY not in path.read_text(errors="replace"), path


def test_the_lint_blocks_a_service_without_a_healthcheck(
    platform: Any, run_cli: Any, swarm: Any, service_name: str
) -> None:
    platform(without_healthcheck=("core",))
    result = run_cli("rollout", "--tag", "2")
    assert result.exit_code == 3
    assert "core: TaskTemplate.ContainerSpec.Healthcheck: no healthcheck" in result.stdout
    assert "rollout blocked before any change" in result.stderr
    assert spec_tags(swarm, service_name) == {"web": "1", "core": "1"}

    unknown = run_cli("rollout", "--tag", "2", "--service", "nosuch")
    assert unknown.exit_code == 64
    assert unknown.stderr == (
        "error: unknown service(s) 'nosuch' (platform services are: core, web)\n"
    )
    no_release = run_cli("rollout", "--to-release", "2020")
    assert no_release.exit_code == 64
    assert "release '2020' is not a release of this stack" in no_release.stderr


def test_rolling_out_before_the_platform_is_deployed_says_so(pulumi_env: Any, run_cli: Any) -> None:
    result = run_cli("rollout", "--tag", "2")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: the local-platform stack does not exist yet "
        "(deploy it first: `python -m automation --env local deploy platform`)\n"
    )


class BrokenRoute(http.server.BaseHTTPRequestHandler):
    """Traefik answering for a service whose route is broken behind a healthy container."""

    def do_GET(self) -> None:
        self.send_response(503)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


def test_a_route_that_does_not_answer_after_convergence_rolls_the_release_back(
    platform: Any, run_cli: Any, swarm: Any, service_name: str
) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), BrokenRoute)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host = f"127.0.0.1:{server.server_address[1]}"
    try:
        platform(routes={"web": [host]})
        result = run_cli(
            "--json", "rollout", "--tag", "2", "--service", "web", "--probe-url", "http://{host}/"
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert result.exit_code == 7, result.stdout + result.stderr
    web = result.json()["data"]["convergence"]["web"]
    assert (web["phase"], web["running"]) == ("failed", 2)  # Swarm itself was content
    assert web["message"] == f"route http://{host}/ did not answer: 503"
    assert spec_tags(swarm, service_name) == {"web": "1", "core": "1"}
    assert running_images(swarm, service_name) == {"web": {"1"}, "core": {"1"}}
