"""What the tests share for time: a bounded wait on the real clock, and a fake clock for the
driver's own loops (automation.rollout.watcher.Clock), which advances only when a loop sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from automation.rollout.watcher import Clock


def wait_until(
    predicate: Callable[[], Any], what: str, timeout: float = 60, interval: float = 0.5
) -> Any:
    """The first truthy value of ``predicate()``; AssertionError naming ``what`` and the last
    value seen when ``timeout`` seconds pass first."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")


class FakeClock(Clock):
    """A clock that advances only when the loop sleeps, so a test never waits out a deadline."""

    def __init__(self) -> None:
        self.t = 0.0
        super().__init__(now=lambda: self.t, sleep=self._sleep)

    def _sleep(self, seconds: float) -> None:
        self.t += seconds
