# The course's two commands: `make book` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ASSIGNMENTS := $(notdir $(wildcard solutions/*))

.PHONY: install book book-cache test test-fast lab assignments checkpoints sync-notebooks check-notebooks clean

install: $(STAMP)

# (Re)create the virtual environment when the pins change.
$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python 3.10 or newer is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt
	$(BIN)/python -m pip install --no-deps -e .
	touch $(STAMP)

## Build the executed website into _build/html.
book: install book-cache
	$(BIN)/jupyter-book build .
	@echo "Website: _build/html/index.html"

# jupyter-book's execution cache is keyed by the notebooks' code, not by the run
# budget (fast, cpu or gpu: course_utils.runtime.run_mode). Clear it when the
# budget differs from the one it was filled with, so a COURSE_FAST=1 build never
# leaves tiny-budget results in the website.
book-cache:
	@mode=$$($(BIN)/python -c 'from course_utils.runtime import run_mode; print(run_mode())') || exit 1; \
	stamp=_build/.jupyter_cache.budget; before=$$(cat $$stamp 2>/dev/null || echo unknown); \
	if [ -d _build/.jupyter_cache ] && [ "$$before" != "$$mode" ]; then \
		echo "run budget '$$mode': clearing the execution cache filled with budget '$$before'"; \
		rm -rf _build/.jupyter_cache; \
	fi; \
	mkdir -p _build && echo "$$mode" > $$stamp

## Run the whole test suite (unit, notebooks, grading round trips, site build), in TEST_JOBS pytest
## processes (tests that share a costly fixture stay in one: tests/conftest.py, group_of).
TEST_JOBS ?= 2
test: install
	$(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadgroup --no-loadscope-reorder

## Only the fast unit tests.
test-fast: install
	$(BIN)/python -m pytest -m "not notebooks and not grading and not book"

## JupyterLab on the course.
lab: install
	$(BIN)/jupyter lab

## Regenerate assignments/ from solutions/ with nbgrader. Each release is
## generated into a scratch folder first, so a failure never deletes the old one.
assignments: install
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	for a in $(ASSIGNMENTS); do \
		echo "generate_assignment $$a"; \
		PATH="$(abspath $(BIN)):$$PATH" COURSE_GRADING_DIR="$$tmp/grading" $(BIN)/nbgrader generate_assignment "$$a" --force \
			--CourseDirectory.release_directory="$$tmp/release" ; \
		rm -rf "assignments/$$a"; mkdir -p assignments; cp -r "$$tmp/release/$$a" "assignments/$$a"; \
	done

## Retrain every shipped checkpoint (course_utils/weights) with the course's own training code and
## rewrite its record; `make checkpoints NAMES="vae_mnist"` rebuilds only those named.
checkpoints: install
	$(BIN)/python -m course_utils.checkpoints build $(NAMES)

## Rewrite the Colab set-up cells from _config.yml and strip outputs.
sync-notebooks: install
	$(BIN)/python tests/nbtools.py sync

check-notebooks: install
	$(BIN)/python tests/nbtools.py check

clean:
	rm -rf _build grading .pytest_cache
