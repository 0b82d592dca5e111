"""Every resource each layer declares in local, staging and prod, pinned to a recording.

The recording (tests/unit/golden/declared_specs.json) was made before the house service grew
the fields layer_2 used to patch in from outside and before the per-environment defaults table:
a refactor that changes any declared spec, option or dependency fails here, which is what a
preview of a deployed stack would show as changes. After a deliberate change of what is
declared, rewrite it with `SPROCKET_UPDATE_GOLDEN=1 pytest tests/unit/test_declared_specs.py`
and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.mocked

GOLDEN = Path(__file__).parent / "golden" / "declared_specs.json"
DOMAIN = "sprocket.example.gg"
LAYER1_CONFIG = {
    "base_domain": DOMAIN,
    "acme_email": "ops@example.gg",
    "ssh_keys": ["3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa"],
    "admin_cidrs": ["198.51.100.7/32"],
    "discord_client_id": "123456",
    "discord_guild_id": "654321",
}
LAYER1_OUT = {
    "ingress_network": "traefik-ingress",
    "socket_proxy_network": "traefik-socket-proxy",
    "base_domain": DOMAIN,
    "tls_resolver": "letsencrypt",
    "forward_auth_middleware": "forward-auth@docker",
    "vault_address": "https://vault.sprocket.example.gg",
    "spaces_endpoint": "https://nyc3.digitaloceanspaces.com",
    "spaces_buckets": {},
    "manager_ip": "203.0.113.1",
    "droplet_ips": ["203.0.113.1", "203.0.113.2"],
}
LAYER2_OUT = {
    "redis_host": "redis",
    "redis_port": 6379,
    "redis_password": "canary-redis",
    "rabbitmq_host": "rabbitmq",
    "rabbitmq_port": 5672,
    "rabbitmq_user": "sprocket",
    "rabbitmq_password": "canary-rabbitmq",
    "influx_url": "http://influx:8086",
    "influx_token": "canary-influx",
    "influx_org": "sprocket",
    "postgres_host": "postgres",
    "postgres_port": 5432,
    "postgres_database": "sprocket",
    "app_db_user": "sprocket_app",
    "app_db_password": "canary-db",
    "monitoring_network": "monitoring",
    "data_network": "sprocket-data",
    "influx_app_bucket": "sprocket_main",
    "postgres_ssl_mode": "disable",
}


def _platform_secrets() -> dict[str, str]:
    from sprocket_common.stack_info import Layer, layer_package

    catalog = __import__(f"{layer_package(Layer.PLATFORM)}.catalog", fromlist=["load_catalog"])
    return {
        f"secrets:{name}": f"canary-{name}"
        for name, spec in catalog.load_catalog().secrets.items()
        if spec.source == "external"
    }


def _scenario(layer: str, env: str) -> dict[str, Any]:
    """The `run_layer` arguments of one stack: the least config each env needs."""
    cloud = env != "local"
    if layer == "layer_1":
        return {
            "config": LAYER1_CONFIG if cloud else {},
            "secrets": {"discord_client_secret": "canary"},
        }
    if layer == "layer_2":
        local = {
            "layer_2:check_certificates": "false",
            "layer_2:docker_socket_gid": "105",
        }
        return {
            "config": {"base_domain": DOMAIN} if cloud else local,
            "upstream": {"layer_1": LAYER1_OUT},
        }
    return {
        "config": {"secrets_source": "config"} if cloud else {},
        "secrets": _platform_secrets() if cloud else {},
        "upstream": {"layer_1": LAYER1_OUT, "layer_2": LAYER2_OUT},
    }


def _stable(value: Any, ids: dict[str, str]) -> Any:
    """`value` with DigitalOcean ids (numbered by the mocks in registration order, which
    varies between runs) replaced by the name of the resource they are the id of."""
    if isinstance(value, dict):
        return {k: _stable(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_stable(v, ids) for v in value]
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
        return f"<id of {ids[text]}>" if text in ids else value
    return value


def _mock_numbers(records: list[Any]) -> dict[str, str]:
    """What the mocks number by registration order: DigitalOcean ids and droplet addresses."""
    from sprocket_common.declared import _fake_ip

    numbered: dict[str, str] = {}
    for r in records:
        if r.type.startswith("digitalocean:") and r.id.isdigit():
            numbered[r.id] = r.name
            n = int(r.id) - 1000
            numbered[_fake_ip("203.0.113", n)] = f"{r.name} ip"
            numbered[_fake_ip("10.10.0", n)] = f"{r.name} private ip"
    return numbered


def _record(record: Any, ids: dict[str, str]) -> dict[str, Any]:
    return {
        "type": record.type,
        "name": record.name,
        "parent": record.parent_name,
        "protect": record.protect,
        "delete_before_replace": record.delete_before_replace,
        "ignore_changes": sorted(record.ignore_changes),
        "dependencies": sorted(record.dependencies),
        "inputs": _stable(record.inputs, ids),
    }


def declared(layer: str, env: str) -> list[dict[str, Any]]:
    """What `<env>-<layer>` declares, as plain JSON sorted by type and name."""
    from sprocket_common.declared import run_layer_program

    rec = run_layer_program(layer, env=env, **_scenario(layer, env))
    ids = _mock_numbers(rec.resources)
    records = [_record(r, ids) for r in rec.resources]
    canonical = json.loads(json.dumps(records, sort_keys=True, default=repr))
    return sorted(canonical, key=lambda r: (r["type"], r["parent"], r["name"]))


STACKS = [(layer, env) for layer in ("layer_1", "layer_2", "platform")
          for env in ("local", "staging", "prod")]  # fmt: skip


def _golden() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}


@pytest.mark.parametrize(("layer", "env"), STACKS)
def test_declared_resources_match_the_recording(layer: str, env: str) -> None:
    got = declared(layer, env)
    key = f"{env}-{layer}"
    if os.environ.get("SPROCKET_UPDATE_GOLDEN"):
        golden = _golden()
        golden[key] = got
        GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    want = _golden()[key]
    assert [(r["type"], r["name"]) for r in got] == [(r["type"], r["name"]) for r in want]
    for mine, theirs in zip(got, want, strict=True):
        assert mine == theirs, f"{key}: {mine['type']} {mine['name']} differs"


STATEFUL = {
    "docker:index/volume:Volume",
    "digitalocean:index/volume:Volume",
    "digitalocean:index/spacesBucket:SpacesBucket",
    "digitalocean:index/databaseCluster:DatabaseCluster",
}


@pytest.mark.parametrize(("layer", "env"), STACKS)
def test_every_layer_protects_its_data_as_the_env_defaults_say(layer: str, env: str) -> None:
    # Before the defaults table, platform volumes were protected in prod only and layer_2's
    # named volumes nowhere, while layer_1 protected its data everywhere but local.
    from sprocket_common.env_defaults import env_defaults

    stateful = [r for r in declared(layer, env) if r["type"] in STATEFUL]
    assert stateful, f"{env}-{layer} declares no stateful resource"
    want = env_defaults(env).protect_stateful
    assert {(r["name"], r["protect"]) for r in stateful} == {(r["name"], want) for r in stateful}
