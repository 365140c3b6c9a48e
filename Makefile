VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: demo test bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/tierlift demo

test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

# Benchmarks (numbers; bench/decisions.py also fails on a safety count above 0).
bench: $(VENV)/.installed
	$(PY) bench/backtest.py
	$(PY) bench/decisions.py

clean:
	rm -rf $(VENV) *.egg-info
