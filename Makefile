# sciwm: `make demo` and `make test` work on a fresh machine: they create .venv, install a CPU torch
# (pinned, so CPU machines never download CUDA wheels) and sciwm with its dev extras, then run.
# GPU users: `make TORCH="torch==2.13.0 --index-url <your CUDA wheel index>" test`, or any torch spec.

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.sciwm-installed
DEMO   := demo
DEMO_STEPS   ?= 20000
DEMO_MINUTES ?= 4
# One torch thread by default: on a 2-core machine that is doing anything else, torch's 2-thread regions
# wait on each other (the ks1d FNO trained at ~1 step/s so, against ~50 on an idle machine with 2).
# On an idle machine `make demo DEMO_THREADS=2` trains faster.
DEMO_THREADS ?= 1

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The main job on built-in data: generate a small ks1d set, train the default surrogate for a few
# minutes, roll it out 200 steps (the whole test trajectory) from one-step training, evaluate it against
# the solver's truth, and bench it against a ladder of classical solvers (equal accuracy, equal cost). The
# demo directory must be `demo` for the bench step (benchmarks/configs/bench-demo.toml names its paths).
demo: export OMP_NUM_THREADS := $(DEMO_THREADS)
demo: $(STAMP)
	$(BIN)/sciwm generate datasets/ks1d.toml --out $(DEMO)/ks1d --samples 64 --resume
	$(BIN)/sciwm info $(DEMO)/ks1d/train.h5 --quick
	$(BIN)/sciwm plot $(DEMO)/ks1d/test.h5 --out $(DEMO)/ks1d/test.png
	test -f $(DEMO)/run/checkpoint.pt || $(BIN)/sciwm train sciwm/configs/ks1d.toml --out $(DEMO)/run \
	    --set data.train=$(DEMO)/ks1d/train.h5 --set data.val=$(DEMO)/ks1d/val.h5 \
	    --set train.steps=$(DEMO_STEPS) --set train.max_minutes=$(DEMO_MINUTES)
	$(BIN)/sciwm rollout $(DEMO)/run --data $(DEMO)/ks1d/test.h5 --steps 200 --out $(DEMO)/run/test-rollout.h5
	$(BIN)/sciwm eval $(DEMO)/run/test-rollout.h5 $(DEMO)/ks1d/test.h5 --out $(DEMO)/run/eval
	$(BIN)/sciwm bench benchmarks/configs/bench-demo.toml --out $(DEMO)/bench --quiet
	@echo "demo: data in $(DEMO)/ks1d/, run in $(DEMO)/run/, metrics in $(DEMO)/run/eval/, verdict in $(DEMO)/bench/report.md"

test: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --durations=15

lint: $(STAMP)
	$(BIN)/ruff check sciwm tests benchmarks

# The independent peer (exponax on JAX) lives in its own venv so JAX never enters sciwm's.
BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed:
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet "jax[cpu]" exponax numpy
	touch $@

bench: $(STAMP) $(BENCH_VENV)/.installed
	$(BIN)/python benchmarks/solvers.py
	$(BIN)/python benchmarks/data.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(DEMO) .pytest_cache
