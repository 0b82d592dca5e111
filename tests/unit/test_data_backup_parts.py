"""Pure parts of the data backups, the drill report and the health row (no servers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from automation.backup.postgres import _pgpass_escape, check_versions, target_from_outputs
from automation.backup.store import _parts
from automation.backup.vault_storage import (
    StorageSource,
    consistent_copy,
    parse_shares,
    seal_config,
)
from automation.drill import markdown
from automation.errors import BackupFailed, BadInput
from automation.health.backups import check_backups
from automation.health.model import Level

SHARE_A = "E3nGKNanDT4VOuzMBm4ViS2DX8x65UdZ3bV9atcCRIyC"
SHARE_B = "bXZipWyHhx0vwwjtj4fXnMjlF9VtB9HPM90FcLA+6g3B"


def test_shares_from_init_json_lines_and_labelled_lines() -> None:
    init = json.dumps({"unseal_keys_b64": [SHARE_A, SHARE_B], "root_token": "hvs.x"})
    assert parse_shares(init) == [SHARE_A, SHARE_B]
    assert parse_shares(f"{SHARE_A}\n\n{SHARE_B}\n{SHARE_A}\n") == [SHARE_A, SHARE_B]
    assert parse_shares(f"Unseal Key 1: {SHARE_A}\nInitial Root Token: hvs.x\n") == [SHARE_A]
    assert parse_shares("not a key\n") == []


def test_seal_config_is_read_from_vaults_own_storage_entry() -> None:
    import base64

    value = base64.b64encode(b'{"secret_shares":5,"secret_threshold":3}').decode()
    files = {"core/_seal-config": json.dumps({"Value": value}).encode()}
    assert seal_config(files)["secret_threshold"] == 3
    with pytest.raises(BadInput, match="never initialised"):
        seal_config({})


def test_a_server_newer_than_the_client_is_refused_and_older_is_fine() -> None:
    check_versions(15, 15)
    check_versions(14, 16)
    with pytest.raises(BadInput, match="PostgreSQL 16, newer than pg_dump 15"):
        check_versions(16, 15)


def test_target_from_layer_2_outputs_and_a_missing_key_names_it() -> None:
    outputs = {
        "postgres_host": "db.internal", "postgres_port": 25060, "postgres_database": "app",
        "app_db_user": "app", "app_db_password": "s3cret", "postgres_ssl_mode": "require",
    }  # fmt: skip
    target = target_from_outputs(outputs)
    assert (target.host, target.port, target.sslmode) == ("db.internal", 25060, "require")
    assert "s3cret" not in repr(target) and "s3cret" not in target.describe()
    del outputs["app_db_user"]
    with pytest.raises(BadInput, match="app_db_user"):
        target_from_outputs(outputs)


def test_pgpass_fields_escape_colons_and_backslashes() -> None:
    assert _pgpass_escape(r"a:b\c") == r"a\:b\\c"


def test_stream_is_regrouped_into_parts_of_the_part_size() -> None:
    parts = list(_parts(iter([b"abc", b"defgh", b"", b"ij"]), 4))
    assert parts == [b"abcd", b"efgh", b"ij"]
    assert list(_parts(iter([]), 4)) == []


def test_backup_row_is_ok_under_24_hours_and_names_what_is_stale() -> None:
    fresh = check_backups({"state": 3.0, "db": 20.5, "vault": 1.0})
    assert fresh.level is Level.OK and fresh.observed == "state 3.0 h, db 20.5 h, vault 1.0 h"
    stale = check_backups({"state": 3.0, "db": 30.0, "vault": None})
    assert stale.level is Level.WARNING and stale.message == "stale: db, vault"


def test_drill_markdown_marks_failures_and_steps_over_target() -> None:
    report = {
        "ok": False,
        "seconds": 12.0,
        "steps": [
            {"step": "db", "ok": True, "seconds": 9000.0, "target_s": 7200,
             "within_target": False, "detail": "restored", "error": ""},
            {"step": "vault", "ok": False, "seconds": 1.0, "target_s": 1800,
             "within_target": True, "detail": "", "error": "stays sealed"},
        ],
    }  # fmt: skip
    text = markdown(report)
    assert "| db | over target | 9000.0 s | < 2 h | restored |" in text
    assert "| vault | FAILED | 1.0 s | < 30 min | stays sealed |" in text
    assert "Drill FAILED" in text


def test_a_storage_that_changes_during_every_read_is_not_backed_up() -> None:
    reads = iter(range(100))
    changing = StorageSource("file", "/vault/file", lambda: {"core/_x": str(next(reads)).encode()})
    with pytest.raises(BackupFailed, match="changed during each of 6 reads"):
        consistent_copy(changing)
    settles = iter([b"1", b"2", b"2"])
    settled = StorageSource("file", "/vault/file", lambda: {"core/_x": next(settles)})
    assert consistent_copy(settled) == ({"core/_x": b"2"}, 3)


def test_a_state_restore_from_a_data_backup_id_says_which_kind_it_is() -> None:
    from automation.backup.service import BackupRecord, Catalog, choose
    from sprocket_common.stack_info import Env, Layer, StackInfo

    dump = BackupRecord("20261130T131356Z-4e365d", "local-db", "p/local-db/x.dump", "2026")
    found = Catalog(records=[dump], damaged=[])
    with pytest.raises(BadInput, match="is a db backup") as caught:
        choose(found, StackInfo(Env.LOCAL, Layer.LAYER_1), backup_id=dump.backup_id)
    assert "restore db --from 20261130T131356Z-4e365d" in (caught.value.hint or "")


def test_a_refused_database_connection_says_refused_on_one_line() -> None:
    import socket

    from automation.backup.postgres import DbTarget, connect
    from automation.errors import DriverError

    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    with pytest.raises(DriverError) as caught:
        connect(DbTarget("127.0.0.1", port, "app", "app", None))
    assert "Connection refused" in caught.value.message
    assert "\n" not in caught.value.message and "\t" not in caught.value.message


def test_a_keys_file_that_is_not_text_is_named_not_a_traceback(tmp_path: Path) -> None:
    import automation.cli  # noqa: F401  (the commands package is imported through the CLI)
    from automation.commands.data import read_shares

    keys = tmp_path / "escrow.json.gpg"
    keys.write_bytes(b"\x85\x02\x0c\x03\xff\xfe" * 50)
    with pytest.raises(BadInput, match=r"escrow.json.gpg is not text"):
        read_shares(keys)


def test_drill_report_into_a_missing_folder_is_refused_before_any_step(
    tmp_path: Path, run_cli: Any
) -> None:
    result = run_cli("drill", "--steps", "db", "--report", str(tmp_path / "nope" / "drill.md"))
    assert result.exit_code == 64, result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "--report" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_an_interrupted_data_command_still_leaves_its_audit_record(tmp_path: Path) -> None:
    import automation.cli  # noqa: F401  (the commands package is imported through the CLI)
    from automation.commands.data import data_verb
    from automation.context import Context
    from automation.guard.audit import audit_path
    from automation.settings import Settings
    from sprocket_common.stack_info import Env

    ctx = Context(Settings(state_dir=tmp_path), Env.LOCAL)

    def interrupted() -> dict[str, Any]:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        data_verb(ctx, "restore db", "db", interrupted)
    entry = json.loads(audit_path(ctx.settings).read_text().splitlines()[-1])
    assert (entry["command"], entry["exit_code"]) == ("restore db", 130)


@pytest.mark.parametrize(("command", "kind", "layer"), [
    ("backup db", "db", "layer_2"), ("backup vault", "vault", "layer_1"),
])  # fmt: skip
def test_a_data_backup_holds_its_layers_lock_and_its_data_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, kind: str, layer: str
) -> None:
    """A rotation of the data's login (it locks the layer) or a restore (the data's lock) cannot
    run under a backup: both locks are held while the backup runs."""
    from automation.backup import postgres, vault_storage
    from automation.guard.lock import read_holder
    from automation.settings import Settings

    settings = Settings(state_dir=tmp_path, project_dir=tmp_path)
    held: dict[str, Any] = {}

    class Record:
        def to_dict(self) -> dict[str, Any]:
            return {"backup_id": "b1"}

    def take(*_args: Any, **_kwargs: Any) -> Record:
        for stack in (f"local-{layer}", f"local-{kind}"):
            holder = read_holder(settings, stack)
            held[stack] = holder.command if holder else None
        return Record()

    monkeypatch.setattr(postgres if kind == "db" else vault_storage, "take", take)
    monkeypatch.setattr("automation.settings.load_settings", lambda: settings)
    monkeypatch.setattr("automation.notify.notify_result", lambda *_a, **_k: None)
    from automation.cli import main

    with pytest.raises(SystemExit):
        main(["--json", *command.split()])
    assert held == {f"local-{layer}": command, f"local-{kind}": command}


@pytest.mark.parametrize("name", ["", "x" * 64])
def test_restore_db_into_a_name_postgres_cannot_hold_is_refused_first(name: str) -> None:
    """Empty: CREATE DATABASE "" was a traceback. Over 63 bytes: Postgres silently cut the
    name, so the report named a database that does not exist."""
    from automation.backup.postgres import restore
    from automation.settings import Settings
    from sprocket_common.stack_info import Env

    with pytest.raises(BadInput, match="--into"):
        restore(Settings(), Env.LOCAL, None, name, confirm_live=lambda _what: None)


def test_the_live_restore_refusal_says_what_to_pass() -> None:
    import automation.cli  # noqa: F401  (the commands package is imported through the CLI)
    from automation.commands.data import confirm_live
    from automation.context import Context
    from automation.settings import Settings
    from sprocket_common.stack_info import Env

    with pytest.raises(BadInput) as caught:
        confirm_live(Context(Settings(), Env.LOCAL))("restore backup X over the LIVE database app")
    assert caught.value.hint == "pass --yes to replace the live database"
