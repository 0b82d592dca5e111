"""The take-over plan (automation/migrate/) on the inventory of the original stacks
(../shared/fixtures/original-system-inventory.json): matching, actions, steps, bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from automation.errors import BadInput
from automation.migrate import inventory, plan
from automation.migrate.journal import Journal

INVENTORY = (
    Path(__file__).resolve().parents[2].parent / "shared/fixtures/original-system-inventory.json"
)


def _inventory_path() -> Path:
    if not INVENTORY.is_file():
        pytest.fail(f"the inventory fixture {INVENTORY} is missing (it lives in ../shared)")
    return INVENTORY


def _plan(layer: str = "layer_2", mapping: plan.LayerMapping | None = None) -> plan.Plan:
    objects = inventory.from_inventory(_inventory_path(), layer)
    return plan.make_plan(layer, f"prod-{layer}", objects, mapping or plan.load_mapping(layer))


def _actions(planned: plan.Plan) -> dict[str, tuple[str, str]]:
    return {i.obj.live_name: (i.action, i.target) for i in planned.items}


def test_layer_2_plan_moves_each_data_volume_and_cuts_over_each_service() -> None:
    actions = _actions(_plan())
    assert {n: a for n, a in actions.items() if a[0] == plan.MOVE} == {
        "layer2redis-volume-7cd681d": (plan.MOVE, "layer2-redis-data"),
        "influx-volume-5275127": (plan.MOVE, "layer2-influx-data"),
        "loki-volume-e4a5166": (plan.MOVE, "layer2-loki-data"),
        "gatus-internal-data-0e04323": (plan.MOVE, "layer2-gatus-data"),
    }
    assert {n: a for n, a in actions.items() if a[0] == plan.CUT_OVER} == {
        "layer2redis-redis-primary-7af3fee": (plan.CUT_OVER, "layer2redis-redis-primary"),
        "influx": (plan.CUT_OVER, "influx"),
        "loki": (plan.CUT_OVER, "loki"),
        "fluent-service-219cc48": (plan.CUT_OVER, "fluentd"),
        "fluent-service-f8e9998": (plan.CUT_OVER, "fluentd"),  # the inventory holds two
        "replicated-telegraf-service-4c7c8de": (plan.CUT_OVER, "telegraf"),
        "gatus-internal-62424db": (plan.CUT_OVER, "gatus"),
        "grafana-service-36765a5": (plan.CUT_OVER, "grafana"),
    }
    left = {n for n, a in actions.items() if a[0] == plan.LEAVE}
    assert "chatwoot-network-343a5a4" in left and "fluent-config-2f0a17f" in left
    assert actions["monitoring-network-c8afa14"] == (plan.LEAVE, "sprocket-monitoring")
    assert len(actions) == 21  # every object of the inventory has exactly one line


def test_steps_stop_stateful_services_before_their_copy_and_stateless_ones_after_deploy() -> None:
    ids = [s.id for s in plan.steps(_plan())]
    assert ids[0] == "volumes:layer_2"
    assert ids.index("stop:layer2redis-redis-primary-7af3fee") < ids.index(
        "copy:layer2redis-volume-7cd681d"
    )
    # the program takes the names `influx` and `loki`: the old ones go before the deploy
    assert ids.index("remove:influx") < ids.index("deploy:layer_2")
    assert ids.index("stop:influx") < ids.index("remove:influx")
    deploy = ids.index("deploy:layer_2")
    for stateless in ("grafana-service-36765a5", "replicated-telegraf-service-4c7c8de"):
        assert ids.index(f"stop:{stateless}") > deploy
    assert ids[-1] == "settle:layer_2"  # one wait for the stateless ones, stopped together
    assert len(ids) == len(set(ids))


def test_the_mapping_names_only_what_the_layer_2_program_declares(
    run_layer: Callable[..., Any],
) -> None:
    from test_layer_2 import LAYER1

    rec = run_layer("layer_2", env="local", upstream={"layer_1": LAYER1})
    services = {r.inputs["name"] for r in rec.by_type("docker:index/service:Service")}
    volumes = {(r.name, r.inputs["name"]) for r in rec.by_type(plan.VOLUME_TYPE)}
    networks = {r.inputs["name"] for r in rec.by_type("docker:index/network:Network")}
    for rule in plan.load_mapping("layer_2").rules:
        if rule.kind == "service":
            assert rule.target in services, rule
        elif rule.kind == "volume":
            assert (rule.role, rule.target) in volumes, rule
        elif rule.kind == "network":
            assert rule.target in networks, rule


def test_platform_inventory_is_left_alone() -> None:
    planned = _plan("platform")
    assert {i.action for i in planned.items} == {plan.LEAVE}
    assert plan.steps(planned) == []


def test_an_object_already_named_as_the_program_names_it_is_adopted() -> None:
    obj = inventory.OldObject("volume", "layer2-rabbitmq-data", "layer2-rabbitmq-data")
    planned = plan.make_plan("layer_2", "prod-layer_2", [obj], plan.load_mapping("layer_2"))
    assert _actions(planned) == {"layer2-rabbitmq-data": (plan.ADOPT, "layer2-rabbitmq-data")}
    adopt = plan.steps(planned)[0]
    assert adopt.as_dict() == {
        "id": "adopt:layer2-rabbitmq-data",
        "kind": "adopt",
        "subject": "layer2-rabbitmq-data",
        "args": {"kind": "volume", "role": "rabbitmq-data", "id": "layer2-rabbitmq-data"},
    }
    assert [s.id for s in plan.steps(planned)] == ["adopt:layer2-rabbitmq-data", "deploy:layer_2"]


def test_an_old_volume_and_one_named_as_the_program_names_it_cannot_both_become_it() -> None:
    objects = [
        inventory.OldObject("volume", "layer2redis-volume", "layer2redis-volume-7cd681d"),
        inventory.OldObject("volume", "layer2-redis-data", "layer2-redis-data"),
    ]
    with pytest.raises(BadInput, match="both matched to layer2-redis-data"):
        plan.make_plan("layer_2", "prod-layer_2", objects, plan.load_mapping("layer_2"))


def test_objects_the_program_already_manages_are_not_planned() -> None:
    objects = inventory.from_inventory(_inventory_path(), "layer_2")
    planned = plan.make_plan(
        "layer_2",
        "prod-layer_2",
        objects,
        plan.load_mapping("layer_2"),
        owned=frozenset({"influx"}),
    )
    assert "influx" not in _actions(planned)


# --- bad input --------------------------------------------------------------------------------


def test_an_object_matched_twice_is_one_clear_line(tmp_path: Path) -> None:
    override = tmp_path / "mapping.yaml"
    base = plan.load_mapping("layer_2").model_dump(mode="json")
    base["rules"].append(
        {
            "kind": "volume",
            "stems": ["influx-volume"],
            "target": "layer2-loki-data",
            "role": "loki-data",
        }
    )
    override.write_text(json.dumps({"layer_2": base}))
    with pytest.raises(BadInput) as caught:
        _plan(mapping=plan.load_mapping("layer_2", override))
    assert caught.value.message == (
        "volume influx-volume-5275127 is matched twice by the mapping: targets "
        "layer2-influx-data and layer2-loki-data"
    )


def test_two_volumes_bound_for_one_program_volume_are_refused() -> None:
    objects = [
        inventory.OldObject("volume", "influx-volume", "influx-volume-5275127"),
        inventory.OldObject("volume", "influx-volume", "influx-volume-0000000"),
    ]
    with pytest.raises(BadInput, match="both matched to layer2-influx-data"):
        plan.make_plan("layer_2", "prod-layer_2", objects, plan.load_mapping("layer_2"))


def _export(tmp_path: Path, stack: str, project: str) -> Path:
    urn = f"urn:pulumi:{stack}::{project}::docker:index/volume:Volume::influx-volume"
    path = tmp_path / "export.json"
    path.write_text(
        json.dumps(
            {
                "version": 3,
                "deployment": {
                    "resources": [
                        {
                            "urn": f"urn:pulumi:{stack}::{project}::pulumi:pulumi:Stack::x",
                            "type": "pulumi:pulumi:Stack",
                        },
                        {
                            "urn": urn,
                            "type": plan.VOLUME_TYPE,
                            "id": "influx-volume-5275127",
                            "outputs": {"name": "influx-volume-5275127"},
                        },
                    ]
                },
            }
        )
    )
    return path


def test_an_export_of_the_original_stack_gives_logical_names(tmp_path: Path) -> None:
    exported = inventory.from_export(_export(tmp_path, "layer_2", "layer_2"), "layer_2", "layer_2")
    assert exported == [inventory.OldObject("volume", "influx-volume", "influx-volume-5275127")]


@pytest.mark.parametrize(("stack", "project"), [("prod", "platform"), ("staging", "layer_2")])
def test_an_export_of_another_project_or_stack_is_one_clear_line(
    tmp_path: Path, stack: str, project: str
) -> None:
    path = _export(tmp_path, stack, project)
    with pytest.raises(BadInput) as caught:
        inventory.from_export(path, "layer_2", "layer_2")
    assert caught.value.message == (
        f"export {path} is of project {project!r} stack {stack!r}, not the original "
        "'layer_2' stack 'layer_2'"
    )


def test_a_malformed_mapping_names_the_field(tmp_path: Path) -> None:
    override = tmp_path / "m.yaml"
    override.write_text(
        "layer_2: {original: {project: layer_2, stack: layer_2},"
        " rules: [{kind: disk, stems: [x], target: y}]}"
    )
    with pytest.raises(BadInput, match=rf"^mapping for layer_2 in {override}: rules\.0\.kind"):
        plan.load_mapping("layer_2", override)


# --- journal ----------------------------------------------------------------------------------


def test_journal_skips_a_damaged_line_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal.read(path)
    journal.start([{"kind": "stop", "subject": "a"}, {"kind": "stop", "subject": "b"}])
    journal.done("stop:a", mode="replicated:1")
    with path.open("a") as out:
        out.write('{"event": "done", "step": "stop:b"')  # cut off mid-write
    again = Journal.read(path)
    assert list(again.completed) == ["stop:a"]
    assert again.damaged == [f"{path} line 3 is damaged: skipped"]
    again.undone("stop:a")
    assert Journal.read(path).completed == {}


def test_a_copy_rolled_back_is_the_migrations_own_to_redo(tmp_path: Path) -> None:
    """After a rollback the old service runs (and writes) on its own volume again; the program's
    volume holds this migration's stale copy. A later apply must empty and redo it, not refuse
    it as "other data" after it already stopped the old services (found on a real re-apply)."""
    path = tmp_path / "j.jsonl"
    journal = Journal.read(path)
    journal.start([{"kind": "copy", "subject": "redis-data-1", "args": {"target": "t"}}])
    journal.begin("copy:redis-data-1")
    assert Journal.read(path).ours("copy:redis-data-1")  # cut off: redo
    journal.done("copy:redis-data-1", files=3)
    assert not Journal.read(path).ours("copy:redis-data-1")  # done: nothing to redo
    journal.undone("copy:redis-data-1")
    assert Journal.read(path).ours("copy:redis-data-1")  # rolled back: redo
    assert not Journal.read(path).ours("copy:other-volume")


def test_live_names_lose_their_random_suffix_only() -> None:
    assert inventory.stem("influx-volume-5275127") == "influx-volume"
    assert inventory.stem("influx") == "influx"
    assert inventory.stem("layer2-redis-data") == "layer2-redis-data"


def test_downtime_counts_from_an_old_service_stop_to_the_end_of_the_deploy(tmp_path: Path) -> None:
    from automation.migrate.apply import downtime

    planned = [plan.Step("stop", "redis-old"), plan.Step("deploy", "layer_2")]
    planned.append(plan.Step("stop", "grafana-old"))
    journal = Journal(tmp_path / "j.jsonl")
    journal.completed = {
        "stop:redis-old": {"at": 100.0},
        "deploy:layer_2": {"at": 130.25},
        "stop:grafana-old": {"at": 140.0},
    }
    assert downtime(planned, journal) == {"redis-old": 30.2, "grafana-old": 0.0}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("layer_2:\n  original: {project: layer_2\n  rules: [\n", r"is not YAML \(line 3"),
        ("layer2:\n  rules: []\n", r"names unknown layer layer2"),
        ("- layer_2\n", r"is not a mapping of layers"),
        ("", r"is not a mapping of layers"),
    ],
)
def test_a_mapping_file_that_cannot_be_used_is_one_line_naming_it(
    tmp_path: Path, text: str, expected: str
) -> None:
    override = tmp_path / "m.yaml"
    override.write_text(text)
    with pytest.raises(BadInput, match=rf"^mapping {override} {expected}") as caught:
        plan.load_mapping("layer_2", override)
    assert "\n" not in caught.value.message


def test_a_binary_export_or_mapping_file_is_one_line_naming_it(tmp_path: Path) -> None:
    binary = tmp_path / "image.bin"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00\xd0\xff\xfe")
    with pytest.raises(BadInput, match=rf"^export {binary} is not JSON"):
        inventory.from_export(binary, "layer_2", "layer_2")
    with pytest.raises(BadInput, match=rf"^mapping {binary} is not YAML"):
        plan.load_mapping("layer_2", binary)


def test_rollback_also_undoes_a_step_an_apply_began_and_was_killed_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """apply SIGKILLed mid-stop leaves the old service scaled to 0 with no `done` line: rollback
    must start it again too (it left `loki` at 0/0 and said it was done)."""
    from automation.migrate import apply as runner

    path = tmp_path / "j.jsonl"
    journal = Journal.read(path)
    journal.start([{"kind": "stop", "subject": "redis"}, {"kind": "stop", "subject": "loki"}])
    journal.begin("stop:redis")
    journal.done("stop:redis", mode="replicated:1")
    journal.begin("stop:loki")  # killed here
    undone: list[str] = []
    monkeypatch.setattr(runner, "_undo", lambda ctx, info, step, record: undone.append(step))
    run = runner.rollback(None, None, Journal.read(path), lambda steps: None)  # type: ignore[arg-type]
    assert undone == ["stop:loki", "stop:redis"]
    assert run.done == ["stop:loki", "stop:redis"]
    after = Journal.read(path)
    assert after.completed == {}  # `started` kept: a copy begun is redone into an emptied volume
    undone.clear()
    again = runner.rollback(None, None, after, lambda steps: None)  # type: ignore[arg-type]
    assert (undone, again.done) == ([], [])  # a second rollback has nothing left to undo


class _FinishApi:
    """A stand-in Docker API (recorded calls): an old volume a running `squatter` mounts."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def containers(self, all: bool = False, filters: Any = None) -> list[dict[str, Any]]:
        return [{"Id": "c1", "Names": ["/squatter"], "State": "running", "Labels": {}}]

    def inspect_service(self, name: str) -> dict[str, Any]:
        return {"Spec": {"Labels": {"sprocket.migrate.mode": "replicated:1"}}}

    def remove_service(self, name: str) -> None:
        self.calls.append(f"remove service {name}")

    def remove_volume(self, name: str) -> None:
        self.calls.append(f"remove volume {name}")

    def remove_container(self, name: str) -> None:
        self.calls.append(f"remove container {name}")


def test_finish_naming_a_volume_in_use_is_refused_before_anything_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It removed the old services, waited 60 s, then failed with exit 1 (found by hand)."""
    from automation.migrate import apply as runner

    journal = Journal.read(tmp_path / "j.jsonl")
    journal.start([{"kind": "stop", "subject": "influx-old"}, {"kind": "copy", "subject": "v"}])
    journal.done("stop:influx-old", mode="replicated:1")
    journal.done("copy:v", files=1, sha256="x", copied=True)
    api = _FinishApi()
    monkeypatch.setattr(runner, "_api", lambda ctx: api)
    with pytest.raises(BadInput, match=r"^volume v is in use by squatter"):
        runner.finish(None, journal, ["v"], lambda steps: None)  # type: ignore[arg-type]
    assert api.calls == []


class _RecreateApi:
    """A stand-in Docker API: `loki` is the program's (an interrupted deploy's, outside the
    state), not the old one whose spec was saved."""

    def __init__(self) -> None:
        self.created: list[str] = []

    def inspect_service(self, name: str) -> dict[str, Any]:
        mounts = [{"Type": "volume", "Source": "layer2-loki-data", "Target": "/loki"}]
        container = {"Image": "grafana/loki:2.9.8@sha256:abc", "Mounts": mounts}
        return {"ID": "p1", "Spec": {"Name": name, "TaskTemplate": {"ContainerSpec": container}}}

    def create_service(self, *args: Any, **kwargs: Any) -> None:
        self.created.append(kwargs["name"])


def test_rollback_does_not_take_the_program_s_service_for_the_old_one(tmp_path: Path) -> None:
    """Killed mid-deploy, cleared with `refresh --clear-pending-creates`, the program's `loki`
    stayed on the Swarm; rollback saw a `loki` and reported the old one recreated (found by
    hand: `loki` ran grafana/loki on layer2-loki-data, the old one was gone)."""
    from automation.errors import DriverError
    from automation.migrate import steps

    saved = tmp_path / "loki.spec.json"
    mounts = [{"Type": "volume", "Source": "loki-volume-e4a5166", "Target": "/loki"}]
    container = {"Image": "old/loki:1", "Mounts": mounts}
    saved.write_text(json.dumps({"Name": "loki", "TaskTemplate": {"ContainerSpec": container}}))
    api = _RecreateApi()
    with pytest.raises(DriverError, match=r"^cannot recreate the old service loki: a service"):
        steps.recreate_service(api, "loki", saved)
    assert api.created == []
