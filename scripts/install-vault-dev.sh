#!/usr/bin/env bash
# Builds a real Vault server (for `vault server -dev` in the tests) from the Go module proxy into
# a cache outside the repo; no registry here ships a Vault binary. Facts: docs/provider-plugins.md.
#
# Why the patch: Vault's go.mod replaces its api/ and sdk/ modules with in-tree directories that
# are not in the module zip, so the build must use a published sdk module. Vault v1.21.x's in-tree
# sdk matches no published sdk tag; v1.21.3 builds against sdk v0.21.0 after a two-line signature
# adaptation (scripts/patches/vault-v1.21.3-sdk-v0.21.0.patch). It is the real server otherwise.
#
# Cold build: about 20 min on 2 shared cores (module download ~1-2 min). Reused when the cached
# binary reports the pinned version. Prints the binary's path on its last line of stdout.
# --cached-only: never build (the test fixture uses it; a 20 min build does not belong in a test).
set -euo pipefail

cached_only=false
[[ "${1:-}" == "--cached-only" ]] && cached_only=true

version="1.21.3"  # pinned together with the sdk version and the patch below
sdk_version="v0.21.0"
api_version="v1.22.0"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
patch_file="$here/patches/vault-v$version-sdk-$sdk_version.patch"
cache_root="${SPROCKET_CACHE:-$HOME/.cache/sprocket-infra}"
root="$cache_root/vault-v$version"
binary="$root/bin/vault"

log() { echo "install-vault-dev: $*" >&2; }
# shellcheck source=scripts/build-log.sh
source "$here/build-log.sh"

cached_ok() { [[ -x "$binary" ]] && "$binary" version 2>/dev/null | grep -q "^Vault v$version\b"; }

write_wrapper_module() {  # $1 = work dir; builds the patched source in ./vault-src
  cat >"$1/go.mod" <<MOD
module sprocket.local/vaultdev

go 1.25.3

require (
	github.com/hashicorp/vault v$version
	github.com/hashicorp/vault/api $api_version
	github.com/hashicorp/vault/sdk $sdk_version
)

replace github.com/hashicorp/vault => ./vault-src

// Vault's own non-local replace lines (replace lines of a dependency do not apply to a build).
replace github.com/99designs/keyring => github.com/Jeffail/keyring v1.2.3

replace github.com/ma314smith/signedxml v1.1.1 => github.com/moov-io/signedxml v1.1.1
MOD
}

build() {
  command -v go >/dev/null || { log "no 'go' toolchain on PATH: install Go 1.25+ (it builds Vault from the Go module proxy)"; return 1; }
  local work="$root/build"
  rm -rf "$work" && mkdir -p "$work" "$root/bin" "$build_log_dir"
  export GOFLAGS=-mod=mod CGO_ENABLED=0
  local src
  src="$(go mod download -json "github.com/hashicorp/vault@v$version" 2>>"$build_log_dir/vault.log" \
    | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')"
  [[ -d "$src" ]] || { log "the Go module proxy did not serve github.com/hashicorp/vault@v$version"; return 1; }
  cp -r "$src" "$work/vault-src" && chmod -R u+w "$work/vault-src"
  patch -d "$work/vault-src" -p1 --quiet <"$patch_file"
  write_wrapper_module "$work"
  (cd "$work" && to_log vault nice -n "${SPROCKET_BUILD_NICE:-10}" go build -trimpath \
    -ldflags "-s -w" -o "$binary" github.com/hashicorp/vault) || { log_tail vault; return 1; }
  rm -rf "$work"  # 60 MB of source; the binary is all the tests need
}

if cached_ok; then
  log "reusing cached Vault v$version"
elif $cached_only; then
  log "no cached Vault v$version at $binary: run scripts/install-vault-dev.sh (about 20 min cold)"
  exit 1
else
  log "building Vault v$version from the Go module proxy (about 20 min cold on 2 cores)"
  build || { log "could not build Vault v$version"; exit 1; }
  cached_ok || { log "built binary does not report Vault v$version"; exit 1; }
fi
echo "$binary"
