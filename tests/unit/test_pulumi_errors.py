"""One classifier of the engine's words (automation/pulumi/errors.py): the same words give the
same exit code on the Automation API path, the plain-CLI path and inside a rollout."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from pulumi.automation import errors as auto_errors
from pulumi.automation._cmd import CommandResult

from automation.exit_codes import ExitCode
from automation.pulumi.errors import cli_error, engine_error
from automation.rollout.run import Rollout
from sprocket_common.stack_info import StackInfo

INFO = StackInfo.parse("local-platform")
PASSPHRASE = "error: constructing secrets manager: passphrase must be set; incorrect passphrase"


def _command_error(stderr: str, cls: type = auto_errors.CommandError) -> Exception:
    return cls(CommandResult("", stderr, 255))  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("words", "code"),
    [
        (PASSPHRASE, ExitCode.CREDENTIALS),
        ("error: no stack named 'local-platform' found", ExitCode.ERROR),
        ("error: the stack is currently locked by 1 lock(s)", ExitCode.LOCKED),
        ("error: Target 'urn:x' could not be found in the stack", ExitCode.BAD_INPUT),
        ("error: the current deployment has 1 resource(s) with pending operations",
         ExitCode.PENDING_OPERATIONS),
        ("error: resource urn:x violates plan: properties changed", ExitCode.GATE_BLOCKED),
    ],
)  # fmt: skip
def test_the_same_words_give_the_same_code_on_every_path(words: str, code: ExitCode) -> None:
    through_api = engine_error(_command_error(words), INFO)
    through_cli = cli_error(words, "stack export", INFO)
    assert through_api.code == through_cli.code == code
    assert type(through_api) is type(through_cli)


def test_a_rollout_engine_failure_keeps_its_code_and_is_redacted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPROCKET_TEST_API_TOKEN", "canary-token-6f1e")

    def locked() -> None:
        raise _command_error("error: held by canary-token-6f1e", auto_errors.ConcurrentUpdateError)

    with pytest.raises(Exception) as raised:
        Rollout._engine(SimpleNamespace(info=INFO), locked, "apply")  # type: ignore[arg-type]
    assert raised.value.code == ExitCode.LOCKED  # type: ignore[attr-defined]
    assert raised.value.message.startswith("apply failed: ")  # type: ignore[attr-defined]
    assert "canary-token-6f1e" not in str(raised.value.message)  # type: ignore[attr-defined]


def test_an_unknown_failure_keeps_the_engines_whole_reason() -> None:
    error = cli_error("error: 2 errors occurred:\n* one thing\n* another", "stack import", INFO)
    assert error.code == ExitCode.ERROR
    assert error.message == "`pulumi stack import` failed for local-platform: one thing; another"


@pytest.mark.parametrize(
    ("problem", "fix"),
    [
        ("unknown key; valid keys are base_domain, env", "pulumi config rm sprocket:nosuchkey"),
        ("names no catalog entry: nosuchapp (entries: core, web)",
         "pulumi config set sprocket:nosuchkey VALUE"),
    ],
)  # fmt: skip
def test_a_config_value_the_program_refuses_is_bad_input_naming_the_key(
    problem: str, fix: str
) -> None:
    """A layer's ConfigError comes back inside the engine's traceback (as a real preview of
    local-layer_1 with `sprocket:nosuchkey` printed it); the operator gets the key, not exit 1."""
    words = (
        "error: Program failed with an unhandled exception:\n"
        "Traceback (most recent call last):\n"
        '  File "/work/main/layer_1/program.py", line 40, in main\n'
        f"sprocket_common.env_config.ConfigError: sprocket:nosuchkey: {problem}\n"
    )
    error = engine_error(_command_error(words), INFO)
    assert error.code == ExitCode.BAD_INPUT
    assert error.message == f"local-platform: stack config sprocket:nosuchkey: {problem}"
    assert fix in error.hint


# --- the cause first ------------------------------------------------------------------------

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "engine_errors"
CASCADE = "expected resource operations for"


def _recorded_up_error(name: str) -> Exception:
    """A CommandError as the Automation API raises it for a failed `up`: the console output on
    stdout, stderr empty (tests/fixtures/engine_errors/README.md says where each came from)."""
    return auto_errors.CommandError(CommandResult((RECORDED / name).read_text(), "", 1))


def test_a_failed_up_names_the_first_failing_resources_own_error_not_the_cascade() -> None:
    """Recorded from a real `up` of local-layer_1 onto an engine that already had the network
    traefik-ingress: one resource failed, sixteen only followed from it."""
    error = engine_error(
        _recorded_up_error("network_exists_up.txt"), StackInfo.parse("local-layer_1")
    )
    assert error.code == ExitCode.ERROR
    assert error.message.startswith("ingress-network (docker:index:Network): ")
    assert "network with name traefik-ingress already exists" in error.message
    assert CASCADE not in error.message
    assert "16 other resources" in error.message  # the cascade is counted, not listed


def test_the_cause_comes_first_on_the_plain_cli_path_too() -> None:
    words = (RECORDED / "network_exists_up.txt").read_text()
    error = cli_error(words, "import --file import.json", StackInfo.parse("local-layer_1"))
    assert "network with name traefik-ingress already exists" in error.message
    assert CASCADE not in error.message


def test_a_failure_that_is_only_cascade_lines_still_says_them() -> None:
    """No resource gave its own error (nothing to put first): the engine's words as before."""
    words = (
        "Updating (local-layer_1):\n"
        "Diagnostics:\n"
        "  docker:index:Service (vault):\n"
        f"    error: {CASCADE} urn:pulumi:local-layer_1::p::docker:index/service:Service::vault"
        " but none were seen\n"
    )
    error = engine_error(auto_errors.CommandError(CommandResult(words, "", 1)), INFO)
    assert CASCADE in error.message
