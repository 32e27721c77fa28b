# Tocsin developer commands. `make run` and `make test` work on a fresh machine with only
# Python and make (plus npm for the JavaScript test peers): they create .venv and install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TEST_STAMP := $(VENV)/.test-plugins-stamp

.PHONY: install run test lint format bench bench-full schema check-schema clean fuzz soak

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml setup.py tests/js/package.json tests/js/package-lock.json | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,dev]"
	@if command -v npm >/dev/null 2>&1; then \
		cd tests/js && npm ci --no-audit --no-fund --loglevel=error; \
	else \
		echo "npm not found: tests that drive JavaScript clients will be skipped" >&2; \
	fi
	touch $(STAMP)

install: $(STAMP)

# The notifier plugin distributions under tests/plugins (a working one and deliberately broken
# ones) are installed like any third-party plugin, so the tests discover them through their
# entry points. Only the test targets install them: `make run` lists just the real plugins.
TEST_PLUGINS := $(wildcard tests/plugins/*/pyproject.toml)

$(TEST_STAMP): $(STAMP) $(TEST_PLUGINS)
	$(BIN)/python -m pip install --quiet $(addprefix -e ,$(dir $(TEST_PLUGINS)))
	touch $(TEST_STAMP)

run: install
	$(BIN)/tocsin serve

test: install $(TEST_STAMP)
	$(BIN)/python -m pytest

# Longer hardening runs: many more fuzzed documents; a 60 s load test with 50 clients.
fuzz: install $(TEST_STAMP)
	TOCSIN_FUZZ_EXAMPLES=$${TOCSIN_FUZZ_EXAMPLES:-2000} $(BIN)/python -m pytest -q tests/hardening/test_fuzz.py

soak: install $(TEST_STAMP)
	TOCSIN_SOAK_SECONDS=$${TOCSIN_SOAK_SECONDS:-60} TOCSIN_SOAK_CLIENTS=$${TOCSIN_SOAK_CLIENTS:-50} \
		$(BIN)/python -m pytest -q tests/hardening/test_load.py

lint: install
	$(BIN)/ruff check app tests bench plugins
	$(BIN)/mypy app plugins

format: install
	$(BIN)/ruff check --fix app tests bench plugins
	$(BIN)/ruff format app tests bench plugins

bench: install
	$(BIN)/python -m bench

# The full scales every issue names (1M rows, 100k timers, 10k subscribers): long.
bench-full: install
	TOCSIN_BENCH_FULL=1 $(BIN)/python -m bench

schema: install
	$(BIN)/tocsin export-schema --output schema.graphql

check-schema: install
	@$(BIN)/tocsin export-schema --output $(VENV)/schema.exported.graphql
	@diff -u schema.graphql $(VENV)/schema.exported.graphql \
		|| (echo "schema.graphql is stale: run 'make schema' and commit it" >&2; exit 1)

clean:
	rm -rf $(VENV) tests/js/node_modules
