# The two commands: `make demo` and `make test` (see README.rst).
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed-stamp
# The web client (sao) and Playwright, pinned in tests/browser/package*.json
NODE_DIR ?= var/node
NODE_STAMP = $(NODE_DIR)/.installed-stamp
NODE_LOCK = tests/browser/package.json tests/browser/package-lock.json
# make demo ARGS=--no-server (or DEMO_NO_SERVER=1): no server at the end
ARGS ?=

.PHONY: venv node node-if-npm test demo demo-cron bench lint doc po

venv: $(STAMP)

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,postgresql]' flake8 isort sphinx
	touch $(STAMP)

$(NODE_STAMP): $(NODE_LOCK)
	mkdir -p $(NODE_DIR)
	cp $(NODE_LOCK) $(NODE_DIR)/
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --legacy-peer-deps
	touch $@

node: $(NODE_STAMP)

# Without npm the demo serves no web client and the browser test skips.
node-if-npm:
	@if command -v npm >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory node; \
	else echo "npm not found: no web client (apt-get install npm)"; fi

test: venv node-if-npm
	$(BIN)/python -m tests.run

# A Spanish and an Argentine company reporting to the sandbox, then the
# Tryton server with the web client until Ctrl-C (see tests/demo.py).
demo: venv node-if-npm
	$(BIN)/python -m tests.demo $(ARGS)

# Run the e-invoice cron of a running demo again (after a Reschedule).
demo-cron: venv
	$(BIN)/python -m tests.demo cron

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
		--activate-dependencies -l es \
		--export-translations
