# Two commands: `make demo` runs the portal on the embedded default, `make test` runs every test.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
EMULATOR_PORT ?= 9229
# Describe calls are signed; the local Cognito accepts any credentials. Real ones come from the environment.
export AWS_ACCESS_KEY_ID ?= testing
export AWS_SECRET_ACCESS_KEY ?= testing
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: demo test lint check test-sqlite test-postgres services browser promtool awscli clean loadtest

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# DEBUG for migrate too: with DEBUG off every command stops until collectstatic has run (signup.E005).
demo: $(VENV)/.installed
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG:-1} $(PY) manage.py demo --port $(PORT) --emulator-port $(EMULATOR_PORT)

# Debian's Chromium for the browser tests; Playwright never downloads a browser here.
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# Debian's Prometheus for promtool, which checks /metrics' text in tests/test_metrics.py.
promtool:
	@test -x /usr/bin/promtool || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus)

# The real AWS CLI (v1), outside the project's venv (it pins its own botocore), for tests/test_cli.py.
awscli: $(VENV)/.installed
	PYTHON=$(PYTHON) bash scripts/install-awscli

# PostgreSQL and Redis for the production-mode run; started when they are down.
services:
	@bash scripts/ensure-services

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy signup

# The production settings (DEBUG off) need collected static files, so check collects them as a release does.
check: $(VENV)/.installed
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

# Redis too: the shared cache is what makes a challenge's solution single-use across processes.
test-sqlite: $(VENV)/.installed browser promtool awscli services
	$(VENV)/bin/pytest

test-postgres: $(VENV)/.installed promtool services awscli
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/signup_portal CACHE_URL=redis://127.0.0.1:6379/1 \
		$(VENV)/bin/pytest -m "not browser"

test: lint check test-sqlite test-postgres

# 2000 sign-ups, 64 clients, 5% Cognito faults, on loopback (loadtest/README.md); LOADTEST_ARGS="--signups 500".
loadtest: $(VENV)/.installed services
	$(PY) loadtest/run.py $(LOADTEST_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3* staticfiles test-artifacts
