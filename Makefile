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

.PHONY: venv node node-if-npm test demo demo-cron schemas bench lint doc po screenshots

venv: $(STAMP)

# pip's output goes to $(VENV)/pip.log; the terminal gets one line per
# package and pip's real warnings and errors, not the notices about the
# configured package locations that do not exist on this machine.
PIP_LOG = $(VENV)/pip.log
PIP_PROGRESS = awk '\
	/^WARNING: Location .* is ignored: it is neither a file nor a directory/ \
		{ next } \
	/^(Collecting|Processing|Obtaining) / { \
		n++; name = $$2; sub(".*/", "", name); \
		if (name ~ /\.whl$$/) { split(name, part, "-"); \
			name = part[1] " " part[2] } \
		printf "  [%d] %s\n", n, name; fflush(); next } \
	/^Installing collected packages/ { \
		print "  installing..."; fflush(); next } \
	/^Successfully installed/ { \
		print "  installed " (NF - 2) " packages"; fflush(); next } \
	/^(WARNING|ERROR|DEPRECATION|error)/ { print; fflush() }'
PIP_FAILED = { echo "pip failed; the end of $(PIP_LOG):"; \
	tail -n 40 $(PIP_LOG); exit 1; }

$(STAMP): SHELL := /bin/bash
$(STAMP): .SHELLFLAGS := -o pipefail -c
$(STAMP): setup.py
	@test -x $(BIN)/python || { echo "Creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@: > $(PIP_LOG)
	@echo "Upgrading pip in $(VENV) (full output: $(PIP_LOG))"
	@$(BIN)/python -m pip install --progress-bar off --upgrade pip 2>&1 \
		| tee -a $(PIP_LOG) | $(PIP_PROGRESS) || $(PIP_FAILED)
	@echo "Installing the modules, Tryton and the test tools (about a minute the first time)"
	@$(BIN)/python -m pip install --progress-bar off -e '.[test,postgresql]' \
		flake8 isort sphinx 2>&1 \
		| tee -a $(PIP_LOG) | $(PIP_PROGRESS) || $(PIP_FAILED)
	@touch $(STAMP)

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

# The authorities' WSDL/XSD files, checked against the digests pinned in
# account_einvoice/schemas/*/SHA256SUMS, into ~/.cache/tryton-einvoice/schemas
# (not needed beside ../shared/schemas). Mirror or CA bundle:
# make schemas SCHEMAS_ARGS="--base-url https://mirror --ca-bundle ca.pem"
SCHEMAS_ARGS ?=
schemas: venv
	$(BIN)/einvoice-schemas $(SCHEMAS_ARGS)

bench: venv
	$(BIN)/python -m tests.bench_framework

# The figures of the documentation: the browser test walks through the demo
# in Chromium (screenshots in var/screenshots), then the ones doc/ shows are
# copied to doc/_static/screenshots (kept in the repository).
SCREENSHOT_DIR = doc/_static/screenshots
screenshots: venv node
	rm -rf var/screenshots
	mkdir -p var/db-screenshots
	CI=true DB_NAME=screenshots TRYTOND_DATABASE_URI=sqlite:// \
	TRYTOND_DATABASE__PATH=$(CURDIR)/var/db-screenshots \
		$(BIN)/python -m tests.run tests.test_browser
	mkdir -p $(SCREENSHOT_DIR)
	@for name in $$(grep -rhoE --include='*.rst' '_static/screenshots/[A-Za-z0-9_.-]+\.png' doc \
			| sed 's|.*/||' | sort -u); do \
		cp -v var/screenshots/$$name $(SCREENSHOT_DIR)/$$name || exit 1; \
	done

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
		account_einvoice_es_verifactu account_einvoice_sa_zatca \
		account_einvoice_py_sifen \
		--activate-dependencies -l es \
		--export-translations
