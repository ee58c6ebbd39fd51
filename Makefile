# frobnoscope: `make demo` and `make test` work on a fresh machine (Debian/Ubuntu, Python 3.11).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# nerfstudio 1.1.5 needs numpy<2 (the main environment has numpy 2), so the extra gets an environment of its own
NS_VENV := .venv-nerfstudio
NS_STAMP := $(NS_VENV)/.installed
NS_CONSTRAINTS := models/nerfstudio/constraints.txt

.PHONY: install nerfstudio-env lint-imports test demo bench check-system clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py | check-system
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

nerfstudio-env: $(NS_STAMP)

$(NS_STAMP): pyproject.toml setup.py $(NS_CONSTRAINTS) | check-system
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(NS_VENV)
	$(NS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(NS_VENV)/bin/python -m pip install --quiet torch==2.13.0 torchvision==0.28.0
	$(NS_VENV)/bin/python -m pip install --quiet -c $(NS_CONSTRAINTS) -e '.[nerfstudio]'
	touch $(NS_STAMP)

# pyrender renders headless through EGL (Mesa's llvmpipe needs no GPU) or, failing that, OSMesa.
check-system:
	@if ldconfig -p | grep -q 'libEGL.so.1 ' && ldconfig -p | grep -q 'libGL.so.1 '; then :; \
	elif ldconfig -p | grep -q 'libOSMesa.so'; then :; \
	else echo "error: no headless OpenGL; install the Debian packages: sudo apt-get install libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri (or libosmesa6)"; exit 1; fi

# Layering and cycles ([tool.importlinter] in pyproject.toml). import-linter walks a package's directory, found through
# importlib; the editable install maps frobnoscope.engine -> engine/ (and so on) with an import hook, which leaves the
# namespace package `frobnoscope` no directory. So it gets a temporary one made of links, frobnoscope/<folder> ->
# <folder>/, one per top-level folder with an __init__.py (the folders setup.py packages).
PACKAGES := $(patsubst %/__init__.py,%,$(wildcard */__init__.py))

lint-imports: install
	@links=$$(mktemp -d) && mkdir $$links/frobnoscope && \
	for package in $(PACKAGES); do ln -s $(CURDIR)/$$package $$links/frobnoscope/$$package; done && \
	PYTHONPATH=$$links $(VENV)/bin/lint-imports --no-cache --no-logo; status=$$?; rm -rf $$links; exit $$status

test: install nerfstudio-env lint-imports
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict  # not --quiet: it hides the warnings that --strict counts
	FROB_NERFSTUDIO_PYTHON=$(CURDIR)/$(NS_VENV)/bin/python $(PY) -m pytest -q -n 2 tests

# the demo study: TAEF2 (or our conv autoencoder when its weights are missing) explored end to end; resumable
demo: install
	$(VENV)/bin/frob study run demo --out demo-workspace --workers 2

bench: install
	$(PY) bench/bench_scenes.py
	$(PY) bench/bench_export.py

clean:
	rm -rf $(VENV) $(NS_VENV) demo-workspace bench-data
