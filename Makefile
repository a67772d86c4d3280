# The README's two commands. Both create .venv on first use and reinstall only when
# pyproject.toml changes.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# The embedded demo: a local MEXC-like simulator on 127.0.0.1:8800, a check against it, the
# busiest markets, a paper order, the screen and X-ray, backtests, a risk explanation and
# three paper users trading. Nothing leaves this machine. Ctrl-C stops it.
demo: $(VENV)/.installed
	$(BIN)/xraybot demo $(DEMO_ARGS)

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $@

test: $(VENV)/.installed-dev
	$(BIN)/ruff check
	$(BIN)/ruff format --check
	$(BIN)/mypy src
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check
	$(BIN)/ruff format --check

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache build
