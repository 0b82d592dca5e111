"""The driver's notifications against a real HTTP webhook receiver on loopback: signed (the
receiver recomputes the HMAC), one message per operation (also through the cron wrapper),
retried after a 5xx, and never carrying a secret value."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from automation.exit_codes import ExitCode
from automation.render import Result

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]
KEY = "test-hmac-key-4d1f"
CANARY = "canary-s3-secret-9e7c1a2b"  # a secret the driver knows (a backup credential)


@dataclass
class Receiver:
    url: str
    answers: list[int] = field(default_factory=list)  # status codes to answer first (then 200)
    answered: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)

    def accepted(self) -> list[dict[str, Any]]:
        """The bodies answered 200, after checking each signature as a receiver must."""
        bodies = []
        for headers, body, status in self.answered:
            expected = "sha256=" + hmac.new(KEY.encode(), body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(headers["X-Sprocket-Signature"], expected)
            if status == 200:
                bodies.append(json.loads(body))
        return bodies


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = rec.answers.pop(0) if rec.answers else 200
            rec.answered.append((dict(self.headers), body, status))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/sprocket"
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def notify_env(
    receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    env = {
        "SPROCKET_NOTIFY_URL": receiver.url,
        "SPROCKET_NOTIFY_SECRET": KEY,
        "SPROCKET_STATE_DIR": str(tmp_path / "state"),
        "SPROCKET_BACKUP_SECRET_ACCESS_KEY": CANARY,
        # An engine nobody listens on: `health` cannot run, which the ops channel must hear.
        "DOCKER_HOST": f"tcp://127.0.0.1:{_closed_port()}",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SPROCKET_OPERATION_ID", raising=False)
    return env


def test_a_failed_health_sends_one_signed_message_after_a_retry(
    run_cli: Any, receiver: Receiver, notify_env: dict[str, str]
) -> None:
    receiver.answers = [503]  # the first attempt fails; the sender backs off and retries
    result = run_cli("--json", "health", "--no-tls", "--no-stats")
    assert result.exit_code == ExitCode.ERROR, result.stderr
    [message] = receiver.accepted()
    assert (message["verb"], message["exit_code"], message["env"]) == ("health", 1, "local")
    assert "Docker API" in message["errors"][0]["message"]
    assert len(receiver.answered) == 2  # 503, then the same delivery again
    ids = {headers["X-Sprocket-Delivery"] for headers, _, _ in receiver.answered}
    assert ids == {message["id"]}
    assert CANARY not in "".join(body.decode() for _, body, _ in receiver.answered)
    assert json.loads(result.stdout)["exit_code"] == 1  # stdout is still one JSON document


def test_a_secret_in_a_failure_message_is_redacted_and_an_operation_is_sent_once(
    receiver: Receiver, notify_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from automation.notify import notify_result

    monkeypatch.setenv("SPROCKET_OPERATION_ID", "op-redact-1")
    failed = Result(
        "backup",
        ExitCode.BACKUP_FAILED,
        {"stacks": [{"stack": "prod-layer_2", "error": f"upload refused for key {CANARY}"}]},
        errors=[{"message": f"S3 said: bad signature for {CANARY}", "hint": "check keys"}],
    )
    assert notify_result("backup", failed, env="prod") is True
    assert notify_result("backup", failed, env="prod") is False  # same operation: not again
    [message] = receiver.accepted()
    raw = receiver.answered[0][1].decode()
    assert CANARY not in raw and KEY not in raw
    assert message["errors"][0]["message"] == "S3 said: bad signature for [secret]"
    assert message["id"] == "op-redact-1"
    ok = Result("backup", ExitCode.OK)
    monkeypatch.setenv("SPROCKET_OPERATION_ID", "op-redact-2")
    assert notify_result("backup", ok, env="prod") is False  # success: nothing to say
    assert len(receiver.accepted()) == 1


def test_a_refusing_receiver_is_one_line_on_stderr_and_the_exit_code_stands(
    run_cli: Any, receiver: Receiver, notify_env: dict[str, str]
) -> None:
    receiver.answers = [403]  # not retried: the receiver said no
    result = run_cli("health", "--no-tls", "--no-stats")
    assert result.exit_code == ExitCode.ERROR
    assert receiver.accepted() == [] and len(receiver.answered) == 1
    [line] = [line for line in result.stderr.splitlines() if line.startswith("notify:")]
    assert "HTTP 403" in line and "/hooks" not in line  # the URL's path may hold a token


def _run_job(
    env: dict[str, str], tmp_path: Path, *command: str
) -> subprocess.CompletedProcess[str]:
    job_env = {
        "PATH": os.environ["PATH"],
        "SPROCKET_ENV_FILE": str(tmp_path / "no-env-file"),
        "SPROCKET_LOG_DIR": str(tmp_path / "logs"),
        "SPROCKET_ENV": "local",
        **env,
    }
    return subprocess.run(
        [str(PROJECT_ROOT / "scripts" / "cron" / "run-job"), *command],
        capture_output=True,
        text=True,
        env=job_env,
        timeout=120,
    )


def test_the_cron_wrapper_sends_one_message_per_job_run(
    receiver: Receiver, notify_env: dict[str, str], tmp_path: Path
) -> None:
    python = str(PROJECT_ROOT / ".venv" / "bin" / "python")
    driver = [python, "-m", "automation", "--env", "local", "--json"]
    # The driver notifies, then the wrapper's own notify for the same run is a duplicate.
    run = _run_job(notify_env, tmp_path, "health", *driver, "health", "--no-tls", "--no-stats")
    assert run.returncode == ExitCode.ERROR, run.stderr
    [message] = receiver.accepted()
    assert message["verb"] == "health" and message["id"].startswith("cron-health-")
    # A job that is not the driver is reported by the wrapper alone.
    run = _run_job(notify_env, tmp_path, "docker-cleanup", "sh", "-c", "exit 3")
    assert run.returncode == 3
    messages = receiver.accepted()
    assert [m["verb"] for m in messages] == ["health", "docker-cleanup"]
    assert messages[1]["job_exit_code"] == 3
    assert messages[1]["id"].startswith("cron-docker-cleanup-")
    assert CANARY not in json.dumps(messages)


def test_a_receiver_that_trickles_its_answer_body_is_not_waited_for(tmp_path: Path) -> None:
    """requests' timeout is per socket read: a body sent a byte at a time (each within the
    timeout) held a failing verb for minutes. The status line is the answer; the body is not
    read (the receiver sees the driver hang up before it has written it all)."""
    from automation.notify import deliver

    finished = threading.Event()
    outcome: list[str] = []

    class Trickle(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "40")
            self.end_headers()
            try:
                for _ in range(40):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    threading.Event().wait(0.1)
                outcome.append("body written to the end")
            except OSError:
                outcome.append("driver hung up")
            finally:
                finished.set()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hooks/sprocket"
        event = {"id": "op-trickle", "verb": "health"}
        assert deliver(url, KEY.encode(), event, sent_dir=tmp_path, timeout_s=1.0) is True
        assert finished.wait(timeout=30)
        assert outcome == ["driver hung up"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_database_password_from_the_settings_file_is_redacted(
    receiver: Receiver, notify_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`backup db` (scheduled) reads [data] db_password from sprocket.toml, not the environment:
    it is a settings secret like the backup keys, so a message never carries it."""
    from automation.notify import notify_result

    password = "canary-db-password-6f2e"
    settings = tmp_path / "sprocket.toml"
    settings.write_text(f'[data]\ndb_password = "{password}"\n')
    monkeypatch.setenv("SPROCKET_SETTINGS", str(settings))
    monkeypatch.setenv("SPROCKET_OPERATION_ID", "op-redact-db")
    failed = Result(
        "backup db",
        ExitCode.BACKUP_FAILED,
        errors=[{"message": f"pg_dump: password {password} refused", "hint": "check [data]"}],
    )
    assert notify_result("backup db", failed, env="prod") is True
    [message] = receiver.accepted()
    assert password not in receiver.answered[0][1].decode()
    assert message["errors"][0]["message"] == "pg_dump: password [secret] refused"


def test_the_cron_wrapper_reports_a_misconfigured_job_and_a_job_of_any_name(
    receiver: Receiver, notify_env: dict[str, str], tmp_path: Path
) -> None:
    """Unattended, exit 64 means the job's configuration rotted (e.g. the env file lost the
    bucket): nobody is at a keyboard to see it, and the old alert hook reported it. A job the
    policy does not name is reported too; a held lock is not (the next run retries)."""
    python = str(PROJECT_ROOT / ".venv" / "bin" / "python")
    driver = [python, "-m", "automation", "--env", "local", "--json"]
    run = _run_job(notify_env, tmp_path, "backup-verify", *driver, "backup", "verify", "all")
    assert run.returncode == ExitCode.BAD_INPUT, run.stderr
    run = _run_job(notify_env, tmp_path, "report-sla", "sh", "-c", "exit 1")
    assert run.returncode == 1
    run = _run_job(notify_env, tmp_path, "drift", "sh", "-c", f"exit {int(ExitCode.LOCKED)}")
    assert run.returncode == ExitCode.LOCKED
    messages = receiver.accepted()
    assert [(m["verb"], m["job_exit_code"]) for m in messages] == [
        ("backup-verify", 64),
        ("report-sla", 1),
    ]


@dataclass
class Redirecting:
    """A receiver whose POST path answers a redirect (`status`, Location: its /moved path) and
    whose /moved path answers 200 to anything: what requests followed used to count as sent."""

    url: str
    status: int = 301
    posts: list[bytes] = field(default_factory=list)
    moved: list[tuple[str, bytes]] = field(default_factory=list)  # (method, body) at /moved


@pytest.fixture
def redirecting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Redirecting]:
    rec = Redirecting(url="")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path.startswith("/moved"):
                rec.moved.append((self.command, body))
                self.send_response(200)
            else:
                rec.posts.append(body)
                self.send_response(rec.status)
                self.send_header("Location", f"http://127.0.0.1:{port}/moved/token-xyz")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{port}/hooks/sprocket"
    for key, value in {
        "SPROCKET_NOTIFY_URL": rec.url,
        "SPROCKET_NOTIFY_SECRET": KEY,
        "SPROCKET_STATE_DIR": str(tmp_path / "state"),
        "DOCKER_HOST": f"tcp://127.0.0.1:{_closed_port()}",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SPROCKET_OPERATION_ID", raising=False)
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_redirected_webhook_is_not_a_delivery_and_is_retried_later(
    run_cli: Any, redirecting: Redirecting, monkeypatch: pytest.MonkeyPatch
) -> None:
    """psf/requests#5494: a POST answered 301 was re-sent as a bodyless GET, answered 200, and
    counted as sent; the claim file then blocked every retry of that operation."""
    monkeypatch.setenv("SPROCKET_OPERATION_ID", "op-redirect-1")
    result = run_cli("--json", "notify", "job", "backup-db", "--exit-code", "6")
    # Not delivered is a failure of `notify job` (exit 1), so cron and the wrapper see it.
    assert result.exit_code == ExitCode.ERROR, result.stderr
    assert result.json()["data"]["sent"] is False
    assert result.json()["data"]["delivery"] == "failed"
    [error] = result.json()["errors"]
    assert (
        "scheduled job backup-db exited 6, and its notification was not delivered"
        in (error["message"])
    )
    [line] = [line for line in result.stderr.splitlines() if line.startswith("notify:")]
    assert "HTTP 301 redirect" in line and "not followed" in line and "not delivered" in line
    assert "token-xyz" not in line and "/hooks" not in line  # paths may carry tokens
    assert redirecting.moved == [] and len(redirecting.posts) == 1  # nothing followed
    # The operation was not claimed as sent: once the receiver answers, it is delivered.
    redirecting.status = 200
    again = run_cli("--json", "notify", "job", "backup-db", "--exit-code", "6")
    assert again.exit_code == ExitCode.OK, again.stderr
    assert again.json()["data"]["sent"] is True, again.stderr
    # Sent once: the same operation again is "already sent", not a failure.
    third = run_cli("--json", "notify", "job", "backup-db", "--exit-code", "6")
    assert third.exit_code == ExitCode.OK and third.json()["data"]["delivery"] == "already sent"
    assert json.loads(redirecting.posts[-1])["id"] == "op-redirect-1"


@pytest.mark.parametrize("status", [302, 307])
def test_the_cron_wrapper_reports_a_redirected_webhook_too(
    redirecting: Redirecting, tmp_path: Path, status: int
) -> None:
    """The driver's own notify and the wrapper's `notify job` both met the redirect: neither
    may claim the run as sent (a 307 too: no redirect is followed, body or not)."""
    redirecting.status = status
    env = {
        "SPROCKET_NOTIFY_URL": redirecting.url,
        "SPROCKET_NOTIFY_SECRET": KEY,
        "SPROCKET_STATE_DIR": str(tmp_path / "state"),
        "DOCKER_HOST": os.environ["DOCKER_HOST"],
    }
    python = str(PROJECT_ROOT / ".venv" / "bin" / "python")
    driver = [python, "-m", "automation", "--env", "local", "--json"]
    run = _run_job(env, tmp_path, "health", *driver, "health", "--no-tls", "--no-stats")
    assert run.returncode == ExitCode.ERROR, run.stderr
    assert redirecting.moved == []
    assert len(redirecting.posts) == 2  # the driver's attempt, then the wrapper's own
    log = (tmp_path / "logs" / "health.log").read_text()
    assert f"HTTP {status} redirect" in log, log  # the driver's own stderr
    assert f"HTTP {status} redirect" in run.stderr  # the wrapper's `notify job`
    assert "sprocket job health: notify failed" in run.stderr  # it exited non-zero
    assert list((tmp_path / "state" / "notify").glob("*.sent")) == []
