"""Benchmark: a driver backup of a 5,000-resource state vs raw `pulumi stack export | gzip`.

The driver's backup does everything a backup must (ciphertext export, history, decrypting and
counting every secret, archive with manifest, upload to the S3 endpoint, read-back and hash
check, catalog record); the baseline only exports and compresses. Target: ratio <= 2.0.

    .venv/bin/python benchmarks/bench_backup.py [--resources 5000] [--rounds 5] [--small]

The state comes from a generated inline program of ComponentResources (no provider plugin), each
with about 1.5 KB of service-like properties (`--small`: one output each), a secret config value
and a secret output on every 50th, deployed once into a temporary file backend. Figures are
medians over the rounds, wall clock and CPU (this process, which also hosts the S3 server, plus
its children); the 1-minute load average is printed because the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

TARGET_RATIO = 2.0
STACK_LAYER = "layer_1"


def _service_like_outputs(index: int) -> dict[str, Any]:
    """About 1.5 KB of properties, the size of a Swarm service's inputs in real state."""
    name = f"svc-{index:05}"
    return {
        "name": name,
        "image": f"registry.example/sprocket/app-{index % 40}:1.{index % 7}",
        "replicas": 1 + index % 3,
        "env": {f"SPROCKET_SETTING_{n}": f"value-{index}-{n}" for n in range(10)},
        "labels": {
            "traefik.enable": "true",
            f"traefik.http.routers.{name}.rule": f"Host(`{name}.sprocket.example`)",
            f"traefik.http.routers.{name}.entrypoints": "websecure",
            f"traefik.http.routers.{name}.tls.certresolver": "letsencrypt",
            f"traefik.http.services.{name}.loadbalancer.server.port": "8080",
            "sprocket.tier": str(index % 3),
        },
        "healthcheck": {"test": ["CMD", "wget", "-q", "-O-", "http://127.0.0.1:8080/healthz"]},
        "update_config": {"parallelism": 1, "failure_action": "rollback", "monitor_s": 40},
        "resources": {"limits": {"cpu": 0.5, "memory_mb": 512}},
        "networks": ["sprocket-internal", "traefik-public"],
        "log_options": {"max-size": "5m", "max-file": "5", "compress": "true"},
    }


def _generated_program(count: int, *, small: bool = False) -> Callable[[], None]:
    def program() -> None:
        import pulumi

        token = pulumi.Config().require_secret("token")
        for index in range(count):
            component = pulumi.ComponentResource(
                "sprocket:bench:Service", f"svc-{index:05}", props=None
            )
            outputs: dict[str, Any] = {"index": index} if small else _service_like_outputs(index)
            if index % 50 == 0:
                outputs["credential"] = token
            component.register_outputs(outputs)
        pulumi.export("token", token)

    return program


@contextmanager
def bench_environment(resources: int, *, small: bool = False) -> Iterator[dict[str, Any]]:
    """A temp file backend + S3 endpoint with one deployed stack of `resources` components."""
    from moto.server import ThreadedMotoServer
    from pulumi import automation as auto

    with tempfile.TemporaryDirectory(prefix="sprocket-bench-") as tmp:
        root = Path(tmp)
        project = root / "project"
        project.mkdir()
        (project / "Pulumi.yaml").write_text((PROJECT_ROOT / "Pulumi.yaml").read_text())
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        cli_dir = Path(sys.executable).parent
        env = {
            "PULUMI_BACKEND_URL": f"file://{root / 'backend'}",
            "PULUMI_CONFIG_PASSPHRASE": "bench passphrase",
            "PULUMI_HOME": str(root / "pulumi-home"),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "SPROCKET_PROJECT_DIR": str(project),
            "SPROCKET_STATE_DIR": str(root / "state"),
            "SPROCKET_PULUMI_HOME": str(root / "pulumi-home"),
            "SPROCKET_PULUMI_CLI_DIR": str(cli_dir),
            "SPROCKET_BACKUP_BUCKET": "sprocket-bench",
            "SPROCKET_BACKUP_ENDPOINT_URL": f"http://{host}:{port}",
            "SPROCKET_BACKUP_ACCESS_KEY_ID": "bench",
            "SPROCKET_BACKUP_SECRET_ACCESS_KEY": "bench",
        }
        (root / "backend").mkdir()
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        try:
            from automation.backup.store import make_client
            from automation.pulumi.workspace import select_stack
            from automation.settings import load_settings
            from sprocket_common.stack_info import Env, Layer, StackInfo

            settings = load_settings()
            make_client(settings.backup).create_bucket(Bucket="sprocket-bench")
            info = StackInfo(Env.LOCAL, Layer(STACK_LAYER))
            stack = select_stack(settings, info, program=_generated_program(resources, small=small))
            stack.set_config("token", auto.ConfigValue("bench-secret-value", secret=True))
            started = time.perf_counter()
            # Without this the file backend rewrites the whole checkpoint after every step:
            # quadratic in the resource count. Only the deploy of the fixture uses it.
            os.environ["PULUMI_SKIP_CHECKPOINTS"] = "true"
            try:
                stack.up(color="never")
            finally:
                os.environ.pop("PULUMI_SKIP_CHECKPOINTS")
            deploy_s = time.perf_counter() - started
            yield {
                "settings": settings,
                "info": info,
                "env": {**os.environ},
                "project": project,
                "cli": str(cli_dir / "pulumi"),
                "deploy_s": deploy_s,
            }
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            server.stop()


def _cpu_s() -> float:
    """CPU seconds used so far by this process and its finished children."""
    me, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def raw_export_gzip(bench: dict[str, Any], out: Path) -> float:
    """The baseline: `pulumi stack export | gzip -6 > out` (ciphertext, nothing else)."""
    started = time.perf_counter()
    with out.open("wb") as handle:
        export = subprocess.Popen(
            [bench["cli"], "stack", "export", "--stack", bench["info"].name],
            cwd=bench["project"],
            env=bench["env"],
            stdout=subprocess.PIPE,
        )
        gzip = subprocess.run(["gzip", "-6"], stdin=export.stdout, stdout=handle, check=True)
        assert export.stdout is not None
        export.stdout.close()
        if export.wait() != 0 or gzip.returncode != 0:
            raise RuntimeError("raw export failed")
    return time.perf_counter() - started


def driver_backup(bench: dict[str, Any]) -> tuple[float, Any]:
    from automation.backup.service import take

    started = time.perf_counter()
    record = take(bench["settings"], bench["info"], "benchmark")
    return time.perf_counter() - started, record


def measure(resources: int, rounds: int, *, small: bool = False) -> dict[str, Any]:
    with bench_environment(resources, small=small) as bench, tempfile.TemporaryDirectory() as tmp:
        raw_export_gzip(bench, Path(tmp) / "warm.gz")  # warm the page cache and CLI start-up
        raw_times, driver_times, raw_cpu, driver_cpu = [], [], [], []
        record = None
        for n in range(rounds):
            cpu = _cpu_s()
            raw_times.append(raw_export_gzip(bench, Path(tmp) / f"raw-{n}.gz"))
            raw_cpu.append(_cpu_s() - cpu)
            cpu = _cpu_s()
            elapsed, record = driver_backup(bench)
            driver_cpu.append(_cpu_s() - cpu)
            driver_times.append(elapsed)
        raw_size = (Path(tmp) / "raw-0.gz").stat().st_size
        export_bytes = len(
            subprocess.run(
                [bench["cli"], "stack", "export", "--stack", bench["info"].name],
                cwd=bench["project"],
                env=bench["env"],
                capture_output=True,
                check=True,
            ).stdout
        )
        assert record is not None
        raw_s, driver_s = statistics.median(raw_times), statistics.median(driver_times)
        return {
            "resources": record.resource_count,
            "secrets": record.secret_count,
            "deploy_s": round(bench["deploy_s"], 1),
            "raw_export_gzip_s": round(raw_s, 3),
            "driver_backup_s": round(driver_s, 3),
            "ratio": round(driver_s / raw_s, 2),
            "target_ratio": TARGET_RATIO,
            "state_export_bytes": export_bytes,
            "raw_gzip_bytes": raw_size,
            "archive_bytes": record.size,
            "rounds": rounds,
            "raw_cpu_s": round(statistics.median(raw_cpu), 3),
            "driver_cpu_s": round(statistics.median(driver_cpu), 3),
            "load_average_1m": round(os.getloadavg()[0], 1),
            "cpus": os.cpu_count(),
            "raw_times_s": [round(t, 3) for t in raw_times],
            "driver_times_s": [round(t, 3) for t in driver_times],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--small", action="store_true", help="Components with one output each (a tiny state)."
    )
    args = parser.parse_args()
    figures = measure(args.resources, args.rounds, small=args.small)
    print(json.dumps(figures, indent=2))
    from figures import Figure, record

    plain = "pulumi stack export | gzip"
    case = f"backup of {figures['resources']} resources"
    driver_s, raw_s = figures["driver_backup_s"], figures["raw_export_gzip_s"]
    # A figure to read, not an assertion (benchmarks/figures.py): exit 0 either way.
    print(record(Figure("bench_backup", case, driver_s, raw_s, plain, TARGET_RATIO)).verdict())


if __name__ == "__main__":
    main()
