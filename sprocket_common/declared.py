"""Run a layer's `program()` under `pulumi.runtime.set_mocks` and record what it declares.

Pulumi's own unit-testing method (no engine, no provider plugins): every resource the program
registers is recorded with its type, name, inputs and options (protect, parent,
delete_before_replace, ignore_changes), and the stack exports are resolved. Upstream layers are
simulated by answering `pulumi:pulumi:StackReference` registrations with given outputs.

Used by the unit tests (tests/unit/conftest.py) and by automation/local_images.py, which reads the
images, commands and healthchecks the local environment declares.

    rec = run_layer_program("layer_1", env="prod", config={"base_domain": "example.gg"},
                            secrets={"discord_client_secret": "canary"})
    services = rec.by_type("docker:index/service:Service")
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sprocket_common.outputs import LAYER1_SECRET_KEYS, LAYER2_SECRET_KEYS

STACK_REFERENCE = "pulumi:pulumi:StackReference"
GET_NETWORK = "docker:index/getNetwork:getNetwork"  # answered with id = name
_UPSTREAM_SECRETS = {"layer_1": LAYER1_SECRET_KEYS, "layer_2": LAYER2_SECRET_KEYS}


@dataclass
class Record:
    """One registered resource as the engine would receive it."""

    type: str
    name: str
    inputs: dict[str, Any]
    urn: str = ""
    parent: str = ""
    protect: bool = False
    delete_before_replace: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)  # URNs (components expanded)
    custom: bool = True
    id: str = ""

    @property
    def parent_name(self) -> str:
        return self.parent.rsplit("::", 1)[-1] if self.parent else ""


@dataclass
class Recorded:
    resources: list[Record]
    outputs: dict[str, Any]
    secret_outputs: set[str]

    def by_type(self, token: str) -> list[Record]:
        return [r for r in self.resources if r.type == token]

    def one(self, token: str, name: str) -> Record:
        found = [r for r in self.by_type(token) if r.name == name]
        assert len(found) == 1, (
            f"expected one {token} named {name}, got {[r.name for r in self.by_type(token)]}"
        )
        return found[0]

    @property
    def types(self) -> set[str]:
        return {r.type for r in self.resources}


def _fake_ip(prefix: str, n: int) -> str:
    return f"{prefix}.{n % 250 + 1}"


MOCK_STATE_IDENTITY = "00000000-0000-4000-8000-00000000c0de"


# Computed outputs a real provider would return, for the types layers read attributes of.
def _computed(typ: str, name: str, inputs: Mapping[str, Any], n: int) -> dict[str, Any]:
    if typ == "digitalocean:index/droplet:Droplet":
        return {
            "ipv4Address": _fake_ip("203.0.113", n),
            "ipv4AddressPrivate": _fake_ip("10.10.0", n),
            "urn": f"do:droplet:{n}",
        }
    if typ == "digitalocean:index/spacesKey:SpacesKey":
        return {"accessKey": f"DO00{name.upper()}", "secretKey": f"mock-secret-key-{name}"}
    if typ == "digitalocean:index/spacesBucket:SpacesBucket":
        region = inputs.get("region", "nyc3")
        return {
            "bucketDomainName": f"{inputs.get('name', name)}.{region}.digitaloceanspaces.com",
            "endpoint": f"{region}.digitaloceanspaces.com",
        }
    if typ == "random:index/randomPassword:RandomPassword":
        length = int(inputs.get("length", 32))
        return {"result": ("p" * length), "bcryptHash": "$2a$10$mockmockmockmockmockmu"}
    if typ == "random:index/randomUuid:RandomUuid":  # the state identity (ownership.py)
        return {"result": MOCK_STATE_IDENTITY}
    if typ == "digitalocean:index/databaseCluster:DatabaseCluster":
        return {
            "host": f"{name}.db.ondigitalocean.com",
            "privateHost": f"private-{name}.db",
            "port": 25060,
            "user": "doadmin",
            "password": "mock-admin-password",
            "uri": f"postgresql://doadmin:mock-admin-password@{name}:25060/defaultdb",
        }
    if typ == "digitalocean:index/databaseUser:DatabaseUser":
        return {"password": f"mock-db-password-{inputs.get('name', name)}"}
    if typ == "digitalocean:index/domain:Domain":
        return {"urn": f"do:domain:{inputs.get('name', name)}"}
    return {}


class RecordingMocks:
    """pulumi.runtime.Mocks that echo inputs, add computed outputs and answer stack refs."""

    def __init__(self, upstream: Mapping[str, Mapping[str, Any]]) -> None:
        self.upstream = upstream
        self.count = 0

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        self.count += 1
        if args.typ == STACK_REFERENCE:
            return self._stack_reference(args)
        state = {**args.inputs, **_computed(args.typ, args.name, args.inputs, self.count)}
        # DigitalOcean ids are numbers (droplet ids are passed on as ints).
        numeric = args.typ.startswith("digitalocean:")
        if args.typ == "docker:index/network:Network":  # ids read as the names (GET_NETWORK)
            return str(args.inputs.get("name", args.name)), state
        return (str(1000 + self.count) if numeric else f"{args.name}-id"), state

    def _stack_reference(self, args: Any) -> tuple[str, dict[str, Any]]:
        stack = str(args.inputs.get("name", args.name))
        layer = stack.rsplit("/", 1)[-1].partition("-")[2]
        outputs = dict(self.upstream.get(layer, {}))
        secret = [k for k in _UPSTREAM_SECRETS.get(layer, ()) if k in outputs]
        return stack, {"name": stack, "outputs": outputs, "secretOutputNames": secret}

    def call(self, args: Any) -> dict[str, Any]:
        if args.token == GET_NETWORK:
            return {**dict(args.args), "id": args.args["name"]}  # ids read as the names
        return dict(args.args)


def _recording_monitor(mocks: RecordingMocks, records: list[Record]) -> Any:
    from pulumi.runtime.mocks import MockMonitor

    class RecordingMonitor(MockMonitor):
        def RegisterResource(self, request: Any) -> Any:
            response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
            if request.type != "pulumi:pulumi:Stack":
                from pulumi.runtime import rpc

                records.append(
                    Record(
                        type=request.type,
                        name=request.name,
                        inputs=rpc.deserialize_properties(request.object),
                        urn=response.urn,
                        parent=request.parent,
                        protect=bool(request.protect),
                        delete_before_replace=bool(request.deleteBeforeReplace),
                        ignore_changes=list(request.ignoreChanges),
                        dependencies=list(request.dependencies),
                        custom=bool(request.custom),
                        id=response.id,
                    )
                )
            return response

        def ReadResource(self, request: Any) -> Any:
            # StackReferences (and `Resource.get`) are reads, not registrations.
            response = super().ReadResource(request)  # type: ignore[no-untyped-call]
            from pulumi.runtime import rpc

            records.append(
                Record(
                    type=request.type,
                    name=request.name,
                    inputs=rpc.deserialize_properties(request.properties),
                    urn=response.urn,
                    parent=request.parent,
                    custom=True,
                    id=request.id,
                )
            )
            return response

    return RecordingMonitor(mocks)  # type: ignore[arg-type]  # duck-typed Mocks


def _config_key(key: str) -> str:
    return key if ":" in key else f"sprocket:{key}"


def _config_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def run_layer_program(
    layer: str,
    env: str = "local",
    config: Mapping[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
    upstream: Mapping[str, Mapping[str, Any]] | None = None,
) -> Recorded:
    """Run `<layer>/program.py: program()` as stack `<env>-<layer>` under recording mocks.

    Config keys without a namespace are `sprocket:` keys; `secrets` are set as secret config.
    """
    from sprocket_common.stack_info import Layer, load_program

    program = load_program(Layer(layer))
    return run_mocked(program, f"{env}-{layer}", config, secrets, upstream)


def run_mocked(
    program: Callable[[], None],
    stack: str,
    config: Mapping[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
    upstream: Mapping[str, Mapping[str, Any]] | None = None,
) -> Recorded:
    """Run any Pulumi program function as `stack` under recording mocks."""
    import pulumi
    from pulumi.runtime import settings
    from pulumi.runtime.mocks import _sync_await  # type: ignore[attr-defined]
    from pulumi.runtime.stack import run_pulumi_func

    records: list[Record] = []
    mocks = RecordingMocks(upstream or {})
    settings.ROOT.set(None)  # a fresh root stack per run, so exports do not leak between tests
    pulumi.runtime.set_mocks(
        mocks,  # type: ignore[arg-type]
        project="sprocket-infra",
        stack=stack,
        preview=False,
        monitor=_recording_monitor(mocks, records),
    )
    values = {_config_key(k): _config_value(v) for k, v in (config or {}).items()}
    secret_values = {_config_key(k): _config_value(v) for k, v in (secrets or {}).items()}
    pulumi.runtime.set_all_config({**values, **secret_values}, list(secret_values))
    root = settings.get_root_resource()
    outputs: dict[str, Any] = {}
    secret_outputs: set[str] = set()

    async def resolve() -> None:
        for key, value in dict(root.outputs).items():  # type: ignore[union-attr]
            out = pulumi.Output.from_input(value)
            outputs[key] = await out.future()
            if await out.is_secret():
                secret_outputs.add(key)

    def body() -> None:
        program()
        _sync_await(pulumi.Output.from_input(None).future())  # let registrations settle
        _sync_await(resolve())

    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    _sync_await(run_pulumi_func(body))
    return Recorded(records, outputs, secret_outputs)
