# xyzfarm developer tasks. Every target works from a clean clone on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
BENCH_VENV ?= .venv-bench
XYZPY_VENV ?= .venv-xyzpy
PYTEST_ARGS ?=
SLURM_DIR := $(CURDIR)/build/slurm
SGE_DIR := $(CURDIR)/build/sge
SGE_ENV := SGE_ROOT=/var/lib/gridengine SGE_CELL=default
# the tests' SLURM keeps accounts (slurmdbd + MariaDB): sacct answers, and a task over its
# --mem is killed, so failure classes are read as on a production cluster
START_SLURM := XYZ_SLURM_ACCOUNTING=1 scripts/local-slurm.sh start $(SLURM_DIR)

.PHONY: help venv lint check test compat demo docs bench clean cluster-up cluster-down golden

help:
	@echo "make demo   run a real sweep and print a summary of the result file"
	@echo "make test   lint + the whole test suite + make compat"
	@echo "make lint   ruff (check and format) + strict mypy + the import contracts (lint-imports)"
	@echo "make check lint + every test that needs no scheduler, on two workers (~90 s): the inner loop"
	@echo "make compat run xyzpy 1.3.5's own farming tests, documented usage and public real usage"
	@echo "            against xyzfarm (fails on a difference)"
	@echo "make cluster-up / cluster-down   a local one-node SLURM and SGE for trying things"
	@echo "make golden regenerate the golden array-job scripts"
	@echo "make docs   rewrite the docs' parts written from the code, then build the site (warnings,"
	@echo "            cut tables, broken links and pages missing from the map are errors)"
	@echo "make bench  time xyzfarm against xyzpy 1.3.5 and a bare loop"
	@echo "make clean  remove virtual environments, build outputs and the demo's files"

# the venv is rebuilt whenever pyproject.toml changes
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,docs,plot]'
	touch $@

venv: $(BIN)/.installed

lint: venv
	$(BIN)/ruff check xyzfarm tests benchmarks scripts
	$(BIN)/ruff format --check xyzfarm tests benchmarks scripts
	for f in scripts/*.sh; do bash -n $$f || exit 1; done
	$(BIN)/mypy
	$(BIN)/lint-imports

# The inner loop: lint, then every test that needs no scheduler daemon and is not marked slow,
# on two workers (pytest-xdist): about 70 s here. `make test` runs everything.
check: lint
	# without the daemons even where make cluster-up runs: its tests share one node, not two workers
	env -u SLURM_CONF -u SGE_ROOT -u SGE_CELL $(BIN)/python -m pytest -q -p no:cacheprovider -n 2 -m "not slow"

# A real one-node SLURM, with accounting, runs for the duration of the tests (started and stopped by our own
# script, by pid). XYZ_REQUIRE_SLURM makes its tests fail, not skip, if it is not there.
# pytest exits 5 when it collected no test: that is a failure here, like any other non-zero.
# The working tree is snapshotted before the clusters start and checked after they stop
# (scripts/leftovers.sh): a run that leaves or changes any file there fails, listing them.
# Then xyzpy's own tests run against xyzfarm (the compat target, below; it needs no cluster
# and writes only under build/compat/ and a temporary folder), still inside the leftovers
# check. Every step runs whatever the one before gave; the first failure's status is kept.
LEFTOVERS_SNAPSHOT := build/worktree-before-test.txt
test: lint $(XYZPY_VENV)/.installed
	scripts/leftovers.sh snapshot $(LEFTOVERS_SNAPSHOT)
	$(START_SLURM)
	scripts/local-sge.sh start $(SGE_DIR) || { scripts/local-slurm.sh stop $(SLURM_DIR); exit 1; }
	SLURM_CONF=$(SLURM_DIR)/slurm.conf $(SGE_ENV) XYZ_REQUIRE_SLURM=1 XYZ_REQUIRE_SGE=1 \
	  $(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	  scripts/local-sge.sh stop $(SGE_DIR); scripts/local-slurm.sh stop $(SLURM_DIR); \
	  $(COMPAT); compat=$$?; \
	  scripts/leftovers.sh check $(LEFTOVERS_SNAPSHOT); left=$$?; \
	  for s in $$status $$compat $$left; do [ $$s -eq 0 ] || exit $$s; done

# xyzpy 1.3.5's tests/test_gen, downloaded from the package index at run time (pip download;
# build/compat/ caches the sdist, checked against its sha256), with only their import lines
# rewritten to xyzfarm, run in a temporary folder. Fails if a test does not pass, except the
# excluded tests of xyzpy's private helpers, skips for optional packages not installed, and
# the deliberate differences (scripts/compat.py DELIBERATE, docs/migrating-from-xyzpy.md),
# which must still fail. Then xyzpy's documented farming usage (README quick-start and farming
# notebooks, same sdist) runs cell by cell in a Jupyter kernel (scripts/compat_docs.py): fails
# if a cell outside its excluded list fails. COMPAT_ARGS go to pytest.
# Then public code using xyzpy's farming API (compat/real_usage/, each harness keeping a
# project's xyzpy calls, its computation replaced by a cheap stand-in) runs once with xyzpy
# 1.3.5 in its own venv and once with xyzfarm, each in a temporary folder, and the results are
# compared (scripts/compat_real.py): fails if one differs, except its DELIBERATE list. Both
# halves always run; the first failure's status is kept.
COMPAT_ARGS ?=
COMPAT = ( $(BIN)/python scripts/compat.py $(if $(COMPAT_ARGS),-- $(COMPAT_ARGS)); tests=$$?; \
  $(BIN)/python scripts/compat_real.py --xyzpy-python $(XYZPY_VENV)/bin/python; real=$$?; \
  if [ $$tests -ne 0 ]; then exit $$tests; fi; exit $$real )
compat: venv $(XYZPY_VENV)/.installed
	$(COMPAT)

# xyzpy 1.3.5 itself, for the real-usage comparison of `make compat`
$(XYZPY_VENV)/.installed:
	$(PYTHON) -m venv $(XYZPY_VENV)
	$(XYZPY_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(XYZPY_VENV)/bin/python -m pip install --quiet xyzpy==1.3.5 matplotlib h5netcdf
	touch $@

cluster-up:
	$(START_SLURM)
	scripts/local-sge.sh start $(SGE_DIR)
	@scripts/local-slurm.sh env $(SLURM_DIR); scripts/local-sge.sh env $(SGE_DIR)

cluster-down:
	scripts/local-sge.sh stop $(SGE_DIR)
	scripts/local-slurm.sh stop $(SLURM_DIR)

# regenerate the golden array-job scripts after a deliberate template change
golden: venv
	XYZ_REGENERATE_GOLDEN=1 $(BIN)/python -m pytest tests/test_render.py -q

demo: venv
	$(BIN)/python -m xyzfarm demo

# the command line reference, the errors page and the tutorial's page are rewritten from the
# parser, xyzfarm/errors.py and docs/tutorial.ipynb; scripts/docs_check.py (a mkdocs hook)
# then fails the build on a cut table, a broken link or a page missing from the map
docs: venv
	$(BIN)/python scripts/docs_reference.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site

$(BENCH_VENV)/.installed: pyproject.toml benchmarks/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e . -r benchmarks/requirements.txt
	touch $@

bench: $(BENCH_VENV)/.installed
	command -v strace >/dev/null || { apt-get update -qq && apt-get install -y -qq strace; }
	$(BENCH_VENV)/bin/python benchmarks/bench_foundation.py
	$(BENCH_VENV)/bin/python benchmarks/bench_crops.py
	$(BENCH_VENV)/bin/python benchmarks/bench_cycle.py
	$(BENCH_VENV)/bin/python benchmarks/bench_phases.py --cases 100000
	$(BENCH_VENV)/bin/python benchmarks/bench_phases.py --cases 1000000 --repeats 3
	$(BENCH_VENV)/bin/python benchmarks/bench_scale.py
	$(BENCH_VENV)/bin/python benchmarks/bench_metadata.py
	$(BENCH_VENV)/bin/python benchmarks/bench_checksums.py
	scripts/local-slurm.sh start $(SLURM_DIR)
	SLURM_CONF=$(SLURM_DIR)/slurm.conf $(BENCH_VENV)/bin/python benchmarks/bench_clusters.py; \
	  status=$$?; scripts/local-slurm.sh stop $(SLURM_DIR); exit $$status

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(XYZPY_VENV) build .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache \
	  xyzfarm-demo.h5* xyzfarm-demo.png
