"""Bad input gets a one-line error naming the input and the valid choices, and exit code 64."""

from __future__ import annotations

from typing import Any

import pytest

from automation.exit_codes import ExitCode
from sprocket_common.stack_info import StackInfo


def test_unknown_layer_names_the_valid_layers(run_cli: Any) -> None:
    result = run_cli("preview", "layer_9")
    assert result.exit_code == ExitCode.BAD_INPUT
    assert result.stderr.strip().count("\n") == 0
    assert "'layer_9'" in result.stderr and "layer_1, layer_2, platform" in result.stderr


def test_unknown_env_names_the_valid_envs(run_cli: Any) -> None:
    result = run_cli("--env", "qa", "preview", "all")
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "'qa'" in result.stderr and "local, staging, prod" in result.stderr


def test_missing_passphrase_for_prod_names_the_variable(
    run_cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path}")  # prod needs one named
    result = run_cli("--env", "prod", "preview", "layer_1")
    assert result.exit_code == ExitCode.CREDENTIALS
    assert "PULUMI_CONFIG_PASSPHRASE" in result.stderr


def test_unknown_command_is_bad_input_not_changes_present(run_cli: Any) -> None:
    result = run_cli("deploi", "all")
    assert result.exit_code == ExitCode.BAD_INPUT


def test_malformed_settings_file_names_the_file(
    run_cli: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tmp_path / "sprocket.toml"
    settings.write_text('backend_url = "file:///tmp/x"\nbakup = {}\n')
    monkeypatch.setenv("SPROCKET_SETTINGS", str(settings))
    result = run_cli("preview", "layer_1")
    assert result.exit_code == ExitCode.BAD_INPUT
    assert str(settings) in result.stderr and "bakup" in result.stderr


def test_global_options_work_after_the_verb_too(run_cli: Any) -> None:
    before = run_cli("--env", "qa", "preview", "all")
    after = run_cli("preview", "all", "--env", "qa")
    assert after.exit_code == before.exit_code == ExitCode.BAD_INPUT
    assert after.stderr == before.stderr


def test_json_after_the_verb_gives_the_envelope(run_cli: Any) -> None:
    result = run_cli("preview", "layer_9", "--json")
    assert result.exit_code == ExitCode.BAD_INPUT
    assert result.json()["exit_code"] == ExitCode.BAD_INPUT


def test_missing_provider_plugin_says_how_to_install_it() -> None:
    from pulumi.automation import errors as auto_errors
    from pulumi.automation._cmd import CommandResult

    from automation.errors import MissingPlugin
    from automation.pulumi.errors import engine_error

    engine_text = (
        "error: no resource plugin 'pulumi-resource-docker' found in the workspace at version "
        "v5.2.0 or on your $PATH"
    )
    error = engine_error(
        auto_errors.CommandError(CommandResult("", engine_text, 255)),
        StackInfo.parse("local-platform"),
        StackInfo.parse("local-platform"),
    )
    assert isinstance(error, MissingPlugin)
    assert error.message == "the docker provider plugin v5.2.0 is not installed"
    assert "scripts/install-plugins.sh" in error.hint


def test_a_required_config_key_the_engine_misses_is_bad_input_naming_it() -> None:
    """The safety net behind automation/stack/config_check.py, for keys only the program knows."""
    from pulumi.automation import errors as auto_errors
    from pulumi.automation._cmd import CommandResult

    from automation.errors import BadInput
    from automation.pulumi.errors import engine_error

    engine_text = (
        "error: an unhandled error occurred: Missing required configuration variable "
        "'sprocket:discord_client_secret'\n    please set a value using the command "
        "`pulumi config set --secret sprocket:discord_client_secret <value>`"
    )
    error = engine_error(
        auto_errors.CommandError(CommandResult("", engine_text, 255)),
        StackInfo.parse("prod-layer_1"),
    )
    assert isinstance(error, BadInput)
    assert error.message == "missing required configuration: sprocket:discord_client_secret"
    assert (
        "`pulumi config set --secret sprocket:discord_client_secret --stack prod-layer_1`"
        in error.hint
    )


@pytest.mark.parametrize(
    "args",
    [
        ("deploy", "--json"),  # a missing argument
        ("deploi", "all", "--json"),  # an unknown command
        ("--json", "preview", "all", "--no-such-option"),
        ("deploy", "all", "--max-changes", "-1", "--json"),  # a value out of range
    ],
)
def test_a_usage_error_with_json_still_prints_one_json_document(
    run_cli: Any, args: tuple[str, ...]
) -> None:
    result = run_cli(*args)
    assert result.exit_code == ExitCode.BAD_INPUT
    document = result.json()
    assert document["exit_code"] == ExitCode.BAD_INPUT and document["status"] == "error"
    assert document["errors"][0]["message"] in result.stderr


def test_a_passphrase_file_that_cannot_be_read_is_a_credentials_error_naming_it(
    run_cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    missing = tmp_path / "no-such-passphrase"
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(missing))
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path}")  # prod needs one named
    result = run_cli("--env", "prod", "preview", "layer_1")
    assert result.exit_code == ExitCode.CREDENTIALS
    assert f"PULUMI_CONFIG_PASSPHRASE_FILE points at {missing}" in result.stderr  # not [secret]


def test_a_wrong_local_passphrase_says_the_environment_overrides_the_local_file() -> None:
    from automation.pulumi.errors import classify

    words = "error: constructing secrets manager: incorrect passphrase"
    local = classify(words, StackInfo.parse("local-layer_1"))
    prod = classify(words, StackInfo.parse("prod-layer_1"))
    assert local.code == prod.code == ExitCode.CREDENTIALS
    assert "local-passphrase" in local.hint and "overrides" in local.hint
    assert "local-passphrase" not in prod.hint


def test_a_usage_error_of_a_subcommand_names_the_whole_command_in_json(run_cli: Any) -> None:
    result = run_cli("rotate", "oauth", "--json")  # --provider is required
    assert result.exit_code == ExitCode.BAD_INPUT
    assert result.json()["command"] == "rotate oauth"
