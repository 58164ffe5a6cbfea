# hicra: the two commands of the README, each doing all of its own set-up.
#   make demo   -> creates .venv, installs hicra, runs the offline GRPO vs HICRA demo
#   make test   -> creates .venv, installs hicra with test extras, runs the fast test suite
# GPU users: override the torch build, e.g.  make test TORCH_SPEC="torch==2.9.1"
#   (or TORCH_SPEC="" to keep whatever torch the venv already has).

PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
EXTRAS     ?= all
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.hicra-installed

.PHONY: install demo demo-quick test test-slow bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	if [ -n "$(TORCH_SPEC)" ]; then $(PY) -m pip install --quiet "$(TORCH_SPEC)"; fi
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/hicra demo $(DEMO_ARGS)

demo-quick: $(STAMP)
	$(VENV)/bin/hicra demo --quick $(DEMO_ARGS)

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
