"""A killed update's pending operations, refused by kind with the repair that works for it.

Pulumi records four kinds (creating, updating, deleting, reading). A refresh drops every one but
`creating` (pulumi/pulumi#8435): a delete or update cut off leaves no resource outside the state.
A create cut off may have made one, so only `refresh --clear-pending-creates` drops it, once the
operator has looked. The states here are written as the engine leaves them after a SIGKILL.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from automation.context import Context
from automation.errors import PendingOperations
from automation.exit_codes import ExitCode
from automation.guard.driver_state import current_host
from automation.guard.operation import refuse_pending_operations
from automation.settings import load_settings
from sprocket_common.stack_info import Env, Layer, StackInfo

INFO = StackInfo(Env.LOCAL, Layer.LAYER_2)
BASE = f"urn:pulumi:{INFO.name}::sprocket-infra::"
STACK = f"{BASE}pulumi:pulumi:Stack::sprocket-infra-{INFO.name}"
SECRET = f"{BASE}docker:index/secret:Secret::db-password-2026-11"
SERVICE = f"{BASE}docker:index/service:Service::core"
PROG = "python -m automation --env local --yes"


def _resource(urn: str, **extra: Any) -> dict[str, Any]:
    kind = urn.split("::")[2]
    return {"urn": urn, "custom": kind != "pulumi:pulumi:Stack", "type": kind, **extra}


@pytest.fixture
def killed_state(pulumi_env: Any) -> Any:
    """`write(pending)`: the stack's checkpoint on the file backend holding these pending
    operations ({kind: urn}), as a run killed inside the engine's step leaves it."""
    from automation.backup.pulumi_state import init_stack

    settings = load_settings()
    init_stack(settings, INFO)
    [path] = Path(pulumi_env.backend_dir, ".pulumi", "stacks").glob(f"**/{INFO.name}.json")

    def write(pending: list[tuple[str, str]]) -> Context:
        checkpoint = json.loads(path.read_text())
        checkpoint["checkpoint"]["latest"] = {
            "manifest": {"time": "2026-12-07T23:00:00Z", "magic": "", "version": "v3.274.1"},
            "resources": [
                _resource(STACK),
                _resource(SECRET, id="s1", parent=STACK),
                _resource(SERVICE, id="c1", parent=STACK),
            ],
            "pending_operations": [
                {"resource": _resource(urn, id="x", parent=STACK), "type": kind}
                for kind, urn in pending
            ],
        }
        path.write_text(json.dumps(checkpoint))
        return Context(settings, Env.LOCAL, assume_yes=True)

    return write


def _refusal(ctx: Context, **kwargs: Any) -> PendingOperations:
    with pytest.raises(PendingOperations) as caught:
        refuse_pending_operations(ctx, INFO, **kwargs)
    assert caught.value.code == ExitCode.PENDING_OPERATIONS
    return caught.value


def test_a_pending_delete_is_named_as_one_and_repaired_by_a_plain_refresh(
    killed_state: Any,
) -> None:
    refused = _refusal(killed_state([("deleting", SERVICE)]))
    assert "1 pending operation(s) from an interrupted update (1 deleting)" in refused.message
    assert f"deleting {SERVICE}" in refused.message
    assert f"`{PROG} refresh layer_2`" in refused.hint
    assert "--clear-pending-creates" not in refused.hint
    assert "remove it by hand" not in refused.hint  # nothing was left outside the state
    assert "--allow-delete" not in refused.hint  # a service is not stateful: no gate to meet


def test_a_pending_update_is_repaired_by_a_plain_refresh_too(killed_state: Any) -> None:
    refused = _refusal(killed_state([("updating", SERVICE)]))
    assert "(1 updating)" in refused.message
    assert f"`{PROG} refresh layer_2`" in refused.hint
    assert "--clear-pending-creates" not in refused.hint


def test_a_pending_delete_of_a_docker_secret_names_the_flag_the_refresh_gate_needs(
    killed_state: Any,
) -> None:
    """The rotation killed while deleting the old secret: the secret is already gone, so the
    refresh drops it from the state, which the stateful gate allows only when named."""
    refused = _refusal(killed_state([("deleting", SECRET)]))
    assert f"`{PROG} refresh layer_2`" in refused.hint
    assert f"`{PROG} refresh layer_2 --allow-delete {SECRET}`" in refused.hint
    assert "blocked as a delete of the stateful" in refused.hint


def test_pending_creates_keep_the_check_by_hand_and_the_clearing_flag(killed_state: Any) -> None:
    refused = _refusal(killed_state([("creating", SERVICE), ("deleting", SECRET)]))
    assert "(1 creating, 1 deleting)" in refused.message
    assert "remove it by hand" in refused.hint
    assert f"`{PROG} refresh layer_2 --clear-pending-creates`" in refused.hint
    assert f"--clear-pending-creates --allow-delete {SECRET}`" in refused.hint


def test_refresh_tolerates_the_kinds_it_clears_but_not_creates(killed_state: Any) -> None:
    from automation.guard.operation import REFRESH_CLEARS

    ctx = killed_state([("deleting", SERVICE), ("updating", SECRET)])
    refuse_pending_operations(ctx, INFO, tolerated=REFRESH_CLEARS)  # no refusal
    ctx = killed_state([("creating", SERVICE)])
    assert "--clear-pending-creates" in _refusal(ctx, tolerated=REFRESH_CLEARS).hint


def _pulumi_lock(pulumi_env: Any, host: str, pid: int) -> Path:
    """Pulumi's file-backend lock on the stack (pkg/backend/diy/lock.go's lockContent)."""
    folder = Path(pulumi_env.backend_dir, ".pulumi", "locks", "sprocket-infra", INFO.name)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "4f1e2d3c.json"
    stamp = datetime.now(UTC).isoformat()
    path.write_text(json.dumps({"pid": pid, "username": "ops", "hostname": host,
                                "timestamp": stamp}))  # fmt: skip
    return path


def test_a_pulumi_lock_from_another_host_is_unlocked_with_force_once_known_gone(
    killed_state: Any, pulumi_env: Any
) -> None:
    """A dead lock on this host is removed when the driver takes its lock: the step is only
    for one from another host (unlock --force, after checking) or a live one here (wait)."""
    ctx = killed_state([("deleting", SERVICE)])
    path = _pulumi_lock(pulumi_env, "ops-host-2", 4242)
    hint = _refusal(ctx).hint
    assert f"`{PROG} unlock layer_2 --force` once you know" in hint and "ops-host-2" in hint
    assert hint.index("unlock layer_2") < hint.index("refresh layer_2")
    assert "the killed update left Pulumi's lock" not in hint

    path.unlink()
    _pulumi_lock(pulumi_env, current_host(), os.getpid())  # a live pulumi on this host
    hint = _refusal(ctx).hint
    assert "wait until the pulumi holding the stack's lock ends" in hint
    assert "automation --env local --yes unlock" not in hint
