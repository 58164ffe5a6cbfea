# hicra: the two commands of the README, each doing all of its own set-up.
#   make demo   -> creates .venv, installs hicra, runs the offline GRPO vs HICRA demo
#   make test   -> creates .venv, installs hicra with test extras, runs the fast test suite;
#                  then the verl plug-in's CPU tests in a second venv (.venv-verl), because
#                  verl 0.9.1 pins transformers<5.11 and would downgrade the main one
# GPU users: override the torch build, e.g.  make test TORCH_SPEC="torch==2.9.1"
#   (or TORCH_SPEC="" to keep whatever torch the venv already has).

PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
EXTRAS     ?= all
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.hicra-installed
VERL_VENV  ?= .venv-verl
VERL_SPEC  ?= verl==0.9.1 TransferQueue==0.1.11 cachetools fastapi uvicorn
VERL_STAMP := $(VERL_VENV)/.hicra-installed

.PHONY: install demo demo-quick test test-core test-verl test-slow bench lint clean

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

$(VERL_STAMP): pyproject.toml Makefile
	test -x $(VERL_VENV)/bin/python || $(PYTHON) -m venv $(VERL_VENV)
	$(VERL_VENV)/bin/python -m pip install --quiet --upgrade pip
	if [ -n "$(TORCH_SPEC)" ]; then $(VERL_VENV)/bin/python -m pip install --quiet "$(TORCH_SPEC)"; fi
	$(VERL_VENV)/bin/python -m pip install --quiet $(VERL_SPEC) "math-verify>=0.8" "pyahocorasick>=2.1" "pytest>=8"
	$(VERL_VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $(VERL_STAMP)

test: test-core test-verl

test-core: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

# verl's CPU tests (its DataProto, its real _compute_advantage, its reward loader); they skip
# in the main venv, which has no verl.
test-verl: $(VERL_STAMP)
	$(VERL_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/integrations/verl -m "slow or not slow"

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow $(PYTEST_ARGS)

# The smoke-size run (--quick) of every benchmark that has one, results under benchmarks/out/
# (~3 min on 2 cores); the full runs and their runtimes are listed in benchmarks/README.md.
BENCH_QUICK := bench_efficiency bench_speed_vs_trl bench_scaling bench_gpu
bench: $(STAMP)
	set -e; for b in $(BENCH_QUICK); do echo "== $$b --quick"; $(PY) benchmarks/$$b.py --quick; done

# Lint (ruff, settings in pyproject.toml). Not part of `make test`.
lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks conftest.py

clean:
	rm -rf $(VENV) $(VERL_VENV) build src/*.egg-info .pytest_cache
