"""What the tests share for time: the driver's own bounded wait (automation/waiting.py) with a
predicate in front, and a fake clock for the driver's loops (automation.waiting.Clock), which
advances only when a loop sleeps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from automation import waiting
from automation.waiting import Clock


def wait_until(
    predicate: Callable[[], Any], what: str, timeout: float = 60, interval: float = 0.5
) -> Any:
    """The first truthy value of ``predicate()``; AssertionError naming ``what`` and the last
    value seen when ``timeout`` seconds pass first (automation.waiting.wait_until underneath)."""

    def probe() -> tuple[Any, object]:
        value = predicate()
        return (value or None), value

    try:
        return waiting.wait_until(probe, what=what, timeout_s=timeout, interval_s=interval)
    except waiting.WaitTimeout as exc:
        raise AssertionError(
            f"timed out after {timeout:g} s waiting for {what} (last: {exc.last!r})"
        ) from None


class FakeClock(Clock):
    """A clock that advances only when the loop sleeps, so a test never waits out a deadline."""

    def __init__(self) -> None:
        self.t = 0.0
        super().__init__(now=lambda: self.t, sleep=self._sleep)

    def _sleep(self, seconds: float) -> None:
        self.t += seconds
