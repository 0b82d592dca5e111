"""Missing stack config is bad input (64), named key by key before the engine runs, with the
command that sets each; the printed commands, run as printed, make the stack pass the check."""

from __future__ import annotations

import re
import subprocess
import time
from typing import Any

import pytest
import yaml

from automation.exit_codes import ExitCode

pytestmark = pytest.mark.integration

PROD_LAYER_1 = {  # what the operator filled in from the template, minus the Discord app's id
    "sprocket:base_domain": "sprocket.example.gg",
    "sprocket:ssh_keys": ["12345678"],
    "sprocket:admin_cidrs": ["198.51.100.7/32"],
    "sprocket:discord_guild_id": "REPLACE_WITH_DISCORD_GUILD_ID",  # the template's placeholder
}
COMMAND = re.compile(r"`([^`]*pulumi [^`]+)`")


def test_preview_names_every_missing_key_and_how_to_set_it(pulumi_env: Any, run_cli: Any) -> None:
    stack_file = pulumi_env.project_dir / "Pulumi.prod-layer_1.yaml"
    stack_file.write_text(yaml.safe_dump({"config": PROD_LAYER_1}))

    started = time.monotonic()
    refused = run_cli("--env", "prod", "preview", "layer_1")
    assert refused.exit_code == ExitCode.BAD_INPUT, refused.stderr
    assert time.monotonic() - started < 10  # refused up front, not after an engine run
    text = refused.stderr
    assert "an unhandled error" not in text and "SPROCKET_ENGINE_OUTPUT" not in text
    assert "sprocket:discord_client_secret (a secret:" in text
    assert "sprocket:discord_client_id (a value:" in text
    assert "sprocket:discord_guild_id (a value:" in text  # a placeholder is not a value
    assert "sprocket:ssh_keys" not in text and "sprocket:base_domain" not in text
    commands = COMMAND.findall(text)
    assert any(
        c.endswith("config set --secret sprocket:discord_client_secret --stack prod-layer_1")
        for c in commands
    ), commands

    every = run_cli("--env", "prod", "--json", "preview", "all")  # each layer reports its own
    assert every.exit_code == ExitCode.BAD_INPUT
    failed = {s["stack"]: s["message"] for s in every.json()["data"]["stacks"]}
    assert "sprocket:discord_client_secret" in failed["prod-layer_1"]
    assert "sprocket:base_domain" in failed["prod-layer_2"]

    for command in commands:  # as printed; a value the operator types goes to stdin / VALUE
        subprocess.run(  # noqa: S602 - the printed command line itself is what is tested
            command.replace("VALUE", "424242"),
            shell=True,
            input="a-client-secret\n",
            text=True,
            check=True,
            capture_output=True,
        )
    assert "secure" in stack_file.read_text()  # the secret went in encrypted
    again = run_cli("--env", "prod", "--json", "preview", "layer_1")
    assert again.exit_code != ExitCode.BAD_INPUT, again.stdout  # on to the engine
    assert "missing required configuration" not in again.stdout + again.stderr
