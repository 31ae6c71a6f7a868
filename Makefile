# Two targets do all the set-up on a fresh machine that has python3 and make:
#   make demo   creates .venv, installs skmoe and runs the main job (python -m skmoe compare)
#               on its generated default, then on a real data set (diabetes)
#   make test   creates .venv, installs skmoe with its test extras and runs the whole suite
#   make docs   creates .venv, installs skmoe with its docs extras and builds the Sphinx site
#               into docs/_build/html, with every warning an error
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

$(VENV)/.installed-docs: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/python -m skmoe compare --out build/demo
	$(BIN)/python -m skmoe compare --dataset diabetes --out build/demo-diabetes

lint: $(VENV)/.installed-test
	$(BIN)/ruff check skmoe tests benchmarks

test: lint
	$(BIN)/python -m pytest

docs: $(VENV)/.installed-docs
	rm -rf docs/_build
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) build docs/_build *.egg-info
