"""The platform program under Pulumi mocks: one house service per catalog entry, and no leaks.

Mocked (pulumi.runtime.set_mocks): no engine or docker provider runs; the assertions are on the
resource inputs the engine would receive. Upstream layers are the `upstream` stack outputs.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sprocket_common.declared import GET_NETWORK
from sprocket_common.stack_info import Layer, layer_package

layer_package(Layer.PLATFORM)

from sprocket_platform.catalog import CatalogError, app_secrets, load_catalog  # noqa: E402

SERVICE = "docker:index/service:Service"
SECRET = "docker:index/secret:Secret"
CONFIG = "docker:index/serviceConfig:ServiceConfig"
BUCKET = "digitalocean:index/spacesBucket:SpacesBucket"
CANARY = "canary-7d1e-never-print-me"
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's wire marker of a secret value

LAYER1 = {
    "ingress_network": "traefik-ingress",
    "socket_proxy_network": "traefik-socket-proxy",
    "base_domain": "localhost",
    "tls_resolver": "",
    "forward_auth_middleware": "fa-default@docker",
    "vault_address": "http://vault:8200",
    "spaces_endpoint": "",
    "spaces_buckets": {},
    "manager_ip": "",
    "droplet_ips": [],
}
LAYER2 = {
    "redis_host": "redis",
    "redis_port": 6379,
    "redis_password": CANARY + "-redis",
    "rabbitmq_host": "rabbitmq",
    "rabbitmq_port": 5672,
    "rabbitmq_user": "sprocket",
    "rabbitmq_password": CANARY + "-rabbitmq",
    "influx_url": "http://influx:8086",
    "influx_token": CANARY + "-influx",
    "influx_org": "sprocket",
    "postgres_host": "postgres",
    "postgres_port": 5432,
    "postgres_database": "sprocket",
    "app_db_user": "sprocket_app",
    "app_db_password": CANARY + "-db",
    "monitoring_network": "monitoring",
    "data_network": "sprocket-data",
    "influx_app_bucket": "sprocket_main",
    "postgres_ssl_mode": "disable",
}
PROD_LAYER1 = {
    **LAYER1,
    "base_domain": "sprocket.example.gg",
    "tls_resolver": "letsencrypt",
    "spaces_endpoint": "https://nyc3.digitaloceanspaces.com",
}


def external_secrets() -> dict[str, str]:
    catalog = load_catalog()
    return {
        f"secrets:{name}": f"{CANARY}-{name}"
        for name, spec in catalog.secrets.items()
        if spec.source == "external"
    }


def run_platform(run_layer: Callable[..., Any], env: str = "local", **kwargs: Any) -> Any:
    layer1 = PROD_LAYER1 if env != "local" else LAYER1
    kwargs.setdefault("upstream", {"layer_1": layer1, "layer_2": LAYER2})
    if env != "local":
        kwargs.setdefault("config", {"secrets_source": "config"})
        kwargs.setdefault("secrets", external_secrets())
    return run_layer("platform", env=env, **kwargs)


def services(rec: Any) -> dict[str, dict[str, Any]]:
    """Swarm service inputs by catalog entry (the `sprocket.catalog` service label)."""
    found: dict[str, dict[str, Any]] = {}
    for record in rec.by_type(SERVICE):
        labels = {lb["label"]: lb["value"] for lb in record.inputs.get("labels", [])}
        found[labels["sprocket.catalog"]] = record.inputs
    return found


def secret_data(rec: Any) -> list[str]:
    """Decoded data of every Swarm secret (marked secret on the wire: {sig, value})."""
    values = []
    for record in rec.by_type(SECRET):
        data = record.inputs["data"]
        assert isinstance(data, dict) and SECRET_SIG in data, f"{record.name}: not secret"
        values.append(base64.b64decode(data["value"]).decode())
    return values


def labels_of(spec: dict[str, Any]) -> dict[str, str]:
    return {lb["label"]: lb["value"] for lb in spec.get("labels", [])}


def networks_of(spec: dict[str, Any]) -> set[str]:
    # The provider sends a network under `id` (it accepts a name or an id there).
    return {n.get("name") or n["id"] for n in spec["taskSpec"].get("networksAdvanceds", [])}


def secret_files_of(spec: dict[str, Any]) -> set[str]:
    return {s["fileName"] for s in spec["taskSpec"]["containerSpec"].get("secrets", [])}


@pytest.mark.mocked
@pytest.mark.parametrize("env", ["local", "prod"])
def test_every_catalog_entry_is_one_house_service_mocked(run_layer: Any, env: str) -> None:
    from sprocket_common.stack_info import Env

    catalog = load_catalog()
    rec = run_platform(run_layer, env)
    specs = services(rec)
    enabled = catalog.enabled(Env(env))
    assert set(specs) == set(enabled)
    assert len(rec.by_type(SERVICE)) == len(enabled)
    for name, app in enabled.items():
        spec = specs[name]
        task, container = spec["taskSpec"], spec["taskSpec"]["containerSpec"]
        assert spec["name"] == f"{env}-{name}"
        assert rec.outputs["service_names"][name] == f"{env}-{name}"
        assert container["image"] == rec.outputs["images"][name]
        # house defaults
        assert spec["updateConfig"]["failureAction"] == "rollback"
        assert task["restartPolicy"]["maxAttempts"] == 5
        assert task["logDriver"]["name"] == "fluentd"
        assert task["logDriver"]["options"]["mode"] == "non-blocking"
        assert container["healthcheck"]["tests"][0] == app.healthcheck.test[0]
        assert "${" not in json.dumps(container["healthcheck"]["tests"])  # placeholders filled
        assert task["resources"]["limits"]["memoryBytes"] == app.resources.memory_mb << 20
        # networks: always the platform's; ingress exactly when routed; datastores' networks
        nets = networks_of(spec)
        assert f"{env}-platform" in nets
        assert ("traefik-ingress" in nets) == bool(app.routes)
        assert ("sprocket-data" in nets) == bool(
            {"redis", "rabbitmq", "postgres"} & set(app.datastores)
        )
        assert ("monitoring" in nets) == ("influx" in app.datastores)
        # every secret the entry needs, as a file, each from its own Swarm secret
        want = {f"/run/secrets/{target}" for target in app_secrets(app).values()}
        assert secret_files_of(spec) == want
        assert all(s["secretId"] for s in container.get("secrets", []))


@pytest.mark.mocked
def test_images_follow_the_stack_tag_mocked(run_layer: Any) -> None:
    rec = run_platform(run_layer, config={"image_tag": "v1.4.2"})
    assert rec.outputs["images"]["core"] == "asaxplayinghorse/core:v1.4.2"
    assert rec.outputs["images"]["web"] == "asaxplayinghorse/web:v1.4.2"
    assert rec.outputs["images"]["dgraph-alpha"] == "dgraph/dgraph:v21.12.0"


@pytest.mark.mocked
def test_one_tag_override_changes_that_service_only_mocked(run_layer: Any) -> None:
    before = services(run_platform(run_layer, config={"image_tag": "v1"}))
    after_rec = run_platform(run_layer, config={"image_tag": "v1", "image_tags": {"core": "v2"}})
    after = services(after_rec)
    assert after["core"]["taskSpec"]["containerSpec"]["image"] == "asaxplayinghorse/core:v2"
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"core"}
    # and in core, only the image moved (the rollout gate allows nothing else)
    core_before = json.loads(json.dumps(before["core"]))
    core_before["taskSpec"]["containerSpec"]["image"] = "asaxplayinghorse/core:v2"
    assert core_before == after["core"]


@pytest.mark.mocked
def test_digest_pin_mocked(run_layer: Any) -> None:
    digest = "sha256:" + "0f" * 32
    rec = run_platform(run_layer, config={"image_digests": {"web": digest}})
    assert rec.outputs["images"]["web"] == f"asaxplayinghorse/web:main@{digest}"
    assert services(rec)["web"]["taskSpec"]["containerSpec"]["image"].endswith(digest)


@pytest.mark.mocked
def test_override_for_an_unknown_entry_is_refused_mocked(run_layer: Any) -> None:
    from sprocket_common.env_config import ConfigError

    with pytest.raises(ConfigError, match=r"sprocket:image_tags: names no catalog entry: cor\b"):
        run_platform(run_layer, config={"image_tags": {"cor": "v2"}})


@pytest.mark.mocked
def test_stack_placement_adds_constraints_to_one_app_only_mocked(run_layer: Any) -> None:
    before = services(run_platform(run_layer))
    pinned = "node.labels.sprocket.apps==true"
    after = services(run_platform(run_layer, config={"placement": {"core": [pinned]}}))
    assert after["core"]["taskSpec"]["placement"]["constraints"] == [pinned]
    assert {name for name in before if before[name] != after[name]} == {"core"}


@pytest.mark.mocked
def test_placement_for_an_unknown_entry_or_a_malformed_constraint_is_refused_mocked(
    run_layer: Any,
) -> None:
    from sprocket_common.env_config import ConfigError

    with pytest.raises(
        ConfigError, match=r"sprocket:placement: names no enabled catalog entry: cor"
    ):
        run_platform(run_layer, config={"placement": {"cor": ["node.role==manager"]}})
    with pytest.raises(ConfigError, match=r"not a Swarm constraint"):
        run_platform(run_layer, config={"placement": {"core": ["node.role manager"]}})


@pytest.mark.mocked
def test_routes_through_traefik_with_tls_and_forward_auth_mocked(run_layer: Any) -> None:
    rec = run_platform(run_layer, "prod", config={"secrets_source": "config"})
    specs = services(rec)
    core = labels_of(specs["core"])
    assert core["traefik.enable"] == "true"
    assert core["traefik.docker.network"] == "traefik-ingress"
    assert core["traefik.http.routers.prod-core-0.rule"] == "Host(`api.sprocket.example.gg`)"
    assert core["traefik.http.routers.prod-core-0.entrypoints"] == "websecure"
    assert core["traefik.http.routers.prod-core-0.tls.certresolver"] == "letsencrypt"
    assert core["traefik.http.services.prod-core-3001.loadbalancer.server.port"] == "3001"
    dgraph = labels_of(specs["dgraph-alpha"])
    assert dgraph["traefik.http.routers.prod-dgraph-alpha-0.middlewares"] == "fa-elo-team@docker"
    web = labels_of(specs["web"])
    assert web["traefik.http.routers.prod-web-0.rule"] == "Host(`sprocket.example.gg`)"
    assert "traefik.http.routers.prod-web-0.middlewares" not in web  # alpha gate off
    assert not any(k.startswith("traefik") for k in labels_of(specs["matchmaking-service"]))
    assert rec.outputs["routes"]["core"] == ["api.sprocket.example.gg"]


@pytest.mark.mocked
def test_alpha_restrictions_put_web_behind_forward_auth_mocked(run_layer: Any) -> None:
    rec = run_platform(run_layer, config={"alpha_restrictions": True})
    web = labels_of(services(rec)["web"])
    assert web["traefik.http.routers.local-web-0.middlewares"] == "fa-alpha-testers@docker"


@pytest.mark.mocked
def test_no_credential_in_env_labels_configs_or_outputs_mocked(run_layer: Any) -> None:
    rec = run_platform(run_layer, "prod", config={"secrets_source": "config"})
    for record in rec.by_type(SERVICE):
        assert CANARY not in json.dumps(record.inputs), record.name
    for record in rec.by_type(CONFIG):
        assert CANARY not in base64.b64decode(record.inputs["data"]).decode(), record.name
    assert CANARY not in json.dumps(rec.outputs)
    # ...while the values do reach the Swarm secrets, which is where they belong.
    data = secret_data(rec)
    assert f"{CANARY}-discord-bot-token" in data
    assert f"{CANARY}-db" in data
    broker = next(d for d in data if d.startswith("amqp://"))
    assert broker == f"amqp://sprocket:{CANARY}-rabbitmq@rabbitmq:5672//?heartbeat=60"
    connstring = next(d for d in data if d.startswith("postgresql://"))
    assert connstring.startswith(f"postgresql://sprocket_prod_legacy:{CANARY}-legacy-db-password@")


@pytest.mark.mocked
def test_missing_external_secret_in_prod_names_the_config_key_mocked(run_layer: Any) -> None:
    from sprocket_common.env_config import ConfigError

    given = external_secrets()
    del given["secrets:steam-api-key"]
    with pytest.raises(ConfigError, match="secrets:steam-api-key: required in prod"):
        run_platform(run_layer, "prod", secrets=given)


@pytest.mark.mocked
def test_local_generates_unset_external_secrets_mocked(run_layer: Any) -> None:
    rec = run_platform(run_layer)
    passwords = {r.name for r in rec.by_type("random:index/randomPassword:RandomPassword")}
    assert "discord-bot-token-local" in passwords
    assert "jwt-secret" in passwords
    assert not rec.by_type(BUCKET)  # no cloud resource in local


@pytest.mark.mocked
def test_prod_reads_external_secrets_from_vault_mocked(
    run_layer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conftest = sys.modules[run_layer.__module__]
    calls: list[dict[str, Any]] = []

    def call(self: Any, args: Any) -> dict[str, Any]:
        if args.token == GET_NETWORK:  # network ids, not secrets
            return {**dict(args.args), "id": args.args["name"]}
        calls.append({"token": args.token, **dict(args.args)})
        data = {k.removeprefix("secrets:"): v for k, v in external_secrets().items()}
        return {**dict(args.args), "data": data, "path": "secret/data/prod/platform"}

    monkeypatch.setattr(conftest.RecordingMocks, "call", call)
    rec = run_platform(run_layer, "prod", config={}, secrets={})
    assert [c["token"] for c in calls] == ["vault:kv/getSecretV2:getSecretV2"]
    assert calls[0]["mount"] == "secret" and calls[0]["name"] == "prod/platform"
    data = secret_data(rec)
    assert f"{CANARY}-steam-api-key" in data


@pytest.mark.mocked
def test_prod_declares_protected_private_app_buckets_mocked(run_layer: Any) -> None:
    rec = run_platform(run_layer, "prod", config={"secrets_source": "config"})
    buckets = {r.inputs["name"]: r for r in rec.by_type(BUCKET)}
    assert set(buckets) == {
        "sprocket-main-prod",
        "sprocket-replays-prod",
        "sprocket-image-generation-prod",
    }
    assert all(b.protect and b.inputs["acl"] == "private" for b in buckets.values())
    assert {b.inputs["region"] for b in buckets.values()} == {"nyc3"}
    volumes = rec.by_type("docker:index/volume:Volume")
    assert {v.inputs["name"] for v in volumes} >= {"prod-dgraph-data", "prod-dgraph-zero-data"}
    assert all(v.protect for v in volumes)


@pytest.mark.mocked
def test_broken_catalog_stops_before_any_resource_mocked(
    run_program: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import sprocket_platform.catalog as catalog_module

    from sprocket_common.stack_info import load_program

    broken = tmp_path / "catalog.yaml"
    text = catalog_module.CATALOG_PATH.read_text()
    broken.write_text(
        text.replace("datastores: [rabbitmq, influx]", "datastores: [rabbitmq, infux]")
    )
    monkeypatch.setattr(catalog_module, "CATALOG_PATH", broken)
    errors: list[CatalogError] = []

    def program() -> None:
        try:
            load_program(Layer.PLATFORM)()
        except CatalogError as err:
            errors.append(err)

    rec = run_program(program, "local-platform", upstream={"layer_1": LAYER1, "layer_2": LAYER2})
    [err] = errors
    assert (err.entry, err.field) == ("server-analytics-service", "datastores[1]")
    assert rec.resources == []


@pytest.mark.mocked
def test_private_images_pull_with_registry_auth_kept_secret_mocked(run_layer: Any) -> None:
    rec = run_platform(
        run_layer,
        config={"docker_username": "asaxplayinghorse"},
        secrets={"docker_access_token": CANARY + "-hub"},
    )
    specs = services(rec)
    wire = specs["core"]["auth"]
    assert set(wire) == {SECRET_SIG, "value"}  # marked secret on the wire: encrypted in state
    assert wire["value"]["username"] == "asaxplayinghorse"
    assert wire["value"]["password"] == CANARY + "-hub"
    assert "auth" not in specs["dgraph-alpha"]  # public third-party image
    assert CANARY not in json.dumps(rec.outputs)


@pytest.mark.mocked
@pytest.mark.parametrize("key", ["sprocket:image_tagz", "sprocket:base_domain", "sprocket-infra:x"])
def test_a_key_the_platform_does_not_read_is_refused_naming_it(run_layer: Any, key: str) -> None:
    # base_domain comes from layer_1's outputs here: set on the platform stack it did nothing.
    from sprocket_common.env_config import ConfigError

    with pytest.raises(ConfigError) as err:
        run_platform(run_layer, "local", config={key: "v"})
    assert err.value.key == key


@pytest.mark.mocked
@pytest.mark.parametrize(
    ("path", "env"),
    [
        ("Pulumi.local-platform.yaml", "local"),
        ("platform/Pulumi.prod-platform.example.yaml", "prod"),
    ],
)
def test_the_committed_stack_files_use_only_keys_the_platform_reads(
    run_layer: Any, path: str, env: str
) -> None:
    import yaml

    config = yaml.safe_load(Path(path).read_text())["config"]
    if env != "local":
        config["sprocket:secrets_source"] = "config"  # no Vault under the mocks
    run_platform(run_layer, env, config=config)


@pytest.mark.mocked
def test_stack_replicas_change_one_app_only_and_refuse_a_stateful_one_mocked(
    run_layer: Any,
) -> None:
    from sprocket_common.env_config import ConfigError

    before = services(run_platform(run_layer))
    after = services(run_platform(run_layer, config={"replicas": {"web": 3}}))
    assert after["web"]["mode"]["replicated"]["replicas"] == 3
    assert {name for name in before if before[name] != after[name]} == {"web"}
    with pytest.raises(ConfigError, match=r"sprocket:replicas: dgraph-alpha is stateful"):
        run_platform(run_layer, config={"replicas": {"dgraph-alpha": 2}})
    with pytest.raises(ConfigError, match=r"sprocket:replicas: names no enabled catalog entry"):
        run_platform(run_layer, config={"replicas": {"wbe": 2}})
