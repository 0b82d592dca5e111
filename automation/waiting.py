"""The driver's one bounded wait: every loop that polls for something has a deadline and, when it
gives up, says what it waited for and what it saw last.

``wait_until(probe, what=..., timeout_s=...)`` calls ``probe()`` until it returns a value;
``probe`` returns ``(value or None, what it saw)``. ``Clock`` is time for the loops, replaced in
tests by one that advances only when the loop sleeps (tests/waiting.py FakeClock). Used by the
Swarm convergence watch (swarm_watch.py), the rollout probe, node drains, the migration's
steps, the stack lock's --lock-wait, and the scratch Vault's start.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(Exception):
    def __init__(self, what: str, timeout_s: float, last: object) -> None:
        super().__init__(f"gave up after {timeout_s:.0f}s waiting for {what}; last seen: {last}")
        self.what, self.timeout_s, self.last = what, timeout_s, last


@dataclass
class Clock:
    """Time for the loops, replaceable in tests."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def wait_until(
    probe: Callable[[], tuple[T | None, object]],
    *,
    what: str,
    timeout_s: float,
    interval_s: float = 0.5,
    clock: Clock | None = None,
) -> T:
    """Call ``probe`` until it returns a value; it returns (value or None, what it saw).

    Probes once even with ``timeout_s`` 0. Raises WaitTimeout naming what it waited for and the
    last thing it saw.
    """
    clock = clock or Clock()
    deadline = clock.now() + timeout_s
    while True:
        value, seen = probe()
        if value is not None:
            return value
        if clock.now() >= deadline:
            raise WaitTimeout(what, timeout_s, seen)
        clock.sleep(interval_s)
