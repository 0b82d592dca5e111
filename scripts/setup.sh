#!/usr/bin/env bash
# One-command setup on a fresh machine: a virtualenv with the pinned Python dependencies and the
# pulumi CLI pinned to the SDK's version (scripts/install-pulumi-cli.sh). Idempotent and quick
# when nothing changed. Usage: scripts/setup.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[[ "${1:-}" == "--dev" ]] && extras="[dev]"
python_bin="${PYTHON:-python3}"

"$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "setup: Python 3.11 or newer is needed (found $("$python_bin" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
}

[[ -x .venv/bin/python ]] || "$python_bin" -m venv .venv

# Reinstall only when pyproject.toml (or the extras asked for) changed since the last install.
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)${extras:+-dev}"
if [[ ! -f "$stamp" ]]; then
  echo "setup: installing the Python dependencies into .venv (a minute or two the first time)" >&2
  # shellcheck source=scripts/build-log.sh
  source scripts/build-log.sh
  { to_log setup scripts/step.sh venv .venv/bin/python -m pip install --quiet --upgrade pip \
      && to_log setup scripts/step.sh venv .venv/bin/python -m pip install --quiet -e ".${extras}"; } \
    || { echo "setup: pip install failed" >&2; log_tail setup; exit 1; }
  rm -f .venv/.installed-*
  touch "$stamp"
fi

sdk_version="$(.venv/bin/python -c 'from importlib.metadata import version; print(version("pulumi"))')"
cli_dir="$(PYTHON=.venv/bin/python scripts/step.sh cli scripts/install-pulumi-cli.sh "$sdk_version" | tail -n 1)"
ln -sf "$cli_dir/pulumi" .venv/bin/pulumi
ln -sf "$cli_dir/pulumi-resource-pulumi-python" .venv/bin/pulumi-resource-pulumi-python
echo "setup: ready: $(.venv/bin/pulumi version) (SDK $sdk_version) in .venv" >&2
