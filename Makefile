# The two commands: `make demo` and `make test`. Everything else is set up by them.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
IVY    := $(CURDIR)/.ivy
STAMP  := $(VENV)/.installed
JARS   := $(IVY)/jars/.resolved-with-s3a
CHROMIUM := /usr/bin/chromium

# Tests and the demo use the jars resolved once into .ivy/jars: nothing downloads mid-run.
export FANOUT_DELTA_JARS_DIR := $(IVY)/jars
export FANOUT_S3A_JARS_DIR := $(IVY)/s3a/jars
export PYSPARK_PYTHON := $(CURDIR)/$(BIN)/python

.PHONY: setup demo demo-clean test lint typecheck unit matrix soak bench bench-quick clean

setup: $(STAMP) $(JARS) $(CHROMIUM)

# Headless Chromium for the UI tests (Playwright drives the machine's Debian build: no browser
# download); installed once by the project's setup, as root on a fresh machine.
$(CHROMIUM):
	apt-get install -y -q chromium || (apt-get update -q && apt-get install -y -q chromium)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	rm -rf airflow_fanout.egg-info  # the editable install's metadata lives in .venv; a copy here is a second "distribution"
	touch $@

$(JARS): $(STAMP)
	$(BIN)/airflow-fanout fetch-jars --ivy $(IVY)
	touch $@

demo: setup
	$(BIN)/python -m airflow_fanout.examples.demo --root .demo

demo-clean:
	rm -rf .demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check airflow_fanout tests benchmarks dags

typecheck: $(STAMP)
	$(BIN)/mypy

# Two workers (pytest-xdist): most tests wait on a JVM or spark-submit part of the time; the
# slow ones are collected first so they overlap with the rest (tests/conftest.py), and an idle
# worker steals queued tests from a busy one.
test: setup lint typecheck
	$(BIN)/pytest -n 2 --dist worksteal

unit: $(STAMP)
	$(BIN)/pytest tests/unit

# The install matrix (tests/matrix/): the built wheel in a fresh virtualenv per Python 3.10-3.13 x
# Airflow 3.2.2 (the oldest declared) and 3.3.2 (the newest), with Airflow's constraints for that
# Python; the Airflow side alone, a DAG run submitting to a Spark elsewhere, then the [spark] extra,
# the unit tests and a DAG run on the cell's own Spark. About 20 minutes on 2 cores; writes
# docs/install-matrix.md. `make test` runs two cells of it (oldest and newest, Airflow side).
MATRIX_PYTHONS ?= 3.10,3.11,3.12,3.13
MATRIX_AIRFLOWS ?= 3.2.2,3.3.2
matrix: setup
	$(BIN)/python -m tests.matrix --python $(MATRIX_PYTHONS) --airflow $(MATRIX_AIRFLOWS)

# 200 random SIGKILLs of the driver, then a comparison with a clean run (about an hour on 2 cores).
SOAK_KILLS ?= 200
SOAK_S3_KILLS ?= 40
soak: setup
	FANOUT_KILLS=$(SOAK_KILLS) $(BIN)/pytest -s tests/reliability/test_kill_loop.py
	FANOUT_S3_KILLS=$(SOAK_S3_KILLS) $(BIN)/pytest -s tests/s3/test_kill_loop_s3.py

# Benchmarks (benchmarks/, BENCHMARKS.md): every contender on the same data in one run; nothing
# else should run on the machine meanwhile. bench-quick: small sizes, about 4 minutes.
bench: setup
	$(BIN)/python -m benchmarks

bench-quick: setup
	$(BIN)/python -m benchmarks --quick

clean:
	rm -rf $(VENV) $(IVY) .demo .matrix .mypy_cache .ruff_cache .pytest_cache
