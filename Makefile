# Hearth: `make run` sets everything up and starts the server; `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# llama.cpp is compiled by pip; use every core. HEARTH_GPU=1 builds it with CUDA.
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)
ifeq ($(HEARTH_GPU),1)
export CMAKE_ARGS := -DGGML_CUDA=on
export HEARTH_LLM__N_GPU_LAYERS ?= -1
endif

.PHONY: setup system models run test bench clean

setup: system $(STAMP) models

system:
	@bash scripts/system_deps.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

models:
	@$(BIN)/python scripts/install_models.py

run: setup
	$(BIN)/hearth serve

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python scripts/bench_llm.py

clean:
	rm -rf $(VENV) .pytest_cache
