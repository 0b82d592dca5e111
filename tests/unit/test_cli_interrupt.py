"""An interrupted driver ends with 130 even when Ctrl-C comes again while it exits."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from automation.exit_codes import ExitCode


@pytest.mark.parametrize("raised", [KeyboardInterrupt, "abort"])
def test_after_an_interrupt_a_second_ctrl_c_cannot_cut_the_exit_short(
    raised: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KeyboardInterrupt raised during the exit would be unhandled, and CPython then ends
    the process by SIGINT itself: status -2 instead of 130 (seen under load, where a second
    Ctrl-C lands while the first one's exit still runs)."""
    import click

    from automation import cli

    def interrupted(**_kwargs: Any) -> Any:
        raise click.Abort() if raised == "abort" else KeyboardInterrupt

    monkeypatch.setattr(cli.cli, "main", interrupted)
    before = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as done:
            cli.main(["stacks"])
        assert done.value.code == ExitCode.INTERRUPTED
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
