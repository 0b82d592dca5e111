#!/usr/bin/env bash
# Makes sure a Docker engine runs here and is a Swarm manager: installs Debian's docker.io when no
# engine is installed (and mmdebstrap, for the real server images; root only), starts dockerd
# when it is not running, and `docker swarm init` when the node is in no swarm. Used by the tests
# and by local deploys.
# Usage: ensure-docker.sh [--test-deps]   (--test-deps: also busybox-static, for the test images,
#                                          and Debian's PostgreSQL 15 server, for the data tests)
set -euo pipefail

packages=()
command -v dockerd >/dev/null || packages+=(docker.io)
# The real server images' Debian root filesystem (automation/images/rootfs.py).
command -v mmdebstrap >/dev/null || packages+=(mmdebstrap)
[[ "${1:-}" == "--test-deps" && ! -x /bin/busybox ]] && packages+=(busybox-static)
[[ "${1:-}" == "--test-deps" && ! -x /usr/lib/postgresql/15/bin/initdb ]] && packages+=(postgresql-15)

log() { echo "ensure-docker: $*" >&2; }
docker_cli() { if [[ -x /usr/bin/docker ]]; then /usr/bin/docker "$@"; else docker "$@"; fi; }

if (( ${#packages[@]} )); then
  if [[ "$(id -u)" != 0 ]]; then
    log "missing ${packages[*]}: install them (Debian: sudo apt-get install ${packages[*]})"; exit 1
  fi
  log "installing Debian's ${packages[*]}"
  # shellcheck source=scripts/build-log.sh
  source "${BASH_SOURCE[0]%/*}/build-log.sh"
  { to_log apt apt-get update -qq \
      && to_log apt env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"; } \
    || { log "installing ${packages[*]} failed"; log_tail apt; exit 1; }
fi

if ! docker_cli info >/dev/null 2>&1; then
  if [[ "$(id -u)" != 0 ]]; then
    log "the Docker engine is not running: start it (sudo systemctl start docker)"; exit 1
  fi
  log "starting dockerd"
  # In a session of its own: a caller's job control (a CI step, a terminal closing) must not take
  # the engine down with the process group that started it.
  setsid nohup dockerd >/var/log/sprocket-dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do docker_cli info >/dev/null 2>&1 && break; sleep 0.5; done
  docker_cli info >/dev/null 2>&1 || { log "dockerd did not start; see /var/log/sprocket-dockerd.log"; exit 1; }
fi

if [[ "$(docker_cli info --format '{{.Swarm.LocalNodeState}}')" != "active" ]]; then
  log "initialising a single-node swarm"
  docker_cli swarm init --advertise-addr 127.0.0.1 >/dev/null
fi
log "Docker $(docker_cli version --format '{{.Server.Version}}') is a swarm manager"
