"""The route probe against real HTTP servers on loopback (standing in for Traefik)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from waiting import FakeClock

from automation.rollout.probe import is_success, probe_routes


class Answers(http.server.BaseHTTPRequestHandler):
    statuses: dict[str, list[int]] = {}

    def do_GET(self) -> None:
        queue = self.statuses.setdefault(self.path, [200])
        status = queue.pop(0) if len(queue) > 1 else queue[0]
        self.send_response(status)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def traefik() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    Answers.statuses.clear()


def test_routes_that_answer_pass_even_after_a_few_misses(traefik: str) -> None:
    Answers.statuses["/web"] = [502, 503, 200]
    Answers.statuses["/login"] = [401]
    routes = {"web": [f"{traefik}/web"], "core": [f"{traefik}/login"]}
    failures = probe_routes(
        routes, ["web", "core"], url_template="http://{host}", timeout_s=10, clock=FakeClock()
    )
    assert failures == []


def test_a_route_that_keeps_failing_is_reported_with_its_last_answer(traefik: str) -> None:
    Answers.statuses["/web"] = [503]
    routes = {"web": [f"{traefik}/web"], "core": [f"{traefik}/core"]}
    failures = probe_routes(
        routes, ["web"], url_template="http://{host}", timeout_s=3, clock=FakeClock()
    )
    assert [(f.service, f.url, f.last) for f in failures] == [
        ("web", f"http://{traefik}/web", "503")
    ]


def test_nothing_listening_is_a_failure_naming_the_error() -> None:
    failures = probe_routes(
        {"web": ["127.0.0.1:9"]}, ["web"], url_template="http://{host}/", timeout_s=1,
        clock=FakeClock(),
    )  # fmt: skip
    assert failures[0].last.startswith("no answer:")


@pytest.mark.parametrize(
    ("status", "ok"),
    [("200", True), ("302", True), ("401", True), ("403", True), ("404", False), ("503", False),
     ("no answer: refused", False)],
)  # fmt: skip
def test_what_counts_as_an_answer(status: str, ok: bool) -> None:
    assert is_success(status) is ok
