VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: demo test bench browser wrk clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/tierlift demo

test: $(VENV)/.installed browser
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

# The headless browser of the /admin test (tests/test_admin_browser.py): Debian's chromium,
# installed once when missing (CI: a fresh Debian machine, as root). Without root or apt-get it
# says so, and that test is skipped.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    chromium fonts-dejavu-core >/dev/null; } || \
	echo "make browser: chromium is not installed (needs root and apt-get); the browser test will be skipped"

# Benchmarks (numbers; bench/decisions.py also fails on a safety count above 0; bench/faults.py
# on any delivery lost, ticket written twice or stall, and restarts the PostgreSQL cluster twice;
# bench/scale.py and bench/two_receivers.py on any ticket written twice or delivery lost; the
# full-size scale-out and history-read figures are in docs/performance.md with their commands).
bench: $(VENV)/.installed wrk
	$(PY) bench/intake.py
	$(PY) bench/backtest.py
	$(PY) bench/decisions.py
	$(PY) bench/evaluate.py --rounds 3
	$(PY) bench/history.py --sizes 1000,10000,100000
	$(PY) bench/deadlines.py
	$(PY) bench/faults.py
	$(PY) bench/scale.py --tickets 300 --layouts 1x1,1x2,1x4
	$(PY) bench/two_receivers.py
	$(PY) bench/ack_latency.py --tickets 100 --rate 5

# The load generator of bench/intake.py: Debian's wrk, installed once when missing.
wrk:
	@command -v wrk >/dev/null || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk \
	    >/dev/null; } || echo "make wrk: wrk is not installed (needs root and apt-get)"

clean:
	rm -rf $(VENV) *.egg-info
