"""Print the version a Pulumi plugin binary reports (its GetPluginInfo answer over gRPC).

    .venv/bin/python scripts/plugin_version.py PATH/pulumi-resource-docker   # -> 5.1.0
    .venv/bin/python scripts/plugin_version.py --language PATH/pulumi-language-python

A plugin started by hand prints the port it serves on, then serves until it is killed; this
asks it once and stops it. Exit 1 (with the reason on stderr) when it does not answer in 30 s.
"""

from __future__ import annotations

import subprocess
import sys


def reported_version(binary: str, *, language: bool = False, timeout_s: float = 30) -> str:
    import grpc
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import language_pb2_grpc, provider_pb2_grpc

    stub_class = (
        language_pb2_grpc.LanguageRuntimeStub
        if language
        else provider_pb2_grpc.ResourceProviderStub
    )
    # The engine passes its own address; any value works for GetPluginInfo.
    with subprocess.Popen(
        [binary, "127.0.0.1:1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as plugin:
        try:
            port = (plugin.stdout.readline() if plugin.stdout else "").strip()
            if not port.isdigit():
                raise RuntimeError(f"{binary} did not print a port (got {port!r})")
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = stub_class(channel)
                info = stub.GetPluginInfo(empty_pb2.Empty(), timeout=timeout_s)
            return str(info.version)
        finally:
            plugin.kill()


def main() -> int:
    args = sys.argv[1:]
    language = args[:1] == ["--language"]
    try:
        print(reported_version(args[-1], language=language))
    except Exception as exc:  # a missing argument, a binary that will not start, a gRPC error
        print(f"plugin_version: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
