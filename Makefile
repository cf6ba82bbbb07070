# SalesPulse: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help setup test test-fast lint demo demo-stop services-up services-down services-status airflow-up airflow-down lock clean bench-stream bench-batch bench-api

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv and install the pinned lock (idempotent)

$(STAMP): requirements.txt pyproject.toml scripts/setup.sh
	@bash scripts/setup.sh "$(PYTHON)" "$(VENV)"
	@touch $(STAMP)

test: setup ## run the whole test suite (starts the local services it needs)
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup ## unit tests only
	@$(BIN)/python -m pytest -m unit $(PYTEST_ARGS)

lint: setup ## ruff lint and format check
	@$(BIN)/ruff check . && $(BIN)/ruff format --check .

demo: setup ## bring the local stack up and run the demo
	@$(BIN)/salespulse demo

demo-stop: setup ## stop everything `make demo` started
	@$(BIN)/salespulse demo --stop

services-up: setup ## start the embedded PostgreSQL, Redis and Kafka-protocol broker
	@$(BIN)/salespulse services up

services-down: setup ## stop the embedded services (data kept)
	@$(BIN)/salespulse services down

services-status: setup ## address, version and health of each service
	@$(BIN)/salespulse services status

airflow-up: setup ## run Airflow 3 (UI on 127.0.0.1:8080) for the local stack; prints the login
	@$(BIN)/salespulse airflow up

airflow-down: setup ## stop the Airflow components `airflow-up` started
	@$(BIN)/salespulse airflow down

lock: ## re-resolve requirements.in into the pinned requirements.txt
	@bash scripts/lock.sh "$(PYTHON)"

bench-stream: setup ## stream benchmark (see docs/BENCHMARKS.md)
	@$(BIN)/python bench/stream.py

bench-batch: setup ## batch benchmark (see docs/BENCHMARKS.md)
	@$(BIN)/python bench/batch.py

bench-api: setup ## API benchmark (see docs/BENCHMARKS.md)
	@$(BIN)/python bench/api.py

clean: ## remove caches (keeps .venv and data)
	@rm -rf .pytest_cache .ruff_cache .mypy_cache build *.egg-info
