"""The local stacks' per-machine stack files (automation/pulumi/stack_files.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from automation.errors import BadInput, DriverError
from automation.pulumi.stack_files import stack_dir, stack_file
from automation.settings import Settings
from sprocket_common.stack_info import StackInfo

LOCAL = StackInfo.parse("local-platform")
PROD = StackInfo.parse("prod-platform")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    project = tmp_path / "checkout"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: sprocket-infra\nruntime: python\n")
    return Settings(project_dir=project, state_dir=tmp_path / "state")


def _tracked(settings: Settings, config: dict[str, object], **top: object) -> Path:
    path = settings.project_dir / "Pulumi.local-platform.yaml"
    path.write_text(yaml.safe_dump({**top, "config": config}))
    return path


def _copy(settings: Settings) -> dict[str, object]:
    return dict(yaml.safe_load(stack_file(settings, LOCAL).read_text()))


def test_prod_runs_in_the_checkout_and_local_in_this_machines_copy(settings: Settings) -> None:
    assert stack_dir(settings, PROD) == settings.project_dir
    _tracked(settings, {"sprocket:image_tag": "main"})
    local = stack_dir(settings, LOCAL)
    assert local == settings.state_dir / "project"
    assert (local / "Pulumi.yaml").read_text() == (settings.project_dir / "Pulumi.yaml").read_text()
    assert _copy(settings)["config"] == {"sprocket:image_tag": "main"}


def test_the_engines_salt_and_machine_values_stay_out_of_the_tracked_file(
    settings: Settings,
) -> None:
    tracked = _tracked(settings, {"sprocket:image_tag": "main"})
    before = tracked.read_bytes()
    path = stack_file(settings, LOCAL)
    # What the engine and a rollout write into the copy.
    path.write_text(
        yaml.safe_dump(
            {
                "encryptionsalt": "v1:machine",
                "config": {"sprocket:image_tag": "main", "sprocket:image_tags": {"web": "v2"}},
            }
        )
    )
    assert _copy(settings)["encryptionsalt"] == "v1:machine"
    assert _copy(settings)["config"] == {
        "sprocket:image_tag": "main",
        "sprocket:image_tags": {"web": "v2"},
    }
    assert tracked.read_bytes() == before


def test_a_change_to_the_tracked_file_wins_over_the_copy_and_a_removal_removes(
    settings: Settings,
) -> None:
    _tracked(settings, {"sprocket:image_tag": "main", "sprocket:alpha": "false"})
    stack_file(settings, LOCAL).write_text(
        yaml.safe_dump({"config": {"sprocket:image_tag": "v9", "sprocket:alpha": "false"}})
    )
    _tracked(settings, {"sprocket:image_tag": "v10"})
    assert _copy(settings)["config"] == {"sprocket:image_tag": "v10"}


def test_a_salt_committed_with_secrets_is_taken_unless_machine_secrets_use_another(
    settings: Settings,
) -> None:
    secret = {"secure": "v1:abc"}
    _tracked(settings, {"sprocket:discord_client_secret": secret}, encryptionsalt="v1:team")
    assert _copy(settings)["encryptionsalt"] == "v1:team"

    stack_file(settings, LOCAL).write_text(
        yaml.safe_dump({"encryptionsalt": "v1:mine", "config": {"secrets:x": {"secure": "v1:z"}}})
    )
    with pytest.raises(DriverError, match="different salts") as error:
        stack_dir(settings, LOCAL)
    assert "secrets:x" in error.value.message


def test_a_damaged_stack_file_is_bad_input_naming_where_yaml_stopped(settings: Settings) -> None:
    _tracked(settings, {})
    damaged = "config:\n  sprocket:a: 1\n  sprocket:b: [unclosed\n"
    path = stack_file(settings, LOCAL)
    path.write_text(damaged)
    with pytest.raises(BadInput, match=r"Pulumi\.local-platform\.yaml is not valid YAML: line 4"):
        stack_dir(settings, LOCAL)
    assert path.read_text() == damaged  # kept for the operator to fix


@pytest.mark.parametrize("damage", ["remove", "empty"])
def test_a_removed_or_emptied_copy_is_seeded_again_with_all_of_the_tracked_config(
    settings: Settings, damage: str
) -> None:
    config = {"sprocket:image_tag": "main", "layer_2:check_certificates": "false"}
    _tracked(settings, config)
    path = stack_file(settings, LOCAL)
    if damage == "remove":
        path.unlink()
    else:
        path.write_text("encryptionsalt: v1:machine\n")
    assert _copy(settings)["config"] == config


@pytest.mark.parametrize(
    "content", [b"\xff\xfe\x00binary", b"config:\n  - not\n  - a mapping\n", b"- a list\n"]
)
def test_a_copy_that_is_not_a_settings_file_is_named(settings: Settings, content: bytes) -> None:
    _tracked(settings, {})
    path = stack_file(settings, LOCAL)
    path.write_bytes(content)
    with pytest.raises(BadInput, match=r"Pulumi\.local-platform\.yaml is not") as error:
        stack_dir(settings, LOCAL)
    # Fixed by hand, never "remove it": a local copy holds the secrets set on this machine.
    assert "fix Pulumi.local-platform.yaml" in error.value.hint
    assert "remove" not in error.value.hint
    assert path.read_bytes() == content


@pytest.mark.parametrize("count", [0, "0"])
def test_a_zero_worker_count_does_not_require_the_join_token(
    settings: Settings, count: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tracked prod/staging files say `worker_count: 0`: no workers, so no join token yet
    (it exists only after the manager's first deploy); a count above 0 requires it."""
    from automation.context import Context
    from automation.errors import ConfigMissing
    from automation.stack import config_check
    from sprocket_common.required_config import BY_LAYER
    from sprocket_common.stack_info import Env

    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "unit")
    monkeypatch.setattr(config_check, "_stack_exists", lambda _ctx, _info: True)
    info = StackInfo.parse("prod-layer_1")
    config: dict[str, object] = {r.key: ["x"] if r.is_list else "x" for r in BY_LAYER["layer_1"]}
    del config["sprocket:swarm_join_token"], config["sprocket:docker_access_token"]
    path = settings.project_dir / "Pulumi.prod-layer_1.yaml"
    path.write_text(yaml.safe_dump({"config": {**config, "sprocket:worker_count": count}}))
    ctx = Context(settings, Env.PROD)
    config_check.require_config(ctx, info)  # nothing missing

    path.write_text(yaml.safe_dump({"config": {**config, "sprocket:worker_count": 2}}))
    with pytest.raises(ConfigMissing, match="sprocket:swarm_join_token"):
        config_check.require_config(ctx, info)
