# Two commands for a newcomer:  `make run`  (the agent search on the embedded LLM)  and  `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
HWNAS_DATA ?= ../shared/data
export HWNAS_DATA
# llama-cpp-python is compiled from source; a native build segfaults in its AMX kernel on some
# machines, so it is always built portably.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF

.PHONY: run test lint typecheck venv clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -q "llama-cpp-python>=0.3.16,<0.4"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -q -e ".[dev]"
	touch $@

venv: $(BIN)/.installed

run: venv
	$(BIN)/hwnas run --name demo --out runs

test: venv lint typecheck
	$(BIN)/pytest -q

lint: venv
	$(BIN)/ruff check hwnas agents graph tools prompts evals tests
	$(BIN)/ruff format --check hwnas agents graph tools prompts evals tests

# mypy reads module names from folders, and ours are mapped (agents/ -> hwnas.agents), so it checks
# a staged copy of the package laid out as it is installed.
typecheck: venv
	rm -rf build/typecheck
	$(BIN)/pip install -q --no-deps --no-build-isolation --target build/typecheck .
	cd build/typecheck && ../../$(BIN)/mypy --config-file ../../pyproject.toml -p hwnas

clean:
	rm -rf $(VENV) build *.egg-info
