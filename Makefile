# The README's two commands are `make deploy` and `make test`; both do their own set-up.
.PHONY: setup setup-dev deploy test tools lint typecheck unit integration bench clean

PY := .venv/bin/python
# Each step records its time when SPROCKET_STEP_TIMES names a file (.ci/run's summary).
STEP := scripts/step.sh

setup:
	@scripts/setup.sh

setup-dev:
	@scripts/setup.sh --dev

deploy: setup
	@scripts/install-plugins.sh
	@scripts/ensure-docker.sh --test-deps
	$(PY) -m automation.local_images --env local
	$(PY) -m automation deploy all --env local --yes

lint: setup-dev
	@$(STEP) lint $(PY) -m ruff check .
	@$(STEP) lint $(PY) -m ruff format --check automation sprocket_common tests
	@$(STEP) lint .venv/bin/zizmor --offline --no-progress .github/workflows

typecheck: setup-dev
	@$(STEP) types $(PY) -m mypy automation sprocket_common
	@$(STEP) types $(PY) -m mypy layer_1 layer_2

unit: setup-dev
	$(PY) -m pytest tests/unit -q

integration: setup-dev
	@scripts/ensure-docker.sh --test-deps
	@$(MAKE) --no-print-directory tools
	@scripts/test-integration.sh

# The unit layer first (seconds to minutes, no outside tool), then the integration layer, in
# $SPROCKET_TEST_WORKERS parallel workers (scripts/test-integration.sh; 1 = serially).
test: lint typecheck
	@$(STEP) docker scripts/ensure-docker.sh --test-deps
	@$(MAKE) --no-print-directory tools
	@$(STEP) unit $(PY) -m pytest -q tests/unit
	@$(STEP) integration scripts/test-integration.sh

# The Vault server, the provider plugins and the real servers (automation/images/servers.py:
# Traefik, Gatus, Telegraf, InfluxDB with its Rust libflux, Redis Stack, PostgreSQL) the tests
# use: cached after the first build (about 20, 17 and 20 min cold on 2 cores); built
# side by side, since Go's link steps leave a core idle; install-plugins.sh builds its four
# plugins and the language host side by side too (up to $SPROCKET_BUILD_JOBS, default the cores).
tools: setup-dev
	@$(STEP) vault scripts/install-vault-dev.sh >/dev/null & vault=$$!; \
	  $(STEP) servers $(PY) -m automation.images.servers >/dev/null & servers=$$!; \
	  $(STEP) plugins scripts/install-plugins.sh; plugins=$$?; wait $$vault && wait $$servers && exit $$plugins

bench: setup-dev
	@scripts/ensure-docker.sh --test-deps
	@scripts/install-plugins.sh
	@figures="$$(mktemp)"; export SPROCKET_BENCH_FIGURES="$$figures"; rc=0; \
	  for bench in bench_preview bench_real_stacks bench_backup; do \
	    echo "== benchmarks/$$bench.py"; $(PY) benchmarks/$$bench.py || rc=$$?; \
	  done; \
	  echo; echo "== make bench: every figure (median seconds; ratio = driver / plain)"; \
	  $(PY) benchmarks/figures.py "$$figures"; rm -f "$$figures"; exit $$rc

clean:
	rm -rf .venv .sprocket .pytest_cache .mypy_cache .ruff_cache
