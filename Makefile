# Two commands: `make demo` (set up + run the main job) and `make test` (set up + run the tests).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# llama-cpp-python compiles from source here; its LLaVA part is not needed (~20% faster build).
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF

.PHONY: setup setup-dev demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.setup-models: $(BIN)/python pyproject.toml setup.py
	$(BIN)/pip install -q -e '.[models]'
	touch $@

$(VENV)/.setup-dev: $(VENV)/.setup-models
	$(BIN)/pip install -q -e '.[models,test-models,dev]'
	bash scripts/ensure-system-deps.sh
	touch $@

setup: $(VENV)/.setup-models
setup-dev: $(VENV)/.setup-dev

## The main job: index the sample host tree, mine the sample log, answer routed queries.
demo: setup
	$(BIN)/foundups-training demo

## The whole test suite (unit, integration with the real models and servers).
test: setup-dev
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Benchmarks (ratios against baselines measured in the same run; results in benchmarks/results/)
bench: setup-dev
	$(BIN)/python benchmarks/bench_cli.py
	$(BIN)/python benchmarks/bench_mining.py
	$(BIN)/python benchmarks/bench_memory.py
	$(BIN)/python benchmarks/bench_adapters.py
	$(BIN)/python benchmarks/bench_labels.py
	$(BIN)/python benchmarks/bench_widen.py
	$(BIN)/python benchmarks/bench_routing.py \
	  --host-root foundups_training/samples/host --log foundups_training/samples/012_sample.txt \
	  --dev foundups_training/evalsets/sample_qa_dev.jsonl \
	  --dev foundups_training/evalsets/sample_qa_calibration.jsonl \
	  --dev foundups_training/evalsets/sample_qa_moments.jsonl \
	  --heldout foundups_training/evalsets/sample_qa_heldout.jsonl

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
