# Sourced by the set-up scripts: a tool's own output (go, pip, the Pulumi installer) goes to a log
# file, so cold set-up prints one line per step (the scripts' own `log` lines) and, when a step
# fails, where its details are and their last lines.
# Log folder: $SPROCKET_LOG_DIR, default <checkout>/.sprocket/logs.
build_log_dir="${SPROCKET_LOG_DIR:-$(cd "${BASH_SOURCE[0]%/*}/.." && pwd)/.sprocket/logs}"

# to_log NAME CMD [ARGS...]: runs CMD with its stdout and stderr appended to NAME's log; returns
# CMD's status.
to_log() {
  local log="$build_log_dir/$1.log"; shift
  mkdir -p "$build_log_dir" || return 1
  printf -- '--- %(%Y-%m-%dT%H:%M:%S)T %s\n' -1 "$*" >>"$log"
  "$@" >>"$log" 2>&1
}

# log_tail NAME: where NAME's details are, and their last lines, on stderr.
log_tail() {
  local log="$build_log_dir/$1.log"
  echo "  details: $log; its last lines:" >&2
  if command -v tail >/dev/null; then tail -n 15 "$log" >&2; fi
}
