# The two commands: `make demo` and `make test` (see README.rst).
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed-stamp

.PHONY: venv test demo bench lint doc po

venv: $(STAMP)

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,postgresql]' flake8 isort sphinx
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

# The documentation (doc/), warnings are errors; HTML in var/doc-html.
doc: venv
	$(BIN)/python -c 'import sphinx' 2>/dev/null || $(BIN)/python -m pip install -q sphinx
	$(BIN)/python -m sphinx -E -W --keep-going -q -b html doc var/doc-html

# Regenerate the modules' locale/es.po with Tryton's own export (existing
# translations kept, new strings added untranslated) in a scratch database.
PO_DB = var/po
po: venv
	rm -rf $(PO_DB) && mkdir -p $(PO_DB) && touch $(PO_DB)/po.sqlite
	echo admin > $(PO_DB)/password
	TRYTOND_DATABASE__URI=sqlite:// TRYTOND_DATABASE__PATH=$(CURDIR)/$(PO_DB) \
	TRYTONPASSFILE=$(PO_DB)/password $(BIN)/trytond-admin -d po \
		-u account_einvoice account_einvoice_es_sii account_einvoice_ar \
		--activate-dependencies -l es --email admin@example.com \
		--export-translations
