#!/usr/bin/env bash
# Installs the `pulumi` CLI pinned to the Python SDK's version into a cache outside the repo.
# Order: reuse a cached binary that reports the pinned version; else the official installer
# (works on a laptop); else build from the Go module proxy (works on the offline build machines).
# Prints the bin directory on its last line of stdout.
set -euo pipefail

version="${1:?usage: install-pulumi-cli.sh VERSION (e.g. 3.272.0)}"
fallback_version="${PULUMI_CLI_FALLBACK_VERSION:-3.274.1}"
cache_root="${SPROCKET_CACHE:-$HOME/.cache/sprocket-infra}"
python_bin="${PYTHON:-python3}"

log() { echo "install-pulumi-cli: $*" >&2; }
# shellcheck source=scripts/build-log.sh
source "${BASH_SOURCE[0]%/*}/build-log.sh"

cached_ok() {  # $1 = bin dir, $2 = version
  [[ -x "$1/pulumi" ]] && [[ "$("$1/pulumi" version 2>/dev/null)" == "v$2" ]] \
    && [[ -x "$1/pulumi-resource-pulumi-python" ]]
}

install_dynamic_provider_shim() {  # Dynamic providers need this plugin next to the CLI.
  cat >"$1/pulumi-resource-pulumi-python" <<'SHIM'
#!/usr/bin/env bash
exec "${PULUMI_PYTHON_CMD:-python3}" -u -m pulumi.dynamic "$@"
SHIM
  chmod +x "$1/pulumi-resource-pulumi-python"
}

try_official_installer() {  # $1 = install root, $2 = version
  command -v "$python_bin" >/dev/null || return 1
  # Offline it fails with the installer's tracebacks: expected, so they stay in the log.
  to_log pulumi-cli timeout 120 "$python_bin" - "$1" "$2" <<'PY' || return 1
import sys
from pulumi.automation import PulumiCommand
from semver import VersionInfo
PulumiCommand.install(root=sys.argv[1], version=VersionInfo.parse(sys.argv[2]))
PY
}

build_from_go_proxy() {  # $1 = install root, $2 = version
  command -v go >/dev/null || { log "no 'go' toolchain on PATH: install Go 1.22+ (e.g. apt-get install golang) or run on a machine that reaches get.pulumi.com"; return 1; }
  local work="$1/build" tag="v$2"
  mkdir -p "$work"
  cat >"$work/go.mod" <<MOD
module sprocket.local/pulumicli

go 1.24

require (
	github.com/pulumi/pulumi/pkg/v3 $tag
	github.com/pulumi/pulumi/sdk/v3 $tag
)
MOD
  # No `go mod tidy`: nothing imports the wrapper, tidy would drop the requires.
  (cd "$work" && to_log pulumi-cli env GOFLAGS=-mod=mod CGO_ENABLED=0 \
      go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@$tag") || return 1
  (cd "$work" && to_log pulumi-cli env GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$tag" \
      -o "$1/bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi) || return 1
}

for candidate in "$version" "$fallback_version"; do
  root="$cache_root/pulumi-v$candidate"
  if cached_ok "$root/bin" "$candidate"; then
    log "reusing cached pulumi v$candidate"; echo "$root/bin"; exit 0
  fi
done

for candidate in "$version" "$fallback_version"; do
  root="$cache_root/pulumi-v$candidate"
  mkdir -p "$root/bin"
  if try_official_installer "$root" "$candidate" && [[ -x "$root/bin/pulumi" ]]; then
    log "installed pulumi v$candidate with the official installer"
  else
    log "official installer unavailable; building pulumi v$candidate from the Go module proxy (10-15 min cold)"
    build_from_go_proxy "$root" "$candidate" || { log "build of v$candidate failed (details: $build_log_dir/pulumi-cli.log)"; continue; }
  fi
  install_dynamic_provider_shim "$root/bin"
  if cached_ok "$root/bin" "$candidate"; then echo "$root/bin"; exit 0; fi
done

log "could not install the pulumi CLI v$version (nor v$fallback_version)."
[[ -f "$build_log_dir/pulumi-cli.log" ]] && log_tail pulumi-cli
log "Fix: give this machine either network access to get.pulumi.com, or a Go toolchain with the Go module proxy,"
log "or put a pulumi binary that prints 'v$version' at $cache_root/pulumi-v$version/bin/pulumi."
exit 1
