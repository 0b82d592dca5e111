"""benchmarks/figures.py: the one table `make bench` prints for the closing notes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from figures import Figure, read, record, table


def test_figures_recorded_by_benchmarks_come_back_as_one_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "figures.jsonl"
    monkeypatch.setenv("SPROCKET_BENCH_FIGURES", str(out))
    record(Figure("bench_preview", "200 resources, state-only", 2.4, 2.0, "pulumi preview", 1.15))
    record(Figure("bench_real_stacks", "layer_2 refreshing preview", 3.0, 4.0, "preview --refresh"))
    with out.open("a") as damaged:
        damaged.write('{"bench": "cut off\n')  # a benchmark killed mid-write
    figures = read(out)
    assert [f.case for f in figures] == ["200 resources, state-only", "layer_2 refreshing preview"]
    assert "figures.jsonl:3: not a benchmark figure" in capsys.readouterr().err
    lines = table(figures).splitlines()
    assert "1.20" in lines[2] and "target <= 1.15 MISSED" in lines[2]
    assert "0.75" in lines[3] and "target" not in lines[3]  # no target: a figure, no verdict


def test_without_the_variable_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPROCKET_BENCH_FIGURES", raising=False)
    monkeypatch.chdir(tmp_path)
    assert record(Figure("b", "c", 1.0, 2.0, "p", 1.0)).verdict() == "<= 1.00 met"
    assert list(tmp_path.iterdir()) == []
