"""`report sla` end to end over HTTP: a loopback server answers Gatus's API paths with the
recorded Gatus answers (tests/fixtures/gatus_recorded/, a stand-in for Gatus itself)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.integration.driver_toys import check_schema

pytestmark = pytest.mark.integration

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "gatus_recorded"


@pytest.fixture
def recorded_gatus() -> Iterator[tuple[str, list[str]]]:
    """Base URL of the stand-in and the paths it was asked for."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            asked.append(self.path)
            parts = url.path.strip("/").split("/")
            if url.path == "/api/v1/endpoints/statuses":
                file = RECORDED / "endpoints_statuses.json"
            elif len(parts) == 5 and parts[:3] == ["api", "v1", "endpoints"]:
                file = RECORDED / f"{parts[3]}.json"
            else:
                file = RECORDED / "missing"
            body = file.read_bytes() if file.is_file() else b"not found"
            self.send_response(200 if file.is_file() else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_report_sla_month_from_recorded_gatus_answers(
    run_cli: Any, recorded_gatus: tuple[str, list[str]], tmp_path: Path, monkeypatch: Any
) -> None:
    url, asked = recorded_gatus
    monkeypatch.setenv("SPROCKET_STATE_DIR", str(tmp_path))
    result = run_cli("--json", "report", "sla", "--month", "2026-10", "--gatus-url", url)
    assert result.exit_code == 0, result.stderr
    data = check_schema(result.json())["data"]
    down = {s["name"]: s["down_minutes"] for s in data["services"]}
    assert down == {"sprocket.gg": 40, "api.sprocket.gg": 60, "postgres": 0}
    assert data["summary"]["missed"] == ["api.sprocket.gg"]
    assert "/api/v1/endpoints/critical_api-sprocket-gg/statuses?page=1&pageSize=1" in asked
    markdown = run_cli("report", "sla", "--month", "2026-10", "--gatus-url", url)
    assert markdown.stdout.startswith(
        "# SLA 2026-10 (2026-10-01T00:00:00Z to 2026-11-01T00:00:00Z)"
    )
    assert "**NO**" in markdown.stdout


def test_report_sla_names_an_unreachable_gatus_and_a_bad_period(run_cli: Any) -> None:
    result = run_cli("report", "sla", "--week", "2026-W41", "--gatus-url", "http://127.0.0.1:9")
    assert result.exit_code == 1
    assert "cannot read Gatus's history at http://127.0.0.1:9" in result.stderr
    bad = run_cli("report", "sla", "--month", "2026-13", "--gatus-url", "http://127.0.0.1:9")
    assert bad.exit_code == 64 and "--month '2026-13'" in bad.stderr
    both = run_cli("report", "sla", "--month", "2026-10", "--week", "2026-W41")
    assert both.exit_code == 64


def test_report_sla_error_never_shows_the_gatus_password(
    run_cli: Any, recorded_gatus: tuple[str, list[str]]
) -> None:
    """Gatus behind basic auth: an HTTP error's text (requests names the full URL) is redacted."""
    url, _ = recorded_gatus
    with_auth = url.replace("http://", "http://ops:CANARY-gatus-pw-4242@") + "/wrong-base"
    result = run_cli("--json", "report", "sla", "--month", "2026-10", "--gatus-url", with_auth)
    assert result.exit_code == 1
    document = result.json()
    assert "404" in document["errors"][0]["message"]
    assert "CANARY-gatus-pw-4242" not in result.stdout + result.stderr


@pytest.fixture
def odd_keys_gatus() -> Iterator[tuple[str, list[str]]]:
    """The recorded answers plus endpoints whose keys keep `#`, `+`, `(` as Gatus keeps them
    (TwiN/gatus#880, #1321): `Discord bot #2` in a group that is not counted, `status (eu+us)`
    counted with a history, and `gone` counted whose history answers 404. Like Gatus, the
    stand-in percent-decodes the key segment."""
    import json
    from urllib.parse import unquote

    listed = json.loads((RECORDED / "endpoints_statuses.json").read_text())
    postgres = json.loads((RECORDED / "internal_postgres.json").read_text())
    extra = {
        "bots_discord-bot-#2": {"name": "Discord bot #2", "group": "bots"},
        "critical_status-(eu+us)": {"name": "status (eu+us)", "group": "critical"},
        "critical_gone": {"name": "gone", "group": "critical"},
    }
    histories = {
        "critical_status-(eu+us)": {**postgres, **extra["critical_status-(eu+us)"],
                                    "key": "critical_status-(eu+us)"},
        "bots_discord-bot-#2": {**postgres, **extra["bots_discord-bot-#2"],
                                "key": "bots_discord-bot-#2"},
    }  # fmt: skip
    listed += [{**value, "key": key, "results": []} for key, value in extra.items()]
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            asked.append(self.path)
            parts = url.path.strip("/").split("/")
            body: bytes | None = None
            if url.path == "/api/v1/endpoints/statuses":
                body = json.dumps(listed).encode()
            elif len(parts) == 5 and parts[:3] == ["api", "v1", "endpoints"]:
                key = unquote(parts[3])
                if key in histories:
                    body = json.dumps(histories[key]).encode()
                elif (RECORDED / f"{key}.json").is_file():
                    body = (RECORDED / f"{key}.json").read_bytes()
            self.send_response(200 if body is not None else 404)
            payload = body if body is not None else b"not found"
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_report_sla_with_odd_endpoint_keys_reports_every_service_and_names_the_unreadable(
    run_cli: Any, odd_keys_gatus: tuple[str, list[str]], tmp_path: Path, monkeypatch: Any
) -> None:
    """One more endpoint, `Discord bot #2` in an uncounted group, made the whole report exit 1
    ("404 ... check --gatus-url and that Gatus is up"): keys are now percent-encoded, only the
    counted groups are read, and a counted endpoint whose history cannot be read is named as
    incomplete while the others are reported."""
    url, asked = odd_keys_gatus
    monkeypatch.setenv("SPROCKET_STATE_DIR", str(tmp_path))
    result = run_cli("--json", "report", "sla", "--month", "2026-10", "--gatus-url", url)
    assert result.exit_code == 0, result.stdout + result.stderr
    data = check_schema(result.json())["data"]
    services = {s["name"]: s for s in data["services"]}
    assert set(services) == {"sprocket.gg", "api.sprocket.gg", "postgres", "status (eu+us)",
                             "gone"}  # fmt: skip
    assert services["api.sprocket.gg"]["down_minutes"] == 60  # the others as before
    assert services["status (eu+us)"]["unreadable"] is None
    assert services["status (eu+us)"]["measured_minutes"] > 0
    assert "/api/v1/endpoints/critical_status-%28eu%2Bus%29/statuses?page=1&pageSize=1" in asked
    assert not any("discord" in path for path in asked)  # an uncounted group is not read
    assert services["gone"]["unreadable"] == "its history could not be read: HTTP 404"
    assert services["gone"]["complete"] is False
    assert data["summary"]["unreadable"] == ["gone"] and "gone" in data["summary"]["incomplete"]
    markdown = run_cli("report", "sla", "--month", "2026-10", "--gatus-url", url).stdout
    assert "| gone (incomplete: its history could not be read: HTTP 404) | critical |" in markdown
