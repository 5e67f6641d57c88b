# Two commands for a fresh machine (see README.md):
#   make run    set everything up (once) and open the viewer on the bundled sample study
#   make test   set everything up (once) and run the test suite
#   make research-demo-tiny   the demo-model pipeline (research/demo_model) at toy size, ~10 s
# Both create and reuse .venv in this folder; rerunning is cheap and safe.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test setup lint bundle clean-venv research-demo-tiny

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: the CPU wheel; a bare `torch` would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	@$(BIN)/python -m ichviewer.desktop_check  # the X11 libraries Qt needs (README: Desktop)
	$(BIN)/ichviewer --demo

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check ichmodel ichviewer tests bench research tools

# Every stage of how the demo model was made (phantoms, train, choose, finalize, pointing game,
# fine-tune, calibrate) on a handful of tiny phantoms: checks the research code still runs.
# Its models go to DEMO_TINY_WORK, never to resources/. The real runs: research/demo_model/README.md
DEMO_TINY_WORK ?= /tmp/ich_demo_tiny
research-demo-tiny: $(STAMP)
	rm -rf $(DEMO_TINY_WORK)
	$(BIN)/python -m research.demo_model tiny --work $(DEMO_TINY_WORK)

bundle: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[build]'
	bash installer/build.sh

clean-venv:
	rm -rf $(VENV)
