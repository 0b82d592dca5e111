"""`preview --format markdown` on the real engine: the PR comment text, with a canary secret.

The layers' programs are swapped for stand-ins (driver_toys), as in the other driver tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from driver_toys import specs_fixture  # noqa: F401 - provides the `specs` fixture
from pulumi import automation as auto

from automation.exit_codes import ExitCode
from automation.stack.report_markdown import marker, split_comments

pytestmark = pytest.mark.integration

CANARY = "canary-9c4e-never-in-a-pr-comment"


def test_markdown_comment_per_stack_with_the_secret_redacted(
    specs: Any, run_cli: Callable[..., Any], pulumi_env: Any
) -> None:
    stack = auto.create_stack(
        "local-layer_1", "sprocket-infra", lambda: None, opts=pulumi_env.workspace_options()
    )
    stack.set_config("canary", auto.ConfigValue(CANARY, secret=True))
    # A resource named after the secret: the preview data itself would carry it, so only the
    # redaction of the stack's secret config values keeps it out of the comment.
    specs["layer_1"].update(
        secret_config="canary", toys=[{"name": "web"}, {"name": f"leak-{CANARY}"}]
    )

    result = run_cli("preview", "layer_1", "--format", "markdown")

    assert result.exit_code == ExitCode.CHANGES_PRESENT, result.stderr
    assert CANARY not in result.stdout + result.stderr
    assert result.stdout.startswith(marker("sprocket-infra", "local-layer_1") + "\n")
    # web, the leaky one, the secret's holder, the stack and its provider; creates are allowed
    assert "| 5 | 0 | 0 | 0 | ✅ allowed |" in result.stdout
    assert "`leak-[secret]`" in result.stdout


def test_preview_all_gives_one_comment_per_stack_even_when_one_fails(
    specs: Any, run_cli: Callable[..., Any]
) -> None:
    specs["layer_1"]["toys"] = [{"name": "web"}]
    result = run_cli("preview", "all", "--format", "markdown")
    # layer_2 and platform cannot preview before layer_1 is deployed (no upstream outputs)
    assert result.exit_code == ExitCode.ERROR
    comments = split_comments(result.stdout)
    assert list(comments) == [
        "sprocket-infra/local-layer_1",
        "sprocket-infra/local-layer_2",
        "sprocket-infra/local-platform",
    ]
    assert "| 3 | 0 | 0 | 0 | ✅ allowed |" in comments["sprocket-infra/local-layer_1"]
    assert (
        "**Preview failed**: layer_2 needs upstream outputs"
        in (comments["sprocket-infra/local-layer_2"])
    )


def test_markdown_shows_a_delete_after_a_deploy(specs: Any, run_cli: Callable[..., Any]) -> None:
    specs["layer_1"]["toys"] = [{"name": "web"}, {"name": "api"}]
    assert run_cli("--yes", "deploy", "layer_1").exit_code == ExitCode.OK
    specs["layer_1"]["toys"] = [{"name": "web", "value": "v2"}]

    result = run_cli("preview", "layer_1", "--format", "markdown")

    assert result.exit_code == ExitCode.CHANGES_PRESENT, result.stderr
    assert "| 0 | 1 | 0 | 1 | ✅ allowed |" in result.stdout
    rows = [line for line in result.stdout.splitlines() if line.startswith("| `")]
    assert rows[0].startswith("| `delete` | `pulumi-python:dynamic:Resource` | `api` |")
    # (a dynamic provider's diff names no properties, so the last cell stays empty here)
    assert rows[1].startswith("| `update` | `pulumi-python:dynamic:Resource` | `web` |")


def test_json_wins_over_markdown(specs: Any, run_cli: Callable[..., Any]) -> None:
    result = run_cli("--json", "preview", "layer_1", "--format", "markdown")
    assert result.json()["command"] == "preview"
