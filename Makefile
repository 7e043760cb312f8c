# The verbs people expect. `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/switchboard
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: install run test api-check lint format bench bench-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# Web + worker + scheduler with demo data on SQLite and a filesystem broker (no services needed).
run: export DEBUG ?= 1
run: install
	mkdir -p var/broker var/broker-processed var/broker-control var/cache var/media
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo --admin
	PATH="$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

# The whole suite against real PostgreSQL and Redis (DATABASE_URL / REDIS_URL override).
test: install
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	REDIS_URL="$${REDIS_URL:-$(TEST_REDIS_URL)}" \
	$(BIN)/pytest $(PYTEST_ARGS)

# Schemathesis over every operation of /api/schema/ against the running app (gunicorn, demo data,
# a database of its own): no server error, no answer outside the schema, no undocumented status.
api-check: install
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" $(BIN)/python -m tests.api_conformance

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Benchmarks (not tests) against PostgreSQL and Redis, each in a database of its own; the full
# run writes docs/PERFORMANCE.md, the quick one (about a minute) only prints. Needs wrk.
bench: install
	$(BIN)/python -m bench.run

bench-quick: install
	$(BIN)/python -m bench.run --quick

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf var $(VENV)
