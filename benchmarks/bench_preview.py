"""Benchmark: the driver's `preview` against a raw `pulumi preview` of the same program.

200 resources; also `python -m automation --help` start-up time.

    .venv/bin/python benchmarks/bench_preview.py [--runs 3]

Targets (issue 6): preview ratio driver/raw <= 1.15; --help under 0.5 s.

Two like-for-like pairs (issue 33 item 5), each side a fresh process as a user would run it,
against the same stack on a private file backend, already deployed (the steady state: a preview
that finds nothing to do):
- state-only: `python -m automation preview layer_1 --no-refresh` against `pulumi preview`;
- refreshing: `python -m automation preview layer_1` (it refreshes first, the driver's default)
  against `pulumi preview --refresh`.
The plain side is the `pulumi preview` CLI serving the program inline over gRPC exactly as the
Automation API does (the python language-host plugin, needed for a file-based program, cannot be
installed here; an inline program is what the driver runs too). `Stack.preview()` (the
Automation API alone, with and without refresh) shows how much of a gap is the API's and how
much the driver's. The program: 100 component resources, each with one `pulumi.dynamic` child
(200 resources). Figures also go to benchmarks/figures.py's table (`make bench`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STACK = "local-layer_1"
COMPONENTS = 100


# --- the program (imported by name in the engine's dynamic-provider process) ---------------


def program() -> None:
    import pulumi
    from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider

    class Echo(ResourceProvider):
        def create(self, props: dict[str, Any]) -> CreateResult:
            return CreateResult(id_=props["name"], outs=props)

        def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
            return DiffResult(changes=olds.get("value") != news.get("value"))

    class Item(Resource):
        def __init__(self, name: str, opts: pulumi.ResourceOptions) -> None:
            super().__init__(Echo(), name, {"name": name, "value": "v1"}, opts)

    for index in range(COMPONENTS):
        parent = pulumi.ComponentResource("bench:index:Group", f"group-{index}")
        Item(f"item-{index}", pulumi.ResourceOptions(parent=parent))
        parent.register_outputs({})


# --- the two sides, each run as its own process -------------------------------------------


def run_raw(*flags: str) -> None:
    """`pulumi preview [flags]` with the program served inline, nothing else."""
    from concurrent import futures

    import grpc
    from pulumi.automation._server import LanguageServer
    from pulumi.automation._stack import _GRPC_CHANNEL_OPTIONS
    from pulumi.runtime.proto import language_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=_GRPC_CHANNEL_OPTIONS)
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(LanguageServer(program), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        subprocess.run(
            [
                str(Path(os.environ["SPROCKET_PULUMI_CLI_DIR"]) / "pulumi"),
                "preview",
                "--non-interactive",
                "--stack",
                STACK,
                f"--client=127.0.0.1:{port}",
                "--exec-kind",
                "inline",
                *flags,
            ],
            cwd=os.environ["SPROCKET_PROJECT_DIR"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    finally:
        server.stop(0)


def run_api(*flags: str) -> None:
    """The Automation API's own `Stack.preview()` (`refresh` with --refresh): what the driver
    costs on top of it."""
    from automation.pulumi.workspace import select_stack
    from automation.settings import load_settings
    from sprocket_common.stack_info import Env, Layer, StackInfo

    stack = select_stack(load_settings(), StackInfo(Env.LOCAL, Layer.LAYER_1), program=program)
    stack.preview(color="never", refresh="--refresh" in flags)


def run_driver(*args: str) -> None:
    import automation.pulumi.workspace
    from automation.cli import main

    automation.pulumi.workspace.load_program = lambda _layer: program  # type: ignore[assignment]
    main(list(args))


# --- measuring ------------------------------------------------------------------------------


def _env(tmp: Path) -> dict[str, str]:
    project = tmp / "project"
    project.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    (tmp / "backend").mkdir()
    cli_dir = Path(sys.executable).parent
    return {
        **os.environ,
        "PULUMI_BACKEND_URL": f"file://{tmp / 'backend'}",
        "PULUMI_CONFIG_PASSPHRASE": "benchmark",
        "PULUMI_HOME": str(tmp / "pulumi-home"),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_PYTHON_CMD": sys.executable,
        "SPROCKET_PROJECT_DIR": str(project),
        "SPROCKET_STATE_DIR": str(tmp / "state"),
        "SPROCKET_PULUMI_HOME": str(tmp / "pulumi-home"),
        "SPROCKET_PULUMI_CLI_DIR": str(cli_dir),
        "PYTHONPATH": f"{Path(__file__).parent}{os.pathsep}{ROOT}",
        "PATH": f"{cli_dir}{os.pathsep}{os.environ['PATH']}",
    }


def _timed(env: dict[str, str], *args: str, ok: tuple[int, ...] = (0,)) -> float:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return elapsed


PAIRS = {  # case: (driver's preview arguments, the plain CLI's and the API's flags)
    "state-only": (("preview", "layer_1", "--no-refresh"), ()),
    "refreshing": (("preview", "layer_1"), ("--refresh",)),
}


def _runs(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)


def _measure(env: dict[str, str], me: str, runs: int) -> None:
    from figures import Figure, record

    for case, (driver_args, flags) in PAIRS.items():
        raw, api, driver = [], [], []
        for _ in range(runs):  # interleaved, so load on the shared CPU hits all alike
            raw.append(_timed(env, me, "_raw", *flags))
            api.append(_timed(env, me, "_api", *flags))
            driver.append(_timed(env, me, "_driver", *driver_args))
        raw_s, api_s, driver_s = (statistics.median(t) for t in (raw, api, driver))
        plain = " ".join(["pulumi preview", *flags])
        print(f"{case}: {plain:26} median {raw_s:6.2f} s  runs {_runs(raw)}")
        print(f"{case}: {'Stack.preview()':26} median {api_s:6.2f} s  runs {_runs(api)}")
        print(
            f"{case}: {'driver ' + ' '.join(driver_args):26} median {driver_s:6.2f} s"
            f"  runs {_runs(driver)}"
        )
        figure = record(
            Figure("bench_preview", f"200 resources, {case}", driver_s, raw_s, plain, 1.15)
        )
        print(
            f"{case}: ratio driver/Stack.preview() {driver_s / api_s:.3f}"
            " (the driver's own overhead)"
        )
        print(f"{case}: ratio driver/plain {figure.ratio:.3f} (target {figure.verdict()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    me = str(Path(__file__).resolve())
    with tempfile.TemporaryDirectory(prefix="bench-preview-") as tmp:
        env = _env(Path(tmp))
        print(f"deploying {COMPONENTS * 2} resources to {STACK} ...", flush=True)
        _timed(env, me, "_driver", "--yes", "deploy", "layer_1")
        _measure(env, me, options.runs)
        help_times = [_timed(env, "-m", "automation", "--help") for _ in range(5)]
    help_s = statistics.median(help_times)
    verdict = "met" if help_s < 0.5 else "MISSED"
    print(f"--help start-up      median {help_s:.3f} s  (target < 0.5 s: {verdict})")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_raw":
        run_raw(*sys.argv[2:])
    elif len(sys.argv) > 1 and sys.argv[1] == "_api":
        run_api(*sys.argv[2:])
    elif len(sys.argv) > 1 and sys.argv[1] == "_driver":
        run_driver(*sys.argv[2:])
    else:
        main()
