# The two commands: `make demo` and `make test` (see README.rst).
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed-stamp

.PHONY: venv test demo bench lint

venv: $(STAMP)

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,postgresql]' flake8 isort
	touch $(STAMP)

test: venv
	$(BIN)/python -m tests.run

# Until the full demo lands, the demo walks the framework scenario against
# the sandbox on SQLite.
demo: venv
	TRYTOND_DATABASE_URI=sqlite:// $(BIN)/python -m tests.run \
		trytond.modules.account_einvoice.tests.test_scenario

bench: venv
	$(BIN)/python -m tests.bench_framework

lint: venv
	$(BIN)/flake8
	$(BIN)/isort --check-only --diff .
