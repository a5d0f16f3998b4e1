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

.PHONY: setup system gpu models llama sillytavern run test bench clean

setup: system $(STAMP) gpu models llama sillytavern

system:
	@bash scripts/system_deps.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

# pip keeps an installed (or cached) CPU build of llama-cpp-python whatever CMAKE_ARGS says:
# with HEARTH_GPU=1, rebuild that one package from source if it cannot offload to a GPU.
GPU_CHECK := $(BIN)/python -c "import llama_cpp, sys; sys.exit(not llama_cpp.llama_supports_gpu_offload())"
gpu: $(STAMP)
ifeq ($(HEARTH_GPU),1)
	@$(GPU_CHECK) || { \
	  command -v nvcc >/dev/null || echo "HEARTH_GPU=1: nvcc is not on PATH; the CUDA toolkit is needed to build llama.cpp" >&2; \
	  v=$$($(BIN)/python -c "import importlib.metadata as m; print(m.version('llama-cpp-python'))"); \
	  echo "rebuilding llama-cpp-python $$v with $$CMAKE_ARGS (several minutes)"; \
	  $(BIN)/pip install --disable-pip-version-check --force-reinstall --no-cache-dir --no-deps "llama-cpp-python==$$v"; }
	@$(GPU_CHECK) || { echo "llama-cpp-python still has no GPU support: check the CUDA toolkit and the build log above" >&2; exit 1; }
endif

models:
	@$(BIN)/python scripts/install_models.py

# A native llama.cpp build can crash on some CPUs: probe it, rebuild it portable if so.
llama: models
	@$(BIN)/python scripts/check_llama.py

# SillyTavern (npm) for tests/sillytavern; never fails the build (those tests skip instead).
sillytavern:
	@bash scripts/sillytavern.sh

run: setup
	$(BIN)/hearth serve

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python scripts/bench_llm.py

clean:
	rm -rf $(VENV) .pytest_cache
