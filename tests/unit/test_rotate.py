"""rotate: the layer side (a rotated login reaches the consumers, never the local server) and
the journal's recovery decisions, with a recording credential (no engine, no database)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest

from automation.context import Context
from automation.errors import BadInput
from automation.rotate import journal, run
from automation.rotate.journal import PREPARED, STORED, Entry
from automation.settings import Settings
from sprocket_common.stack_info import Env, Layer
from tests.unit.test_layer_2 import DOMAIN, LAYER1

CANARY = "rotated-canary-3141"


def _layer_2(run_layer: Any, env: str) -> Any:
    config: dict[str, Any] = {"rotation:db_sprocket_app_login": "sprocket_app_b"}
    if env != "local":
        config["base_domain"] = DOMAIN
    return run_layer(
        "layer_2",
        env=env,
        config={**config, "layer_2:app_db_user": "sprocket_app"},
        secrets={"rotation:db_sprocket_app_password": CANARY},
        upstream={"layer_1": LAYER1},
    )


@pytest.mark.parametrize("env", ["local", "prod"])
def test_a_rotated_login_is_what_layer_2_exports(run_layer: Any, env: str) -> None:
    rec = _layer_2(run_layer, env)
    assert rec.outputs["app_db_user"] == "sprocket_app_b"
    assert rec.outputs["app_db_password"] == CANARY
    assert "app_db_password" in rec.secret_outputs


def test_the_local_server_keeps_its_initial_app_password(run_layer: Any) -> None:
    """init-roles.sh reads it once; rolling the server would restart every connection."""
    rec = _layer_2(run_layer, "local")
    secrets = rec.by_type("docker:index/secret:Secret")
    datas = [r.inputs["data"] for r in secrets if r.name.endswith("pg-app-password")]
    # A secret input is recorded wrapped: {<secret signature>: ..., "value": ...}.
    values = [base64.b64decode(d["value"] if isinstance(d, dict) else d).decode() for d in datas]
    assert values and CANARY not in values


class Recording:
    """A Credential that records what the rotation asked of it."""

    kind, target = "db-password", "app"
    store_layer, roll_layers, mounts = Layer.LAYER_2, (), ()

    def __init__(self, stored_ref: str = "app_b") -> None:
        self.calls: list[tuple[str, str]] = []
        self.stored_ref = stored_ref

    def current(self, ctx: Context) -> run.Current:
        return run.Current(self.stored_ref, "v", True)

    def works(self, ref: str, value: str) -> bool:
        return True

    def next_ref(self, current: run.Current) -> str:
        return "app_b"

    def retire(self, ref: str) -> None:
        self.calls.append(("retire", ref))


def _ctx(tmp_path: Path) -> Context:
    return Context(Settings(project_dir=tmp_path, state_dir=tmp_path), Env.LOCAL)


def test_a_run_killed_before_the_value_was_stored_is_rolled_back(tmp_path: Path) -> None:
    ctx, cred = _ctx(tmp_path), Recording(stored_ref="app")  # the config: still the old login
    entry = Entry("db-password", "app", "app", "app_b", PREPARED)
    journal.write(ctx.settings, entry)
    data = run._resume(ctx, cred, entry)  # type: ignore[arg-type]
    assert data["outcome"] == "rolled back an interrupted rotation"
    assert "run the same command again" in data["next"]  # exit 0 alone hides: nothing rotated
    assert cred.calls == [("retire", "app_b")]  # the new login, never the one in use
    assert journal.read(ctx.settings, "db-password", "app") is None


def test_a_run_killed_after_the_value_was_stored_is_completed(tmp_path: Path) -> None:
    ctx, cred = _ctx(tmp_path), Recording()
    entry = Entry("db-password", "app", "app", "app_b", STORED)
    journal.write(ctx.settings, entry)
    data = run._resume(ctx, cred, entry)  # type: ignore[arg-type]
    assert data["outcome"] == "completed an interrupted rotation"
    assert cred.calls == [("retire", "app")]  # the old login, last
    assert journal.read(ctx.settings, "db-password", "app") is None


def test_a_run_killed_between_the_config_write_and_the_journal_is_completed(
    tmp_path: Path,
) -> None:
    """The journal still says `prepared` but the config already holds the new login: rolling
    back would retire the login the config holds, and the next deploy would roll every
    consumer onto a login with no password."""
    ctx, cred = _ctx(tmp_path), Recording(stored_ref="app_b")
    entry = Entry("db-password", "app", "app", "app_b", PREPARED)
    journal.write(ctx.settings, entry)
    data = run._resume(ctx, cred, entry)  # type: ignore[arg-type]
    assert data["outcome"] == "completed an interrupted rotation"
    assert cred.calls == [("retire", "app")]
    assert journal.read(ctx.settings, "db-password", "app") is None


def test_a_damaged_journal_is_named_and_rolled_back(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    path = journal.path(ctx.settings, "db-password", "app")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    entry = journal.read(ctx.settings, "db-password", "app")
    assert entry is not None and str(path) in entry.damaged and not entry.value_stored
    assert run._describe(entry)["next_run"] == "rolls back"


def test_a_journal_never_holds_a_value(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    journal.write(ctx.settings, Entry("db-password", "app", "app", "app_b", STORED))
    text = journal.path(ctx.settings, "db-password", "app").read_text()
    assert set(__import__("json").loads(text)) == {
        "kind", "target", "old_ref", "new_ref", "step", "started_at", "pid", "damaged"
    }  # fmt: skip


@pytest.mark.parametrize(
    "given",
    [
        "short",
        "has a space in it ok",
        "quote'd-value-long-enough",
        "first-line-long-enough\nsecond-line-of-the-value",  # never cut silently to line one
    ],
)
def test_an_unusable_value_on_stdin_is_refused(given: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from automation.rotate.value import new_value

    monkeypatch.setattr("sys.stdin", io.StringIO(given + "\n"))
    with pytest.raises(BadInput, match="--value-stdin") as raised:
        new_value(from_stdin=True)
    assert given not in raised.value.one_line()


def test_a_generated_value_is_64_letters_and_digits() -> None:
    from automation.rotate.value import new_value

    value = new_value(from_stdin=False)
    assert len(value) == 64 and value.isalnum() and value != new_value(from_stdin=False)


def test_an_unreachable_database_is_not_reported_as_a_refused_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing listens on port 1: the check must say it cannot connect, not that the stack's
    password is refused (which sends the operator to fix a password that is fine)."""
    from automation.rotate import postgres

    for key, value in {"PGHOST": "127.0.0.1", "PGPORT": "1", "PGUSER": "postgres"}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(postgres.DatabaseError, match="cannot connect to Postgres") as raised:
        postgres.can_log_in("app", CANARY)
    assert "PGHOST" in raised.value.one_line() and CANARY not in raised.value.one_line()


class _Output:
    def __init__(self, value: str) -> None:
        self.value = value


class _DeployedLayer2:
    """A deployed layer_2 stack as the dry run reads it: config, outputs, state (no consumer)."""

    user = "app"

    def get_all_config(self) -> dict[str, Any]:
        return {}

    def outputs(self) -> dict[str, _Output]:
        return {"app_db_user": _Output(self.user), "app_db_password": _Output(CANARY)}

    def export_stack(self) -> Any:
        raise AssertionError("export_stack() is `stack export --show-secrets`: plaintext state")


@pytest.fixture
def only_layer_2_deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    from automation.pulumi import cli
    from automation.rotate import stacks

    def existing(ctx: Context, info: Any) -> Any:
        return _DeployedLayer2() if info.layer == Layer.LAYER_2 else None

    monkeypatch.setattr(stacks, "existing", existing)
    monkeypatch.setattr(cli, "run_pulumi_json", lambda *_a, **_k: {"deployment": {}})


_ENCRYPTED = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
              "ciphertext": "v1:abc"}  # fmt: skip


def test_consumers_are_read_from_the_ciphertext_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service whose task spec the state holds encrypted is still found, by its dependency on
    the rotated secret; nothing asks for the plaintext state (`export_stack()`)."""
    from automation.pulumi import cli
    from automation.rotate import stacks

    prefix = "urn:pulumi:local-layer_2::sprocket-infra::"
    secret_urn = f"{prefix}docker:index/secret:Secret::api-pg-app-password"
    export = {"deployment": {"resources": [
        {"urn": secret_urn, "type": stacks.SECRET_TYPE, "id": "sec1"},
        {"urn": f"{prefix}docker:index/secret:Secret::api-other", "type": stacks.SECRET_TYPE,
         "id": "sec2"},
        {"urn": f"{prefix}docker:index/service:Service::api", "type": stacks.SERVICE_TYPE,
         "dependencies": [secret_urn], "outputs": {"name": "sprocket-api", "taskSpec": _ENCRYPTED}},
        {"urn": f"{prefix}docker:index/service:Service::web", "type": stacks.SERVICE_TYPE,
         "outputs": {"name": "web", "taskSpec": {"containerSpec": {"secrets": [
             {"secretId": "sec1"}]}}}},
        {"urn": f"{prefix}docker:index/service:Service::cron", "type": stacks.SERVICE_TYPE,
         "outputs": {"name": "cron", "taskSpec": {"containerSpec": {"secrets": [
             {"secretId": "sec2"}]}}}},
    ]}}  # fmt: skip
    asked: list[list[str]] = []

    def run_pulumi_json(_settings: Any, _info: Any, args: list[str], **_k: Any) -> Any:
        asked.append(args)
        return export

    monkeypatch.setattr(cli, "run_pulumi_json", run_pulumi_json)
    ctx = _ctx(tmp_path)
    found = stacks.consumers(ctx, ctx.stack(Layer.LAYER_2), ("pg-app-password",))
    assert found == ["sprocket-api", "web"]
    assert asked == [["stack", "export"]]  # no --show-secrets


def test_the_dry_run_refuses_a_user_the_apply_would_refuse(
    tmp_path: Path, only_layer_2_deployed: None
) -> None:
    from automation.rotate.dbpassword import DbPassword

    with pytest.raises(BadInput, match="--user nobody"):
        run.plan(_ctx(tmp_path), DbPassword("nobody"))


def test_the_dry_run_says_which_stacks_are_not_deployed(
    tmp_path: Path, only_layer_2_deployed: None
) -> None:
    import automation.cli  # noqa: F401 - the commands package is imported through the CLI
    from automation.commands.rotate import _plan_text
    from automation.rotate.dbpassword import DbPassword

    data = run.plan(_ctx(tmp_path), DbPassword("app"))
    assert data["not_deployed"] == ["local-platform"]
    text = _plan_text(data)
    assert "local-layer_2: no consumer services" in text
    assert "local-platform: not deployed here" in text and CANARY not in str(data)


def test_the_dry_run_text_names_a_damaged_journal(tmp_path: Path) -> None:
    import automation.cli  # noqa: F401 - the commands package is imported through the CLI
    from automation.commands.rotate import _plan_text

    ctx = _ctx(tmp_path)
    path = journal.path(ctx.settings, "db-password", "app")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    entry = journal.read(ctx.settings, "db-password", "app")
    assert entry is not None
    data = {"rotation": "db-password", "target": "app", "consumers": {}}
    text = _plan_text({**data, "unfinished": run._describe(entry)})
    assert str(path) in text and "--apply rolls it back" in text


@pytest.mark.parametrize("user", ["", "../../tmp/x", 'a"; DROP ROLE app;--', "App", "x" * 64])
def test_a_user_that_is_no_role_name_is_refused(user: str) -> None:
    """The user names the journal file and the stack config key: only a plain role name."""
    from automation.rotate.dbpassword import DbPassword

    with pytest.raises(BadInput, match="--user"):
        DbPassword(user)


def test_without_user_the_dry_run_rotates_layer_2s_app_user(
    tmp_path: Path,
    only_layer_2_deployed: None,
    run_cli: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """layer_2's app user is `sprocket_app` unless configured: `rotate db-password` with no
    --user must rotate it, not refuse the real stack for a hard-wired `app`."""
    monkeypatch.setenv("SPROCKET_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(_DeployedLayer2, "user", "sprocket_app")
    dry = run_cli("--json", "rotate", "db-password")
    assert dry.exit_code == 0, dry.stdout + dry.stderr
    assert json.loads(dry.stdout)["data"]["target"] == "sprocket_app"


def test_after_a_rotation_the_user_is_still_the_user_not_its_second_login(
    tmp_path: Path,
    only_layer_2_deployed: None,
    run_cli: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once rotated, layer_2's `app_db_user` output is the current login (`app_b`): neither the
    default nor `--user app_b` may take that for the user (it made a role `app_b_b`)."""
    from pulumi.automation import ConfigValue

    monkeypatch.setenv("SPROCKET_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(_DeployedLayer2, "user", "app_b")
    rotated = {
        "rotation:db_app_login": ConfigValue("app_b"),
        "rotation:db_app_password": ConfigValue(CANARY, secret=True),
    }
    monkeypatch.setattr(_DeployedLayer2, "get_all_config", lambda self: rotated)
    dry = run_cli("--json", "rotate", "db-password")
    assert dry.exit_code == 0, dry.stdout + dry.stderr
    assert json.loads(dry.stdout)["data"]["target"] == "app"
    second = run_cli("rotate", "db-password", "--user", "app_b")
    assert second.exit_code == 64 and "--user app" in second.stderr, second.stderr
