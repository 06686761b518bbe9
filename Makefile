# Quickstart: `make demo` and `make test`. Both set themselves up from a fresh clone.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# the native analyzer core (native/, Rust): rebuilt when its sources change; cargo's build cache
# is kept under .cache/ so a rebuild compiles only what changed
NATIVE     := $(VENV)/.native
NATIVE_SRC := native/Cargo.toml native/Cargo.lock native/pyproject.toml native/SPEC $(wildcard native/src/*.rs)
export CARGO_TARGET_DIR ?= $(CURDIR)/.cache/native-target

.PHONY: demo test lint typecheck schemas bench kafka clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required (set PYTHON=/path/to/python3.11)"; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

$(NATIVE): $(STAMP) $(NATIVE_SRC)
	@if command -v cargo >/dev/null 2>&1; then \
	  echo "building the native analyzer core (native/, release build)"; \
	  $(BIN)/python -m pip install --quiet ./native && touch $(NATIVE); \
	else \
	  echo "cargo not found: the engine reads with its Python rules (about 10x slower); install Rust (https://rustup.rs) for the native core"; \
	fi

## demo: run the pipeline on the embedded log over the bundled sample and print the alerts
demo: $(STAMP) $(NATIVE)
	@rm -f .monitor/demo.db .monitor/demo.db-wal .monitor/demo.db-shm
	$(BIN)/monitor run --once --db .monitor/demo.db --input monitor/samples/demo.jsonl

## test: install Chromium if missing, fetch the Kafka jars (cached), run the whole suite; the session
## fixture starts a real single-node Kafka broker and stops it at the end
test: $(STAMP) $(NATIVE)
	sh tools/ensure-chromium.sh
	$(BIN)/python -m monitor.localkafka fetch
	$(BIN)/python -m pytest

## bench: the throughput, latency and memory benchmarks (results in bench/results/)
bench: $(STAMP) $(NATIVE)
	$(BIN)/python bench/bench_engine.py
	$(BIN)/python bench/bench_pipeline.py
	$(BIN)/python bench/bench_replay.py
	$(BIN)/python bench/bench_delivery.py

lint: $(STAMP)
	$(BIN)/ruff check monitor tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

schemas: $(STAMP)
	$(BIN)/monitor schemas

## kafka: run a local single-node KRaft broker in the foreground
kafka: $(STAMP)
	$(BIN)/python -m monitor.localkafka run

clean:
	rm -rf $(VENV) .monitor .pytest_cache .mypy_cache .ruff_cache
