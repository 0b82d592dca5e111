#!/usr/bin/env bash
# The integration layer, in parallel pytest-xdist workers when SPROCKET_TEST_WORKERS > 1.
# Usage: scripts/test-integration.sh [PYTEST ARGS...]   (e.g. tests/integration/test_x.py -x)
#
# SPROCKET_TEST_WORKERS (default 2, the cores of the machines this runs on): 1 runs one pytest
# session, serially, as before. N > 1 runs
# the tests not marked `serial` in N workers, one module at a time per worker (--dist loadfile:
# module fixtures stay in one process), then the `serial` tests alone in one session after them.
# Each worker is a pytest session of its own on the machine's Docker engine: its own
# SESSION_PREFIX for Swarm objects, moto server, tmp_path tree and file backends
# (tests/conftest.py); the `serial` mark is for tests that change state of the whole engine.
# Exit status: pytest's; 5 (nothing collected) only when neither part ran a test.
set -uo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-.venv/bin/python}"

workers="${SPROCKET_TEST_WORKERS:-2}"  # the one default: make test and .ci/run read it here
if ! [[ "$workers" =~ ^[1-9][0-9]*$ ]]; then
  echo "test-integration: SPROCKET_TEST_WORKERS must be a whole number >= 1 (got '$workers');" \
    "1 runs the integration tests serially" >&2
  exit 2
fi
(( $# )) || set -- tests/integration

if (( workers == 1 )); then
  exec "$py" -m pytest -q "$@"
fi

echo "test-integration: ${workers} workers for the tests not marked serial, then the serial ones" >&2
"$py" -m pytest -q -n "$workers" --dist loadfile --no-loadscope-reorder -m "not serial" "$@"
parallel=$?
"$py" -m pytest -q -m serial "$@"
alone=$?

# 5 is "no test collected": fine for one part (a selection without serial tests), not for both.
if (( parallel == 5 && alone == 5 )); then exit 5; fi
for rc in "$parallel" "$alone"; do
  if (( rc != 0 && rc != 5 )); then exit "$rc"; fi
done
exit 0
