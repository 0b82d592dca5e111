#!/usr/bin/env bash
# Installs the provider plugins the layers use (docker, digitalocean, vault, random) at the
# versions of the pinned Python SDKs into the driver's PULUMI_HOME, and the plain CLI's Python
# language host beside the pulumi CLI.
#
# Order, per plugin: already registered at the pinned version -> nothing to do; a cached build
# whose Go build info carries the pinned version -> register it; `pulumi plugin install` from the
# network (a user's laptop) -> done; else build it from the vendored source tarball
# ($SPROCKET_PROVIDER_SOURCES, default ../shared/vendor/pulumi-providers), verified against its
# SHA256SUMS, patched, version-stamped, cached in ~/.cache/sprocket-infra/plugins and registered
# offline with `pulumi plugin install ... --file`; the builds run side by side (SPROCKET_BUILD_JOBS,
# default the cores). Build facts: the tarballs' README and
# docs/provider-plugins.md. Cold build of the four: about 17 min on 2 cores; warm: seconds.
#
# Nothing half-installed stays: builds land in a temp dir and move into the cache only when they
# finished; a failed registration removes the plugin's directory from PULUMI_HOME.
# Environment: SPROCKET_PULUMI_HOME (where to register), SPROCKET_PROVIDER_SOURCES,
# SPROCKET_PLUGINS_OFFLINE=1 (skip the download attempt), SPROCKET_CACHE.
set -uo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

export PULUMI_HOME="${SPROCKET_PULUMI_HOME:-${SPROCKET_STATE_DIR:-$repo/.sprocket}/pulumi-home}"
export PULUMI_SKIP_UPDATE_CHECK=true
cache_root="${SPROCKET_CACHE:-$HOME/.cache/sprocket-infra}"
plugin_cache="$cache_root/plugins"
default_sources="$repo/../shared/vendor/pulumi-providers"
sources="${SPROCKET_PROVIDER_SOURCES:-$default_sources}"
pulumi_bin="$repo/.venv/bin/pulumi"
python_bin="$repo/.venv/bin/python"
# Only used by schema and SDK generation; the proxy refuses their pinned versions (403).
undownloadable_requires=(
  github.com/pulumi/pulumi-dotnet/pulumi-language-dotnet/v3
  github.com/pulumi/pulumi-java
  github.com/pulumi/pulumi-yaml
)

log() { echo "install-plugins: $*" >&2; }
# shellcheck source=scripts/build-log.sh
source "$repo/scripts/build-log.sh"
# Unfinished builds never outlive the script, whatever way it ends.
trap 'rm -rf "$plugin_cache"/build-*."$$"' EXIT
die() { log "$*"; exit 1; }

[[ -x "$pulumi_bin" && -x "$python_bin" ]] || die "no .venv with the pulumi CLI: run 'make setup' first"
mkdir -p "$PULUMI_HOME" "$plugin_cache"

sdk_version() { "$python_bin" -c "from importlib.metadata import version; print(version('$1'))"; }

registered() {  # $1 name, $2 version: the engine sees the plugin at that version
  [[ -x "$PULUMI_HOME/plugins/resource-$1-v$2/pulumi-resource-$1" ]] \
    && [[ ! -e "$PULUMI_HOME/plugins/resource-$1-v$2.partial" ]]
}

# The version a built binary reports when asked over gRPC (GetPluginInfo), as the engine asks.
reported_version() {  # $1 binary, [$2 --language]
  "$python_bin" "$repo/scripts/plugin_version.py" ${2:-} "$1" 2>/dev/null
}

register() {  # $1 name, $2 version, $3 binary
  local out
  if ! out="$("$pulumi_bin" plugin install resource "$1" "$2" --file "$3" 2>&1)" || ! registered "$1" "$2"; then
    rm -rf "$PULUMI_HOME/plugins/resource-$1-v$2" "$PULUMI_HOME/plugins/resource-$1-v$2".*
    die "registering $1 v$2 into $PULUMI_HOME failed: ${out##*$'\n'}"
  fi
}

try_download() {  # $1 name, $2 version
  [[ "${SPROCKET_PLUGINS_OFFLINE:-}" == 1 ]] && return 1
  timeout 120 "$pulumi_bin" plugin install resource "$1" "$2" >/dev/null 2>&1 && registered "$1" "$2" && return 0
  rm -rf "$PULUMI_HOME/plugins/resource-$1-v$2" "$PULUMI_HOME/plugins/resource-$1-v$2".*
  return 1
}

# Checks the tarball against SHA256SUMS; prints its path.
verified_tarball() {  # $1 tarball file name
  local sums="$sources/SHA256SUMS" tarball="$sources/$1" want have
  [[ -f "$tarball" ]] || die "no source tarball $tarball. Either give this machine access to get.pulumi.com ('pulumi plugin install' downloads it) or set SPROCKET_PROVIDER_SOURCES to the folder holding $1 and SHA256SUMS"
  [[ -f "$sums" ]] || die "no $sums to verify $1 against: restore SHA256SUMS beside the tarballs"
  want="$(awk -v f="$1" '$2 == f || $2 == "*"f {print $1}' "$sums" | sort -u)"
  [[ -n "$want" ]] || die "$sums does not list $1: cannot verify it; restore SHA256SUMS from the vendor folder"
  [[ "$want" =~ ^[0-9a-f]{64}$ ]] || die "$sums lists $1 with no valid sha256 (or with two different ones): restore SHA256SUMS from the vendor folder"
  have="$(sha256sum "$tarball" | cut -d' ' -f1)"
  [[ "$have" == "$want" ]] || die "$tarball does not match SHA256SUMS (sha256 $have, expected $want): the tarball is damaged or tampered with; restore it from the vendor folder"
  echo "$tarball"
}

go_env() { env GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local "$@"; }

can_build() {  # $1 name, $2 version: Go and a verified tarball are here (else one line, exit)
  command -v go >/dev/null || die "$1 v$2: no 'go' toolchain on PATH to build it from source: install Go 1.25+ (the version the providers' go.mod files ask for), or give this machine access to get.pulumi.com"
  verified_tarball "pulumi-$1-v$2.tar.gz" >/dev/null || exit 1
}

build_provider() {  # $1 name, $2 version, $3 output binary
  local tarball work top provider_dir module
  tarball="$(verified_tarball "pulumi-$1-v$2.tar.gz")" || exit 1
  work="$plugin_cache/build-$1.$$"
  rm -rf "$work" && mkdir -p "$work"
  tar -xzf "$tarball" -C "$work" || die "cannot unpack $tarball"
  top="$work/pulumi-$1-v$2"
  [[ -f "$top/provider/go.mod" ]] || die "$tarball does not hold pulumi-$1-v$2/provider/go.mod: not a provider source tarball of this layout (see its README)"
  if [[ -d "$top/upstream" && -d "$top/patches" ]]; then
    local p
    for p in "$top"/patches/*.patch; do
      [[ -e "$p" ]] || continue
      patch -s -p1 -d "$top/upstream" <"$p" || die "$1: patch $(basename "$p") does not apply to upstream/"
    done
  fi
  provider_dir="$top/provider"
  module="$(sed -n 's/^module //p' "$provider_dir/go.mod")"
  local r
  for r in "${undownloadable_requires[@]}"; do
    (cd "$provider_dir" && to_log "plugin-$1" go mod edit -droprequire "$r") \
      || { log "$1: go mod edit failed"; log_tail "plugin-$1"; exit 1; }
  done
  log "building pulumi-resource-$1 v$2 from $(basename "$tarball") (minutes on a cold Go module cache)"
  (cd "$provider_dir/cmd/pulumi-resource-$1" && to_log "plugin-$1" go_env VERSION="$2" go run ./generate.go) \
    || { log "$1: generating the embedded schema failed"; log_tail "plugin-$1"; exit 1; }
  (cd "$provider_dir" && to_log "plugin-$1" go_env go build -trimpath \
      -ldflags "-s -w -X $module/pkg/version.Version=$2" \
      -o "$work/pulumi-resource-$1" "./cmd/pulumi-resource-$1") \
    || { log "$1: go build failed"; log_tail "plugin-$1"; exit 1; }
  mkdir -p "$(dirname "$3")"
  mv -f "$work/pulumi-resource-$1" "$3"
}

# Installs $1 if it needs no build (registered, cached or downloaded); else checks a build can
# start (Go, the verified tarball) and adds it to `to_build`.
to_build=()
prepare_provider() {  # $1 name
  local version binary
  version="$(sdk_version "pulumi-$1")" || die "pulumi-$1 is not installed in .venv: run 'make setup'"
  registered "$1" "$version" && return 0
  binary="$plugin_cache/pulumi-resource-$1-v$version/pulumi-resource-$1"
  if [[ -x "$binary" && "$(reported_version "$binary")" == "$version" ]]; then
    register "$1" "$version" "$binary"; return 0
  fi
  try_download "$1" "$version" && { log "downloaded $1 v$version"; return 0; }
  can_build "$1" "$version"
  to_build+=("$1")
}

build_and_register() {  # $1 name
  local version binary
  version="$(sdk_version "pulumi-$1")"
  binary="$plugin_cache/pulumi-resource-$1-v$version/pulumi-resource-$1"
  build_provider "$1" "$version" "$binary"
  [[ "$(reported_version "$binary")" == "$version" ]] || die "$1: the built binary does not report v$version"
  register "$1" "$version" "$binary"
  log "built and registered $1 v$version"
}

# The plain CLI (`pulumi preview -s local-layer_1`) runs __main__.py through this language host.
install_language_host() {
  local cli_dir cli_version host tarball work
  cli_dir="$(dirname "$(readlink -f "$pulumi_bin")")"
  cli_version="$("$pulumi_bin" version)"
  host="$cli_dir/pulumi-language-python"
  local reported
  reported="$(reported_version "$host" --language)"
  if [[ -x "$host" && "${reported#v}" == "${cli_version#v}" && -x "$cli_dir/pulumi-language-python-exec" ]]; then
    return 0
  fi
  command -v go >/dev/null || die "pulumi-language-python: no 'go' toolchain to build it: install Go 1.25+, or install the pulumi CLI with its official installer (it ships the language host)"
  tarball="$(ls "$sources"/pulumi-language-python-*.tar.gz 2>/dev/null | head -n 1)"
  [[ -n "$tarball" ]] || die "no pulumi-language-python-*.tar.gz in $sources: set SPROCKET_PROVIDER_SOURCES, or install the pulumi CLI with its official installer"
  tarball="$(verified_tarball "$(basename "$tarball")")" || exit 1
  work="$plugin_cache/build-language-python.$$"
  rm -rf "$work" && mkdir -p "$work"
  tar -xzf "$tarball" -C "$work" || die "cannot unpack $tarball"
  local src="$work/pulumi-language-python"
  # Its go.mod points pkg/ and sdk/ into the pulumi repository; use the CLI's published modules.
  mkdir -p "$build_log_dir"
  (cd "$src" && to_log language-python go mod edit -dropreplace github.com/pulumi/pulumi/pkg/v3 -dropreplace github.com/pulumi/pulumi/sdk/v3 \
      -require "github.com/pulumi/pulumi/pkg/v3@$cli_version" -require "github.com/pulumi/pulumi/sdk/v3@$cli_version") \
    || { log "pulumi-language-python: go mod edit failed"; log_tail language-python; exit 1; }
  log "building pulumi-language-python $cli_version"
  (cd "$src" && to_log language-python go_env go build -trimpath \
      -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$cli_version" \
      -o "$work/bin/pulumi-language-python" .) \
    || { log "pulumi-language-python: go build failed"; log_tail language-python; exit 1; }
  local sdk_dir
  sdk_dir="$(cd "$src" && go_env go list -m -f '{{.Dir}}' "github.com/pulumi/pulumi/sdk/v3" \
    2>>"$build_log_dir/language-python.log")"
  [[ -f "$sdk_dir/python/cmd/pulumi-language-python-exec" ]] \
    || die "pulumi-language-python-exec not found in the sdk/v3 module ($sdk_dir)"
  install -m 0755 "$sdk_dir/python/cmd/pulumi-language-python-exec" "$cli_dir/pulumi-language-python-exec"
  rm -rf "$host" && mv -f "$work/bin/pulumi-language-python" "$host"
  log "built pulumi-language-python $cli_version into $cli_dir"
}

# The builds run side by side, up to $SPROCKET_BUILD_JOBS at once (default: the cores): a Go
# build leaves cores idle while it downloads modules, generates a schema or links. Each prints
# its own start and end line; a failure names the step and its log, and the others finish.
# What cannot start (no Go, a missing or tampered tarball) stops everything first, in one line.
for provider in docker random digitalocean vault; do
  prepare_provider "$provider"
done
max_jobs="${SPROCKET_BUILD_JOBS:-$(nproc)}"
declare -A pids=()
steps=("${to_build[@]}")
[[ "${1:-}" != "--no-language-host" ]] && steps+=(language-host)
for step in "${steps[@]}"; do
  while (( $(jobs -rp | wc -l) >= max_jobs )); do wait -n || true; done
  if [[ "$step" == language-host ]]; then
    install_language_host &
  else
    build_and_register "$step" &
  fi
  pids[$step]=$!
done
failed=()
for step in "${steps[@]}"; do
  wait "${pids[$step]}" || failed+=("$step")
done
(( ${#failed[@]} == 0 )) || die "failed: ${failed[*]} (each said why above; details in $build_log_dir)"
if [[ "${1:-}" != "--no-language-host" ]]; then
  cli_dir="$(dirname "$(readlink -f "$pulumi_bin")")"
  ln -sf "$cli_dir/pulumi-language-python" "$repo/.venv/bin/pulumi-language-python"
  ln -sf "$cli_dir/pulumi-language-python-exec" "$repo/.venv/bin/pulumi-language-python-exec"
fi
log "provider plugins and language host ready (PULUMI_HOME=$PULUMI_HOME)"
