"""The PR comment: marker first, summary table, trimmed under GitHub's limit, no secret in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from automation.stack.report_markdown import (
    GITHUB_COMMENT_LIMIT,
    Redactor,
    marker,
    render_preview,
    render_stack,
    secret_values_from_config,
    secret_values_from_env,
    split_comments,
)

PROJECT = "sprocket-infra"
CANARY = "canary-5b1e-never-in-a-comment"
URN = (
    "urn:pulumi:prod-platform::sprocket-infra::sprocket:swarm:Service$docker:index/service:Service"
)


def _step(name: str, op: str = "update", diffs: tuple[str, ...] = ("image",)) -> dict[str, Any]:
    return {"urn": f"{URN}::{name}", "type": "docker:index/service:Service", "op": op,
            "diffs": list(diffs)}  # fmt: skip


def _stack(steps: list[dict[str, Any]], *, blocked: list[dict[str, Any]] | None = None,
           stack: str = "prod-platform") -> dict[str, Any]:  # fmt: skip
    changes: dict[str, int] = {}
    for step in steps:
        changes[step["op"]] = changes.get(step["op"], 0) + 1
    return {
        "stack": stack,
        "changes": changes,
        "steps": steps,
        "gate": {"allowed": not blocked, "blocked": blocked or []},
    }


def test_marker_is_the_first_line_and_keys_project_and_stack() -> None:
    body = render_preview({"stacks": [_stack([_step("web")])]}, project=PROJECT)
    assert body.splitlines()[0] == "<!-- sprocket-preview:sprocket-infra/prod-platform -->"
    assert marker(PROJECT, "prod-platform") == body.splitlines()[0]


def test_summary_table_comes_before_the_detail() -> None:
    steps = [_step("web", "create"), _step("api", "update"), _step("db", "replace"),
             _step("old", "delete"), _step("bot", "update")]  # fmt: skip
    body = render_preview({"stacks": [_stack(steps)]}, project=PROJECT)
    lines = body.splitlines()
    header = lines.index("| creates | updates | replaces | deletes | gate |")
    assert lines[header + 2] == "| 1 | 2 | 1 | 1 | ✅ allowed |"
    assert header < lines.index("| op | type | resource | changed inputs |")
    # the most dangerous steps are listed first
    detail = [line for line in lines if line.startswith("| `")]
    ops = [row.split("`")[1] for row in detail]
    assert ops == ["delete", "replace", "update", "update", "create"]


def test_gate_verdict_and_blocked_urns_are_shown() -> None:
    blocked = [{"urn": f"{URN}::redis-data", "op": "delete", "reason": "stateful resource"}]
    body = render_preview(
        {"stacks": [_stack([_step("redis-data", "delete")], blocked=blocked)]}, project=PROJECT
    )
    assert "| 0 | 0 | 0 | 1 | ⛔ blocked (1) |" in body
    assert f"`{URN}::redis-data`: stateful resource" in body


def test_huge_plan_is_trimmed_under_githubs_limit_with_a_pointer_to_the_artifact() -> None:
    steps = [
        _step(f"service-{i:05d}-" + "x" * 120, diffs=("image", "labels", "env"))
        for i in range(5000)
    ]
    steps.append(_step("the-one-delete", "delete"))
    blocked = [{"urn": f"{URN}::b{i}", "op": "replace", "reason": "stateful"} for i in range(3000)]
    body = render_preview({"stacks": [_stack(steps, blocked=blocked)]}, project=PROJECT)
    assert len(body) < GITHUB_COMMENT_LIMIT
    assert len(body.encode("utf-8")) < GITHUB_COMMENT_LIMIT
    assert "more resource changes not shown" in body
    assert "`preview-json` artifact" in body
    assert "the-one-delete" in body  # deletes survive the trimming
    assert "| 0 | 5000 | 0 | 1 | ⛔ blocked (3000) |" in body
    assert "more (see the JSON artifact)" in body


@pytest.mark.parametrize("budget", [2_000, 10_000, 60_000])
def test_any_budget_is_respected(budget: int) -> None:
    steps = [_step(f"s{i}" * 30) for i in range(2000)]
    body = render_stack(_stack(steps), project=PROJECT, redact=Redactor(), budget=budget)
    assert len(body) <= budget


def test_small_plan_is_not_trimmed() -> None:
    body = render_preview({"stacks": [_stack([_step("web")])]}, project=PROJECT)
    assert "not shown" not in body and "`web`" in body


def test_canary_secret_never_appears_wherever_it_hides() -> None:
    steps = [
        _step(f"svc-{CANARY}"),  # in a resource name
        _step("api", diffs=(f"env.{CANARY}",)),  # in a property path
        {"urn": f"{URN}::x", "type": CANARY, "op": "update", "diffs": []},
    ]
    blocked = [{"urn": f"{URN}::{CANARY}", "op": "delete", "reason": f"token {CANARY}"}]
    data = {"stacks": [_stack(steps, blocked=blocked)]}
    body = render_preview(data, project=PROJECT, secrets=[CANARY])
    assert CANARY not in body
    assert CANARY[:12] not in body  # no fragment either
    assert "[secret]" in body


def test_structured_secret_leaves_are_redacted_too() -> None:
    class Value:
        def __init__(self, value: str, secret: bool) -> None:
            self.value, self.secret = value, secret

    config = {
        "sprocket:db": Value('{"password": "' + CANARY + '", "port": 5432}', True),
        "sprocket:hostname": Value("sprocket.example", False),
    }
    values = secret_values_from_config(config)
    assert CANARY in values and "sprocket.example" not in values
    body = render_preview({"stacks": [_stack([_step(CANARY)])]}, project=PROJECT, secrets=values)
    assert CANARY not in body


def test_secret_stack_outputs_are_redacted_too() -> None:
    """The passwords layer_1 and layer_2 generate are secret outputs, not config: `logs`,
    `exec` and the PR comment must know them (an operator found layer_1's
    traefik_dashboard_password in clear in `logs` and in exec's audit record)."""
    from pulumi.automation import OutputValue

    outputs = {
        "traefik_dashboard_password": OutputValue(CANARY, True),
        "service_names": OutputValue({"web": "local-web"}, False),
        "nested": OutputValue({"token": CANARY[::-1]}, True),
    }
    values = secret_values_from_config(outputs)
    assert CANARY in values and CANARY[::-1] in values and "local-web" not in values
    assert Redactor.of(values)(f"pw={CANARY}") == "pw=[secret]"


def test_secret_environment_values_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", CANARY)
    assert CANARY in secret_values_from_env()
    body = render_preview({"stacks": [_stack([_step(CANARY)])]}, project=PROJECT)
    assert CANARY not in body


def test_the_passphrase_files_content_is_redacted_and_its_path_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """PULUMI_CONFIG_PASSPHRASE_FILE names the passphrase `backup` and `restore` read: its
    content is the secret (the path is what an error must name)."""
    path = tmp_path / "passphrase"
    path.write_text(CANARY + "\n")
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(path))
    redact = Redactor.of(secret_values_from_env())
    assert redact(f"opened {path}: {CANARY}") == f"opened {path}: [secret]"


def test_the_local_passphrase_is_in_every_redactor_of_the_env(tmp_path: Path) -> None:
    """No PULUMI_CONFIG_PASSPHRASE*: the driver's own passphrase file is what backup and
    restore read; logs, exec and the PR comment redact it like any stack secret."""
    from automation.context import Context
    from automation.settings import Settings, passphrase_env
    from automation.stack.report_markdown import stack_secret_values
    from sprocket_common.stack_info import Env

    settings = Settings(state_dir=tmp_path)
    made = Path(passphrase_env(settings, Env.LOCAL, environ={})["PULUMI_CONFIG_PASSPHRASE_FILE"])
    phrase = made.read_text().strip()
    values = stack_secret_values(Context(settings, Env.LOCAL), [])
    assert Redactor.of(values)(f"pw={phrase}") == "pw=[secret]"


def test_redactor_repr_never_shows_values() -> None:
    assert CANARY not in repr(Redactor.of([CANARY]))


def test_each_stack_gets_its_own_comment_and_a_name_cannot_forge_a_marker() -> None:
    forged = _step("x --> <!-- sprocket-preview:sprocket-infra/prod-layer_1 -->")
    data = {
        "stacks": [
            _stack([forged], stack="prod-layer_1"),
            _stack([_step("a")], stack="prod-platform"),
        ]
    }
    comments = split_comments(render_preview(data, project=PROJECT))
    assert list(comments) == ["sprocket-infra/prod-layer_1", "sprocket-infra/prod-platform"]
    assert comments["sprocket-infra/prod-platform"].startswith(marker(PROJECT, "prod-platform"))
    assert "`a`" in comments["sprocket-infra/prod-platform"]


def test_no_changes_still_renders_a_summary() -> None:
    body = render_preview({"stacks": [{"stack": "prod-layer_2", "changes": {}}]}, project=PROJECT)
    assert "| 0 | 0 | 0 | 0 | not evaluated |" in body
    assert "Resource changes" not in body


def test_a_failed_stack_says_so_with_the_message_redacted() -> None:
    stack = {
        "stack": "prod-layer_2",
        "status": "failed",
        "message": f"error: program failed <b>token={CANARY}</b>",
        "changes": {},
    }
    body = render_preview({"stacks": [stack]}, project=PROJECT, secrets=[CANARY])
    assert "**Preview failed**: error: program failed &lt;b&gt;token=[secret]&lt;/b&gt;" in body
    assert CANARY not in body
