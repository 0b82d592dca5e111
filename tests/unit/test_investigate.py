"""logs and exec, the pure parts: log line parsing, --since and --grep, redaction, names, the
task an exec goes into and how another node's engine is reached."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from automation.cluster import investigate
from automation.errors import BadInput, DriverError
from automation.stack.report_markdown import Redactor

NODE = "igmw5wd9m53gsovs3lg28hg7y"
TASK = "blet5u6csf4qoholbnawzzszk"
RAW = (
    f"2026-12-07T22:35:23.263723931Z com.docker.swarm.node.id={NODE},"
    f"com.docker.swarm.service.id=w2dh88xk40iglmfaebvqkn91o,com.docker.swarm.task.id={TASK} "
    "hello canary-123 world"
)
HOSTS = {NODE: "manager-1", "n2": "worker-2"}


def test_a_line_gets_its_task_node_hostname_time_and_text() -> None:
    line = investigate.parse_line(RAW, HOSTS)
    assert line.timestamp == "2026-12-07T22:35:23.263723931Z"
    assert line.task == TASK[:12]
    assert line.node == "manager-1"
    assert line.text == "hello canary-123 world"
    assert line.human() == f"2026-12-07T22:35:23.263723931Z {TASK[:12]}@manager-1 {line.text}"


def test_a_line_without_details_keeps_its_whole_text() -> None:
    line = investigate.parse_line("2026-12-07T22:35:23Z plain message here", HOSTS)
    assert (line.task, line.node, line.text) == ("?", "?", "plain message here")


def test_an_unknown_node_id_is_shown_short() -> None:
    raw = RAW.replace(NODE, "zzzzzzzzzzzzzzzzzzzz")
    assert investigate.parse_line(raw, HOSTS).node == "zzzzzzzzzzzz"


def test_stream_frames_are_cut_into_whole_lines() -> None:
    chunks = [b"one\ntw", b"o\n", b"three\r\nfour"]
    assert list(investigate.split_lines(chunks)) == ["one", "two", "three", "four"]


def test_lines_are_redacted_and_grep_sees_only_the_redacted_text() -> None:
    redact = Redactor.of(["canary-123"])
    other = RAW.replace("hello canary-123 world", "nothing to see")
    lines = list(investigate.select_lines([RAW, "", other], HOSTS, redact))
    assert [line.text for line in lines] == ["hello [secret] world", "nothing to see"]
    assert not list(
        investigate.select_lines([RAW], HOSTS, redact, investigate.parse_grep("canary"))
    )
    assert [
        line.text
        for line in investigate.select_lines(
            [RAW, other], HOSTS, redact, investigate.parse_grep("see$")
        )
    ] == ["nothing to see"]


@pytest.mark.parametrize(
    ("text", "back"), [("30s", 30), ("15m", 900), ("1h", 3600), ("2d", 172800)]
)
def test_since_as_a_duration(text: str, back: int) -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    since = investigate.parse_since(text, now)
    assert since is not None and (now - since).total_seconds() == back


def test_since_as_a_time_and_unset() -> None:
    assert investigate.parse_since("2026-12-07T10:00:00Z") == datetime(
        2026, 12, 7, 10, 0, tzinfo=UTC
    )
    assert investigate.parse_since(None) is None


@pytest.mark.parametrize(
    "text", ["1x", "h", "-1h", "yesterday", "999d", "99999999999999d", "2999-01-01T00:00:00Z"]
)
def test_a_bad_since_names_the_option_and_an_example(text: str) -> None:
    with pytest.raises(BadInput) as caught:
        investigate.parse_since(text)
    assert "--since" in caught.value.message
    assert "1h" in caught.value.hint


def test_a_bad_grep_is_bad_input() -> None:
    with pytest.raises(BadInput, match="--grep"):
        investigate.parse_grep("(")
    assert investigate.parse_grep(None) is None


def test_a_service_by_catalog_or_swarm_name_and_an_unknown_one_lists_the_known() -> None:
    catalog = {"web": "sprocket-web"}
    live = ["sprocket-web", "sprocket-extra"]
    assert investigate.resolve_service("web", catalog, live) == "sprocket-web"
    assert investigate.resolve_service("sprocket-extra", catalog, live) == "sprocket-extra"
    with pytest.raises(BadInput) as caught:
        investigate.resolve_service("wbe", catalog, live)
    assert "wbe" in caught.value.message
    assert "web" in caught.value.hint and "sprocket-extra" in caught.value.hint
    with pytest.raises(DriverError, match="not running"):
        investigate.resolve_service("web", catalog, ["sprocket-extra"])


def _task(task_id: str, node: str, slot: int, state: str = "running", container: str = "c") -> Any:
    return {
        "ID": task_id,
        "NodeID": node,
        "Slot": slot,
        "Status": {"State": state, "ContainerStatus": {"ContainerID": f"{container}{task_id}"}},
    }


def test_the_task_is_a_running_one_with_a_container_lowest_slot_first() -> None:
    tasks = [_task("t3", "n2", 3), _task("t1", NODE, 1, state="failed"), _task("t2", "n2", 2)]
    place = investigate.pick_task(tasks, HOSTS, "web")
    assert (place.task, place.node, place.container) == ("t2", "worker-2", "ct2")


def test_the_task_on_a_named_node() -> None:
    tasks = [_task("t1", NODE, 1), _task("t2", "n2", 2)]
    assert investigate.pick_task(tasks, HOSTS, "web", "worker-2").task == "t2"
    assert investigate.pick_task(tasks, HOSTS, "web", NODE).task == "t1"


def test_no_running_task_or_none_on_that_node_or_no_such_node() -> None:
    with pytest.raises(DriverError, match="no running task"):
        investigate.pick_task([_task("t1", NODE, 1, state="shutdown")], HOSTS, "web")
    with pytest.raises(DriverError, match="no running task on node worker-2") as caught:
        investigate.pick_task([_task("t1", NODE, 1)], HOSTS, "web", "worker-2")
    assert "manager-1" in caught.value.hint
    with pytest.raises(BadInput, match="--node nope"):
        investigate.pick_task([_task("t1", NODE, 1)], HOSTS, "web", "nope")


def test_another_nodes_engine_by_the_template_or_an_error_saying_how() -> None:
    assert investigate.node_docker_host("ssh://root@{node}", "worker-2") == "ssh://root@worker-2"
    with pytest.raises(DriverError) as caught:
        investigate.node_docker_host(None, "worker-2")
    assert "worker-2" in caught.value.message
    assert investigate.NODE_HOST_ENV in caught.value.hint
    with pytest.raises(BadInput, match="placeholder"):
        investigate.node_docker_host("ssh://root@somehost", "worker-2")


def test_exec_help_says_it_is_no_terminal_session(run_cli: Any) -> None:
    """The output is collected and printed when the command ends, and stdin is not connected:
    an operator who runs `tail -f` or `sh` must not be left guessing why nothing shows."""
    result = run_cli("exec", "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "stdin is not connected" in text
    assert "printed when the command ends, not as it runs" in text
