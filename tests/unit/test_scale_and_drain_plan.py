"""`scale` input and config arithmetic, and the drain plan, on recorded shapes of the Docker API."""

from __future__ import annotations

from typing import Any

import pytest

from automation.cluster.drain import Risk, blocking, plan
from automation.cluster.scale import (
    ScaleRequest,
    check_scalable,
    parse_requests,
    replicas_config,
    target_config,
)
from automation.errors import BadInput, GateBlocked
from automation.exit_codes import ExitCode


def test_requests_parse_and_bad_ones_name_the_argument() -> None:
    assert parse_requests(("web=3", "core=0")) == [ScaleRequest("web", 3), ScaleRequest("core", 0)]
    for bad, word in (("web", "SERVICE=N"), ("web=-1", "SERVICE=N"), ("web=900", "more than 50")):
        with pytest.raises(BadInput, match=word):
            parse_requests((bad,))
    with pytest.raises(BadInput, match="twice"):
        parse_requests(("web=2", "web=3"))


def test_stateful_services_are_refused_with_the_catalogs_reason() -> None:
    with pytest.raises(GateBlocked, match=r"redis is stateful \(one Redis"):
        check_scalable([ScaleRequest("redis", 2)], "local")
    with pytest.raises(GateBlocked, match="dgraph-alpha is stateful"):
        check_scalable([ScaleRequest("web", 2), ScaleRequest("dgraph-alpha", 2)], "local")
    with pytest.raises(BadInput, match="no platform service legacy-worker in local"):
        check_scalable([ScaleRequest("legacy-worker", 2)], "local")
    assert check_scalable([ScaleRequest("web", 3)], "local") == {"web": 1}


def test_the_config_keeps_other_counts_and_drops_a_count_equal_to_the_catalogs() -> None:
    current = replicas_config('{"core": 2}')
    target = target_config(current, {"web": 1, "core": 1}, [ScaleRequest("web", 3)])
    assert target == {"core": 2, "web": 3}
    assert target_config(target, {"web": 1}, [ScaleRequest("web", 1)]) == {"core": 2}
    with pytest.raises(BadInput, match="not an object of counts"):
        replicas_config('{"web": "three"}')


def _node(node_id: str, host: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "ID": node_id,
        "Description": {"Hostname": host},
        "Spec": {"Role": "worker", "Availability": "active", "Labels": labels or {}},
        "Status": {"State": "ready"},
    }


def _service(sid: str, name: str, **spec: Any) -> dict[str, Any]:
    template = {"ContainerSpec": {"Mounts": spec.pop("mounts", [])}}
    if "constraints" in spec:
        template["Placement"] = {"Constraints": spec.pop("constraints")}
    mode = {"Global": {}} if spec.pop("global_", False) else {"Replicated": {"Replicas": 1}}
    return {"ID": sid, "Spec": {"Name": name, "Mode": mode, "TaskTemplate": template}}


def _task(sid: str, node: str) -> dict[str, Any]:
    return {"ServiceID": sid, "NodeID": node, "DesiredState": "running"}


def test_the_plan_names_each_risk_and_only_unallowed_ones_block() -> None:
    nodes = {"n1": _node("n1", "w1", {"role": "storage"}), "n2": _node("n2", "w2")}
    services = [
        _service("s1", "spread"),
        _service("s2", "pinned", constraints=["node.labels.role==storage"]),
        _service("s3", "agent", global_=True),
        _service("s4", "db", mounts=[{"Type": "volume", "Source": "db-data"}]),
    ]
    tasks = [_task("s1", "n1"), _task("s1", "n2"), _task("s2", "n1"), _task("s3", "n1")]
    tasks += [_task("s3", "n2"), _task("s4", "n1")]
    by_name = {d.service: d for d in plan("n1", nodes, services, tasks)}
    assert set(by_name["spread"].risks) == set()
    assert set(by_name["pinned"].risks) == {Risk.PLACEMENT, Risk.LAST_TASK}
    assert "node.labels.role==storage" in by_name["pinned"].risks[Risk.PLACEMENT]
    assert set(by_name["agent"].risks) == {Risk.GLOBAL}
    assert set(by_name["db"].risks) == {Risk.VOLUME, Risk.LAST_TASK}
    blocked = blocking(list(by_name.values()), {Risk.LAST_TASK, Risk.VOLUME})
    assert [d.service for d in blocked] == ["agent", "pinned"]


@pytest.mark.parametrize("name", ["", " "])
def test_an_empty_node_name_names_no_node(name: str) -> None:
    """`node drain ""` (an unset shell variable) must not match the only node by ID prefix."""
    from automation.cluster.nodes import find_node

    only = [{"ID": "3s3z1233dqxm", "Description": {"Hostname": "vm"}, "Spec": {}, "Status": {}}]
    with pytest.raises(BadInput, match="no Swarm node"):
        find_node(only, name)


@pytest.mark.parametrize("verb", ["drain", "activate"])
def test_an_engine_that_is_no_swarm_manager_is_named_not_a_driver_bug(
    verb: str, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DOCKER_HOST at a worker (or a plain engine): the 503 the engine answers /nodes with."""
    import docker

    import automation.docker_client

    class NotManager:
        def nodes(self) -> list[Any]:
            raise docker.errors.APIError(
                "503 Server Error", explanation="This node is not a swarm manager."
            )

    monkeypatch.setattr(automation.docker_client, "docker_api", lambda _host: NotManager())
    result = run_cli("--json", "node", verb, "w1")

    [error] = result.json()["errors"]
    assert result.exit_code == ExitCode.ERROR
    assert "not a swarm manager" in error["message"] and "driver bug" not in error["hint"]
    assert "DOCKER_HOST" in error["hint"]
    assert "Traceback" not in result.stderr


def test_a_blocked_scale_names_the_other_change_and_what_to_do() -> None:
    """The gate's own reason suggests `--max-changes`, which deploy has and scale has not."""
    import automation.cli  # noqa: F401 - the commands package is imported through the cli
    from automation.commands.scale import _text

    urn = "urn:pulumi:local-platform::sprocket-infra::docker:index/service:Service::"
    reason = "the plan has 2 changes, more than the 1 expected; if ... --max-changes 2"
    data = {
        "stack": "local-platform",
        "scale": [{"service": "web", "from": 2, "to": 3}],
        "deploy": {
            "exit_code": ExitCode.GATE_BLOCKED,
            "message": "",
            "status": "blocked",
            "gate": {
                "blocked": [
                    {"op": "update", "reason": reason, "urn": urn + n} for n in ("core", "web")
                ]
            },
            "steps": [{"op": "update", "urn": urn + n, "diffs": ["x"]} for n in ("core", "web")],
        },
    }

    text = _text(data)

    assert "update core" in text and "preview platform" in text
    assert "--max-changes" not in text


def test_a_failed_drain_wait_names_swarms_reason_for_the_unplaced_task() -> None:
    """moby/moby#37940: `--replicas 3 --replicas-max-per-node 1` on three nodes, one drained.
    The wait's message must carry Swarm's own reason, not only the service's name."""
    from automation.cluster.drain import waiting_for
    from automation.swarm_watch import assess
    from automation.waiting import WaitTimeout

    err = "no suitable node (max replicas per node limit exceed)"
    svc = {"ID": "s1", "Spec": {"Name": "web", "Mode": {"Replicated": {"Replicas": 3}}}}
    svc["Spec"]["TaskTemplate"] = {"Placement": {"MaxReplicas": 1}}
    tasks = [
        {"Slot": n, "NodeID": node, "DesiredState": "running", "Status": {"State": "running"}}
        for n, node in ((1, "n2"), (2, "n3"))
    ]
    tasks.append({"Slot": 3, "DesiredState": "running", "Status": {"State": "pending", "Err": err}})
    verdict = assess(svc, tasks, {"n2", "n3"})
    last = waiting_for(["web", "worker"], {"web": verdict.message, "worker": ""})
    message = str(WaitTimeout("the drained tasks to run elsewhere", 300, last))
    assert f"waiting for web (the scheduler cannot place a task: {err})" in message
    assert message.endswith(", worker")  # a service Swarm gave no reason for is named bare
