"""One table of every benchmark's figures, for the closing notes (`make bench`).

Each benchmark calls `record()` for each like-for-like pair it measured: the driver's side, the
plain tool's side on the same work, both medians in seconds. With `$SPROCKET_BENCH_FIGURES` set to
a file, every figure is appended to it as one JSON line; `python benchmarks/figures.py FILE`
prints them as one table (ratio = driver / plain; under 1 the driver is faster).

A target is a figure to read, never an assertion: a shared 2-core machine under load moves
every ratio, so the table says "met" or "MISSED" and the benchmark still exits 0.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Figure:
    bench: str  # the script: bench_preview, bench_real_stacks, bench_backup
    case: str  # what was measured: "layer_1 state-only preview"
    driver_s: float  # median seconds, the driver's side
    plain_s: float  # median seconds, the plain tool on the same work
    plain: str  # what the plain side ran: "pulumi preview --refresh"
    target: float | None = None  # the ratio the issue asks for, if any

    @property
    def ratio(self) -> float:
        return self.driver_s / self.plain_s if self.plain_s else float("inf")

    def verdict(self) -> str:
        if self.target is None:
            return ""
        return f"<= {self.target:.2f} {'met' if self.ratio <= self.target else 'MISSED'}"


def record(figure: Figure) -> Figure:
    """Append the figure to `$SPROCKET_BENCH_FIGURES` (when set) and return it."""
    path = os.environ.get("SPROCKET_BENCH_FIGURES")
    if path:
        with Path(path).open("a") as out:
            out.write(json.dumps(asdict(figure)) + "\n")
    return figure


def read(path: Path) -> list[Figure]:
    """The figures in `path`; a damaged line is named on stderr and left out."""
    figures = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            figures.append(Figure(**json.loads(line)))
        except (ValueError, TypeError) as exc:
            print(f"{path}:{number}: not a benchmark figure ({exc}); left out", file=sys.stderr)
    return figures


def table(figures: list[Figure]) -> str:
    header = f"{'bench':18} {'case':34} {'driver s':>9} {'plain s':>9} {'ratio':>6}  against"
    rows = [header, "-" * len(header)]
    for f in figures:
        rows.append(
            f"{f.bench:18} {f.case:34} {f.driver_s:9.2f} {f.plain_s:9.2f} {f.ratio:6.2f}"
            f"  {f.plain}{'  (target ' + f.verdict() + ')' if f.target is not None else ''}"
        )
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python benchmarks/figures.py FIGURES_FILE", file=sys.stderr)
        return 64
    path = Path(argv[0])
    if not path.is_file():
        print(f"{path}: no figures recorded (did a benchmark fail before it measured?)")
        return 1
    print(table(read(path)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
