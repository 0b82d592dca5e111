"""Benchmark: the driver on the real layers against the plain `pulumi` CLI on the same stacks.

    .venv/bin/python benchmarks/bench_real_stacks.py [--runs 5]

On a Docker engine of its own (tests/integration/netns_engine.py, a single-node Swarm in a
network namespace) with the stand-in images of automation/local_images.py, it measures:
- `deploy all --env local --yes` (the README's first command, after set-up), once, wall time;
- per layer, interleaved (driver, plain, driver, plain ...) on the deployed stacks, fresh
  processes as a user runs them:
  - `python -m automation preview LAYER --no-refresh` against `pulumi preview -s local-LAYER`
    (the plain CLI runs __main__.py from a copy of the checkout through the language host);
  - `python -m automation preview LAYER` (refreshes first, the default) against
    `pulumi preview --refresh -s local-LAYER`.
Figures are medians in seconds; ratio = driver / plain (under 1: the driver is faster).
Needs root (network namespace, dockerd), the plugins (scripts/install-plugins.sh) and the CLI.
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
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "integration")]
LAYERS = ("layer_1", "layer_2", "platform")


def _timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 2):  # 2: the driver found changes (it should not here)
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr[-800:]}")
    return elapsed


def _setup(root: Path, docker_host: str) -> tuple[dict[str, str], Path]:
    from netns_engine import driver_setup

    checkout = root / "checkout"
    shutil.copytree(
        ROOT, checkout, ignore=shutil.ignore_patterns(".venv", ".sprocket", ".git", "*cache*")
    )
    (checkout / ".venv").symlink_to(ROOT / ".venv")
    plugins = ROOT / ".sprocket" / "pulumi-home" / "plugins"
    env = {
        **os.environ,
        **driver_setup(root, docker_host, plugins, "benchmark"),
        "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
    }
    env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    return env, checkout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each side per layer")
    args = parser.parse_args()
    import docker
    from figures import Figure, record
    from netns_engine import netns_engine

    from automation import local_images

    python, cli = str(ROOT / ".venv" / "bin" / "python"), str(ROOT / ".venv" / "bin" / "pulumi")
    with (
        tempfile.TemporaryDirectory(prefix="bench-real-") as tmp,
        netns_engine(f"bench{uuid.uuid4().hex[:6]}") as engine,
    ):
        root = Path(tmp)
        env, checkout = _setup(root, engine.host)
        client = docker.DockerClient(base_url=engine.host)
        os.environ.update(env)  # the driver's settings, for the images step too
        local_images.ensure_images(
            client, local_images.declared_services("local"), offline=True, dry_run=False
        )
        deploy = [python, "-m", "automation", "--yes", "deploy", "all"]
        print(f"deploy all --env local: {_timed(deploy, env, ROOT):.1f} s (fresh stacks)")
        print(f"{'layer':9} {'kind':10} {'driver':>8} {'plain':>8} {'ratio':>6}")
        for layer in LAYERS:
            sides = {
                "state": (
                    [python, "-m", "automation", "preview", layer, "--no-refresh"],
                    [cli, "preview", "-s", f"local-{layer}"],
                ),
                "refresh": (
                    [python, "-m", "automation", "preview", layer],
                    [cli, "preview", "--refresh", "-s", f"local-{layer}"],
                ),
            }
            for kind, (driver_argv, plain_argv) in sides.items():
                driver, plain = [], []
                for _ in range(args.runs):
                    driver.append(_timed(driver_argv, env, ROOT))
                    plain.append(_timed(plain_argv, env, checkout))
                d, p = statistics.median(driver), statistics.median(plain)
                print(f"{layer:9} {kind:10} {d:8.2f} {p:8.2f} {d / p:6.2f}")
                case = f"{layer} {'state-only' if kind == 'state' else 'refreshing'} preview"
                record(Figure("bench_real_stacks", case, d, p, " ".join(plain_argv[1:3])))
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
