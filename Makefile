# frobnoscope: `make demo` and `make test` work on a fresh machine (Debian/Ubuntu, Python 3.11).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# nerfstudio 1.1.5 needs numpy<2 (the main environment has numpy 2), so the extra gets an environment of its own
NS_VENV := .venv-nerfstudio
NS_STAMP := $(NS_VENV)/.installed
NS_CONSTRAINTS := models/nerfstudio/constraints.txt

.PHONY: install nerfstudio-env lint-imports browser test demo bench bench-app mutation check-system clean

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

# tests/app/web/test_browser.py drives Debian's chromium (Playwright with executable_path, never `playwright install`).
# Installed here when it can be (root, apt-get); otherwise a note, and that test skips (where FROB_REQUIRE_BROWSER=1,
# as in .ci/run, it fails instead). Never fails the make.
CHROMIUM := /usr/bin/chromium

browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium (apt-get) for the browser test"; export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } \
		|| echo "note: could not install chromium (apt-get install chromium failed); the browser test will skip"; \
	else echo "note: no $(CHROMIUM) and no root apt-get to install it (sudo apt-get install chromium); the browser test will skip"; fi

test: install nerfstudio-env lint-imports browser
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict  # not --quiet: it hides the warnings that --strict counts
	FROB_NERFSTUDIO_PYTHON=$(CURDIR)/$(NS_VENV)/bin/python $(PY) -m pytest -q -n 2 tests

# the demo study: TAEF2 (or our conv autoencoder when its weights are missing) explored end to end; resumable.
# Then the app on it (the URL and how to stop it are the last lines printed); `make demo NO_APP=1` stops before.
APP_PORT ?= 8501

demo: install
	$(VENV)/bin/frob study run demo --out demo-workspace --workers 2
	@if [ -z "$(NO_APP)" ]; then $(VENV)/bin/frob app demo-workspace --port $(APP_PORT); fi

bench: install browser
	$(PY) bench/bench_scenes.py
	$(PY) bench/bench_export.py
	$(PY) bench/bench_app.py
	$(PY) bench/bench_device.py
	$(PY) bench/bench_derived_gt.py

# the app on 16,384 features (its workspace is made once under bench-data/: 12 minutes); start-up needs chromium
bench-app: install browser
	$(PY) bench/bench_app.py

# mutation testing of the modules that compute numbers (not part of `make test`; about 3 s a mutant on 2 cores):
# bench/mutation.py forks one child per mutant and runs that module's fast tests; the figures land in
# docs/results/mutation.json, summarised in docs/results/mutation.md and BENCHMARKS.md
mutation: install
	$(PY) bench/mutation.py --report docs/results/mutation.json

clean:
	rm -rf $(VENV) $(NS_VENV) demo-workspace bench-data
