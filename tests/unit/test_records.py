"""guard/records.py: the one way the driver writes and reads back its durable records, and the
journals that live on it (beside the backend, so every ops host sees the same ones)."""

from __future__ import annotations

import json
from pathlib import Path

from automation.guard.records import append_record, read_records, records_dir, write_atomic
from automation.rotate import journal
from automation.rotate.journal import STORED, Entry
from automation.settings import Settings


def _host(tmp_path: Path, name: str) -> Settings:
    """One ops host: its own state folder, the shared file backend."""
    return Settings(
        project_dir=tmp_path / name,
        state_dir=tmp_path / name / ".sprocket",
        backend_url=f"file://{tmp_path / 'shared-backend'}",
    )


def test_a_rotation_journal_written_on_one_host_is_read_on_another(tmp_path: Path) -> None:
    """A rotation killed on host A is finished from host B, whose stack lock is the same file."""
    from automation.guard.lock import lock_path

    host_a, host_b = _host(tmp_path, "a"), _host(tmp_path, "b")
    entry = Entry("db-password", "app", "app", "app_b", STORED)
    journal.write(host_a, entry)
    found = journal.read(host_b, "db-password", "app")
    assert found is not None and (found.new_ref, found.step) == ("app_b", STORED)
    backend = tmp_path / "shared-backend"
    assert journal.path(host_b, "db-password", "app").is_relative_to(backend)
    assert lock_path(host_b, "local-layer_2").is_relative_to(backend)
    assert journal.path(host_a, "db-password", "app").stat().st_mode & 0o777 == 0o600


def test_a_journal_left_in_the_old_per_machine_folder_is_still_found(tmp_path: Path) -> None:
    settings = _host(tmp_path, "a")
    old = settings.state_dir / "rotation" / "db-password-app.json"
    old.parent.mkdir(parents=True)
    from dataclasses import asdict

    old.write_text(json.dumps(asdict(Entry("db-password", "app", "app", "app_b", STORED))))
    found = journal.read(settings, "db-password", "app")
    assert found is not None and found.step == STORED
    journal.clear(settings, found)
    assert journal.read(settings, "db-password", "app") is None and not old.exists()


def test_write_atomic_replaces_the_whole_file_and_leaves_no_scratch(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "record.json"
    write_atomic(path, "old")
    write_atomic(path, b"new", mode=0o644)
    assert path.read_text() == "new"
    assert path.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == ["record.json"]


def test_an_append_after_a_cut_off_line_starts_a_line_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    append_record(path, {"n": 1})
    with path.open("ab") as out:
        out.write(b'{"n": 2, "cut')  # a crash mid-write
    append_record(path, {"n": 3})
    path.write_bytes(path.read_bytes() + b"[1, 2]\n\n")
    records, damaged = read_records(path)
    assert records == [{"n": 1}, {"n": 3}]
    assert [number for number, _ in damaged] == [2, 4]
    assert "not a record" in damaged[1][1]


def test_records_dir_is_beside_the_backend_and_not_created_by_asking(tmp_path: Path) -> None:
    settings = _host(tmp_path, "a")
    folder = records_dir(settings, "rotation")
    assert folder == tmp_path / "shared-backend" / ".sprocket" / "rotation"
    assert not folder.exists()
    assert read_records(folder / "none.jsonl") == ([], [])
