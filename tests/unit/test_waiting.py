"""automation/waiting.py: the one bounded wait, as the lock's --lock-wait uses it."""

from __future__ import annotations

import pytest
from waiting import FakeClock

from automation.waiting import WaitTimeout, wait_until


def test_a_zero_timeout_still_probes_once_and_names_what_it_saw() -> None:
    seen: list[int] = []

    def probe() -> tuple[None, str]:
        seen.append(1)
        return None, "held by ops@a"

    with pytest.raises(WaitTimeout) as raised:
        wait_until(probe, what="the lock", timeout_s=0, clock=FakeClock())
    assert seen == [1] and raised.value.last == "held by ops@a"
    assert "waiting for the lock; last seen: held by ops@a" in str(raised.value)


def test_the_first_value_is_returned_once_it_comes() -> None:
    answers = iter([None, None, "ok"])
    clock = FakeClock()
    value = wait_until(lambda: (next(answers), "-"), what="x", timeout_s=5, clock=clock)
    assert value == "ok" and clock.t == 1.0  # two sleeps of 0.5 s on the fake clock
