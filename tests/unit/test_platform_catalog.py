"""The platform's service catalog: the shipped file, and the mistakes it refuses at load.

Pure: no Pulumi. Every refusal must name the catalog entry and the field, so the operator
knows which line of platform/catalog.yaml to fix.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sprocket_common.env_config import EnvConfig
from sprocket_common.stack_info import Env, Layer, layer_package

layer_package(Layer.PLATFORM)

from sprocket_platform.catalog import (  # noqa: E402
    CATALOG_PATH,
    CatalogError,
    load_catalog,
    parse_catalog,
)
from sprocket_platform.images import ImageSettings, image_for  # noqa: E402
from sprocket_platform.render import (  # noqa: E402
    Environment,
    command_for,
    service_config,
)

# Spec §16 / §4.7 / §4.8 / §4.9: every app service of the original platform.
INVENTORY = {
    "core",
    "web",
    "discord-bot",
    "image-generation-service",
    "image-generation-frontend",
    "matchmaking-service",
    "elo-service",
    "dgraph-zero",
    "dgraph-alpha",
    "notification-service",
    "replay-parse-service",
    "server-analytics-service",
    "submission-service",
}
LEGACY = {"legacy-redis", "legacy-worker", "legacy-bot-emilio", "legacy-bot-emilia"}


def raw_catalog() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(CATALOG_PATH.read_text())
    return copy.deepcopy(data)


def environment(env: Env = Env.PROD) -> Environment:
    return Environment(
        env_config=EnvConfig(env=env, base_domain="sprocket.example.gg"),
        values={
            "redis_host": "redis",
            "redis_port": "6379",
            "rabbitmq_host": "rabbitmq",
            "rabbitmq_port": "5672",
            "rabbitmq_user": "sprocket",
            "postgres_host": "db.example",
            "postgres_port": "25060",
            "postgres_database": "sprocket_main",
            "app_db_user": "sprocket_app",
            "influx_url": "http://influx:8086",
            "influx_org": "sprocket",
            "influx_app_bucket": "sprocket_main",
            "postgres_ssl_mode": "require",
            "spaces_endpoint": "https://nyc3.digitaloceanspaces.com",
            "rabbitmq_port_hex": "1628",
            "redis_port_hex": "18EB",
        },
        networks={n: f"net-{n}" for n in ("platform", "ingress", "data", "monitoring")},
        buckets={"main": "sprocket-main-1"},
        forward_auth_middleware="fa-default@docker",
    )


def test_shipped_catalog_has_every_app_of_the_inventory() -> None:
    catalog = load_catalog()
    assert set(catalog.apps) == INVENTORY | LEGACY
    # The legacy bots run in prod only (spec §4.9: skipped outside prod).
    assert set(catalog.enabled(Env.PROD)) == INVENTORY | LEGACY
    assert set(catalog.enabled(Env.LOCAL)) == INVENTORY


def reject(raw: dict[str, Any]) -> CatalogError:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(raw)
    return caught.value


def test_unknown_datastore_is_rejected_naming_entry_and_field() -> None:
    raw = raw_catalog()
    raw["apps"]["matchmaking-service"]["datastores"] = ["rabbitmq", "mongo"]
    err = reject(raw)
    assert (err.entry, err.field) == ("matchmaking-service", "datastores[1]")
    assert "unknown datastore 'mongo'" in str(err)
    assert "postgres" in str(err)  # lists what is valid


def test_unknown_bucket_is_rejected() -> None:
    raw = raw_catalog()
    raw["apps"]["core"]["buckets"] = ["main", "videos"]
    err = reject(raw)
    assert (err.entry, err.field) == ("core", "buckets[1]")
    assert "unknown bucket 'videos'" in str(err)


def test_duplicate_hostname_is_rejected_naming_both_entries() -> None:
    raw = raw_catalog()
    raw["apps"]["image-generation-frontend"]["routes"] = [{"host": "api"}]
    err = reject(raw)
    assert (err.entry, err.field) == ("image-generation-frontend", "routes[0].host")
    assert "'api' is already routed to 'core'" in str(err)


def test_same_host_on_another_path_is_allowed() -> None:
    raw = raw_catalog()
    raw["apps"]["image-generation-frontend"]["routes"] = [{"host": "api", "path_prefix": "/ig"}]
    assert parse_catalog(raw).apps["image-generation-frontend"].routes[0].host == "api"


def test_undeclared_secret_is_rejected_naming_entry_and_field() -> None:
    raw = raw_catalog()
    raw["apps"]["discord-bot"]["secrets"]["twitch-token"] = "twitch.txt"
    err = reject(raw)
    assert (err.entry, err.field) == ("discord-bot", "secrets.twitch-token")
    assert "secret 'twitch-token' is not declared" in str(err)


def test_bucket_user_without_the_spaces_key_secrets_is_rejected() -> None:
    raw = raw_catalog()
    del raw["secrets"]["s3-secret-key"]
    err = reject(raw)
    assert err.field == "buckets"
    assert "'s3-secret-key' is not declared" in str(err)


def test_datastore_secret_listed_by_hand_is_rejected() -> None:
    raw = raw_catalog()
    raw["apps"]["core"]["secrets"]["db-password"] = "db.txt"
    err = reject(raw)
    assert (err.entry, err.field) == ("core", "secrets.db-password")
    assert "comes with datastore 'postgres'" in str(err)


def test_secret_value_in_env_is_refused() -> None:
    raw = raw_catalog()
    raw["apps"]["core"]["env"]["REDIS_PW"] = "${secret:jwt-secret}"
    err = reject(raw)
    assert (err.entry, err.field) == ("core", "env")
    assert "never in env" in str(err)


def test_unknown_placeholder_and_unknown_service_are_refused() -> None:
    raw = raw_catalog()
    raw["apps"]["elo-service"]["env"]["DGRAPH_DATABASE_URL"] = "${service:dgraph}:9080"
    err = reject(raw)
    assert (err.entry, err.field) == ("elo-service", "env")
    assert "${service:dgraph}" in str(err)


def test_misspelled_field_is_refused_naming_it() -> None:
    raw = raw_catalog()
    raw["apps"]["web"]["replica"] = 2
    err = reject(raw)
    assert (err.entry, err.field) == ("web", "replica")


def test_template_secret_must_reference_declared_secrets() -> None:
    raw = raw_catalog()
    raw["secrets"]["celery-broker-url"]["template"] = "amqp://u:${secret:nope}@h"
    err = reject(raw)
    assert err.entry == "celery-broker-url"
    assert "secret 'nope' is not declared" in str(err)


def test_unreadable_catalog_file_is_a_catalog_error(tmp_path: Path) -> None:
    bad = tmp_path / "catalog.yaml"
    bad.write_text("apps: [unclosed\n")
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(bad)


def test_driver_preflight_refuses_a_broken_catalog_as_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """preview, deploy and rollout call this before the engine; rollout has no other check."""
    import sprocket_platform.catalog as catalog_module

    from automation.errors import BadInput
    from automation.stack.upstream import check_program_files

    check_program_files(Layer.PLATFORM)  # the shipped catalog passes
    bad = tmp_path / "catalog.yaml"
    bad.write_text("apps: [unclosed\n")
    monkeypatch.setattr(catalog_module, "CATALOG_PATH", bad)
    check_program_files(Layer.LAYER_1)  # layers without data files have nothing to check
    with pytest.raises(BadInput) as caught:
        check_program_files(Layer.PLATFORM)
    assert "cannot read" in caught.value.message
    assert str(bad) in caught.value.hint


# --- images --------------------------------------------------------------------------------


def test_image_follows_default_tag_override_and_digest() -> None:
    catalog = load_catalog()
    core, web = catalog.apps["core"], catalog.apps["web"]
    ns = catalog.image_namespace
    default = ImageSettings(image_tag="v1.2.0")
    assert image_for("core", core, default, ns) == "asaxplayinghorse/core:v1.2.0"
    override = ImageSettings(image_tag="v1.2.0", image_tags={"core": "v1.3.0"})
    assert image_for("core", core, override, ns) == "asaxplayinghorse/core:v1.3.0"
    assert image_for("web", web, override, ns) == "asaxplayinghorse/web:v1.2.0"
    digest = "sha256:" + "ab" * 32
    pinned = ImageSettings(image_tags={"web": "v9"}, image_digests={"web": digest})
    assert image_for("web", web, pinned, ns) == f"asaxplayinghorse/web:v9@{digest}"


def test_third_party_image_keeps_its_pinned_tag() -> None:
    catalog = load_catalog()
    settings = ImageSettings(image_tag="v2.0.0")
    dgraph = catalog.apps["dgraph-alpha"]
    assert image_for("dgraph-alpha", dgraph, settings, "x") == "dgraph/dgraph:v21.12.0"


@pytest.mark.parametrize(
    ("fields", "word"),
    [
        ({"image_tag": "bad tag"}, "tag"),
        ({"image_tags": {"core": "a/b"}}, "core"),
        ({"image_digests": {"core": "sha256:short"}}, "digest"),
    ],
)
def test_bad_image_config_is_refused(fields: dict[str, Any], word: str) -> None:
    with pytest.raises(ValueError, match=word):
        ImageSettings(**fields)


# --- rendered config files -----------------------------------------------------------------


def rendered(name: str, env: Env = Env.PROD) -> dict[str, Any]:
    catalog = load_catalog()
    config = service_config(name, catalog.apps[name], catalog, environment(env), "img:1")
    [file] = config.files
    parsed: dict[str, Any] = json.loads(file.content)
    return parsed


def test_broker_url_is_not_html_escaped() -> None:
    catalog = load_catalog()
    app = catalog.apps["matchmaking-service"]
    config = service_config("matchmaking-service", app, catalog, environment(), "img:1")
    assert "heartbeat=60" in config.files[0].content
    assert "&#x3D;" not in config.files[0].content
    assert rendered("matchmaking-service")["transport"]["url"] == (
        "amqp://rabbitmq:5672?heartbeat=60"
    )


def test_celery_queue_is_one_name_everywhere() -> None:
    settings = rendered("replay-parse-service")
    assert settings["celery"]["queue"] == "prod-celery"
    assert settings["transport"]["celery-queue"] == "prod-celery"
    # Every service sees the same transport queue names.
    assert rendered("core")["transport"]["celery-queue"] == "prod-celery"


def test_apps_use_their_own_database_role_not_the_admin() -> None:
    for name in ("core", "image-generation-service"):
        settings = rendered(name)
        db = settings.get("database") or settings["db"]
        assert db["username"] == "sprocket_app"
        assert db["passwordFile"] == "/run/secrets/db-password.txt"
    assert rendered("image-generation-frontend")["knex"]["username"] == "sprocket_app"


def test_config_files_point_at_secret_files_and_hold_no_credential() -> None:
    core = rendered("core")
    assert core["redis"]["passwordFile"] == "/run/secrets/redis-password.txt"
    assert core["minio"]["secretKeyFile"] == "/run/secrets/minio-secret.txt"
    celery = rendered("replay-parse-service")["celery"]
    assert celery["broker_file"] == "/run/secrets/celery-broker-url"
    assert "broker" not in celery  # the URL with its password is a secret file only


def test_hostnames_are_per_environment() -> None:
    catalog = load_catalog()
    core = service_config("core", catalog.apps["core"], catalog, environment(), "i:1")
    web = service_config("web", catalog.apps["web"], catalog, environment(Env.STAGING), "i:1")
    assert [r.hostname for r in core.routes] == ["api.sprocket.example.gg"]
    assert [r.hostname for r in web.routes] == ["staging.sprocket.example.gg"]


def test_env_from_secrets_exports_files_at_start_not_in_the_spec() -> None:
    catalog = load_catalog()
    app = catalog.apps["legacy-bot-emilio"]
    command = command_for(app, environment())
    assert command is not None
    assert command[:2] == ["/bin/sh", "-c"]
    assert 'bot_token="$(cat /run/secrets/legacy-bot-token-emilio)"' in command[2]
    assert 'file_token_secret="$(cat /run/secrets/minio-secret.txt)"' in command[2]
    assert command[-2:] == ["npm", "start"]
    config = service_config("legacy-bot-emilio", app, catalog, environment(), "i:1")
    assert "bot_token" not in config.env
    assert config.env["REDIS_HOST"] == "prod-legacy-redis"


def test_logger_levels_drop_debug_in_prod_only() -> None:
    assert rendered("core")["logger"]["levels"] == ["error", "warn", "log"]
    assert "debug" in rendered("core", Env.LOCAL)["logger"]["levels"]


def test_settings_refer_to_other_services_by_swarm_name() -> None:
    assert rendered("discord-bot")["gql"]["url"] == "http://prod-core:3001/graphql"


def test_bot_prefix_is_s_dot_in_prod_only() -> None:
    assert rendered("discord-bot")["bot"]["prefix"] == "s."
    assert rendered("discord-bot", Env.STAGING)["bot"]["prefix"] == "staging."


def test_workers_are_healthy_only_while_connected_to_their_broker() -> None:
    catalog = load_catalog()
    bot = service_config("discord-bot", catalog.apps["discord-bot"], catalog, environment(), "i")
    [shell, script] = bot.healthcheck.test
    assert shell == "CMD-SHELL"
    assert ":1628 01 " in script  # remote port 5672, state ESTABLISHED
    assert "/proc/net/tcp6" in script


def test_database_and_influx_blocks_follow_layer_2() -> None:
    db = rendered("core")["database"]
    assert (db["host"], db["port"], db["database"], db["ssl"]) == (
        "db.example",
        25060,
        "sprocket_main",
        True,
    )
    influx = rendered("server-analytics-service")["influx"]
    assert influx["bucket"] == "sprocket_main"
    assert influx["tokenFile"] == "/run/secrets/influx-token"


@pytest.mark.parametrize(
    ("entry", "edit", "field", "valid"),
    [
        # A typo of a rule key: Traefik would drop the router, a dead route in production.
        ("web", lambda a: a["routes"][0].update(forward_auth="NoSuchAuth"),
         "routes[0].forward_auth", "AlphaTesters, EloTeam"),
        # A typo of a routed host label: a URL to a host nothing serves.
        ("web", lambda a: a["env"].update(API_URL="https://${host:apii}"), "env", "@, api"),
        ("core", lambda a: a["env"].update(DGRAPH="${service:dgraph-alfa}"), "env",
         "dgraph-alpha"),
        ("core", lambda a: a["env"].update(BUCKET="${bucket:replay}"), "env", "main, replays"),
        ("core", lambda a: a["env"].update(Q="${queue:celeri}"), "env", "celery"),
    ],
)  # fmt: skip
def test_preview_refuses_a_reference_to_nothing_naming_entry_field_and_valid_values(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pulumi_env: Any,
    run_cli: Any,
    entry: str,
    edit: Any,
    field: str,
    valid: str,
) -> None:
    import sprocket_platform.catalog as catalog_module

    raw = raw_catalog()
    edit(raw["apps"][entry])
    broken = tmp_path / "catalog.yaml"
    broken.write_text(yaml.safe_dump(raw, sort_keys=False))
    monkeypatch.setattr(catalog_module, "CATALOG_PATH", broken)

    result = run_cli("preview", "platform")
    assert result.exit_code == 64, result.stderr
    assert f"entry {entry!r}, field {field!r}" in result.stderr
    assert valid in result.stderr
    assert "[applied]" not in result.stdout and "to create" not in result.stdout  # no plan


def test_an_entry_with_a_volume_must_say_why_it_is_stateful() -> None:
    raw = raw_catalog()
    del raw["apps"]["dgraph-alpha"]["stateful"]
    err = reject(raw)
    assert (err.entry, err.field) == ("dgraph-alpha", "stateful")


def test_scale_refuses_stateful_services_unless_their_entry_says_how_they_scale() -> None:
    catalog = load_catalog()
    assert catalog.scale_refusal("web") is None
    assert "redis is stateful" in (catalog.scale_refusal("redis") or "")
    assert "dgraph-alpha is stateful" in (catalog.scale_refusal("dgraph-alpha") or "")
    raw = raw_catalog()
    raw["apps"]["dgraph-alpha"]["scaling"] = "alphas join the zero's replication group"
    assert parse_catalog(raw).scale_refusal("dgraph-alpha") is None


def test_an_entry_with_a_volume_is_placed_on_the_storage_node() -> None:
    raw = raw_catalog()
    raw["apps"]["legacy-redis"]["placement"] = []
    err = reject(raw)
    assert (err.entry, err.field) == ("legacy-redis", "placement")
    assert "node.labels.role==storage" in str(err)
