"""The rollout command's input checks and progress display, before any engine or Docker call."""

from __future__ import annotations

import io
from typing import Any

import pytest

from automation.rollout.display import RolloutDisplay
from automation.swarm_watch import Convergence, Phase


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param([], "pass exactly one of --tag TAG and --to-release ID", id="neither"),
        pytest.param(
            ["--tag", "2", "--to-release", "x"],
            "pass exactly one of --tag TAG and --to-release ID",
            id="both",
        ),
        pytest.param(
            ["--to-release", "x", "--service", "web"],
            "--service cannot be combined with --to-release",
            id="service-with-release",
        ),
        pytest.param(["--tag", "v 2"], "image tag 'v 2' is not a valid Docker tag", id="bad-tag"),
    ],
)
def test_bad_input_is_refused_with_one_line_and_exit_64(
    run_cli: Any, args: list[str], message: str
) -> None:
    result = run_cli("rollout", *args)
    assert result.exit_code == 64
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {message}")
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_input_in_json_mode_is_an_envelope(run_cli: Any) -> None:
    result = run_cli("--json", "rollout", "--tag", "-x")
    assert result.exit_code == 64
    envelope = result.json()
    assert (envelope["command"], envelope["status"]) == ("rollout", "error")
    assert "is not a valid Docker tag" in envelope["errors"][0]["message"]


def test_plain_progress_is_one_line_per_change_with_the_task_errors() -> None:
    stream = io.StringIO()
    with RolloutDisplay(stream=stream, live=False) as display:
        display.step("release r1: rollback point recorded")
        display.watching("watching convergence", ["web"])
        display.service("web", Convergence(Phase.CONVERGING, 1, 2, "updating"))
        failed = Convergence(
            Phase.FAILED, 1, 2, "rollback_started", "Swarm started rolling the service back",
            ("task: non-zero exit (1)",),
        )  # fmt: skip
        display.service("web", failed)
    lines = [line.split("] ", 1)[1] for line in stream.getvalue().splitlines()]
    assert lines == [
        "release r1: rollback point recorded",
        "watching convergence: web",
        "web: converging: 1/2 tasks running, update updating",
        "web: failed: 1/2 tasks running, update rollback_started (Swarm started rolling the "
        "service back); task errors: task: non-zero exit (1)",
    ]


def test_terminal_progress_is_a_live_table() -> None:
    stream = io.StringIO()
    with RolloutDisplay(stream=stream, live=True) as display:
        display.watching("watching convergence", ["web"])
        display.service("web", Convergence(Phase.COMPLETED, 2, 2, "completed"))
    text = stream.getvalue()
    assert "web" in text and "completed" in text and "2/2" in text


# --- a blocked rollout's hint names only what lifts that block ------------------------------


def _blocked(**kwargs: Any) -> str:
    from automation.exit_codes import ExitCode
    from automation.rollout.lint import Violation
    from automation.rollout.policy import Blocked, RolloutGate
    from automation.rollout.report import Attempt, rollout_result
    from sprocket_common.stack_info import StackInfo
    from tests.unit.test_rollout_manifest import release

    blocked = tuple(kwargs.get("blocked", ()))
    lint = [Violation("web", "UpdateConfig.FailureAction", "is pause, not rollback")] * bool(
        kwargs.get("lint")
    )
    gate = RolloutGate(tuple(Blocked(*b[:3], other_change=b[3]) for b in blocked), ())
    result = rollout_result(
        StackInfo.parse("staging-platform"),
        release("20261128T100000Z-aaaa").model_copy(update={"stack": "staging-platform"}),
        ExitCode.GATE_BLOCKED,
        None if lint else Attempt(gate),
        lint=lint,
    )
    return result.errors[0]["hint"]


def test_a_lint_block_does_not_suggest_allow_other_changes() -> None:
    hint = _blocked(lint=True)
    assert "--allow-other-changes" not in hint
    assert "python -m automation --env staging deploy platform" in hint


def test_a_stateful_block_says_allow_other_changes_does_not_lift_it() -> None:
    hint = _blocked(blocked=[("urn:db", "replace", "replaces a stateful resource", False)])
    assert "holds even with --allow-other-changes" in hint
    assert "pass --allow-other-changes" not in hint


def test_a_non_image_change_block_still_offers_allow_other_changes() -> None:
    hint = _blocked(blocked=[("urn:x", "create", "create is not an image change", True)])
    assert "pass --allow-other-changes" in hint
