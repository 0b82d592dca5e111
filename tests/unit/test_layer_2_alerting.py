"""layer_2's alerting as code under Pulumi's mocks: the Grafana provisioning file it deploys,
checked against Grafana's documented file-provisioning format and the runbook's table, and
the Gatus alerting that goes to the same channels.

The format (Grafana docs, "Use configuration files to provision alerting resources"):
apiVersion 1; `groups[]` {orgId, name, folder, interval, rules[]}, a rule {uid, title,
condition, data[] {refId, datasourceUid, relativeTimeRange (queries), model}, for,
noDataState, execErrState, labels, annotations}; `contactPoints[]` {orgId, name,
receivers[] {uid, type, settings}}; `policies[]` {orgId, receiver, group_by, routes[]
{receiver, object_matchers [[label, op, value]]}}. The schema below encodes exactly that.
A real Grafana cannot run here (no image can be pulled: TOOLCHAIN.md), so Grafana itself
never parses this file in the tests.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest
import yaml

from tests.unit.test_layer_2 import LAYER1, container, decoded, services

pytestmark = pytest.mark.mocked

CONFIG = "docker:index/serviceConfig:ServiceConfig"
SECRET = "docker:index/secret:Secret"
DOMAIN = "sprocket.example.gg"
SLACK = "https://hooks.slack.example/services/T0/B0/canary-slack-hook"
PAGERDUTY = "canary-pagerduty-integration-key"
SMTP = "canary-smtp-password"
SECRETS = {
    "layer_2:alert_slack_webhook": SLACK,
    "layer_2:alert_pagerduty_key": PAGERDUTY,
    "layer_2:alert_smtp_password": SMTP,
}
EMAIL_CONFIG = {
    "layer_2:alerts": {
        "email_to": "ops@sprocket.example",
        "smtp_host": "smtp.example:587",
        "smtp_user": "alerts@sprocket.example",
    }
}

# The runbook's table, written out independently of layer_2/alerting.py:
# (what, comparison, threshold, for, severity).
RUNBOOK = [
    ("error rate", "gt", 5, "5m", "critical"),
    ("replicas", "gt", 0, "2m", "critical"),  # missing tasks > 0 = running below desired
    ("cpu", "gt", 85, "10m", "warning"),
    ("disk", "gt", 90, "5m", "high"),
    ("memory", "gt", 95, "5m", "high"),
    ("certificate", "lt", 7, "0s", "critical"),
    ("certificate", "lt", 30, "0s", "info"),
]
# The runbook's routing by severity.
ROUTING = {
    "critical": {"pagerduty", "slack"},
    "high": {"slack", "email"},
    "warning": {"slack"},
    "info": {"email"},
}

_DURATION = {"type": "string", "pattern": r"^\d+[smhd]$"}
_STR = {"type": "string", "minLength": 1}
PROVISIONING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": 1},
        "groups": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["orgId", "name", "folder", "interval", "rules"],
                "additionalProperties": False,
                "properties": {
                    "orgId": {"type": "integer"},
                    "name": _STR,
                    "folder": _STR,
                    "interval": _DURATION,
                    "rules": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["uid", "title", "condition", "data", "for"],
                            "additionalProperties": False,
                            "properties": {
                                "uid": {"type": "string", "pattern": r"^[a-zA-Z0-9_-]{1,40}$"},
                                "title": _STR,
                                "condition": _STR,
                                "for": _DURATION,
                                "noDataState": {"enum": ["Alerting", "NoData", "OK"]},
                                "execErrState": {"enum": ["Alerting", "Error", "OK"]},
                                "labels": {"type": "object"},
                                "annotations": {"type": "object"},
                                "isPaused": {"type": "boolean"},
                                "data": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {
                                        "type": "object",
                                        "required": ["refId", "datasourceUid", "model"],
                                        "additionalProperties": False,
                                        "properties": {
                                            "refId": _STR,
                                            "datasourceUid": _STR,
                                            "queryType": {"type": "string"},
                                            "relativeTimeRange": {
                                                "type": "object",
                                                "required": ["from", "to"],
                                                "properties": {
                                                    "from": {"type": "integer", "minimum": 1},
                                                    "to": {"type": "integer", "minimum": 0},
                                                },
                                            },
                                            "model": {"type": "object"},
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
        "contactPoints": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["orgId", "name", "receivers"],
                "additionalProperties": False,
                "properties": {
                    "orgId": {"type": "integer"},
                    "name": _STR,
                    "receivers": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["uid", "type", "settings"],
                            "additionalProperties": False,
                            "properties": {
                                "uid": _STR,
                                "type": {"enum": ["slack", "pagerduty", "email", "webhook"]},
                                "settings": {"type": "object"},
                                "disableResolveMessage": {"type": "boolean"},
                            },
                        },
                    },
                },
            },
        },
        "policies": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["orgId", "receiver"],
                "properties": {
                    "orgId": {"type": "integer"},
                    "receiver": _STR,
                    "group_by": {"type": "array", "items": {"type": "string"}},
                    "routes": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["receiver", "object_matchers"],
                            "properties": {
                                "receiver": _STR,
                                "object_matchers": {
                                    "type": "array",
                                    "items": {
                                        "type": "array",
                                        "minItems": 3,
                                        "maxItems": 3,
                                        "items": {"type": "string"},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def run(run_layer: Any, secrets: dict[str, str] | None = None, **config: Any) -> Any:
    return run_layer(
        "layer_2",
        env="prod",
        config={"base_domain": DOMAIN, **config},
        secrets=secrets or {},
        upstream={"layer_1": LAYER1},
    )


@pytest.fixture(scope="module")
def wired() -> Any:
    from sprocket_common.declared import run_layer_program

    return run(run_layer_program, SECRETS, **EMAIL_CONFIG)


def provisioning(rec: Any) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(decoded(rec.one(CONFIG, "grafana-grafana-alerting")))
    return doc


def rules(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in doc["groups"] for rule in group["rules"]]


def threshold(rule: dict[str, Any]) -> tuple[str, float]:
    """What the rule's condition query compares, read from its threshold expression."""
    by_ref = {d["refId"]: d for d in rule["data"]}
    model = by_ref[rule["condition"]]["model"]
    assert model["type"] == "threshold", rule["title"]
    evaluator = model["conditions"][0]["evaluator"]
    return evaluator["type"], evaluator["params"][0]


def test_the_provisioning_file_follows_grafanas_documented_format(wired: Any) -> None:
    doc = provisioning(wired)
    jsonschema.validate(doc, PROVISIONING_SCHEMA)
    spec = services(wired)["grafana"]
    mounted = {c["fileName"] for c in container(spec)["configs"]}
    assert "/etc/grafana/provisioning/alerting/sprocket.yaml" in mounted
    for rule in rules(doc):
        refs = [d["refId"] for d in rule["data"]]
        assert rule["condition"] in refs, rule["title"]
        for query in rule["data"]:
            model = query["model"]
            if query["datasourceUid"] == "__expr__":  # expressions point at earlier queries
                assert model["expression"] in refs[: refs.index(query["refId"])], rule["title"]
            else:  # a query of a provisioned data source, over the relative range
                assert query["datasourceUid"] == "influxdb"
                assert "relativeTimeRange" in query and model["query"].strip()


def test_every_runbook_rule_is_provisioned_with_its_threshold_duration_and_severity(
    wired: Any,
) -> None:
    found = [
        (*threshold(rule), rule["for"], rule["labels"]["severity"], rule["title"].lower())
        for rule in rules(provisioning(wired))
    ]
    assert len(found) == len(RUNBOOK)
    for what, op, limit, duration, severity in RUNBOOK:
        matches = [f for f in found if f[:4] == (op, limit, duration, severity)]
        assert matches, f"runbook rule {what} {op} {limit} for {duration} ({severity}) missing"
        assert any(what.split()[0] in m[4] for m in matches), f"{what}: {matches}"


def test_each_severity_routes_to_the_runbooks_channels(wired: Any) -> None:
    doc = provisioning(wired)
    points = {p["name"]: {r["type"] for r in p["receivers"]} for p in doc["contactPoints"]}
    [policy] = doc["policies"]
    routed = {}
    for route in policy["routes"]:
        [[label, op, value]] = route["object_matchers"]
        assert (label, op) == ("severity", "=")
        routed[value] = points[route["receiver"]]
    assert routed == ROUTING
    severities = {rule["labels"]["severity"] for rule in rules(doc)}
    assert severities <= set(routed), "every rule's severity has a route"


def test_channel_secrets_are_swarm_secret_files_never_in_configs_or_specs(wired: Any) -> None:
    text = decoded(wired.one(CONFIG, "grafana-grafana-alerting"))
    files = set(re.findall(r"\$__file\{([^}]+)\}", text))
    spec = services(wired)["grafana"]
    mounted = {s["fileName"] for s in container(spec)["secrets"]}
    assert files == {"/run/secrets/alert_slack_webhook", "/run/secrets/alert_pagerduty_key"}
    assert files <= mounted
    env = container(spec)["env"]
    assert env["GF_SMTP_PASSWORD__FILE"] in mounted
    assert env["GF_SMTP_HOST"] == "smtp.example:587"
    for record in wired.by_type(CONFIG):
        body = decoded(record)
        for canary in (SLACK, PAGERDUTY, SMTP):
            assert canary not in body, f"{record.name} holds a channel secret"
    for name, other in services(wired).items():
        for canary in (SLACK, PAGERDUTY, SMTP):
            assert canary not in str(other), f"{name}'s spec holds a channel secret"
    assert decoded(wired.one(SECRET, "grafana-alert-slack-webhook")) == SLACK


def test_without_channels_rules_are_still_provisioned_and_nothing_is_mounted(
    run_layer: Any,
) -> None:
    rec = run(run_layer)
    doc = provisioning(rec)
    jsonschema.validate(doc, PROVISIONING_SCHEMA)
    assert len(rules(doc)) == len(RUNBOOK)
    assert "contactPoints" not in doc and "policies" not in doc
    mounted = {s["fileName"] for s in container(services(rec)["grafana"])["secrets"]}
    assert not [m for m in mounted if "alert_" in m]


def test_gatus_watches_every_public_catalog_route_and_alerts_the_same_channels(
    wired: Any,
) -> None:
    from sprocket_common.stack_info import Layer, layer_package

    catalog_module = __import__(f"{layer_package(Layer.PLATFORM)}.catalog", fromlist=["x"])
    hosts = {
        DOMAIN if route.host == "@" else f"{route.host}.{DOMAIN}"
        for app in catalog_module.load_catalog().apps.values()
        for route in app.routes
    }
    config = yaml.safe_load(decoded(wired.one(SECRET, "gatus-gatus-config")))
    endpoints = config["endpoints"]
    checked = {e["url"].split("/")[2] for e in endpoints if e["group"] == "critical"}
    assert hosts <= checked, f"unwatched catalog routes: {hosts - checked}"
    assert set(config["alerting"]) == {"slack", "pagerduty", "email"}
    assert config["alerting"]["pagerduty"]["integration-key"] == PAGERDUTY
    assert config["alerting"]["email"]["host"] == "smtp.example"
    wanted = {"critical": ROUTING["critical"], "internal": ROUTING["critical"]}
    wanted["warning"] = ROUTING["warning"]
    wanted["certificate"], wanted["certificate-notice"] = ROUTING["critical"], ROUTING["info"]
    for endpoint in endpoints:
        kinds = {alert["type"] for alert in endpoint["alerts"]}
        assert kinds == wanted[endpoint["group"]], endpoint["name"]
    api = next(e for e in endpoints if e["group"] == "warning" and e["name"] == f"api.{DOMAIN}")
    assert "[RESPONSE_TIME] < 1000" in api["conditions"]


def test_the_rules_data_is_collected_where_they_read_it(wired: Any, run_layer: Any) -> None:
    """Each measurement/field a rule queries is one Telegraf writes: its inputs, the Prometheus
    scrapes (layer_1's Traefik metrics entrypoint, Gatus's /metrics) and the Swarm counts."""
    import tomllib

    from tests.unit.test_layer_2 import active

    telegraf = tomllib.loads(active(decoded(wired.one(CONFIG, "telegraf-telegraf-conf"))))
    [scrape] = telegraf["inputs"]["prometheus"]
    assert telegraf["inputs"]["docker"][0]["gather_services"] is True  # docker_swarm counts
    queried = set()
    for rule in rules(provisioning(wired)):
        query = rule["data"][0]["model"]["query"]
        queried |= set(re.findall(r'r\._field == "(\w+)"', query))
        for measurement in re.findall(r'r\._measurement == "(\w+)"', query):
            plugin = "docker" if measurement == "docker_swarm" else measurement
            assert plugin in telegraf["inputs"], f"{rule['title']}: nothing writes {measurement}"
    prometheus_fields = {f for f in queried if f.startswith(("traefik_", "gatus_"))}
    assert prometheus_fields <= set(scrape["fieldpass"])
    layer1 = run_layer("layer_1", env="local")
    static = yaml.safe_load(decoded(layer1.one(CONFIG, "traefik-static")))
    entry = static["metrics"]["prometheus"]["entryPoint"]
    port = static["entryPoints"][entry]["address"].lstrip(":")
    assert f"http://tasks.traefik:{port}/metrics" in scrape["urls"]
    assert "http://gatus:8080/metrics" in scrape["urls"]
    from sprocket_common.traefik import INGRESS_NETWORK

    networks = services(wired)["telegraf"]["taskSpec"]["networksAdvanceds"]
    assert INGRESS_NETWORK in {n["id"] for n in networks}  # where Traefik's metrics are


def test_email_alerts_without_a_server_are_refused_naming_the_key(run_layer: Any) -> None:
    from sprocket_common.env_config import ConfigError

    with pytest.raises(ConfigError, match=r"layer_2:alerts: .*email_to needs smtp_host"):
        run(run_layer, SECRETS, **{"layer_2:alerts": {"email_to": "ops@sprocket.example"}})
