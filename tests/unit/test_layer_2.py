"""layer_2 under Pulumi's mocks (`run_layer`): what a reviewer of the deploy would check.

Every service, role, secret, config file and output of the layer is read back from the
resources the program registers, in `local` and in `prod`.
"""

from __future__ import annotations

import base64
import re
import tomllib
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from sprocket_common.outputs import LAYER2_KEYS, LAYER2_SECRET_KEYS
from sprocket_common.stack_info import PROJECT_ROOT

pytestmark = pytest.mark.mocked

SERVICE = "docker:index/service:Service"
SECRET = "docker:index/secret:Secret"
CONFIG = "docker:index/serviceConfig:ServiceConfig"
PASSWORD = "p" * 64  # what the mocks return for every RandomPassword (the canary)
DOMAIN = "sprocket.example.gg"

LAYER1 = {
    "ingress_network": "traefik-ingress",
    "socket_proxy_network": "socket-proxy",
    "base_domain": DOMAIN,
    "tls_resolver": "letsencrypt",
    "forward_auth_middleware": "forward-auth@docker",
    "vault_address": "https://vault.sprocket.example.gg",
    "spaces_endpoint": "nyc3.digitaloceanspaces.com",
    "spaces_buckets": {},
    "manager_ip": "203.0.113.1",
    "droplet_ips": ["203.0.113.1", "203.0.113.2"],
}
COMMON_SERVICES = {
    "layer2redis-redis-primary",
    "rabbitmq-service",
    "influx",
    "loki",
    "fluentd",
    "telegraf",
    "grafana",
    "gatus",
}
PUBLIC_CHECK = {
    "name": f"dgraph.{DOMAIN}",
    "url": f"https://dgraph.{DOMAIN}/health",
    "expect_ok": False,
}
# What layer_1 publishes in DNS for itself and the platform (gatus.other_layers_targets).
OTHER_LAYER_HOSTS = {DOMAIN} | {
    f"{name}.{DOMAIN}" for name in ("api", "image-generation", "fa", "traefik", "vault")
}


def run(run_layer: Any, env: str, **config: Any) -> Any:
    settings = {"base_domain": DOMAIN, **config} if env != "local" else dict(config)
    return run_layer("layer_2", env=env, config=settings, upstream={"layer_1": LAYER1})


@pytest.fixture
def local(run_layer: Any) -> Any:
    return run(run_layer, "local")


@pytest.fixture
def prod(run_layer: Any) -> Any:
    return run(run_layer, "prod", **{"layer_2:public_checks": [PUBLIC_CHECK]})


def services(rec: Any) -> dict[str, dict[str, Any]]:
    return {r.inputs["name"]: r.inputs for r in rec.by_type(SERVICE)}


def container(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["taskSpec"]["containerSpec"]


def labels(spec: dict[str, Any]) -> dict[str, str]:
    return {item["label"]: item["value"] for item in spec.get("labels") or []}


def decoded(record: Any) -> str:
    data = record.inputs["data"]
    if isinstance(data, dict):  # a secret input arrives wrapped: {<sig>: <secret sig>, value}
        data = data["value"]
    return base64.b64decode(data).decode()


def active(text: str) -> str:
    """The lines of a config file that are not comments."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(("#", ";")))


def secret_text(rec: Any, name: str) -> str:
    return decoded(rec.one(SECRET, name))


def config_text(rec: Any, name: str) -> str:
    return decoded(rec.one(CONFIG, name))


def seconds(value: str) -> int:
    from sprocket_common.testing.engine_spec import _ns

    return (_ns(value) or 0) // 1_000_000_000


# --- what is declared ---------------------------------------------------------------------


def test_local_declares_every_service_with_a_postgres_of_its_own(local: Any) -> None:
    assert set(services(local)) == COMMON_SERVICES | {"postgres"}
    assert not [r for r in local.resources if r.type.startswith("digitalocean:")]


def test_prod_declares_the_services_and_a_protected_managed_postgres(prod: Any) -> None:
    assert set(services(prod)) == COMMON_SERVICES | {"postgres-grants"}
    cluster = prod.one("digitalocean:index/databaseCluster:DatabaseCluster", "postgres")
    assert cluster.protect, "the managed database must be protected from deletion"
    assert cluster.inputs["engine"] == "pg"
    dbs = {r.inputs["name"] for r in prod.by_type("digitalocean:index/databaseDb:DatabaseDb")}
    assert dbs == {"grafana", "sprocket_main"}
    firewall = prod.one("digitalocean:index/databaseFirewall:DatabaseFirewall", "postgres-firewall")
    rules = [(rule["type"], rule["value"]) for rule in firewall.inputs["rules"]]
    assert rules == [("tag", "sprocket-prod")] + [("ip_addr", ip) for ip in LAYER1["droplet_ips"]]


def test_prod_and_local_declare_the_same_three_roles_and_the_local_script_grants_no_superuser(
    prod: Any,
) -> None:
    prod_roles = {
        r.inputs["name"] for r in prod.by_type("digitalocean:index/databaseUser:DatabaseUser")
    }
    script = (PROJECT_ROOT / "layer_2" / "files" / "postgres" / "init-roles.sh").read_text()
    local_roles = set(re.findall(r"CREATE ROLE :?\"?(\w+)\"?", script))
    # The app role has its name from config: `sprocket_app` in prod, the psql variable locally.
    assert prod_roles == {"grafana", "telegraf", "sprocket_app"}
    assert local_roles == {"grafana", "telegraf", "app_user"}
    assert "SUPERUSER" not in script.replace("NOSUPERUSER", "")
    assert prod.outputs["app_db_user"] == "sprocket_app"


def test_apps_cannot_be_given_an_admin_database_user(run_layer: Any) -> None:
    from sprocket_common.env_config import ConfigError

    with pytest.raises(ConfigError, match=r"layer_2:app_db_user: 'doadmin' is an admin role"):
        run(run_layer, "local", **{"layer_2:app_db_user": "doadmin"})


# --- house defaults -----------------------------------------------------------------------


def test_every_service_has_the_house_defaults(local: Any, prod: Any) -> None:
    for rec in (local, prod):
        for name, spec in services(rec).items():
            task = spec["taskSpec"]
            log = task["logDriver"]
            if name in ("loki", "fluentd"):  # they must not log into themselves
                assert log == {
                    "name": "json-file",
                    "options": {"max-size": "5m", "max-file": "5", "compress": "true"},
                }, name
            else:
                assert log["name"] == "fluentd", name
                assert log["options"]["mode"] == "non-blocking", name
                assert log["options"]["fluentd-async"] == "true", name
            assert task["restartPolicy"]["condition"] == "on-failure", name
            assert task["restartPolicy"]["maxAttempts"] == 5, name
            limits = task["resources"]["limits"]
            assert limits["nanoCpus"] > 0 and limits["memoryBytes"] > 0, name
            update = spec["updateConfig"]
            assert update["failureAction"] == "rollback", name
            hc = container(spec).get("healthcheck")
            if name == "gatus":  # FROM scratch: no shell, no client; watched from outside
                assert not hc
                continue
            assert hc and hc["tests"][0] in ("CMD", "CMD-SHELL"), name
            assert seconds(update["monitor"]) > seconds(hc["startPeriod"]), name


def test_stateful_services_stop_first_on_the_labelled_storage_node(local: Any) -> None:
    label = local.one("pulumi-python:dynamic:Resource", "storage-node-label")
    assert (label.inputs["key"], label.inputs["value"]) == ("role", "storage")
    specs = services(local)
    for name in ("influx", "loki", "layer2redis-redis-primary", "rabbitmq-service", "postgres"):
        assert specs[name]["taskSpec"]["placement"]["constraints"] == ["node.labels.role==storage"]
        assert specs[name]["updateConfig"]["order"] == "stop-first", name


def test_volume_limits_are_recorded_and_only_enforced_where_the_driver_can(
    local: Any, run_layer: Any
) -> None:
    def volumes(rec: Any) -> dict[str, dict[str, Any]]:
        return {r.inputs["name"]: r.inputs for r in rec.by_type("docker:index/volume:Volume")}

    def limit(inputs: dict[str, Any]) -> str:
        [value] = [i["value"] for i in inputs["labels"] if i["label"] == "sprocket.size-limit-mb"]
        return str(value)

    plain = volumes(local)
    assert limit(plain["layer2-redis-data"]) == "2048"
    assert limit(plain["layer2-influx-data"]) == "5120"
    assert all(not v.get("driverOpts") for v in plain.values())
    quota = volumes(run(run_layer, "local", **{"layer_2:volume_quota": True}))
    assert quota["layer2-redis-data"]["driverOpts"] == {"size": "2048M"}
    assert quota["layer2-influx-data"]["driverOpts"] == {"size": "5120M"}


# --- credentials --------------------------------------------------------------------------


def test_no_credential_in_env_args_or_labels(local: Any, prod: Any) -> None:
    for rec in (local, prod):
        for name, spec in services(rec).items():
            c = container(spec)
            visible = [
                *(c.get("env") or {}).values(),
                *(c.get("args") or []),
                *(c.get("commands") or []),
                *labels(spec).values(),
            ]
            for value in visible:
                assert PASSWORD not in value, f"{name} shows a password: {value}"
                assert "mock-db-password" not in value, f"{name} shows a DB password"
                assert "mock-admin-password" not in value, f"{name} shows the DB admin password"
                assert "guest" not in value, f"{name} mentions guest: {value}"


def test_credentials_are_swarm_secrets_and_rabbitmq_has_no_guest(local: Any) -> None:
    rabbit = secret_text(local, "rabbitmq-service-rabbitmq-credentials")
    assert rabbit == f"default_user = sprocket\ndefault_pass = {PASSWORD}\n"
    assert "loopback_users.guest = true" in config_text(local, "rabbitmq-service-rabbitmq-conf")
    assert secret_text(local, "layer2redis-redis-primary-redis-auth") == f"requirepass {PASSWORD}\n"
    rabbit_spec = services(local)["rabbitmq-service"]
    assert "30-credentials.conf" in " ".join(container(rabbit_spec)["commands"])


def test_redis_loads_its_config_which_binds_beyond_loopback(local: Any) -> None:
    spec = services(local)["layer2redis-redis-primary"]
    assert container(spec)["commands"] == ["redis-server", "/usr/local/etc/redis/redis.conf"]
    mounted = {c["fileName"] for c in container(spec)["configs"]}
    assert "/usr/local/etc/redis/redis.conf" in mounted
    conf = active(config_text(local, "layer2redis-redis-primary-redis-conf"))
    assert "include /run/secrets/redis-auth.conf" in conf
    assert re.search(r"^bind 0\.0\.0\.0", conf, re.M) and "127.0.0.1" not in conf
    assert "appendonly yes" in conf


def test_rabbitmq_limits_connections_and_is_only_reachable_through_forward_auth(
    prod: Any,
) -> None:
    conf = config_text(prod, "rabbitmq-service-rabbitmq-conf")
    for line in (
        "heartbeat = 60",
        "connection_max = 1000",
        "channel_max = 128",
        "tcp_listen_options.keepalive = true",
    ):
        assert line in conf
    spec = services(prod)["rabbitmq-service"]
    assert spec["endpointSpec"] == {"mode": "dnsrr"}
    assert container(spec)["hostname"] == "{{.Node.Hostname}}"
    lab = labels(spec)
    rules = [v for k, v in lab.items() if k.endswith(".rule")]
    assert rules == [f"Host(`rabbitmq.{DOMAIN}`)"]  # the UI only; AMQP is not routed
    assert lab["traefik.http.routers.rabbitmq-service-0.middlewares"] == "forward-auth@docker"
    assert not any(k.startswith("traefik.tcp") for k in lab)


# --- monitoring configs -------------------------------------------------------------------


def test_grafana_datasources_point_at_the_declared_services(local: Any) -> None:
    specs = services(local)
    provisioning = yaml.safe_load(config_text(local, "grafana-grafana-datasources"))
    by_type = {d["type"]: d for d in provisioning["datasources"]}
    assert by_type["influxdb"]["url"] == "http://influx:8086"
    assert by_type["loki"]["url"] == "http://loki:3100"
    for ds in provisioning["datasources"]:
        host = ds["url"].split("//")[1].split(":")[0]
        assert host in specs, f"datasource {ds['name']} points at undeclared {host}"
    influx_bucket = by_type["influxdb"]["jsonData"]["defaultBucket"]
    assert influx_bucket == container(specs["influx"])["env"]["SPROCKET_APP_BUCKET"]
    token_file = by_type["influxdb"]["secureJsonData"]["token"]
    assert token_file == "$__file{/run/secrets/influx_token}"
    grafana_secrets = {s["fileName"] for s in container(specs["grafana"])["secrets"]}
    assert "/run/secrets/influx_token" in grafana_secrets
    assert secret_text(local, "grafana-grafana-db-url").startswith(
        f"postgres://grafana:{PASSWORD}@"
    )


def test_grafana_has_an_admin_password_and_its_own_db_role_in_prod(prod: Any) -> None:
    ini = config_text(prod, "grafana-grafana-ini")
    assert "admin_password = $__file{/run/secrets/grafana_admin_password}" in ini
    url = secret_text(prod, "grafana-grafana-db-url")
    assert url.startswith("postgres://grafana:mock-db-password-grafana@private-postgres.db:25060/")
    env = container(services(prod)["grafana"])["env"]
    assert env["GF_DATABASE_SSL_MODE"] == "require"


def test_telegraf_inputs_use_the_generated_credentials(prod: Any) -> None:
    conf = active(config_text(prod, "telegraf-telegraf-conf"))
    for plugin in (
        "inputs.docker",
        "inputs.cpu",
        "inputs.mem",
        "inputs.disk",
        "inputs.redis",
        "inputs.rabbitmq",
        "inputs.postgresql",
        "outputs.influxdb_v2",
    ):
        assert f"[[{plugin}]]" in conf, plugin
    parsed = tomllib.loads(conf)  # Telegraf refuses a file that is not valid TOML
    assert parsed["inputs"]["redis"][0]["servers"] == ["tcp://layer2redis-redis-primary:6379"]
    assert parsed["inputs"]["rabbitmq"][0]["url"] == "http://rabbitmq-service:15672"
    assert parsed["outputs"]["influxdb_v2"][0]["urls"] == ["http://influx:8086"]
    assert parsed["outputs"]["influxdb_v2"][0]["organization"] == prod.outputs["influx_org"]
    assert "sslmode=disable" not in conf and "localhost" not in conf
    dsn = secret_text(prod, "telegraf-postgres-dsn")
    assert "user=telegraf" in dsn and "sslmode=require" in dsn and "port=25060" in dsn
    mounted = {s["fileName"] for s in container(services(prod)["telegraf"])["secrets"]}
    for ref in set(re.findall(r"@\{swarm:(\w+)\}", conf)):
        assert f"/run/secrets/{ref}" in mounted, f"telegraf references unmounted secret {ref}"
    assert secret_text(prod, "telegraf-rabbitmq-user") == "sprocket"
    assert services(prod)["telegraf"]["mode"] == {"global": True}


def test_loki_keeps_logs_for_a_week_and_fluentd_does_not_echo_records(local: Any) -> None:
    loki = yaml.safe_load(config_text(local, "loki-loki-conf"))
    assert loki["compactor"]["retention_enabled"] is True
    assert loki["limits_config"]["retention_period"] == "168h"
    fluentd = active(config_text(local, "fluentd-fluentd-conf"))
    assert "@type stdout" not in fluentd
    assert "@type loki" in fluentd and 'url "http://loki:3100"' in fluentd
    spec = services(local)["fluentd"]
    assert spec["mode"] == {"global": True}
    assert spec["endpointSpec"]["ports"][0]["publishMode"] == "host"


def test_influx_creates_the_app_bucket_the_original_forgot(local: Any) -> None:
    spec = services(local)["influx"]
    env = container(spec)["env"]
    assert env["SPROCKET_APP_BUCKET"] == "sprocket_main"
    assert env["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN_FILE"] == "/run/secrets/influx_token"
    script = config_text(local, "influx-influx-buckets")
    assert "influx bucket create" in script and "$SPROCKET_APP_BUCKET" in script
    initdb = [c for c in container(spec)["configs"] if "initdb" in c["fileName"]]
    assert initdb and initdb[0]["fileMode"] == 0o555


# --- Gatus ----------------------------------------------------------------------------------


def routed_hostnames(rec: Any) -> set[str]:
    hosts = set()
    for spec in services(rec).values():
        for key, value in labels(spec).items():
            if key.endswith(".rule"):
                hosts.update(re.findall(r"Host\(`([^`]+)`\)", value))
    return hosts


def test_every_gatus_endpoint_is_a_declared_route_or_service(prod: Any) -> None:
    config = yaml.safe_load(secret_text(prod, "gatus-gatus-config"))
    declared_hosts = routed_hostnames(prod) | OTHER_LAYER_HOSTS | {f"dgraph.{DOMAIN}"}
    declared_services = set(services(prod)) | {"private-postgres.db"}
    public = [e for e in config["endpoints"] if e["group"] in ("critical", "warning")]
    internal = [e for e in config["endpoints"] if e["group"] == "internal"]
    for endpoint in public:
        host = endpoint["url"].split("/")[2]
        assert host in declared_hosts, f"gatus checks undeclared {endpoint['url']}"
    for endpoint in internal:
        host = endpoint["url"].split("/")[2].split(":")[0]
        assert host in declared_services, f"gatus checks undeclared {endpoint['url']}"
    checked = {e["url"].split("/")[2] for e in public}
    assert checked == declared_hosts, "every public hostname is checked"
    assert {e["name"] for e in internal} == {
        "redis",
        "rabbitmq",
        "postgres",
        "influx",
        "loki",
        "grafana",
    }


def test_gatus_uses_the_runbook_thresholds(prod: Any) -> None:
    config = yaml.safe_load(secret_text(prod, "gatus-gatus-config"))
    by = {(e["group"], e["name"]): e["conditions"] for e in config["endpoints"]}
    grafana = f"grafana.{DOMAIN}"
    # Certificates in groups of their own: an expiring one is not downtime for `report sla`.
    connected = "[CONNECTED] == true"
    assert by[("certificate", grafana)] == [connected, "[CERTIFICATE_EXPIRATION] > 168h"]
    assert by[("certificate-notice", grafana)] == [connected, "[CERTIFICATE_EXPIRATION] > 720h"]
    from automation.sla.targets import COUNTED_GROUPS

    counted = [c for (group, _), conds in by.items() if group in COUNTED_GROUPS for c in conds]
    assert counted and not any("CERTIFICATE" in c for c in counted)
    assert "[RESPONSE_TIME] < 500" in by[("warning", grafana)]
    assert "[RESPONSE_TIME] < 1000" in by[("warning", f"api.{DOMAIN}")]
    assert "[STATUS] < 500" in by[("critical", f"dgraph.{DOMAIN}")]  # configured extra
    assert "[STATUS] == 200" in by[("critical", f"status.{DOMAIN}")]
    assert "[STATUS] < 500" in by[("critical", grafana)]  # forward auth answers a redirect


@pytest.mark.parametrize("env", ["local", "prod"])
def test_every_gatus_endpoint_fails_when_the_call_fails(run_layer: Any, env: str) -> None:
    """A refused connection or DNS error has status 0 and a ~1 ms response time: without
    Gatus's `[CONNECTED] == true`, `[STATUS] < 500` and `[RESPONSE_TIME] < 500` pass on a
    route that is down (tests/integration/test_gatus_real.py shows it on the real binary)."""
    extra = {"layer_2:public_checks": [PUBLIC_CHECK]} if env == "prod" else {}
    config = yaml.safe_load(secret_text(run(run_layer, env, **extra), "gatus-gatus-config"))
    assert config["endpoints"]
    for endpoint in config["endpoints"]:
        assert "[CONNECTED] == true" in endpoint["conditions"], endpoint


def test_local_gatus_checks_the_public_routes_through_traefik_and_nothing_off_the_machine(
    run_layer: Any,
) -> None:
    """The committed local stack file: *.local.localhost resolves nowhere inside the Swarm, so
    each public check connects to Traefik's task address with its hostname as Host (before,
    local checked no public route at all); every URL names a Swarm service, none a DNS name,
    and no alert goes anywhere."""
    from pathlib import Path

    committed = yaml.safe_load(Path("Pulumi.local-layer_2.yaml").read_text())["config"]
    rec = run_layer("layer_2", env="local", config=committed, upstream={"layer_1": LAYER1})
    config = yaml.safe_load(secret_text(rec, "gatus-gatus-config"))
    public = [e for e in config["endpoints"] if e["group"] != "internal"]
    names = {e["name"] for e in public}
    assert {"local.localhost", "api.local.localhost", "status.local.localhost"} <= names
    for endpoint in public:
        url = urlsplit(endpoint["url"])
        assert (url.scheme, url.netloc) == ("https", "tasks.traefik"), endpoint
        assert endpoint["headers"] == {"Host": endpoint["name"]}, endpoint
        assert endpoint["client"]["insecure"] is True  # Traefik's default certificate
    for endpoint in config["endpoints"]:
        host = (urlsplit(endpoint["url"]).hostname or "").removeprefix("tasks.")
        assert "." not in host, endpoint  # a Swarm service's name, never a DNS name
        assert endpoint["interval"] == "15s"
    assert "alerting" not in config


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("public_checks_via", "https://traefik/", r"is not host\[:port\]"),
        ("check_interval", "1 minute", "is not a duration"),
    ],
)
def test_bad_gatus_settings_are_refused_naming_the_key(key: str, value: str, why: str) -> None:
    from layer_2.settings import Layer2Settings

    with pytest.raises(ValueError, match=f"(?s){key}.*{why}"):
        Layer2Settings(**{key: value})


@pytest.mark.parametrize("env", ["local", "prod"])
def test_a_not_5xx_endpoint_counts_traefiks_404_as_down(run_layer: Any, env: str) -> None:
    """A route whose service has no task left is dropped by Traefik, which then answers its
    own 404 (`404 page not found`): `[STATUS] < 500` alone counted that route as up
    (test_real_software scales one to 0)."""
    extra = {"layer_2:public_checks": [PUBLIC_CHECK]} if env == "prod" else {}
    config = yaml.safe_load(secret_text(run(run_layer, env, **extra), "gatus-gatus-config"))
    lenient = [e for e in config["endpoints"] if "[STATUS] < 500" in e["conditions"]]
    assert lenient
    for endpoint in lenient:
        assert "[BODY] != 404 page not found" in endpoint["conditions"], endpoint


def test_gatus_alerts_on_discord_only_with_a_configured_secret_webhook(run_layer: Any) -> None:
    hook = "https://discord.com/api/webhooks/1/canary-webhook"
    rec = run_layer(
        "layer_2",
        env="local",
        secrets={"layer_2:gatus_discord_webhook": hook},
        upstream={"layer_1": LAYER1},
    )
    config = yaml.safe_load(secret_text(rec, "gatus-gatus-config"))
    assert config["alerting"]["discord"]["webhook-url"] == hook
    assert all(e["alerts"][0]["type"] == "discord" for e in config["endpoints"])
    for spec in services(rec).values():
        assert hook not in str(spec)


# --- the contract and the environments ----------------------------------------------------


def test_output_contract(local: Any, prod: Any) -> None:
    for rec in (local, prod):
        assert set(LAYER2_KEYS) <= set(rec.outputs)
        assert set(LAYER2_SECRET_KEYS) <= rec.secret_outputs
        specs = services(rec)
        assert rec.outputs["redis_host"] in specs and rec.outputs["redis_port"] == 6379
        assert rec.outputs["rabbitmq_host"] in specs and rec.outputs["rabbitmq_port"] == 5672
        assert rec.outputs["rabbitmq_user"] == "sprocket"
        assert rec.outputs["influx_url"] == "http://influx:8086"
        nets = {r.inputs["name"] for r in rec.by_type("docker:index/network:Network")}
        assert {rec.outputs["monitoring_network"], rec.outputs["data_network"]} == nets
        assert rec.outputs["redis_password"] == PASSWORD
    assert local.outputs["postgres_host"] == "postgres"
    assert (prod.outputs["postgres_host"], prod.outputs["postgres_port"]) == (
        "private-postgres.db",
        25060,
    )
    # The export is the password of the DatabaseUser registered for the app role (the mocks
    # answer a DatabaseUser's password with one that names the role it was registered for).
    [app_user] = [
        r
        for r in prod.by_type("digitalocean:index/databaseUser:DatabaseUser")
        if r.inputs["name"] == prod.outputs["app_db_user"]
    ]
    assert prod.outputs["app_db_password"] == f"mock-db-password-{app_user.inputs['name']}"


def normalised(spec: dict[str, Any]) -> dict[str, Any]:
    """A service spec without what legitimately differs per env (hostnames, DB TLS, the
    healthcheck timings env_defaults.health caps for local work, and local's endpoint mode:
    no service VIPs there, env_defaults.service_vips)."""
    spec = {k: v for k, v in spec.items() if k not in ("labels", "updateConfig", "rollbackConfig")}
    endpoint = {k: v for k, v in (spec.pop("endpointSpec", None) or {}).items() if k != "mode"}
    if endpoint:
        spec["endpointSpec"] = endpoint
    c = dict(container(spec))
    if c.get("healthcheck"):
        drop = ("interval", "startPeriod")
        c["healthcheck"] = {k: v for k, v in c["healthcheck"].items() if k not in drop}
    c["env"] = {
        k: v
        for k, v in (c.get("env") or {}).items()
        if k not in ("GF_SERVER_ROOT_URL", "GF_DATABASE_SSL_MODE")
    }
    return {**spec, "taskSpec": {**spec["taskSpec"], "containerSpec": c}}


def test_local_and_prod_differ_only_where_stated(local: Any, prod: Any) -> None:
    """Stated differences: Postgres (service vs managed cluster), its TLS mode, hostnames and
    the ACME resolver in labels, and the Gatus checks that follow from those."""
    local_specs, prod_specs = services(local), services(prod)
    assert set(local_specs) - set(prod_specs) == {"postgres"}
    assert set(prod_specs) - set(local_specs) == {"postgres-grants"}
    for name in COMMON_SERVICES:
        assert normalised(local_specs[name]) == normalised(prod_specs[name]), name
        # Local resolves every service without a published port to its tasks (no VIPs).
        local_endpoint = local_specs[name].get("endpointSpec") or {}
        if not local_endpoint.get("ports"):
            assert local_endpoint.get("mode") == "dnsrr", name
        local_health = container(local_specs[name]).get("healthcheck")
        if local_health:  # local's timings: prod's, capped (sprocket_common.env_defaults)
            prod_health = container(prod_specs[name])["healthcheck"]
            for key, cap in (("interval", 2), ("startPeriod", 30)):
                assert seconds(local_health[key]) == min(seconds(prod_health[key]), cap), name
        for config in ("updateConfig", "rollbackConfig"):
            local_update = dict(local_specs[name][config])
            prod_update = dict(prod_specs[name][config])
            assert seconds(local_update.pop("monitor")) <= seconds(prod_update.pop("monitor"))
            assert local_update == prod_update, name
    local_labels = labels(local_specs["grafana"])
    prod_labels = labels(prod_specs["grafana"])
    assert set(prod_labels) - set(local_labels) == {
        "traefik.http.routers.grafana-0.tls.certresolver"
    }


def test_a_missing_layer1_output_names_the_output_and_the_stack(run_layer: Any) -> None:
    upstream = {k: v for k, v in LAYER1.items() if k != "forward_auth_middleware"}
    with pytest.raises(Exception, match=r"forward_auth_middleware.*local-layer_1"):
        run_layer("layer_2", env="local", upstream={"layer_1": upstream})


def test_the_storage_node_is_chosen_by_name_or_as_the_only_node() -> None:
    from sprocket_common.swarm_node_label import pick_node

    def node(name: str) -> dict[str, Any]:
        return {"ID": name, "Description": {"Hostname": name}}

    key = "layer_2:storage_node"
    assert pick_node([node("a")], "", key)["ID"] == "a"
    assert pick_node([node("a"), node("b")], "b", key)["ID"] == "b"
    with pytest.raises(ValueError, match=r"layer_2:storage_node: required .* \['a', 'b'\]"):
        pick_node([node("a"), node("b")], "", key)


def test_prod_grants_the_managed_roles_their_schemas_as_the_admin_in_a_secret(prod: Any) -> None:
    spec = services(prod)["postgres-grants"]
    assert container(spec)["commands"] == ["sh", "/grants.sh"]
    assert labels(spec)["sprocket.job"] == "true"
    script = config_text(prod, "postgres-grants-grants")
    assert "GRANT ALL ON SCHEMA public TO grafana" in script
    assert 'GRANT ALL ON SCHEMA public TO \\"$SPROCKET_APP_DB_USER\\"' in script
    admin = secret_text(prod, "postgres-grants-pg-admin-env")
    assert "PGUSER='doadmin'" in admin and "PGPASSWORD='mock-admin-password'" in admin
    assert "PGHOST='private-postgres.db'" in admin and "PGSSLMODE=require" in admin
    # The admin is used by this job only: no app or monitoring service gets its password.
    for name, other in services(prod).items():
        if name != "postgres-grants":
            assert "pg_admin_env" not in str(other), name


def test_local_gatus_can_watch_only_the_internal_services(run_layer: Any) -> None:
    rec = run(run_layer, "local", **{"layer_2:check_public_hostnames": False})
    config = yaml.safe_load(secret_text(rec, "gatus-gatus-config"))
    assert {e["group"] for e in config["endpoints"]} == {"internal"}
    postgres = next(e for e in config["endpoints"] if e["name"] == "postgres")
    assert postgres["url"] == "tcp://postgres:5432"


def test_services_start_after_what_they_need(local: Any, prod: Any) -> None:
    """Spec §15: FluentD before anything that logs to it; the storage label, volumes and
    networks before the services placed on or attached to them; Postgres roles before
    Grafana and Telegraf."""

    def urn(rec: Any, token: str, name: str) -> str:
        return str(rec.one(token, name).urn)

    for rec in (local, prod):
        by_name = {r.inputs["name"]: r for r in rec.by_type(SERVICE)}
        fluentd = by_name["fluentd"].urn
        label = urn(rec, "pulumi-python:dynamic:Resource", "storage-node-label")
        networks = {r.urn for r in rec.by_type("docker:index/network:Network")}
        for name, record in by_name.items():
            deps = set(record.dependencies)
            assert networks <= deps, name
            if record.inputs["taskSpec"]["logDriver"]["name"] == "fluentd":
                assert fluentd in deps, f"{name} logs to fluentd but may start before it"
            if (record.inputs["taskSpec"].get("placement") or {}).get("constraints"):
                assert label in deps, f"{name} is placed on the storage label before it exists"
        for name in ("grafana", "telegraf"):
            deps = set(by_name[name].dependencies)
            if rec is local:
                assert by_name["postgres"].urn in deps, name
            else:
                assert by_name["postgres-grants"].urn in deps, name
    redis = {r.inputs["name"]: r for r in local.by_type(SERVICE)}["layer2redis-redis-primary"]
    assert urn(local, "docker:index/volume:Volume", "redis-data") in redis.dependencies


def test_prod_keeps_the_heavy_data_in_its_own_directories_of_layer1s_data_volume(
    run_layer: Any,
) -> None:
    rec = run(run_layer, "prod", **{"layer_2:data_mount": "/mnt/sprocket_prod_data"})
    specs = services(rec)

    def mounts(name: str) -> list[tuple[str, str, str]]:
        return [(m["type"], m["source"], m["target"]) for m in container(specs[name])["mounts"]]

    assert mounts("influx") == [("bind", "/mnt/sprocket_prod_data/influx", "/var/lib/influxdb2")]
    assert mounts("loki") == [("bind", "/mnt/sprocket_prod_data/loki", "/loki")]
    assert mounts("rabbitmq-service") == [
        ("bind", "/mnt/sprocket_prod_data/rabbitmq", "/var/lib/rabbitmq")
    ]
    assert container(specs["loki"])["user"] == "0"  # root-owned host directory
    assert mounts("layer2redis-redis-primary") == [("volume", "layer2-redis-data", "/data")]
    volumes = {r.inputs["name"] for r in rec.by_type("docker:index/volume:Volume")}
    assert volumes == {"layer2-redis-data", "layer2-gatus-data"}


def test_a_relative_data_mount_is_refused_naming_the_key(run_layer: Any) -> None:
    from sprocket_common.env_config import ConfigError

    with pytest.raises(ConfigError, match=r"layer_2:data_mount: 'mnt/data' must be an absolute"):
        run(run_layer, "prod", **{"layer_2:data_mount": "mnt/data"})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("layer_2:storage_nod", "node-1"),  # misspelt: would have fallen back to the default
        ("sprocket:acme_stagin", "true"),
        ("sprocket-infra:data_mount", "/mnt/data"),  # Pulumi's default namespace, never read
    ],
)
def test_a_key_layer_2_does_not_read_is_refused_naming_it(
    run_layer: Any, key: str, value: str
) -> None:
    from sprocket_common.env_config import ConfigError

    with pytest.raises(ConfigError) as err:
        run_layer("layer_2", env="local", config={key: value}, upstream={"layer_1": LAYER1})
    assert err.value.key == key


@pytest.mark.parametrize(
    "path",
    [
        "Pulumi.local-layer_2.yaml",
        "layer_2/examples/Pulumi.staging-layer_2.yaml",
        "layer_2/examples/Pulumi.prod-layer_2.yaml",
    ],
)
def test_the_committed_stack_files_use_only_keys_layer_2_reads(run_layer: Any, path: str) -> None:
    from pathlib import Path

    config = yaml.safe_load(Path(path).read_text())["config"]
    env = Path(path).name.split(".")[1].split("-")[0]
    run_layer("layer_2", env=env, config=config, upstream={"layer_1": LAYER1})


def test_the_real_telegraf_build_has_every_plugin_telegraf_conf_names() -> None:
    """The local Telegraf is a custom build of only some plugins (automation/images/servers.py);
    a section telegraf.conf gains without the build crash-loops Telegraf ('undefined but
    requested input'). Every [[kind.name]] of the file must be in TELEGRAF_PLUGINS."""
    from automation.images.servers import TELEGRAF_PLUGINS

    conf = (PROJECT_ROOT / "layer_2" / "files" / "telegraf.conf").read_text()
    sections = set(re.findall(r"(?m)^\[\[([a-z_]+\.[a-z0-9_]+)\]\]", conf))
    assert sections and sections <= set(TELEGRAF_PLUGINS), sorted(sections - set(TELEGRAF_PLUGINS))


def test_telegraf_mounts_the_configured_docker_socket(run_layer: Any) -> None:
    config = {"layer_2:docker_socket": "/var/tmp/e1/docker.sock"}
    rec = run_layer("layer_2", env="local", config=config, upstream={"layer_1": LAYER1})
    mounts = container(services(rec)["telegraf"])["mounts"]
    [socket] = [m for m in mounts if m["target"] == "/var/run/docker.sock"]
    assert socket["source"] == "/var/tmp/e1/docker.sock", socket


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("var/run/docker.sock", "is not an absolute path"),
        (" /var/run/docker.sock", "is not an absolute path"),
        ("", "is not an absolute path"),
        (
            "unix:///run/user/1000/docker.sock",
            r"DOCKER_HOST address.*\(/run/user/1000/docker.sock\)",
        ),
    ],
)
def test_a_docker_socket_that_is_no_absolute_path_is_refused(value: str, message: str) -> None:
    from layer_2.settings import Layer2Settings

    with pytest.raises(ValueError, match=rf"(?s)docker_socket.*{message}"):
        Layer2Settings(docker_socket=value)
