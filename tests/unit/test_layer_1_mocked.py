"""layer_1 under pulumi mocks: what an operator would check before `pulumi up`.

Runs `layer_1/program.py: program()` as `local-layer_1`, `staging-layer_1` and `prod-layer_1`
with the recording mocks of tests/unit/conftest.py (Pulumi's own unit-test method; the
provider plugins are not installed here).
"""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
import yaml

from sprocket_common.outputs import LAYER1_KEYS
from sprocket_common.service import looks_like_credential

pytestmark = pytest.mark.mocked

SERVICE = "docker:index/service:Service"
SECRET = "docker:index/secret:Secret"
CONFIG = "docker:index/serviceConfig:ServiceConfig"
DOMAIN = "sprocket.example.gg"
CANARY = "canary-discord-secret-7f3a91"
PROD = {
    "base_domain": DOMAIN,
    "acme_email": "ops@example.gg",
    "ssh_keys": ["3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa"],
    "admin_cidrs": ["198.51.100.7/32", "2001:db8::/64"],
    "discord_client_id": "123456",
    "discord_guild_id": "654321",
}
SECRETS = {"discord_client_secret": CANARY}


@pytest.fixture
def local(run_layer: Any) -> Any:
    return run_layer("layer_1", env="local")


@pytest.fixture
def prod(run_layer: Any) -> Any:
    return run_layer("layer_1", env="prod", config=PROD, secrets=SECRETS)


def _labels(service: Any) -> dict[str, str]:
    return {item["label"]: item["value"] for item in service.inputs.get("labels", [])}


def _config_text(rec: Any, name: str) -> str:
    return base64.b64decode(rec.one(CONFIG, name).inputs["data"]).decode()


SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's wire marker of a secret value


def _secret_text(rec: Any, name: str) -> str:
    """The decoded data of a Swarm secret, asserting Pulumi registered it as a secret."""
    data = rec.one(SECRET, name).inputs["data"]
    assert isinstance(data, dict) and SECRET_SIG in data, f"{name} data is not a Pulumi secret"
    return base64.b64decode(data["value"]).decode()


def _seconds(value: str) -> int:
    from sprocket_common.testing.engine_spec import _ns

    nanoseconds = _ns(value)
    assert nanoseconds is not None, value
    return nanoseconds // 1_000_000_000


# --- the resources each environment registers --------------------------------------------------

LOCAL_RESOURCES = {
    ("docker:index/network:Network", "ingress-network"),
    ("docker:index/network:Network", "socket-proxy-network"),
    ("docker:index/volume:Volume", "traefik-data"),
    ("docker:index/volume:Volume", "vault-data"),
    ("random:index/randomUuid:RandomUuid", "state-identity"),  # sprocket_common/ownership.py
    ("random:index/randomPassword:RandomPassword", "traefik-dashboard-password"),
    ("random:index/randomPassword:RandomPassword", "discord-client-secret-placeholder"),
    ("sprocket:swarm:Service", "socket-proxy"),
    ("sprocket:swarm:Service", "traefik"),
    ("sprocket:swarm:Service", "forward-auth"),
    ("sprocket:swarm:Service", "vault"),
    (SERVICE, "socket-proxy"),
    (SERVICE, "traefik"),
    (SERVICE, "forward-auth"),
    (SERVICE, "vault"),
    (CONFIG, "traefik-static"),
    (CONFIG, "forward-auth-config"),
    (CONFIG, "vault-config"),
    (SECRET, "traefik-dashboard-users"),
    (SECRET, "forward-auth-client-secret"),
}
PROD_DO_RESOURCES = {
    ("digitalocean:index/droplet:Droplet", "manager"),
    ("digitalocean:index/volume:Volume", "data"),
    ("digitalocean:index/volumeAttachment:VolumeAttachment", "data"),
    ("digitalocean:index/firewall:Firewall", "swarm"),
    ("digitalocean:index/domain:Domain", "zone"),
    ("digitalocean:index/spacesBucket:SpacesBucket", "state-backups"),
    ("digitalocean:index/spacesBucket:SpacesBucket", "vault"),
    ("digitalocean:index/spacesBucket:SpacesBucket", "assets"),
    ("digitalocean:index/spacesKey:SpacesKey", "vault"),
} | {
    ("digitalocean:index/dnsRecord:DnsRecord", f"a-{host}")
    for host in [
        DOMAIN,
        *(f"{s}.{DOMAIN}" for s in ("traefik", "fa", "vault", "api", "grafana", "influx")),
        *(f"{s}.{DOMAIN}" for s in ("status", "image-generation", "rabbitmq", "dgraph")),
    ]
}


def test_local_registers_exactly_the_swarm_resources(local: Any) -> None:
    assert {(r.type, r.name) for r in local.resources} == LOCAL_RESOURCES
    assert not [r for r in local.resources if r.type.startswith("digitalocean:")]


def test_prod_registers_the_swarm_resources_and_each_digitalocean_resource(prod: Any) -> None:
    expected = (LOCAL_RESOURCES | PROD_DO_RESOURCES) - {
        ("docker:index/volume:Volume", "vault-data"),  # Vault stores in Spaces in prod
        ("random:index/randomPassword:RandomPassword", "discord-client-secret-placeholder"),
    } | {(SECRET, "vault-s3-credentials")}
    assert {(r.type, r.name) for r in prod.resources} == expected


JOIN_TOKEN = "SWMTKN-1-canary-join-token"
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # pulumi.runtime.rpc's special secret key


def test_workers_are_optional_and_join_the_firewall(run_layer: Any) -> None:
    secrets = {**SECRETS, "swarm_join_token": JOIN_TOKEN}
    rec = run_layer("layer_1", env="prod", config={**PROD, "worker_count": 2}, secrets=secrets)
    droplets = rec.by_type("digitalocean:index/droplet:Droplet")
    assert sorted(d.name for d in droplets) == ["manager", "worker-1", "worker-2"]
    firewall = rec.one("digitalocean:index/firewall:Firewall", "swarm").inputs
    ids = sorted(float(d.id) for d in droplets)
    assert sorted(firewall["dropletIds"]) == ids
    swarm_rules = [r for r in firewall["inboundRules"] if "sourceDropletIds" in r]
    assert all(sorted(r["sourceDropletIds"]) == ids for r in swarm_rules)
    assert len(rec.outputs["droplet_ips"]) == 3


def test_workers_join_the_swarm_at_first_boot_with_the_token_only_in_their_user_data(
    run_layer: Any,
) -> None:
    import yaml

    secrets = {**SECRETS, "swarm_join_token": JOIN_TOKEN}
    rec = run_layer("layer_1", env="prod", config={**PROD, "worker_count": 1}, secrets=secrets)
    worker = rec.one("digitalocean:index/droplet:Droplet", "worker-1").inputs
    # The engine receives the user data as a secret (Pulumi's secret signature wraps it).
    wrapped = worker["userData"]
    assert wrapped[SECRET_SIG] == "1b47061264138c4ac30d75fd1eb44270"
    cloud_init = yaml.safe_load(wrapped["value"])
    [token_file] = cloud_init["write_files"]
    assert (token_file["content"], token_file["permissions"]) == (JOIN_TOKEN, "0600")
    join = next(c for c in cloud_init["runcmd"] if "swarm join" in c)
    assert JOIN_TOKEN not in join and ":2377" in join  # read from the root-only file
    manager = rec.one("digitalocean:index/droplet:Droplet", "manager").inputs
    assert JOIN_TOKEN not in str(manager) and JOIN_TOKEN not in str(rec.outputs)
    assert cloud_init["runcmd"][-1] == "rm -f /root/swarm-join-token"


def test_workers_without_a_join_token_name_the_key(run_layer: Any) -> None:
    with pytest.raises(Exception, match="sprocket:swarm_join_token"):
        run_layer("layer_1", env="prod", config={**PROD, "worker_count": 1}, secrets=SECRETS)


# --- every service carries the house defaults --------------------------------------------------


@pytest.mark.parametrize("env", ["local", "prod"])
def test_every_service_has_rotated_logs_healthcheck_rollback_and_limits(
    run_layer: Any, env: str
) -> None:
    rec = run_layer("layer_1", env=env, config=PROD if env == "prod" else {}, secrets=SECRETS)
    services = rec.by_type(SERVICE)
    assert len(services) == 4
    for service in services:
        spec, task = service.inputs, service.inputs["taskSpec"]
        assert task["logDriver"] == {
            "name": "json-file",
            "options": {"max-size": "5m", "max-file": "5", "compress": "true"},
        }, service.name
        hc = task["containerSpec"]["healthcheck"]
        assert hc["tests"][0] in ("CMD", "CMD-SHELL") and len(hc["tests"]) > 1, service.name
        update = spec["updateConfig"]
        assert update["failureAction"] == "rollback", service.name
        waited = _seconds(hc["startPeriod"]) + _seconds(hc["interval"]) * hc["retries"]
        assert _seconds(update["monitor"]) > waited, service.name
        assert 0 < task["restartPolicy"]["maxAttempts"] <= 5, service.name
        limits = task["resources"]["limits"]
        assert limits["nanoCpus"] > 0 and limits["memoryBytes"] > 0, service.name


# --- routing ---------------------------------------------------------------------------------


def _routes(rec: Any) -> dict[str, str]:
    """Hostname -> `<service>:<port>` (or the internal service) as Traefik would resolve it."""
    found: dict[str, str] = {}
    for service in rec.by_type(SERVICE):
        labels = _labels(service)
        for key, rule in labels.items():
            match = re.fullmatch(r"traefik\.http\.routers\.([^.]+)\.rule", key)
            if not match:
                continue
            host = re.fullmatch(r"Host\(`([^`]+)`\)", rule)
            assert host, rule
            target = labels[f"traefik.http.routers.{match[1]}.service"]
            port_key = f"traefik.http.services.{target}.loadbalancer.server.port"
            found[host[1]] = (
                target if "@" in target else f"{service.inputs['name']}:{labels[port_key]}"
            )
            assert labels[f"traefik.http.routers.{match[1]}.entrypoints"] == "websecure"
    return found


def test_traefik_labels_route_each_hostname_to_the_right_port(prod: Any) -> None:
    assert _routes(prod) == {
        f"traefik.{DOMAIN}": "api@internal",
        f"fa.{DOMAIN}": "forward-auth:3000",
        f"vault.{DOMAIN}": "vault:8200",
    }
    for service in prod.by_type(SERVICE):
        for key, value in _labels(service).items():
            if key.endswith(".tls.certresolver"):
                assert value == "letsencrypt"


def test_hostnames_carry_the_environment_outside_prod(run_layer: Any) -> None:
    rec = run_layer("layer_1", env="staging", config=PROD, secrets=SECRETS)
    assert set(_routes(rec)) == {f"{s}.staging.{DOMAIN}" for s in ("traefik", "fa", "vault")}
    records = {r.inputs["name"] for r in rec.by_type("digitalocean:index/dnsRecord:DnsRecord")}
    assert {"staging", "vault.staging", "fa.staging", "traefik.staging"} <= records
    assert "@" not in records  # the prod apex belongs to prod
    buckets = rec.by_type("digitalocean:index/spacesBucket:SpacesBucket")
    assert {b.inputs["name"] for b in buckets} == {
        "sprocket-staging-state-backups",
        "sprocket-staging-vault",
        "sprocket-staging-assets",
    }


def test_staging_acme_resolver_is_selectable(run_layer: Any) -> None:
    rec = run_layer("layer_1", env="prod", config={**PROD, "acme_staging": True}, secrets=SECRETS)
    resolvers = {
        value
        for service in rec.by_type(SERVICE)
        for key, value in _labels(service).items()
        if key.endswith(".tls.certresolver")
    }
    assert resolvers == {"letsencrypt-staging"}
    assert rec.outputs["tls_resolver"] == "letsencrypt-staging"
    static = yaml.safe_load(_config_text(rec, "traefik-static"))
    staging = static["certificatesResolvers"]["letsencrypt-staging"]["acme"]
    assert "acme-staging" in staging["caServer"]


def test_traefik_static_config_redirects_logs_and_uses_the_proxy(prod: Any) -> None:
    static = yaml.safe_load(_config_text(prod, "traefik-static"))
    redirect = static["entryPoints"]["web"]["http"]["redirections"]["entryPoint"]
    assert redirect == {"to": "websecure", "scheme": "https", "permanent": True}
    assert static["accessLog"]["fields"]["headers"]["defaultMode"] == "drop"
    docker_provider = static["providers"]["docker"]
    assert docker_provider["endpoint"] == "tcp://socket-proxy:2375"
    assert docker_provider["swarmMode"] is True
    assert docker_provider["exposedByDefault"] is False
    assert docker_provider["network"] == "traefik-ingress"
    acme = static["certificatesResolvers"]["letsencrypt"]["acme"]
    assert acme["email"] == "ops@example.gg"
    assert acme["storage"].startswith("/data/")  # on the protected traefik-data volume
    assert static["api"] == {"dashboard": True}  # no insecure API


def test_local_has_no_acme_and_uses_localhost_names(local: Any) -> None:
    static = yaml.safe_load(_config_text(local, "traefik-static"))
    assert "certificatesResolvers" not in static
    # Nothing leaves the machine: no update check, no anonymous usage report.
    assert static["global"] == {"checkNewVersion": False, "sendAnonymousUsage": False}
    assert set(_routes(local)) == {f"{s}.local.localhost" for s in ("traefik", "fa", "vault")}


def test_dashboard_is_behind_basic_auth_from_a_secret(prod: Any) -> None:
    traefik = prod.one(SERVICE, "traefik")
    labels = _labels(traefik)
    assert labels["traefik.http.routers.traefik-dashboard.middlewares"] == "dashboard-auth"
    users_file = labels["traefik.http.middlewares.dashboard-auth.basicauth.usersfile"]
    mounted = [s["fileName"] for s in traefik.inputs["taskSpec"]["containerSpec"]["secrets"]]
    assert users_file in mounted
    assert "traefik_dashboard_password" in prod.secret_outputs


def test_forward_auth_middlewares_and_templated_config(prod: Any) -> None:
    labels = _labels(prod.one(SERVICE, "forward-auth"))
    prefix = "traefik.http.middlewares"
    assert labels[f"{prefix}.fa-default.forwardauth.address"] == "http://forward-auth:3000/login"
    assert (
        labels[f"{prefix}.fa-sprocket-admin.forwardauth.address"]
        == "http://forward-auth:3000/login?rule=SprocketAdmin"
    )
    assert prod.outputs["forward_auth_middleware"] == "fa-default@docker"
    assert prod.outputs["forward_auth_middlewares"]["EloTeam"] == "fa-elo-team@docker"
    config = yaml.safe_load(_config_text(prod, "forward-auth-config"))
    assert config["oauth"]["callbackUrl"] == f"https://fa.{DOMAIN}/login"
    assert config["cookieDomain"] == DOMAIN
    assert config["oauth"]["clientId"] == "123456"


# --- networks and the socket ------------------------------------------------------------------


def test_the_socket_proxy_mounts_the_configured_docker_socket(run_layer: Any) -> None:
    """A test's own engine (or rootless Docker) listens elsewhere: the proxy must read that
    engine, not whichever one owns /var/run/docker.sock on the machine."""
    rec = run_layer("layer_1", env="local", config={"docker_socket": "/var/tmp/e1/docker.sock"})
    [sock] = rec.one(SERVICE, "socket-proxy").inputs["taskSpec"]["containerSpec"]["mounts"]
    assert (sock["source"], sock["target"]) == ("/var/tmp/e1/docker.sock", "/var/run/docker.sock")


def test_a_relative_docker_socket_is_refused() -> None:
    from layer_1.settings import Layer1Settings

    with pytest.raises(ValueError, match=r"(?s)docker_socket.*is not an absolute path"):
        Layer1Settings(docker_socket="docker.sock")


def test_networks_and_traefik_never_mounts_the_socket(prod: Any) -> None:
    ingress = prod.one("docker:index/network:Network", "ingress-network").inputs
    assert (ingress["name"], ingress["driver"], ingress["attachable"]) == (
        "traefik-ingress",
        "overlay",
        True,
    )
    proxy_net = prod.one("docker:index/network:Network", "socket-proxy-network").inputs
    assert proxy_net["internal"] is True

    def mounts(name: str) -> list[dict[str, Any]]:
        return prod.one(SERVICE, name).inputs["taskSpec"]["containerSpec"].get("mounts", [])

    assert not any("docker.sock" in str(m) for m in mounts("traefik"))
    [sock] = mounts("socket-proxy")
    assert (sock["source"], sock["type"], sock["readOnly"]) == (
        "/var/run/docker.sock",
        "bind",
        True,
    )
    proxy = prod.one(SERVICE, "socket-proxy").inputs["taskSpec"]
    assert [n["id"] for n in proxy["networksAdvanceds"]] == ["traefik-socket-proxy"]
    assert "node.role == manager" in proxy["placement"]["constraints"]
    assert proxy["containerSpec"]["env"].get("POST", "0") == "0"
    traefik = prod.one(SERVICE, "traefik").inputs
    networks = [n["id"] for n in traefik["taskSpec"]["networksAdvanceds"]]
    assert networks == ["traefik-ingress", "traefik-socket-proxy"]
    ports = {(p["publishedPort"], p["publishMode"]) for p in traefik["endpointSpec"]["ports"]}
    assert ports == {(80, "host"), (443, "host")}
    assert traefik["updateConfig"]["order"] == "stop-first"


# --- secrets ---------------------------------------------------------------------------------


def test_no_credential_in_env_labels_or_plain_outputs(prod: Any) -> None:
    mock_spaces_secret = "mock-secret-key-vault"  # what the mocked SpacesKey returns
    for service in prod.by_type(SERVICE):
        env = service.inputs["taskSpec"]["containerSpec"].get("env", {})
        for key, value in env.items():
            assert not looks_like_credential(key, value), (service.name, key)
        text = repr(service.inputs)
        assert CANARY not in text and mock_spaces_secret not in text, service.name
    for rec in prod.resources:
        if rec.type != SECRET:
            assert CANARY not in repr(rec.inputs), rec.name
    public = {k: v for k, v in prod.outputs.items() if k not in prod.secret_outputs}
    assert CANARY not in repr(public) and mock_spaces_secret not in repr(public)
    # the canary does reach the Swarm secret Traefik's forward auth reads
    assert _secret_text(prod, "forward-auth-client-secret") == CANARY
    assert _secret_text(prod, "traefik-dashboard-users").startswith("admin:$2")


def test_vault_stores_in_spaces_with_a_bucket_scoped_key(prod: Any) -> None:
    hcl = _config_text(prod, "vault-config")
    assert 'storage "s3"' in hcl
    assert 'bucket   = "sprocket-prod-vault"' in hcl
    assert "https://nyc3.digitaloceanspaces.com" in hcl
    assert "mock-secret-key-vault" not in hcl
    key = prod.one("digitalocean:index/spacesKey:SpacesKey", "vault").inputs
    assert key["grants"] == [{"bucket": "sprocket-prod-vault", "permission": "readwrite"}]
    creds = _secret_text(prod, "vault-s3-credentials")
    assert "aws_secret_access_key = mock-secret-key-vault" in creds
    vault = prod.one(SERVICE, "vault").inputs["taskSpec"]["containerSpec"]
    assert vault["env"]["AWS_SHARED_CREDENTIALS_FILE"] == "/run/secrets/vault_s3_credentials"
    assert prod.outputs["vault_address"] == f"https://vault.{DOMAIN}"


def test_local_vault_stores_in_a_volume(local: Any) -> None:
    hcl = _config_text(local, "vault-config")
    assert 'storage "file"' in hcl
    mounts = local.one(SERVICE, "vault").inputs["taskSpec"]["containerSpec"]["mounts"]
    assert [(m["source"], m["target"]) for m in mounts] == [("vault-data", "/vault/file")]


# --- DigitalOcean details ----------------------------------------------------------------------


def test_firewall_opens_exactly_the_listed_ports(prod: Any) -> None:
    firewall = prod.one("digitalocean:index/firewall:Firewall", "swarm").inputs
    manager = prod.one("digitalocean:index/droplet:Droplet", "manager")
    rules = set()
    for rule in firewall["inboundRules"]:
        if "sourceAddresses" in rule:
            source = tuple(rule["sourceAddresses"])
        else:
            assert rule["sourceDropletIds"] == [float(manager.id)]
            source = ("droplets",)
        rules.add((rule["protocol"], rule["portRange"], source))
    public = ("0.0.0.0/0", "::/0")
    assert rules == {
        ("tcp", "22", ("198.51.100.7/32", "2001:db8::/64")),
        ("tcp", "80", public),
        ("tcp", "443", public),
        ("tcp", "2377", ("droplets",)),
        ("tcp", "7946", ("droplets",)),
        ("udp", "7946", ("droplets",)),
        ("udp", "4789", ("droplets",)),
    }
    assert firewall["dropletIds"] == [float(manager.id)]


def test_droplet_volume_dns_and_buckets(prod: Any) -> None:
    manager = prod.one("digitalocean:index/droplet:Droplet", "manager")
    assert manager.inputs["region"] == "nyc3" and manager.inputs["size"] == "s-4vcpu-8gb"
    assert manager.inputs["sshKeys"] == PROD["ssh_keys"]
    assert {"userData", "image", "sshKeys"} <= set(manager.ignore_changes)
    assert "docker swarm init" in manager.inputs["userData"]
    attachment = prod.one("digitalocean:index/volumeAttachment:VolumeAttachment", "data").inputs
    assert attachment["dropletId"] == float(manager.id)
    records = prod.by_type("digitalocean:index/dnsRecord:DnsRecord")
    assert {r.inputs["value"] for r in records} == {prod.outputs["manager_ip"]}
    assert {r.inputs["type"] for r in records} == {"A"}
    assert prod.one("digitalocean:index/domain:Domain", "zone").inputs["name"] == DOMAIN
    backups = prod.one("digitalocean:index/spacesBucket:SpacesBucket", "state-backups").inputs
    assert backups["versioning"] == {"enabled": True}
    [rule] = backups["lifecycleRules"]
    assert rule["enabled"] and rule["noncurrentVersionExpiration"]["days"] == 90
    for bucket in prod.by_type("digitalocean:index/spacesBucket:SpacesBucket"):
        assert bucket.inputs["acl"] == "private"
        assert not bucket.inputs.get("forceDestroy")


STATEFUL = (
    "docker:index/volume:Volume",
    "digitalocean:index/volume:Volume",
    "digitalocean:index/spacesBucket:SpacesBucket",
    "digitalocean:index/domain:Domain",
)


def test_every_stateful_resource_is_protected_in_prod(prod: Any) -> None:
    stateful = [r for r in prod.resources if r.type in STATEFUL]
    assert len(stateful) == 6  # traefik-data, data volume, zone, three buckets
    assert all(r.protect for r in stateful), [r.name for r in stateful if not r.protect]
    assert prod.one("digitalocean:index/droplet:Droplet", "manager").protect


def test_local_is_unprotected_so_it_can_be_torn_down_but_can_opt_in(run_layer: Any) -> None:
    rec = run_layer("layer_1", env="local")
    assert not any(r.protect for r in rec.resources)
    rec = run_layer("layer_1", env="local", config={"protect_stateful": True})
    assert all(r.protect for r in rec.resources if r.type in STATEFUL)


# --- the output contract ---------------------------------------------------------------------


@pytest.mark.parametrize("env", ["local", "prod"])
def test_output_contract_holds(run_layer: Any, env: str) -> None:
    rec = run_layer("layer_1", env=env, config=PROD if env == "prod" else {}, secrets=SECRETS)
    assert set(LAYER1_KEYS) <= set(rec.outputs)
    assert rec.outputs["ingress_network"] == "traefik-ingress"
    assert rec.outputs["socket_proxy_network"] == "traefik-socket-proxy"
    if env == "local":
        assert rec.outputs["spaces_buckets"] == {} and rec.outputs["manager_ip"] == ""
        assert rec.outputs["droplet_ips"] == []
    else:
        assert rec.outputs["spaces_buckets"] == {
            "state_backups": "sprocket-prod-state-backups",
            "vault": "sprocket-prod-vault",
            "assets": "sprocket-prod-assets",
        }
        assert rec.outputs["spaces_endpoint"] == "https://nyc3.digitaloceanspaces.com"
        assert rec.outputs["droplet_ips"] == [rec.outputs["manager_ip"]]


def test_downstream_reads_the_contract_through_the_typed_accessor(
    prod: Any, run_program: Any
) -> None:
    def downstream() -> None:
        import pulumi

        from sprocket_common.outputs import read_layer1

        layer1 = read_layer1("prod")
        pulumi.export("network", layer1.ingress_network)
        pulumi.export("buckets", layer1.spaces_buckets)

    rec = run_program(downstream, "prod-layer_2", upstream={"layer_1": prod.outputs})
    assert rec.outputs["network"] == "traefik-ingress"
    assert rec.outputs["buckets"]["vault"] == "sprocket-prod-vault"
    [ref] = rec.by_type("pulumi:pulumi:StackReference")
    assert ref.name == "organization/sprocket-infra/prod-layer_1"


def test_a_missing_upstream_output_names_the_key_and_stack(prod: Any, run_program: Any) -> None:
    def downstream() -> None:
        import pulumi

        from sprocket_common.outputs import read_layer1

        pulumi.export("vault", read_layer1("prod").vault_address)

    partial = {k: v for k, v in prod.outputs.items() if k != "vault_address"}
    with pytest.raises(Exception, match=r"vault_address.*prod-layer_1"):
        run_program(downstream, "prod-layer_2", upstream={"layer_1": partial})


# --- config errors name the key -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "key", "detail"),
    [
        ({"base_domain": None}, "sprocket:base_domain", "required in prod"),
        ({"admin_cidrs": ["198.51.100.300"]}, "sprocket:admin_cidrs", "not an IP address"),
        ({"admin_cidrs": ["0.0.0.0/0"]}, "sprocket:admin_cidrs", "whole internet"),
        ({"admin_cidrs": None}, "sprocket:admin_cidrs", "required in prod"),
        ({"ssh_keys": None}, "sprocket:ssh_keys", "required in prod"),
        ({"region": "mars1"}, "sprocket:region", "unknown region 'mars1'"),
        ({"region": "lon1"}, "sprocket:spaces_region", "has no Spaces"),
        ({"worker_count": "two"}, "sprocket:worker_count", "integer"),
        ({"admin_cidr": ["1.2.3.4"]}, "sprocket:admin_cidr", "unknown key"),
        ({"base_domain": "Sprocket_GG"}, "sprocket:base_domain", "not a lowercase domain"),
        ({"ssh_keys": ["REPLACE_ME"]}, "sprocket:ssh_keys", "fingerprint"),
        ({"discord_client_id": None}, "sprocket:discord_client_id", "required in prod"),
        ({"sprocket-infra:region": "nyc3"}, "sprocket-infra:region", "sprocket:region"),
    ],
)
def test_config_errors_name_the_key(
    run_layer: Any, change: dict[str, Any], key: str, detail: str
) -> None:
    from sprocket_common.env_config import ConfigError

    config = {k: v for k, v in {**PROD, **change}.items() if v is not None}
    with pytest.raises(ConfigError) as err:
        run_layer("layer_1", env="prod", config=config, secrets=SECRETS)
    assert err.value.key == key
    assert str(err.value).startswith(f"{key}: ")
    assert detail in str(err.value)


def test_missing_discord_secret_in_prod_names_the_key(run_layer: Any) -> None:
    with pytest.raises(Exception, match="sprocket:discord_client_secret"):
        run_layer("layer_1", env="prod", config=PROD)


def test_staging_can_leave_the_zone_to_prod(run_layer: Any) -> None:
    rec = run_layer(
        "layer_1", env="staging", config={**PROD, "manage_dns_zone": False}, secrets=SECRETS
    )
    assert not rec.by_type("digitalocean:index/domain:Domain")
    records = rec.by_type("digitalocean:index/dnsRecord:DnsRecord")
    assert records and {r.inputs["domain"] for r in records} == {DOMAIN}


# --- the committed stack config files -----------------------------------------------------------


def _stack_file(env: str) -> dict[str, Any]:
    from sprocket_common.stack_info import PROJECT_ROOT

    text = (PROJECT_ROOT / f"Pulumi.{env}-layer_1.yaml").read_text()
    assert "encryptionsalt" not in text and "secure:" not in text, env
    return dict(yaml.safe_load(text)["config"])


def test_local_stack_file_runs_without_any_secret(run_layer: Any) -> None:
    rec = run_layer("layer_1", env="local", config=_stack_file("local"))
    assert rec.outputs["base_hostname"] == "local.localhost"


@pytest.mark.parametrize("env", ["prod", "staging"])
def test_example_stack_files_refuse_their_placeholders(run_layer: Any, env: str) -> None:
    from sprocket_common.env_config import ConfigError

    config = _stack_file(env)
    with pytest.raises(ConfigError, match="REPLACE_WITH") as err:
        run_layer("layer_1", env=env, config=config, secrets=SECRETS)
    assert err.value.key == "sprocket:ssh_keys"
    # with real values in place of the placeholders, the file deploys as it says
    filled = {**config, **{k: PROD[k] for k in ("ssh_keys", "admin_cidrs", "discord_client_id",
                                                  "discord_guild_id")}}  # fmt: skip
    rec = run_layer("layer_1", env=env, config=filled, secrets=SECRETS)
    assert rec.by_type("digitalocean:index/droplet:Droplet")
    assert bool(rec.by_type("digitalocean:index/domain:Domain")) == (env == "prod")
    expected = "letsencrypt-staging" if env == "staging" else "letsencrypt"
    assert rec.outputs["tls_resolver"] == expected


def test_private_forward_auth_image_pulls_with_a_secret_token(run_layer: Any) -> None:
    token = "canary-hub-token-41c2"
    rec = run_layer(
        "layer_1",
        env="prod",
        config={**PROD, "docker_username": "asaxplayinghorse"},
        secrets={**SECRETS, "docker_access_token": token},
    )
    auth = rec.one(SERVICE, "forward-auth").inputs["auth"]
    assert SECRET_SIG in auth  # the whole auth block is a secret in state
    assert auth["value"]["username"] == "asaxplayinghorse"
    assert auth["value"]["password"] == token
    assert all("auth" not in s.inputs for s in rec.by_type(SERVICE) if s.name != "forward-auth")
    public = {k: v for k, v in rec.outputs.items() if k not in rec.secret_outputs}
    assert token not in repr(public)


def test_numeric_ssh_key_ids_from_yaml_are_accepted(run_layer: Any) -> None:
    rec = run_layer("layer_1", env="prod", config={**PROD, "ssh_keys": [41234567]}, secrets=SECRETS)
    manager = rec.one("digitalocean:index/droplet:Droplet", "manager")
    assert manager.inputs["sshKeys"] == ["41234567"]


def test_forward_auth_can_export_the_secret_from_its_file(run_layer: Any) -> None:
    config = {**PROD, "forward_auth_entrypoint": ["/app/discord-forward-auth"]}
    rec = run_layer("layer_1", env="prod", config=config, secrets=SECRETS)
    spec = rec.one(SERVICE, "forward-auth").inputs["taskSpec"]["containerSpec"]
    command = spec["commands"]
    assert command[:2] == ["/bin/sh", "-c"] and command[-1] == "/app/discord-forward-auth"
    assert "$(cat /run/secrets/discord_client_secret)" in command[2]
    assert CANARY not in repr(spec)


@pytest.mark.parametrize("env", ["prod", "staging"])
def test_the_program_requires_exactly_the_declared_keys(run_layer: Any, env: str) -> None:
    """sprocket_common/required_config.py is what the driver checks before the engine; the
    program must refuse each key it declares, and need nothing more than a full config."""
    from sprocket_common.required_config import BY_LAYER

    run_layer("layer_1", env=env, config=PROD, secrets=SECRETS)  # nothing more is needed
    for required in BY_LAYER["layer_1"]:
        if required.when_set:
            continue  # conditional: covered where its condition is set
        name = required.name
        config = {k: v for k, v in PROD.items() if k != name}
        secrets = {k: v for k, v in SECRETS.items() if k != name}
        with pytest.raises(Exception, match=required.key):
            run_layer("layer_1", env=env, config=config, secrets=secrets)
