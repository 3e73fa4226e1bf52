# ctxkit: the two commands are `make demo` and `make test`.
#
# Every target creates .venv (python3 -m venv) when it is missing. `make demo` installs the
# core package and pytest (`.[demo]`: the demo's agent runs the sample repository's
# tests); `make test` installs every extra (`.[all]`: backends, memory, retrieval, the
# engine with torch==2.13.0 CPU, dev tools) so the whole suite runs. Installs rerun only when pyproject.toml changes (stamp files).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.ctxkit-installed
STAMP_ALL := $(VENV)/.ctxkit-installed-all

.PHONY: demo test lint bench docs install browser sandbox services clean help

help:
	@echo "make demo    run the coding-agent demo (offline unless an API key is set)"
	@echo "make test    run the whole test suite (installs .venv and chromium if needed)"
	@echo "make lint    ruff + mypy on the ctxkit package"
	@echo "make bench   run the benchmarks in bench/"
	@echo "make docs    build the documentation site into site/ (mkdocs --strict)"

$(PY):
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "could not create $(VENV) with" \
	    "$(PYTHON); on Debian/Ubuntu: apt-get install python3-venv (or PYTHON=python3.11)"; \
	    exit 1; }

# keyed on pyproject.toml: pip runs again only when the dependencies may have changed
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet --disable-pip-version-check -e '.[demo]'
	@touch $@

$(STAMP_ALL): pyproject.toml | $(PY)
	$(PIP) install --quiet --disable-pip-version-check -e '.[all]'
	@touch $@ $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m ctxkit demo

# The HTML report's browser test drives a headless Chromium when one is installed. Under
# CI=true a Chromium that cannot be installed fails the run: CI must not go green by skipping.
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
	    || command -v google-chrome >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "installing chromium (Debian package) for the HTML report's browser test"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	        >/dev/null; } \
	    || { if [ "$$CI" = true ]; then \
	        echo "make test: CI=true and chromium could not be installed (apt-get install" \
	             "chromium failed); the HTML report's browser test would skip. Fix the" \
	             "package source or install chromium in the CI image." >&2; exit 1; fi; \
	        echo "note: could not install chromium; the browser test will skip"; }; \
	elif [ "$$CI" = true ]; then \
	    echo "make test: CI=true and chromium is missing, and apt-get is not usable here" \
	         "(not root?); install chromium in the CI image so the browser test runs." >&2; \
	    exit 1; \
	else \
	    echo "note: chromium is missing and apt-get is not usable here (not root?);" \
	         "the HTML report's browser test will skip"; \
	fi

# Under CI=true the PostgreSQL tests must run too: .ci/run starts a throwaway server and
# sets CTXKIT_TEST_PG_URL.
services:
	@if [ "$$CI" = true ] && [ -z "$$CTXKIT_TEST_PG_URL" ]; then \
	    echo "make test: CI=true but CTXKIT_TEST_PG_URL is not set, so the PostgreSQL tests" \
	         "would skip. Run .ci/run (it starts a throwaway PostgreSQL) or point" \
	         "CTXKIT_TEST_PG_URL at a server." >&2; exit 1; \
	fi

# The agent tools' sandbox tests run commands under bubblewrap. Installed like chromium:
# under CI=true a bwrap that cannot be installed fails the run; one that is installed but
# cannot create namespaces here (a locked-down container) is reported, and those tests skip.
sandbox:
	@if command -v bwrap >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "installing bubblewrap (Debian package) for the agent tools' sandbox tests"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	        bubblewrap >/dev/null; } \
	    || { if [ "$$CI" = true ]; then \
	        echo "make test: CI=true and bubblewrap could not be installed; the sandbox" \
	             "tests would skip. Install bubblewrap in the CI image." >&2; exit 1; fi; \
	        echo "note: could not install bubblewrap; the sandbox tests will skip"; }; \
	elif [ "$$CI" = true ]; then \
	    echo "make test: CI=true and bwrap is missing, and apt-get is not usable here" \
	         "(not root?); install bubblewrap in the CI image." >&2; exit 1; \
	else \
	    echo "note: bwrap is missing and apt-get is not usable here (not root?);" \
	         "the sandbox tests will skip"; \
	fi; \
	if command -v bwrap >/dev/null 2>&1 && ! bwrap --ro-bind / / --unshare-all true \
	    >/dev/null 2>&1; then \
	    echo "note: bwrap cannot create a sandbox here (no user namespaces?);" \
	         "the sandbox tests will skip"; \
	fi

# -q comes from pyproject's addopts; a second -q would hide pytest's closing
# "N passed" line, which CI reads. Exit code 5 means no test was collected: a failure.
# -rs prints every skip with its reason. The docs site is built too (strictly), so a broken
# page or docstring fails `make test`.
test: $(STAMP_ALL) browser sandbox services
	@$(PY) -m pytest -rs; rc=$$?; \
	if [ $$rc -eq 5 ]; then \
	    echo "make test: pytest collected no tests; is tests/ missing or is the testpaths" \
	         "setting in pyproject.toml wrong?" >&2; exit 1; \
	fi; \
	$(MAKE) --no-print-directory docs || rc=$$((rc == 0 ? 1 : rc)); exit $$rc

# the site: concept pages plus an API reference generated from the docstrings
# (mkdocstrings); --strict turns every warning (a broken link, an unreadable docstring) into
# a failure
docs: $(STAMP_ALL)
	$(VENV)/bin/mkdocs build --strict --quiet

# both run, so one report shows every problem; either failing fails the target
lint: $(STAMP_ALL)
	@rc=0; $(VENV)/bin/ruff check ctxkit || rc=1; $(VENV)/bin/mypy ctxkit || rc=1; exit $$rc

bench: $(STAMP_ALL)
	@set -e; found=0; for f in bench/*.py; do \
	    [ -e "$$f" ] || continue; found=1; \
	    echo "== $$f"; $(PY) "$$f"; \
	done; \
	if [ $$found = 0 ]; then echo "no benchmarks in bench/ yet"; fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache ctxkit.egg-info site
