#!/usr/bin/env bash
# Installs the provider plugins the layers use (docker, digitalocean, vault, random), at the
# versions of the pinned Python SDKs, into the driver's PULUMI_HOME. Needs get.pulumi.com: the
# Go module proxy does not serve these providers (docs/provider-plugins.md), so on an offline
# machine this warns and exits 1, and the layers can only be checked with the mock tests there.
set -uo pipefail
cd "$(dirname "$0")/.."

export PULUMI_HOME="${SPROCKET_PULUMI_HOME:-${SPROCKET_STATE_DIR:-$PWD/.sprocket}/pulumi-home}"
mkdir -p "$PULUMI_HOME"
missing=()
for provider in docker digitalocean vault random; do
  version="$(.venv/bin/python -c "from importlib.metadata import version; print(version('pulumi-$provider'))")"
  if ls -d "$PULUMI_HOME/plugins/resource-$provider-v$version" >/dev/null 2>&1; then
    continue
  fi
  if ! timeout 300 .venv/bin/pulumi plugin install resource "$provider" "$version" >/dev/null 2>&1; then
    missing+=("$provider v$version")
  fi
done
if (( ${#missing[@]} )); then
  echo "install-plugins: could not download the provider plugins ${missing[*]} (no access to get.pulumi.com?)." >&2
  echo "install-plugins: deploys of the real layers need them; see docs/provider-plugins.md." >&2
  exit 1
fi
echo "install-plugins: provider plugins ready in $PULUMI_HOME" >&2
