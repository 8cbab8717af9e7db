# kafka-upgrade: `make demo` upgrades a local real Kafka cluster; `make test` runs the suite.
SHELL := /bin/bash
UV ?= uv
MODE ?= kraft
PY := .venv/bin/python

.PHONY: install demo serve test unit integration lint fmt clean

.venv/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || { echo "uv is missing: pip install uv (or see README)"; exit 1; }
	$(UV) sync --frozen -p 3.11
	@touch $@

install: .venv/.synced

demo: install
	MODE=$(MODE) $(PY) -m kafka_upgrade.demo

serve: install
	$(PY) -m kafka_upgrade.cli serve $(SERVE_ARGS)

test: install
	$(PY) -m pytest -q -p no:cacheprovider --timeout=1800 tests

unit: install
	$(PY) -m pytest -q tests/unit

integration: install
	$(PY) -m pytest -q -m integration tests

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

fmt: install
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

clean:
	rm -rf .venv .pytest_cache
