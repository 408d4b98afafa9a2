# Two entry points, each doing all the set-up on a fresh machine:
#   make search   a search on the bundled NAS-Bench-201 data
#   make test     the test suite
# The venv, dependencies and compiled library are stamped, so a second run rebuilds nothing when
# nothing changed. Torch is pinned and the build runs without isolation: an unpinned torch in an
# isolated build environment would download a multi-GB CUDA build.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
DEPS_STAMP := $(VENV)/.nasfast-deps
BUILD_STAMP := $(VENV)/.nasfast-build
NATIVE_SOURCES := $(shell find csrc cmake -type f) CMakeLists.txt pyproject.toml

SEARCH_ARGS ?= --space nb201 --dataset cifar10 --algo rea --budget 200 --seed 0 --out runs/nb201-cifar10-rea-seed0 --resume

.PHONY: search test build clean

search: $(BUILD_STAMP)
	$(VENV)/bin/nasfast search $(SEARCH_ARGS)

test: $(BUILD_STAMP)
	$(PY) -m pytest python_tests

build: $(BUILD_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(DEPS_STAMP): pyproject.toml | $(PY)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install "torch==$(TORCH_VERSION)"
	$(PY) -m pip install "scikit-build-core>=0.10" "cmake>=3.26" ninja numpy matplotlib tqdm \
		scikit-learn pytest hypothesis nas-bench-201 scipy ruff
	touch $@

$(BUILD_STAMP): $(DEPS_STAMP) $(NATIVE_SOURCES)
	$(PY) -m pip install --no-build-isolation --no-deps -e .
	touch $@

clean:
	rm -rf build $(BUILD_STAMP)
