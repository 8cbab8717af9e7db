# kafka-upgrade: `make demo` upgrades a local real Kafka cluster; `make test` runs the suite.
SHELL := /bin/bash
MODE ?= kraft
PY := .venv/bin/python
# Installs what a fresh Debian machine lacks (uv, sshd, Maven, ...) and the venv;
# quiet and instant when everything is there. `UV=...` picks a uv.
BOOTSTRAP := UV="$(UV)" scripts/bootstrap.sh

.PHONY: install demo serve test unit integration lint fmt clean bench reference

install:
	@$(BOOTSTRAP) install

demo:
	@$(BOOTSTRAP) demo
	MODE=$(MODE) $(PY) -m kafka_upgrade.app.demo

serve: install
	$(PY) -m kafka_upgrade.app.cli serve $(SERVE_ARGS)

test:
	@$(BOOTSTRAP) test
	$(PY) -m pytest -q -p no:cacheprovider --timeout=1800 --durations=30 tests

unit: install
	$(PY) -m pytest -q tests/unit

integration:
	@$(BOOTSTRAP) test
	$(PY) -m pytest -q -m integration tests

# Benchmarks (benchmarks/README.md): figures side by side, then name=value headlines.
bench: install
	$(PY) -m benchmarks.run $(BENCH_ARGS)

# The inventory's reference (docs/inventory.md, docs/inventory.schema.json), from its models.
reference: install
	$(PY) -m kafka_upgrade.app.inventory_reference

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

fmt: install
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

clean:
	rm -rf .venv .pytest_cache
