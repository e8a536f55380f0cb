# EmbeDB: `make demo` sets everything up and runs the main job; `make test` sets up and runs the checks.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser demo test lint typecheck pytest bench clean

$(STAMP): pyproject.toml setup.py src/embedb/_native.c tests/node/package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: this exact version is a CPU wheel on local disk (any other downloads CUDA).
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[all,dev]"
	# the pinned Milvus Node SDK that tests/integration/milvus/test_node_sdk.py runs under node (only the tests need it)
	if command -v npm >/dev/null; then npm ci --prefix tests/node --no-audit --no-fund; else echo "npm not found: the Node SDK test will fail"; fi
	touch $(STAMP)

install: $(STAMP)

# Debian's chromium, for the web console's browser tests only (Playwright drives it; nothing downloads a browser).
browser:
	if ! command -v chromium >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium \
		|| echo "chromium could not be installed: the console tests will fail"; \
	fi

demo: install
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m embedb.demo

lint: install
	$(BIN)/ruff check src tests benchmarks
	# the layers and no import cycles (docs/architecture.md; contracts in pyproject.toml)
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

# Two passes. The first runs every behaviour test; the second runs the `perf` tests (the ones
# that assert wall-clock times or core use) with -rA, so what each measured is printed apart.
# Both passes always run, and a failing perf test fails `make test` like any other: the claims
# they check (searches release the GIL and use two cores, promotion is a metadata step) are
# promises, and each is measured against a control or a wide bound so a busy machine does not
# fail it; none skips itself because the machine is busy.
pytest: install browser
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/pytest -q -m "not perf"; behaviour=$$?; \
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/pytest -q -m perf -rA; perf=$$?; \
	test $$behaviour -eq 0 && test $$perf -eq 0

test: lint typecheck pytest

bench: install
	$(BIN)/pip install --quiet -e ".[bench]" || echo "some peers could not be installed; the benchmarks skip them"
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/search.py
	$(BIN)/python benchmarks/embedding_insert.py
	$(BIN)/python benchmarks/lifecycle.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
