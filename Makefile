# Two commands for a fresh machine (see README.md):
#   make run    set everything up (once) and open the viewer on the bundled sample study
#   make test   set everything up (once) and run the test suite
# Both create and reuse .venv in this folder; rerunning is cheap and safe.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test setup lint bundle clean-venv

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: the CPU wheel; a bare `torch` would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/ichviewer --demo

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check ichmodel ichviewer tests bench

bundle: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[build]'
	bash installer/build.sh

clean-venv:
	rm -rf $(VENV)
