#!/usr/bin/env python3
"""Load the platform's operator secrets from a .env file or a Doppler export; never echo a value.

Where the values go:
  - VAULT_ADDR set (prod, staging): one Vault KV v2 entry, <mount>/<env>/platform, one field per
    secret (VAULT_TOKEN authenticates; existing fields are kept, written with check-and-set).
  - otherwise: the <env>-platform stack's config, as Pulumi secrets `secrets:<name>`, encrypted
    with the stack's passphrase, through the Automation API (the stack is created if missing).

Names: a variable maps to the platform catalog's secret of the same name in kebab case
(GOOGLE_CLIENT_ID -> google-client-id), plus the aliases platform/set-secrets.sh accepted
(BALLCHASING_API_KEY, BALLCHASING_API_TOKEN -> ballchasing-token). Variables that name no
catalog secret are listed by name and skipped, unless --include-unknown.

Input: `doppler secrets download --no-file --format env > .env` (or --format json, given with
--doppler-json), or any .env file. Only names are printed, never values, and values never go
on a command line (the process list): the pulumi CLI reads each from stdin.

Exit status: 0 done, 1 the store refused (message says why), 64 bad input (file, names, env).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CATALOG = PROJECT_ROOT / "platform" / "catalog.yaml"
ALIASES = {
    "BALLCHASING_API_KEY": "ballchasing-token",
    "BALLCHASING_API_TOKEN": "ballchasing-token",
}
# Doppler adds these to every export; they are not secrets of ours.
DOPPLER_META = re.compile(r"^DOPPLER_(CONFIG|ENVIRONMENT|PROJECT)$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class BadInput(Exception):
    """Input that cannot be used; the message names it (never a value)."""


def read_dotenv(path: Path) -> dict[str, str]:
    from dotenv import dotenv_values

    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    values = dotenv_values(path)
    missing = [key for key, value in values.items() if value is None]
    if missing:
        raise BadInput(f"{path}: no value (no `=`) for {', '.join(missing)}")
    return {key: str(value) for key, value in values.items()}


def read_doppler_json(path: Path) -> dict[str, str]:
    """`doppler secrets download --format json` ({"KEY": "value"}) or `doppler secrets --json`
    ({"KEY": {"computed": "value", ...}})."""
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path}: expected a JSON object of NAME: value")
    values: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            value = value.get("computed", value.get("raw"))
        if not isinstance(value, str):
            raise BadInput(f"{path}: {key} is not a string (or a Doppler computed value)")
        values[key] = value
    return values


def catalog_secret_names(catalog: Path = CATALOG) -> set[str]:
    """The platform catalog's secrets an operator sets (source: external)."""
    import yaml

    data = yaml.safe_load(catalog.read_text())
    secrets = data.get("secrets") or {}
    return {name for name, spec in secrets.items() if (spec or {}).get("source") == "external"}


def map_names(
    values: Mapping[str, str], known: set[str], *, include_unknown: bool
) -> tuple[dict[str, str], list[str]]:
    """{secret name: value} and the variable names skipped; refuses two values for one name."""
    mapped: dict[str, str] = {}
    source: dict[str, str] = {}
    skipped: list[str] = []
    for key, value in values.items():
        if DOPPLER_META.match(key):
            continue
        if not _NAME.match(key):
            raise BadInput(f"variable name {key!r} is not NAME_LIKE_THIS")
        name = ALIASES.get(key, key.lower().replace("_", "-"))
        if name not in known and not include_unknown:
            skipped.append(key)
            continue
        if name in mapped and mapped[name] != value:
            raise BadInput(
                f"{source[name]} and {key} both set {name} with different values; keep one"
            )
        mapped[name], source[name] = value, key
    return mapped, skipped


def redact(text: str, values: Mapping[str, str]) -> str:
    for value in sorted(values.values(), key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, "[secret]")
    return text


# --- stores ---------------------------------------------------------------------------------


def write_pulumi(env: str, secrets: Mapping[str, str], namespace: str) -> str:
    """Each value as a Pulumi config secret of <env>-platform, handed to the CLI on stdin.

    The Automation API selects (or creates) the stack and supplies the CLI, backend and
    passphrase; `set_config` itself would put each value on a command line, where any local
    user can read it in the process list, so the value goes through stdin instead.
    """
    if str(PROJECT_ROOT) not in sys.path:  # run from a checkout without `pip install -e .`
        sys.path.append(str(PROJECT_ROOT))
    from automation.pulumi.workspace import select_stack
    from automation.settings import load_settings
    from sprocket_common.stack_info import Layer, StackInfo, parse_env

    info = StackInfo(parse_env(env), Layer.PLATFORM)
    stack = select_stack(load_settings(), info, program=lambda: None, create=True)
    workspace = stack.workspace
    cli_env = {**os.environ, **(workspace.env_vars or {})}
    if workspace.pulumi_home:
        cli_env["PULUMI_HOME"] = workspace.pulumi_home
    for name, value in secrets.items():
        key = f"{namespace}:{name}"
        done = subprocess.run(
            [workspace.pulumi_command.command, "config", "set", "--secret", "--stack",
             stack.name, "--non-interactive", "--", key],
            input=value, text=True, capture_output=True, cwd=workspace.work_dir, env=cli_env,
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise StoreError(f"pulumi config set {key}: {redact(done.stderr.strip(), secrets)}")
    return f"stack {info.name} (config {namespace}:*)"


def write_vault(env: str, secrets: Mapping[str, str], mount: str) -> str:
    import requests

    addr = os.environ["VAULT_ADDR"].rstrip("/")
    token = os.environ.get("VAULT_TOKEN")
    if not token:
        raise BadInput("VAULT_ADDR is set but VAULT_TOKEN is not (vault login, or export it)")
    headers = {"X-Vault-Token": token}
    if os.environ.get("VAULT_NAMESPACE"):
        headers["X-Vault-Namespace"] = os.environ["VAULT_NAMESPACE"]
    verify: bool | str = os.environ.get("VAULT_CACERT") or True
    url = f"{addr}/v1/{mount}/data/{env}/platform"
    current = requests.get(url, headers=headers, timeout=15, verify=verify)
    existing: dict[str, str] = {}
    version = 0  # check-and-set 0: create only if nobody created it meanwhile
    if current.ok:
        body = current.json()["data"]
        existing, version = body.get("data") or {}, body["metadata"]["version"]
    elif current.status_code != 404:
        raise StoreError(f"Vault GET {mount}/data/{env}/platform: {_vault_error(current)}")
    payload = {"options": {"cas": version}, "data": {**existing, **secrets}}
    written = requests.post(url, headers=headers, json=payload, timeout=15, verify=verify)
    if not written.ok:
        raise StoreError(f"Vault write {mount}/data/{env}/platform: {_vault_error(written)}")
    return f"Vault {addr} {mount}/{env}/platform"


def _vault_error(response: Any) -> str:
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        errors = []
    return f"HTTP {response.status_code}" + (f" ({'; '.join(errors)})" if errors else "")


class StoreError(Exception):
    """The secret store refused the write."""


# --- command line ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        prog="bootstrap_secrets.py",
        description=doc.split("\n\n")[0],
        epilog=doc.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dotenv", type=Path, metavar="FILE", help="a .env file (KEY=value)")
    source.add_argument("--doppler-json", type=Path, metavar="FILE", help="a Doppler JSON export")
    parser.add_argument("--env", default="local", help="local, staging or prod (default local)")
    parser.add_argument("--dry-run", action="store_true", help="say what would be set; set nothing")
    parser.add_argument(
        "--include-unknown", action="store_true", help="also set names not in the catalog"
    )
    parser.add_argument("--namespace", default="secrets", help="Pulumi config namespace (secrets)")
    parser.add_argument("--vault-mount", default="secret", help="Vault KV v2 mount (secret)")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    if args.env not in ("local", "staging", "prod"):
        raise BadInput(
            f"unknown environment {args.env!r}: valid environments are local, staging, prod"
        )
    values = read_dotenv(args.dotenv) if args.dotenv else read_doppler_json(args.doppler_json)
    secrets, skipped = map_names(
        values, catalog_secret_names(), include_unknown=args.include_unknown
    )
    if skipped:
        print(f"skipped (not a catalog secret; --include-unknown to set): {', '.join(skipped)}")
    if not secrets:
        raise BadInput("nothing to set: no variable names a catalog secret")
    use_vault = bool(os.environ.get("VAULT_ADDR"))
    target = (
        f"Vault {args.vault_mount}/{args.env}/platform"
        if use_vault
        else f"stack {args.env}-platform"
    )
    names = ", ".join(sorted(secrets))
    if args.dry_run:
        print(f"would set {len(secrets)} secrets on {target}: {names}")
        return 0
    try:
        where = (
            write_vault(args.env, secrets, args.vault_mount)
            if use_vault
            else write_pulumi(args.env, secrets, args.namespace)
        )
    except (BadInput, StoreError):
        raise
    except Exception as exc:
        one_line = getattr(exc, "one_line", None)  # the driver's errors carry a hint
        if callable(one_line):
            raise StoreError(
                redact(str(one_line()), secrets)
            ) from None  # the engine's or HTTP client's error, scrubbed of every value
        # the engine's or HTTP client's error, scrubbed of every value
        raise StoreError(redact(f"{type(exc).__name__}: {exc}", secrets)) from None
    print(f"set {len(secrets)} secrets on {where}: {names}")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:
        return 64 if exc.code == 2 else int(exc.code or 0)
    try:
        return run(args)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 64
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
