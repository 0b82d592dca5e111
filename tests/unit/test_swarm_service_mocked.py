"""SwarmService under pulumi mocks: the spec Swarm receives carries every house default."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from sprocket_common.service import ServiceConfig

SERVICE = "docker:index/service:Service"
CANARY = "canary-5f3e9a-do-not-leak"


def _config() -> ServiceConfig:
    return ServiceConfig.model_validate(
        {
            "name": "web",
            "image": "nginx:1.27",
            "replicas": 2,
            "env": {"MODE": "prod"},
            "healthcheck": {"test": ["CMD", "true"], "start_period_s": 20},
            "resources": {"cpu": 1.0, "memory_mb": 256},
            "networks": ["traefik-ingress"],
            "files": [{"name": "conf", "target": "/etc/web.yaml", "content": "a: 1\n"}],
            "secret_mounts": [{"name": "db-password", "target": "db_password"}],
            "volumes": [{"volume": "web-data", "target": "/data", "size_limit_mb": 100}],
        }
    )


def _program() -> None:
    import pulumi

    from sprocket_common.service import SwarmService

    svc = SwarmService(
        "web",
        _config(),
        secrets={"db-password": pulumi.Output.secret(CANARY)},
        extra_labels={"traefik.enable": "true"},
    )
    pulumi.export("service_name", svc.service_name)


def test_swarm_service_spec_mocked(run_program: Any) -> None:
    rec = run_program(_program, "local-layer_1")
    [service] = rec.by_type(SERVICE)
    spec = service.inputs
    task = spec["taskSpec"]
    assert spec["name"] == "web"
    assert spec["mode"]["replicated"]["replicas"] == 2
    assert spec["updateConfig"]["failureAction"] == "rollback"
    # 20 + 2 * 3 + 10 s, as Swarm reads back: local caps the default 10 s interval at 2 s
    assert spec["updateConfig"]["monitor"] == "36s"
    assert task["containerSpec"]["healthcheck"]["interval"] == "2s"
    assert spec["rollbackConfig"]["failureAction"] == "pause"
    assert task["restartPolicy"]["maxAttempts"] == 5
    assert task["logDriver"] == {
        "name": "json-file",
        "options": {"max-size": "5m", "max-file": "5", "compress": "true"},
    }
    assert task["resources"]["limits"] == {"nanoCpus": 1_000_000_000, "memoryBytes": 256 << 20}
    # No reservation unless declared: the sum of the old half-limit ones left tasks pending.
    assert task["resources"].get("reservation") is None
    container = task["containerSpec"]
    assert container["healthcheck"]["tests"] == ["CMD", "true"]
    assert container["env"] == {"MODE": "prod"}
    assert {"label": "traefik.enable", "value": "true"} in spec["labels"]
    assert container["mounts"][0]["source"] == "web-data"
    # The export is the service's `name` output; under the mocks that only echoes the input
    # (asserted above as spec["name"]), so the export's value is not asserted here.
    assert "service_name" in rec.outputs
    # children are parented to the component
    assert all(r.parent_name == "web" for r in rec.resources if r.type.startswith("docker:"))
    assert service.delete_before_replace


def test_configs_are_content_named_and_secrets_stay_secret_mocked(run_program: Any) -> None:
    rec = run_program(_program, "local-layer_1")
    [config] = rec.by_type("docker:index/serviceConfig:ServiceConfig")
    assert config.inputs["name"].startswith("web-conf-")
    assert base64.b64decode(config.inputs["data"]).decode() == "a: 1\n"
    [secret] = rec.by_type("docker:index/secret:Secret")
    assert "name" not in secret.inputs  # auto-named: nothing derived from the value is public
    [service] = rec.by_type(SERVICE)
    mounted = service.inputs["taskSpec"]["containerSpec"]["secrets"][0]
    assert mounted["fileName"] == "/run/secrets/db_password"
    assert mounted["secretId"] == secret.id
    assert CANARY not in repr(service.inputs)
    assert CANARY not in repr(config.inputs)


def test_missing_secret_value_is_named_mocked(run_program: Any) -> None:
    def program() -> None:
        from sprocket_common.service import SwarmService

        SwarmService("web", _config(), secrets={})

    with pytest.raises(ValueError, match="db-password"):
        run_program(program, "local-layer_1")


def test_prod_keeps_the_declared_healthcheck_timings_mocked(run_program: Any) -> None:
    """The environment's caps (env_defaults.health) leave prod as the service declares it."""
    [service] = run_program(_program, "prod-layer_1").by_type(SERVICE)
    spec = service.inputs
    assert spec["updateConfig"]["monitor"] == "1m"  # 20 + 10 * 3 + 10 s, as Swarm reads back
    health = spec["taskSpec"]["containerSpec"]["healthcheck"]
    assert (health["interval"], health["startPeriod"]) == ("10s", "20s")
