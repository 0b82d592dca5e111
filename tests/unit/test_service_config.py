"""The house service model: what it accepts, what it refuses, and the defaults it applies."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from pydantic import ValidationError

from sprocket_common.service import (
    FileMount,
    Healthcheck,
    Route,
    ServiceConfig,
    house_log_driver,
    house_monitor_s,
    house_restart_policy,
    house_update_config,
    looks_like_credential,
    swarm_duration,
)
from sprocket_common.traefik import traefik_labels

HC = {"test": ["CMD", "true"]}


def make(**fields: Any) -> ServiceConfig:
    return ServiceConfig.model_validate(
        {"name": "web", "image": "nginx:1.27", "healthcheck": HC, **fields}
    )


def test_models_load_without_pulumi() -> None:
    # The driver validates configs with these; importing them must not load pulumi (slow start).
    code = (
        "import sys, sprocket_common.service, sprocket_common.traefik, sprocket_common.env_config;"
        "print(sorted(m for m in sys.modules if m.startswith('pulumi')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("DB_PASSWORD", "hunter2"),
        ("API_TOKEN", "abc"),
        ("CLIENT_SECRET", "abc"),
        ("AWS_SECRET_ACCESS_KEY", "abc"),
        ("SENTRY_DSN", "https://x@sentry.io/1"),
        ("REDIS_URL", "redis://:pw@redis:6379"),
        ("AMQP", "amqp://user:pass@rabbit:5672"),
    ],
)
def test_credential_env_is_refused_with_the_key_named(key: str, value: str) -> None:
    with pytest.raises(ValidationError) as err:
        make(env={key: value})
    assert key in str(err.value)
    assert "secret_mounts" in str(err.value)
    assert value not in str(err.value)  # the refused credential is not echoed


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("CONFIG_FILE", "/app/config.yaml"),
        ("CLIENT_SECRET_FILE", "/run/secrets/client_secret"),
        ("REDIS_URL", "redis://redis:6379"),
        ("KEYCLOAK_HOST", "kc"),  # KEY only counts as a whole word
        ("LOG_LEVEL", "warn"),
    ],
)
def test_ordinary_env_is_accepted(key: str, value: str) -> None:
    assert make(env={key: value}).env == {key: value}


def test_secret_file_pointer_outside_run_secrets_is_still_a_credential() -> None:
    assert looks_like_credential("DB_PASSWORD_FILE", "/tmp/pw")


def test_host_ports_with_start_first_are_refused() -> None:
    with pytest.raises(ValidationError, match="stop-first"):
        make(publish_host_ports=[80])
    assert make(publish_host_ports=[80], update_order="stop-first").publish_host_ports == [80]


def test_unknown_fields_and_bad_values_name_the_field() -> None:
    with pytest.raises(ValidationError, match="replicaz"):
        make(replicaz=2)
    with pytest.raises(ValidationError, match="service name 'Web_1'"):
        make(name="Web_1")
    with pytest.raises(ValidationError, match="healthcheck"):
        ServiceConfig.model_validate({"name": "web", "image": "nginx"})
    with pytest.raises(ValidationError, match="CMD"):
        Healthcheck(test=["NONE"])
    with pytest.raises(ValidationError, match="path_prefix"):
        Route(hostname="a.example.gg", port=80, path_prefix="api")


def test_credential_labels_are_refused() -> None:
    with pytest.raises(ValidationError, match="basicauth"):
        make(labels={"traefik.http.middlewares.x.basicauth.users": "admin:$2y$..."})


def test_monitor_window_outlasts_the_healthcheck() -> None:
    hc = Healthcheck(test=["CMD", "true"], interval_s=10, start_period_s=30, retries=3)
    update = house_update_config(hc, "start-first")
    assert house_monitor_s(hc) > hc.start_period_s + hc.interval_s * hc.retries
    assert update["monitor"] == swarm_duration(house_monitor_s(hc))
    assert update["failure_action"] == "rollback"
    assert update["order"] == "start-first"
    assert update["parallelism"] == 1


def test_restart_policy_is_bounded() -> None:
    policy = house_restart_policy()
    assert policy["condition"] == "on-failure"
    assert policy["max_attempts"] == 5
    assert policy["window"] == "2m"  # as the provider reads it back from Swarm


def test_log_drivers() -> None:
    assert house_log_driver("json-file")["options"] == {
        "max-size": "5m",
        "max-file": "5",
        "compress": "true",
    }
    fluentd = house_log_driver("fluentd", "web", "10.0.0.1:24224")["options"]
    assert fluentd["fluentd-address"] == "10.0.0.1:24224"
    assert fluentd["fluentd-async"] == "true"
    assert fluentd["mode"] == "non-blocking"
    assert fluentd["tag"] == "docker.web.{{.Name}}"  # the Swarm template passes literally
    with pytest.raises(ValueError, match="json-file, fluentd"):
        house_log_driver("syslog")


def test_file_names_change_with_content() -> None:
    a = FileMount(name="conf", target="/etc/app.yaml", content="a: 1")
    b = FileMount(name="conf", target="/etc/app.yaml", content="a: 2")
    assert a.digest != b.digest
    assert len(a.digest) == 8


def test_traefik_labels_route_each_hostname_to_its_port() -> None:
    config = make(
        routes=[
            {"hostname": "web.example.gg", "port": 3000},
            {"hostname": "api.example.gg", "port": 3001, "path_prefix": "/graphql"},
            {"hostname": "admin.example.gg", "port": 3000, "forward_auth": True},
        ]
    )
    labels = traefik_labels(config, "letsencrypt", "forward-auth@docker")
    assert labels["traefik.enable"] == "true"
    assert labels["traefik.docker.network"] == "traefik-ingress"
    assert labels["traefik.http.routers.web-0.rule"] == "Host(`web.example.gg`)"
    assert labels["traefik.http.routers.web-0.service"] == "web-3000"
    assert (
        labels["traefik.http.routers.web-1.rule"]
        == "Host(`api.example.gg`) && PathPrefix(`/graphql`)"
    )
    assert labels["traefik.http.routers.web-1.service"] == "web-3001"
    assert labels["traefik.http.services.web-3000.loadbalancer.server.port"] == "3000"
    assert labels["traefik.http.services.web-3001.loadbalancer.server.port"] == "3001"
    assert labels["traefik.http.routers.web-2.middlewares"] == "forward-auth@docker"
    assert "traefik.http.routers.web-0.middlewares" not in labels
    assert all(labels[f"traefik.http.routers.web-{i}.entrypoints"] == "websecure" for i in range(3))
    assert labels["traefik.http.routers.web-0.tls.certresolver"] == "letsencrypt"


def test_traefik_labels_without_resolver_or_routes() -> None:
    routed = make(routes=[{"hostname": "web.local.localhost", "port": 80}])
    labels = traefik_labels(routed, "", "fa")
    assert labels["traefik.http.routers.web-0.tls"] == "true"
    assert not any("certresolver" in k for k in labels)
    assert traefik_labels(make(), "letsencrypt", "fa") == {}


def test_file_mount_from_a_template_file(tmp_path: Any) -> None:
    template = tmp_path / "app.yaml"
    template.write_text("host: ${host}\nnode: {{.Node.Hostname}}\nprice: $$5\n")
    mount = FileMount.from_file("conf", "/etc/app.yaml", template, {"host": "a.example.gg"})
    assert mount.content == "host: a.example.gg\nnode: {{.Node.Hostname}}\nprice: $5\n"
    with pytest.raises(ValueError, match=r"no value for placeholder \$\{host\}"):
        FileMount.from_file("conf", "/etc/app.yaml", template, {})


def test_credential_urls_in_arguments_are_refused_without_echoing_them() -> None:
    with pytest.raises(ValidationError) as err:
        make(args=["--broker=amqp://user:hunter2@rabbit:5672"])
    assert "hunter2" not in str(err.value)
    assert "secret mount" in str(err.value)
    assert make(args=["--broker=amqp://rabbit:5672"]).args == ["--broker=amqp://rabbit:5672"]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (5, "5s"), (60, "1m"), (90, "1m30s"), (120, "2m"), (3600, "1h"), (3660, "1h1m"),
     (3601, "1h0m1s")],
)  # fmt: skip
def test_durations_are_written_as_the_docker_provider_reads_them_back(
    seconds: int, text: str
) -> None:
    from sprocket_common.testing.engine_spec import _ns

    assert swarm_duration(seconds) == text
    assert _ns(text) == seconds * 1_000_000_000


# --- the fields layer_2 used to patch into the spec from outside ------------------------------


def _task(config: ServiceConfig) -> Any:
    from sprocket_common.service import service_args

    return service_args(config, config_ids={f.name: "cfg-id" for f in config.files}).task_spec


def test_a_global_service_runs_one_task_per_node_and_refuses_replicas() -> None:
    from sprocket_common.service import service_args

    spec = service_args(make(mode="global"))
    assert spec.mode.global_ is True and spec.mode.replicated is None
    assert service_args(make(replicas=3)).mode.replicated.replicas == 3
    with pytest.raises(ValidationError, match="replicas=3 does not apply"):
        make(mode="global", replicas=3)


def test_dnsrr_endpoint_mode_keeps_host_ports() -> None:
    from sprocket_common.service import service_args

    assert service_args(make()).endpoint_spec is None  # VIP, nothing published: the default
    dnsrr = service_args(make(endpoint_mode="dnsrr")).endpoint_spec
    assert dnsrr.mode == "dnsrr" and dnsrr.ports is None
    both = make(endpoint_mode="dnsrr", publish_host_ports=[24224], update_order="stop-first")
    [port] = service_args(both).endpoint_spec.ports
    assert (port.published_port, port.publish_mode) == (24224, "host")
    with pytest.raises(ValidationError, match="endpoint_mode"):
        make(endpoint_mode="ingress")


def test_container_hostname_user_and_groups_are_in_the_spec() -> None:
    container = _task(
        make(hostname="{{.Node.Hostname}}", user="telegraf", groups=["105"])
    ).container_spec
    assert (container.hostname, container.user, container.groups) == (
        "{{.Node.Hostname}}",
        "telegraf",
        ["105"],
    )
    plain = _task(make()).container_spec
    assert (plain.hostname, plain.user, plain.groups) == (None, None, None)


def test_a_service_without_healthcheck_must_say_why() -> None:
    with pytest.raises(ValidationError, match="no_healthcheck_because"):
        ServiceConfig(name="web", image="nginx")
    with pytest.raises(ValidationError, match="not both"):
        make(no_healthcheck_because="FROM scratch")
    with pytest.raises(ValidationError, match="no_healthcheck_because"):
        ServiceConfig(name="web", image="nginx", no_healthcheck_because="  ")
    bare = ServiceConfig(name="web", image="nginx", no_healthcheck_because="FROM scratch")
    assert _task(bare).container_spec.healthcheck is None
    # Swarm still watches a new task as long as a default-timed check would take.
    default = Healthcheck(test=["CMD", "true"])
    assert house_monitor_s(None) == house_monitor_s(default)


def test_config_file_modes_are_declared_or_left_to_docker() -> None:
    script = FileMount(name="init", target="/init.sh", content="#!/bin/sh\n", file_mode=0o555)
    plain = FileMount(name="conf", target="/etc/a.conf", content="a\n")
    configs = _task(make(files=[script, plain])).container_spec.configs
    assert [c.file_mode for c in configs] == [0o555, None]
    with pytest.raises(ValidationError, match="file_mode"):
        FileMount(name="x", target="/x", content="", file_mode=0o1777)
