"""Stand-in layer programs for driver tests on the real engine (the layers need provider plugins).

`Toy` is a `pulumi.dynamic` resource: changing `key` replaces it, changing `value` updates it in
place, `sleep_s` makes its create slow (to interrupt an update midway), and a refresh reads it
as deleted outside Pulumi once the file `gone_if` names exists. The dynamic provider runs
in the engine's provider process, which imports this module by name: the `toy_programs` seam
puts this directory on PYTHONPATH.

`python -m driver_toys SPEC_JSON ARGS...` runs the driver's real CLI in a separate process with
the programs of SPEC_JSON substituted, for tests that need a second driver process to lock,
kill or interrupt.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.dynamic import (
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)


class ToyProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        time.sleep(float(props.get("sleep_s") or 0))
        return CreateResult(id_=f"toy-{props['key']}", outs=dict(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [key for key in ("key", "value") if olds.get(key) != news.get(key)]
        return DiffResult(
            changes=bool(changed),
            replaces=["key"] if "key" in changed else [],
            delete_before_replace=False,
        )

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=dict(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Gone (a blank id) once the file named by `gone_if` exists: deleted outside Pulumi."""
        if props.get("gone_if") and Path(props["gone_if"]).exists():
            return ReadResult(id_="", outs={})
        return ReadResult(id_, props)


class Toy(Resource):
    def __init__(
        self,
        name: str,
        *,
        key: str,
        value: Any = "",
        sleep_s: float = 0,
        gone_if: str = "",
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {"key": key, "value": value, "sleep_s": sleep_s, "gone_if": gone_if}
        super().__init__(ToyProvider(), name, props, opts)


def program_from_spec(spec: dict[str, Any]) -> Callable[[], None]:
    """A program from data: {"toys": [{name, key, value, sleep_s, gone_if, protect, depends_on}]}.

    Also: "exports" (plain values), "null_secret" (an `Output.secret(None)` output),
    "secret_config" (a secret config key, exported and held by a toy), "fail", "fail_with_config".

    The spec is read when the program runs, so a test can change it between two runs.
    """

    def program() -> None:
        made: dict[str, Toy] = {}
        for toy in spec.get("toys", []):
            after = [made[name] for name in toy.get("depends_on", [])]
            made[toy["name"]] = Toy(
                toy["name"],
                key=toy.get("key", toy["name"]),
                value=toy.get("value", ""),
                sleep_s=toy.get("sleep_s", 0),
                gone_if=toy.get("gone_if", ""),
                opts=pulumi.ResourceOptions(protect=bool(toy.get("protect")), depends_on=after),
            )
        for key, value in spec.get("exports", {}).items():
            pulumi.export(key, value)
        if spec.get("null_secret"):  # a legitimately empty secret: decrypts to null
            pulumi.export("empty", pulumi.Output.secret(None))
        if spec.get("secret_config"):
            secret = pulumi.Config().require_secret(spec["secret_config"])
            pulumi.export("token", secret)
            Toy("holder", key="holder", value=secret)
        if spec.get("fail"):
            raise RuntimeError(spec["fail"])
        if spec.get("fail_with_config"):  # a careless program error quoting a secret
            raise RuntimeError(f"cannot use {pulumi.Config().require(spec['fail_with_config'])}")

    return program


def substitute_programs(monkeypatch: Any, programs: dict[str, Callable[[], None]]) -> None:
    """The one seam: the driver loads these instead of the layers' program()."""
    import automation.pulumi.workspace

    def load_program(layer: Any) -> Callable[[], None]:
        return programs[str(layer.value)]

    monkeypatch.setattr(automation.pulumi.workspace, "load_program", load_program)


HERE = Path(__file__).resolve().parent
SCHEMA = HERE.parent.parent / "automation" / "schema" / "result.schema.json"


def check_schema(document: Any) -> Any:
    """Validate a --json document against the committed schema; returns it for chaining."""
    import jsonschema

    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    return document


@pytest.fixture(name="specs")
def specs_fixture(pulumi_env: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """Per-layer program specs (edit them in place between runs); the driver runs them as layers."""
    for stale in pulumi_env.project_dir.glob("Pulumi.local-*.yaml"):
        stale.unlink()  # the checkout's stack files carry another passphrase's salt
    monkeypatch.setenv("PYTHONPATH", f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    layer_specs: dict[str, dict[str, Any]] = {"layer_1": {}, "layer_2": {}, "platform": {}}
    substitute_programs(
        monkeypatch, {layer: program_from_spec(spec) for layer, spec in layer_specs.items()}
    )
    return layer_specs


def _main() -> None:
    import faulthandler
    import signal

    import automation.pulumi.workspace

    faulthandler.register(signal.SIGUSR1)  # a test that times out can ask where it hangs
    from automation.cli import main

    specs: dict[str, dict[str, Any]] = json.loads(sys.argv[1])
    programs = {layer: program_from_spec(spec) for layer, spec in specs.items()}
    automation.pulumi.workspace.load_program = lambda layer: programs[str(layer.value)]  # type: ignore[assignment]
    main(sys.argv[2:])


if __name__ == "__main__":
    _main()
