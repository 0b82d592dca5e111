"""scripts/bootstrap_secrets.py's parsing and naming: pure parts, no store touched."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bootstrap_secrets.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bootstrap_secrets", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bs = _load()
KNOWN = {"google-client-id", "ballchasing-token", "discord-bot-token"}


def test_catalog_names_are_the_operator_set_secrets() -> None:
    names = bs.catalog_secret_names()
    assert {"discord-bot-token", "google-client-secret", "ballchasing-token"} <= names
    assert "jwt-secret" not in names  # generated, never set by hand


def test_names_map_to_kebab_case_with_the_old_scripts_aliases() -> None:
    mapped, skipped = bs.map_names(
        {
            "GOOGLE_CLIENT_ID": "g",
            "BALLCHASING_API_KEY": "b",
            "NODE_ENV": "production",
            "DOPPLER_PROJECT": "sprocket",
        },
        KNOWN,
        include_unknown=False,
    )
    assert mapped == {"google-client-id": "g", "ballchasing-token": "b"}
    assert skipped == ["NODE_ENV"]  # Doppler's own metadata is not even listed


def test_unknown_names_are_set_only_when_asked() -> None:
    mapped, skipped = bs.map_names({"NODE_ENV": "production"}, KNOWN, include_unknown=True)
    assert mapped == {"node-env": "production"} and skipped == []


def test_two_values_for_one_secret_are_refused_naming_the_variables_only() -> None:
    with pytest.raises(bs.BadInput) as err:
        bs.map_names(
            {"BALLCHASING_TOKEN": "first-value", "BALLCHASING_API_TOKEN": "second-value"},
            KNOWN,
            include_unknown=False,
        )
    message = str(err.value)
    assert "BALLCHASING_TOKEN and BALLCHASING_API_TOKEN" in message
    assert "first-value" not in message and "second-value" not in message


def test_dotenv_with_quotes_exports_and_comments(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(
        "# from doppler\nexport GOOGLE_CLIENT_ID=\"abc def\"\nSTEAM_API_KEY='x#y'\nEMPTY=\n"
    )
    assert bs.read_dotenv(path) == {
        "GOOGLE_CLIENT_ID": "abc def",
        "STEAM_API_KEY": "x#y",
        "EMPTY": "",
    }


def test_dotenv_line_without_a_value_is_named(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("GOOGLE_CLIENT_ID=abc\nSTEAM_API_KEY\n")
    with pytest.raises(bs.BadInput, match=r"no value .* for STEAM_API_KEY"):
        bs.read_dotenv(path)


def test_doppler_json_flat_and_computed_shapes(tmp_path: Path) -> None:
    flat, rich = tmp_path / "flat.json", tmp_path / "rich.json"
    flat.write_text(json.dumps({"STEAM_API_KEY": "k"}))
    rich.write_text(json.dumps({"STEAM_API_KEY": {"computed": "k", "raw": "${X}"}}))
    assert bs.read_doppler_json(flat) == bs.read_doppler_json(rich) == {"STEAM_API_KEY": "k"}


def test_doppler_json_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(bs.BadInput, match=r"bad.json: not JSON"):
        bs.read_doppler_json(path)
    with pytest.raises(bs.BadInput, match="no such file"):
        bs.read_doppler_json(tmp_path / "missing.json")


def test_redact_scrubs_values_from_error_text() -> None:
    assert bs.redact("boom: hunter22 rejected", {"x": "hunter22"}) == "boom: [secret] rejected"
