"""Whose is it: the labels every Swarm object a layer makes carries (issue 35 item 1).

Three labels under one prefix: the Pulumi project, the stack, and the identity of the state
that made the object. The identity is a `random.RandomUuid` resource of the stack itself
(`state-identity`), so it lives in the stack's state: a restored backup keeps it, and a fresh
state (a re-clone whose `.sprocket/` is gone, a second checkout) makes a new one. The driver's
check before create (automation/stack/taken.py) reads these labels to tell "this stack's, from
this state" from "this stack's, from a lost or another state", "another stack's" and
"unlabelled" (made by hand, or by the original system).

Set in one place: the house service and its siblings (sprocket_common/swarm_service.py:
SwarmService's service, configs and secrets; `overlay_network`; `house_volume`). The constants
import without pulumi, for the driver.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pulumi

PREFIX = "sprocket.owner"
PROJECT_LABEL = f"{PREFIX}.project"
STACK_LABEL = f"{PREFIX}.stack"
STATE_LABEL = f"{PREFIX}.state"
# The resource holding the state's identity: its type and name, as `pulumi stack export` shows.
STATE_RESOURCE_TYPE = "random:index/randomUuid:RandomUuid"
STATE_RESOURCE_NAME = "state-identity"
# The state label of an object a targeted run made before the identity existed (_untracked);
# not empty: the docker provider takes an empty label value for a missing one and refuses it.
NO_STATE = "none"

# One identity resource per program run: (the run's resource monitor, the uuid's Output). The
# Automation API runs a program inline, preview then up in one process, each with a monitor of
# its own, so a cache keyed by the monitor never hands one run's resource to the next.
_made: tuple[Any, Any] | None = None


def state_identity() -> pulumi.Output[str]:
    """The identity of the state this program runs against (made once per run)."""
    global _made
    import pulumi_random as random
    from pulumi.runtime.settings import get_monitor

    monitor = get_monitor()
    if _made is None or _made[0] is not monitor:
        uuid = random.RandomUuid(STATE_RESOURCE_NAME)
        _made = (monitor, _untracked(uuid.result))
    result: pulumi.Output[str] = _made[1]
    return result


def _untracked(value: pulumi.Output[str]) -> pulumi.Output[str]:
    """`value` without its dependency on the identity resource. With the dependency, every
    labelled object depends on `state-identity`, and a targeted run (`--target`: migrate's
    volume step, a rollout's per-service apply) of a stack whose state does not hold the
    identity yet fails: the engine refuses a target whose dependency is not targeted (and then
    reports a snapshot integrity error). Without it, the run's value still waits for the
    resource (a label is sent once known). A targeted update that skips the identity's create
    gets it unknown, which the docker provider refuses in an update: such a run labels what
    it creates with NO_STATE, which reads as "this stack's, made by another state" and is
    refused by the check before create, never let by. A preview keeps it unknown."""
    import pulumi

    async def result() -> str:
        return (await value.future()) or NO_STATE

    async def known() -> bool:
        return True if not pulumi.runtime.is_dry_run() else await value.is_known()

    return pulumi.Output(set(), result(), known(), value.is_secret())


def ownership_labels() -> dict[str, pulumi.Input[str]]:
    """The project, stack and state identity labels of an object this program makes."""
    import pulumi

    return {
        PROJECT_LABEL: pulumi.get_project(),
        STACK_LABEL: pulumi.get_stack(),
        STATE_LABEL: state_identity(),
    }


def labels_only_on_create(opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    """`opts` with the object's labels ignored after its create.

    The docker provider replaces a network, volume, config or secret whose labels change
    (ForceNew): stamping the ownership labels onto what an existing deployment already runs
    would delete and re-create its networks (every service detached), its volumes (the data)
    and its configs and secrets (every service using them restarted). So those objects get
    their labels when they are created, and a label change never replaces one; a deployment
    older than the labels keeps its unlabelled objects (the check before create calls them
    unlabelled, which for objects in the state does not matter: it only looks at creates).
    """
    import pulumi

    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(ignore_changes=["labels"]))


def owner_of(labels: Mapping[str, str] | None) -> tuple[str, str, str]:
    """(project, stack, state) an engine object's labels name; "" for each label it lacks."""
    found = labels or {}
    return (
        found.get(PROJECT_LABEL, ""),
        found.get(STACK_LABEL, ""),
        found.get(STATE_LABEL, ""),
    )
