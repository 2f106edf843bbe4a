# Batch entry point. `make all` builds everything for STUDY; each stage rebuilds only when its inputs changed.
STUDY   ?= iscalimab-ln
# The first supported interpreter on PATH (3.11, 3.12, 3.13); override with PYTHON=python3.12.
SUPPORTED_PYTHONS := python3.11 python3.12 python3.13 python3
PYTHON  ?= $(shell for p in $(SUPPORTED_PYTHONS); do $$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' >/dev/null 2>&1 && { echo $$p; break; }; done)
SEED    ?=
SDTM    ?=
# PREVIOUS=DIR: the report compares with that run's outputs instead of the copy it keeps.
PREVIOUS ?=
# PROJECT=DIR: a folder of your own with specs/<study>/ and mappings/<study>/ (docs/new-study.md)
PROJECT ?=
PROJECT_DIR := $(if $(PROJECT),$(PROJECT),.)
# ENGINE=dask runs sdtm, validate and adam on a dask.distributed cluster (SCHEDULER=ADDRESS: an existing one)
ENGINE  ?=
SCHEDULER ?=
ENGINE_ARGS = $(if $(ENGINE),--engine $(ENGINE)) $(if $(SCHEDULER),--scheduler $(SCHEDULER))
OUT     ?= $(PROJECT_DIR)/outputs/$(STUDY)
RAW     ?= $(OUT)/raw
VENV    := .venv
PY      := $(VENV)/bin/python
LOCK    := requirements.lock
# The stamp names the interpreter's version, so another PYTHON (or a new lock) rebuilds .venv from scratch.
PYVER   := $(shell $(PYTHON) -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null)
STAMP   := $(VENV)/.installed-$(PYVER)
CLI     := $(PY) -m pipeline
ARGS    := --study $(STUDY) --outputs $(OUT) --raw $(RAW) $(if $(PROJECT),--project $(PROJECT))

CODE       = $(shell find pipeline -name '*.py' -o -name '*.j2' -o -name '*.yaml' -o -name '*.json' -o -name '*.xsl' 2>/dev/null)
STUDY_SPEC = $(wildcard $(PROJECT_DIR)/specs/$(STUDY)/*.yaml) $(wildcard specs/standards/*) $(wildcard $(PROJECT_DIR)/specs/standards/*)
MAPPINGS   = $(wildcard $(PROJECT_DIR)/mappings/$(STUDY)/*.yaml)

# Each stage's completion marker, written by the stage itself after its outputs are swapped in
# (pipeline/common/staging.py): a stage that dies leaves no marker, so make reruns it.
DONE       := $(OUT)/.done
RAW_DONE   := $(DONE)/simulate.json
# A study with specs/<study>/simulation.yaml starts from simulated raw exports; one without it
# (sources.sdtm in study.yaml, e.g. cdiscpilot01) imports existing SDTM, so sdtm needs no simulate.
# Your own exports (RAW=DIR other than $(OUT)/raw) are never simulated over: sdtm depends on their files.
SIM_SPEC   := $(wildcard $(PROJECT_DIR)/specs/$(STUDY)/simulation.yaml)
USER_RAW   := $(filter-out $(OUT)/raw,$(RAW))
# SDTM=DIR imports a folder of existing SDTM (XPT, sas7bdat, parquet, Dataset-JSON) instead of mapping.
SDTM_INPUT := $(if $(SDTM),$(shell find $(SDTM) -type f 2>/dev/null),$(if $(USER_RAW),$(shell find $(USER_RAW) -type f 2>/dev/null),$(if $(SIM_SPEC),$(RAW_DONE))))
SDTM_DONE  := $(DONE)/sdtm.json
VALID_DONE := $(DONE)/validate-sdtm.json
ADAM_DONE  := $(DONE)/adam.json
ADAM_VALID := $(DONE)/validate-adam.json
TLF_DONE   := $(DONE)/tables.json
SUB_DONE   := $(DONE)/submission.json
REPORT_DONE:= $(DONE)/report.json

.PHONY: all install venv lock simulate sdtm validate validate-adam adam tables submission report specs-check verify-submission test bench clean distclean help

help:
	@echo "make all [STUDY=iscalimab-ln]   set up .venv, simulate, run every stage"
	@echo "make test                       run the test suite"
	@echo "make bench [SIZES=...] [ENGINES=...]  speed and memory benchmarks (outputs/bench/results.json)"
	@echo "stages: simulate sdtm validate adam tables submission report specs-check"
	@echo "make verify-submission [DIR=...]  re-check a submission folder against its manifest.json"
	@echo "make lock                       refresh requirements.lock from pyproject.toml (network)"
	@echo "make clean | distclean          remove STUDY's outputs | .venv and all outputs"

all: tables submission report

install venv: $(STAMP)

# Installs exactly what the lock says (hash-checked), then the project itself without resolving anything.
$(STAMP): $(LOCK) pyproject.toml
	@test -n "$(PYVER)" || { echo "error: no supported Python (3.11-3.13) found; set PYTHON=/path/to/python3.x" >&2; exit 2; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

# Refresh the lock on purpose: one universal file for every supported Python, with hashes.
# Build tools (setuptools, wheel) are locked too, since the project is installed without isolation.
lock:
	$(PYTHON) -m venv .lock-tools && .lock-tools/bin/python -m pip install --quiet uv
	printf 'setuptools>=68\nwheel\n' | .lock-tools/bin/uv pip compile pyproject.toml - --extra test \
		--universal --python-version 3.11 --generate-hashes --quiet -o $(LOCK)
	rm -rf .lock-tools

# --- stages -----------------------------------------------------------------------------------
simulate: $(RAW_DONE)
$(RAW_DONE): $(STAMP) $(filter pipeline/simulate/% pipeline/common/%,$(CODE)) $(STUDY_SPEC)
	$(CLI) simulate $(ARGS) $(if $(SEED),--seed $(SEED))

sdtm: $(SDTM_DONE)
$(SDTM_DONE): $(SDTM_INPUT) $(MAPPINGS) $(STUDY_SPEC) $(filter pipeline/ingest/% pipeline/sdtm/% pipeline/common/%,$(CODE))
	$(CLI) sdtm $(ARGS) $(if $(SDTM),--sdtm $(SDTM)) $(ENGINE_ARGS)

validate: $(VALID_DONE)
$(VALID_DONE): $(SDTM_DONE) $(STUDY_SPEC) $(filter pipeline/validate/%,$(CODE))
	$(CLI) validate $(ARGS) --pass sdtm $(ENGINE_ARGS)

specs-check: $(STAMP)
	$(CLI) specs-check $(ARGS)

adam: $(ADAM_DONE)
$(ADAM_DONE): $(VALID_DONE) $(STUDY_SPEC) $(filter pipeline/adam/%,$(CODE))
	$(CLI) adam $(ARGS) $(ENGINE_ARGS)

# Second pass: SDTM and ADaM together (cross-dataset traceability), gated like the first.
validate-adam: $(ADAM_VALID)
$(ADAM_VALID): $(ADAM_DONE)
	$(CLI) validate $(ARGS) --pass adam $(ENGINE_ARGS)

tables: $(TLF_DONE)
$(TLF_DONE): $(ADAM_VALID) $(STUDY_SPEC) $(filter pipeline/analysis/% pipeline/tlf/%,$(CODE))
	$(CLI) tables $(ARGS)

submission: $(SUB_DONE)
$(SUB_DONE): $(ADAM_DONE) $(TLF_DONE) $(STUDY_SPEC) $(filter pipeline/submit/%,$(CODE))
	$(CLI) submission $(ARGS)

# Re-check a package folder (default: this study's) against its manifest.json: exit 2, one line per problem.
verify-submission: $(STAMP)
	$(CLI) verify-submission $(or $(DIR),$(OUT)/submission)

report: $(REPORT_DONE)
$(REPORT_DONE): $(SUB_DONE) $(ADAM_VALID) $(TLF_DONE) $(filter pipeline/report/%,$(CODE))
	$(CLI) report $(ARGS) $(if $(PREVIOUS),--previous $(PREVIOUS))

# --- quality ----------------------------------------------------------------------------------
test: $(STAMP)
	$(PY) -m pytest -n 2 -q

# SIZES="57 2000" (subjects) and ENGINES="pandas dask" pick a subset of the scale runs (outputs/bench/results.json).
bench: $(STAMP)
	$(PY) bench/run.py $(if $(SIZES),--sizes $(SIZES)) $(if $(ENGINES),--engines $(ENGINES))

clean:
	rm -rf outputs/$(STUDY)

distclean:
	rm -rf $(VENV) .lock-tools
	find outputs -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
