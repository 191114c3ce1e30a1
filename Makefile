# Set-up is two commands on a fresh machine: `make score` and `make test`.
# Each installs what it needs into .venv once.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

SUBMISSION ?= baselines/finetune.py
ORIGINALS ?=
BENCHMARK ?= digits-mlp
N ?= 512
SUBMISSIONS ?= submissions
# OUT and SPLIT default to the CLI's own defaults (results/BENCHMARK/NAME/, the public split).
OUT ?=
SPLIT ?=
ADAPTIVE ?=
TOP ?=
# DATA_DIR: the data of a cifar10 or imagefolder benchmark; SET: keys of the competition file over its values,
# separated by spaces (SET="training.epochs=1 runs.memory_gb=4").
DATA_DIR ?=
SET ?=
COMPETITION_FLAGS = $(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(foreach setting,$(SET),--set $(setting))
ADAPTIVE_FLAGS = $(if $(ADAPTIVE),--adaptive$(if $(TOP), --top $(TOP)),)
# ORIGINALS=K: a study of originals (score): K originals from K seeds, N/K runs from each (docs/stability.md).
ORIGINALS_FLAGS = $(if $(ORIGINALS),--originals $(ORIGINALS))

# make exits 2 whenever a recipe fails; this prints the harness's own exit code
# first (0 ok, 1 harness failed, 2 usage, 3 submission failed, 4 cache damaged, 5 yardstick not measured, 130 interrupted).
EXIT_CODE = || { code=$$?; echo "make: the harness exited with code $$code" >&2; exit $$code; }

.PHONY: schema install score references baselines leaderboard agreement stability originals intervals ceiling budget-reproducibility test test-fast lint docs-check install-check bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e '.[test,cluster,lint]'
	touch $@

score: $(STAMP)
	$(PY) -m harness score $(SUBMISSION) --benchmark $(BENCHMARK) $(COMPETITION_FLAGS) --n-models $(N) $(ORIGINALS_FLAGS) $(if $(OUT),--out $(OUT)) $(EXIT_CODE)

references: $(STAMP)
	$(PY) -m harness references --benchmark $(BENCHMARK) $(COMPETITION_FLAGS) --n-models $(N) $(EXIT_CODE)

# Scores every baseline against the shared references and writes docs/baselines.md.
baselines: $(STAMP)
	$(PY) -m harness leaderboard baselines --benchmark $(BENCHMARK) --n-models $(N) --out results/$(BENCHMARK)/baselines $(EXIT_CODE)
	mkdir -p docs && cp results/$(BENCHMARK)/baselines/leaderboard.md docs/baselines.md

# Scores every *.py and *.ipynb in SUBMISSIONS on a split (SPLIT=public|private|both; default the CLI's, public).
# ADAPTIVE=1 [TOP=K]: N is the maximum; entries get more models only where ranks are uncertain.
leaderboard: $(STAMP)
	$(PY) -m harness leaderboard $(SUBMISSIONS) --benchmark $(BENCHMARK) $(COMPETITION_FLAGS) --n-models $(N) $(if $(SPLIT),--split $(SPLIT)) $(ADAPTIVE_FLAGS) $(if $(OUT),--out $(OUT)) $(EXIT_CODE)

# Scores SUBMISSIONS (default here: the baselines) at N with the metric panel and writes docs/agreement.md: Kendall's
# tau between the metrics' rankings, with intervals (about 6 minutes on 2 cores where the runs are in the ledgers; hours if not).
AGREEMENT_OUT = results/$(BENCHMARK)/agreement-$(notdir $(abspath $(SUBMISSIONS)))
agreement: SUBMISSIONS = baselines
agreement: $(STAMP)
	$(PY) -m harness leaderboard $(SUBMISSIONS) --benchmark $(BENCHMARK) --n-models $(N) --out $(AGREEMENT_OUT) $(EXIT_CODE)
	$(PY) -m benchmarks.metric_agreement $(AGREEMENT_OUT) --write-doc

# Coverage of candidate 95% intervals for F where the true value is known; writes the table into
# docs/uncertainty.md (about 15 minutes on 2 quiet cores, 34 on a loaded machine).
intervals: $(STAMP)
	$(PY) -m benchmarks.interval_coverage --jobs 2 --write-doc

# F between disjoint sets of N retrained models (the ceiling at each N); writes its table into docs/uncertainty.md.
ceiling: $(STAMP)
	$(PY) -m benchmarks.ceiling --benchmark $(BENCHMARK) --write-doc

# The baselines near the budget's line, each scored three times at N = 128 (quiet, then twice beside two busy
# loops): do their verdicts hold? Writes its table into docs/organisers.md (about 25 minutes on 2 cores).
budget-reproducibility: $(STAMP)
	$(PY) -m benchmarks.budget_reproducibility --write-doc

# Ranks SUBMISSIONS (default here: the baselines) at each N of N (default here: 32,...,512), subsampling the
# largest N's runs, and writes its section of docs/stability.md, docs/stability.png and harness/baseline_scores.json (its figures).
STABILITY_OUT = results/$(BENCHMARK)/stability-$(notdir $(abspath $(SUBMISSIONS)))
stability: SUBMISSIONS = baselines
stability: N = 32,64,128,256,512
stability: $(STAMP)
	$(PY) -m harness stability $(SUBMISSIONS) --benchmark $(BENCHMARK) --n-models $(N) --bootstrap 0 --out $(STABILITY_OUT) $(EXIT_CODE)
	$(PY) -m benchmarks.doc_tables docs/stability.md "stability over N: make stability" $(STABILITY_OUT)/stability.md
	cp $(STABILITY_OUT)/stability.png docs/stability.png
	cp $(STABILITY_OUT)/stability.json harness/baseline_scores.json  # the figures the console quotes, shipped as package data

# Ranks SUBMISSIONS (default here: the baselines) by each of ORIGINALS originals at N (default here: 4 and 256), and writes
# its section of docs/stability.md and docs/originals.png (about 15 minutes on 2 cores with no runs kept).
ORIGINALS_OUT = results/$(BENCHMARK)/originals-$(notdir $(abspath $(SUBMISSIONS)))
originals: SUBMISSIONS = baselines
originals: N = 256
originals: ORIGINALS = 4
originals: $(STAMP)
	$(PY) -m harness stability $(SUBMISSIONS) --benchmark $(BENCHMARK) --n-models $(N) --originals $(ORIGINALS) --out $(ORIGINALS_OUT) $(EXIT_CODE)
	$(PY) -m benchmarks.doc_tables docs/stability.md "stability over originals: make originals" $(ORIGINALS_OUT)/stability.md
	cp $(ORIGINALS_OUT)/originals.png docs/originals.png

# Two pytest processes, each taking whole files, so that a file's shared fixtures are built once: most of
# the suite is process start-up and single-threaded scoring, which leaves the second core idle.
TEST_JOBS ?= 2
test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder --durations=25

# The fast tier, to run after every change: the tests of no tier (tests/conftest.py): no sandbox, references, cluster, GPU or CLI subprocess.
test-fast: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_JOBS) -m "not (sandbox or references or cluster or gpu or cli)"

# score.json's JSON Schema, from its types (scoring/document.py), after a change to them; a test fails until it is run.
schema: $(STAMP)
	$(PY) -m tools.score_schema

# ruff and mypy (strict on scoring/ and the sandbox protocol), configured in pyproject.toml: clean on every commit
# (.ci/run runs it before the tests; .pre-commit-config.yaml runs the same before each commit once `pre-commit install`).
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

# Runs every command in README.md and docs/*.md (small N, a scratch copy of the project).
docs-check: $(STAMP)
	$(PY) tools/docs_check.py

# A fresh clone installed with `pip install .` (not editable) into a fresh venv scores from another
# directory, sandboxed (tools/install_check.sh; a few minutes, so not part of make test).
install-check:
	tools/install_check.sh

bench: $(STAMP)
	$(PY) benchmarks/metric_speed.py
	$(PY) benchmarks/reference_speed.py
	$(PY) benchmarks/protocol_cost.py --benchmark cifar10-cnn-small
	$(PY) benchmarks/protocol_cost.py --benchmark cifar10-resnet18
	$(PY) benchmarks/budget_under_load.py
	$(PY) benchmarks/ledger_bytes.py
	$(PY) benchmarks/board_rerun.py
	$(PY) benchmarks/score_breakdown.py

clean:
	rm -rf results .cache
