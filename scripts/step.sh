#!/usr/bin/env bash
# Runs one set-up or test step and records how long it took, for .ci/run's summary.
# Usage: scripts/step.sh NAME CMD [ARGS...]
# With SPROCKET_STEP_TIMES=FILE, appends "NAME<TAB>SECONDS<TAB>EXIT" to FILE; the command's output,
# standard streams and exit status pass through unchanged. Without it: just runs CMD.
set -uo pipefail
name="$1"; shift
start="$(date +%s.%N)"
"$@"
rc=$?
if [[ -n "${SPROCKET_STEP_TIMES:-}" ]]; then
  printf '%s\t%.1f\t%d\n' "$name" "$(echo "$(date +%s.%N) - $start" | bc)" "$rc" >>"$SPROCKET_STEP_TIMES"
fi
exit "$rc"
