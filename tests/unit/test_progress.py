"""Progress lines in CI: one per changed resource, counted once, nothing but op and name."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

from automation.stack.progress import Progress

URN = "urn:pulumi:local-platform::sprocket-infra::docker:index/service:Service::"


def _outputs(name: str, op: str) -> Any:
    meta = SimpleNamespace(urn=URN + name, op=SimpleNamespace(value=op))
    return SimpleNamespace(
        resource_pre_event=None, res_outputs_event=SimpleNamespace(metadata=meta)
    )


def test_plain_lines_count_each_resource_once_and_skip_unchanged() -> None:
    stream = io.StringIO()
    with Progress("local-platform", "deploy", total=3, stream=stream, live=False) as progress:
        progress(_outputs("web", "update"))
        progress(_outputs("web", "update"))  # a component's second outputs event
        progress(_outputs("api", "same"))
        progress(_outputs("bot", "create"))
    lines = stream.getvalue().splitlines()
    assert lines[:2] == [
        "local-platform: [1/3] update web",
        "local-platform: [3/3] create bot",
    ]
    assert lines[2].startswith("local-platform: deploy done, 3 steps in")


def test_preview_progress_prints_nothing_off_a_terminal() -> None:
    stream = io.StringIO()
    with Progress("local-platform", "preview", stream=stream, live=False, plain=False) as p:
        p(_outputs("web", "update"))
    assert stream.getvalue() == ""


def test_convergence_log_gives_each_service_one_verdict_line() -> None:
    """In CI (no terminal): an unchanged service converged then completed is one line; an
    updated one is its first state and its verdict."""
    from automation.stack.progress import ConvergenceProgress
    from automation.swarm_watch import Convergence, Phase

    out = io.StringIO()
    with ConvergenceProgress("local-platform", ["web", "core"], stream=out, live=False) as seen:
        seen("web", Convergence(Phase.CONVERGED, 1, 1))
        seen("web", Convergence(Phase.COMPLETED, 1, 1))
        seen("web", Convergence(Phase.COMPLETED, 1, 1))
        seen("core", Convergence(Phase.CONVERGING, 0, 1))
        seen("core", Convergence(Phase.CONVERGING, 0, 1))
        seen("core", Convergence(Phase.CONVERGED, 1, 1))
        seen("core", Convergence(Phase.COMPLETED, 1, 1, "completed"))
    lines = [line.split("] ", 1)[1] for line in out.getvalue().splitlines()]
    assert lines == [
        "waiting for 2 services to converge",
        "web: completed: 1/1 tasks running",
        "core: converging: 0/1 tasks running",
        "core: completed: 1/1 tasks running, update completed",
        "2/2 services converged",
    ]
