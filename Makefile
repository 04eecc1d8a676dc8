# Mobul: `make run` starts everything on a fresh machine, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PIP := $(BIN)/pip --disable-pip-version-check -q

.PHONY: run test bench bench-quick install install-dev preflight migrate seed clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(PIP) install -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(PIP) install -r requirements-dev.txt
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

preflight: install
	@$(BIN)/python manage.py preflight --create-database

migrate: preflight
	$(BIN)/python manage.py migrate --no-input
	@$(BIN)/python manage.py beat_schedules

seed: migrate
	@$(BIN)/python manage.py seed_demo

run: seed
	@echo ""
	@echo "Mobul is starting (Ctrl-C stops the web server, the worker and beat):"
	@echo "  Staff admin      http://$(HOST):$(PORT)/admin/"
	@echo "  Client dashboard http://$(HOST):$(PORT)/app/"
	@echo "  API docs         http://$(HOST):$(PORT)/api/v1/docs/"
	@echo "  Health           http://$(HOST):$(PORT)/health/"
	@echo ""
	MOBUL_HOST=$(HOST) MOBUL_PORT=$(PORT) $(BIN)/honcho start -f Procfile.dev

test: install-dev
	@$(BIN)/python manage.py preflight --create-database
	$(BIN)/pytest $(PYTEST_ARGS)

# Every benchmark, one report in bench/results/report.md (+ .json). Full sizes (about an hour); bench-quick: minutes.
bench: install-dev
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-quick: install-dev
	$(BIN)/python -m bench --quick $(BENCH_ARGS)

clean-venv:
	rm -rf $(VENV)
