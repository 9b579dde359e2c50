# The two commands: `make test` and `make demo`. Each sets up .venv itself.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ACE_STAMP := benchmarks/ace_app/node_modules/.dac-installed

.PHONY: help venv test test-fast demo demo-serve serve lint format typecheck docs migrations-check bench bench-servers bench-deps soak package clean

help:
	@echo "make test     set up .venv and run the whole test suite"
	@echo "make demo     set up .venv and run the example app end to end against a simulated site"
	@echo "make demo-serve  install the example app into the simulated site and leave both running"
	@echo "                 (PROJECT=path/to/manage.py: your own project instead)"
	@echo "make serve    run the example project on http://127.0.0.1:8000"
	@echo "make lint     ruff + mypy"
	@echo "make docs     build the Sphinx docs (warnings are errors)"
	@echo "make bench    run the benchmarks and write docs/performance.md and docs/_generated/servers.inc"
	@echo "make bench-servers  only the server comparison (gunicorn, granian, uvicorn, ACE; ~13 min)"
	@echo "make soak     10 minutes of mixed traffic while Redis and PostgreSQL restart (root or sudo)"
	@echo "make package  build the sdist and wheel, install the wheel in a clean venv, run the example from it"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev,celery]"
	@touch $(STAMP)

venv: $(STAMP)

# coverage run (not pytest-cov): the pytest plugin imports the package before pytest-cov starts.
test: $(STAMP)
	$(PY) -m coverage erase
	$(PY) -m coverage run -m pytest
	$(PY) -m coverage report

test-fast: $(STAMP)
	$(PY) -m pytest -q -x -m "not e2e"

demo: $(STAMP)
	$(PY) example_project/demo.py

# PROJECT=path/to/manage.py runs your own project instead of the example one (see demo_project.py).
demo-serve: $(STAMP)
	$(PY) example_project/demo.py --serve $(if $(PROJECT),--project $(PROJECT))

serve: $(STAMP)
	$(PY) example_project/manage.py migrate --noinput
	$(PY) example_project/manage.py runserver 127.0.0.1:8000

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy django_atlassian_connect

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

docs: $(STAMP)
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

bench: bench-deps
	$(PY) benchmarks/run.py
	$(PY) benchmarks/bench_servers.py

# The server comparison alone (about 13 minutes): docs/_generated/servers.{inc,json}.
bench-servers: bench-deps
	$(PY) benchmarks/bench_servers.py

# wrk (apt-get, as root), the servers and py-spy (the [bench] extra), ACE (npm ci).
bench-deps: $(STAMP) $(ACE_STAMP)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && { apt-get install -y -qq wrk >/dev/null \
		|| { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; }; } || true
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[bench]"

# atlassian-connect-express for the side-by-side figures, from its lockfile; sqlite3
# builds from source against the installed Node headers when it has no prebuilt binary.
$(ACE_STAMP): benchmarks/ace_app/package-lock.json
	@if command -v npm >/dev/null; then \
		cd benchmarks/ace_app && $(if $(wildcard /usr/include/node/node.h),npm_config_nodedir=/usr) \
		npm ci --no-audit --no-fund --omit=optional --foreground-scripts && touch node_modules/.dac-installed; \
	else echo "npm not found: the ACE comparison will be skipped"; fi

# Its own PostgreSQL cluster and Redis (.ci/services installs them); SOAK_ARGS="--duration 120".
soak: $(STAMP)
	$(PY) -m benchmarks.soak $(SOAK_ARGS)

package: $(STAMP)
	.ci/package

migrations-check: $(STAMP)
	DJANGO_SETTINGS_MODULE=tests.settings PYTHONPATH=. $(VENV)/bin/django-admin makemigrations --check --dry-run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache docs/_build .coverage htmlcov
