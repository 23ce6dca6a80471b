# Set-up and everyday commands. Every target creates the virtual environment first if needed.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install servers run serve demo lint test bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)  ## the service on its embedded defaults plus a demo fleet with faults; self-checks after ~45 s
	bash scripts/demo.sh

serve: $(STAMP)  ## the service alone on its embedded defaults (data in ./var, Teltonika 5027 TCP+UDP, GT06 5023, API 8080)
	$(VENV)/bin/telediag serve

demo: run

servers:  ## Mosquitto, VictoriaMetrics and Chromium with ChromeDriver (Debian packages) for the integration tests
	bash scripts/install-servers.sh
	bash scripts/install-browser.sh

lint: $(STAMP)  ## ruff over the whole tree, then mypy --strict over protocols/ and telediag/ (settings in pyproject.toml)
	$(VENV)/bin/ruff check .
	$(PY) -m mypy

POSTGRESQL_TESTS := tests/telediag tests/integration tests/hostile tests/browser tests/bench
# the suite again with every store on PostgreSQL (tests.stores); codecs and simulators need no store

# the test run writes Python's bytecode caches even where PYTHONDONTWRITEBYTECODE is set: every worker
# and every server or CLI a test starts imports the project, and compiling it anew each time costs
# about a tenth of the run's CPU
test: export PYTHONDONTWRITEBYTECODE :=
test: $(STAMP) lint servers  ## ruff and mypy, then the whole test suite on SQLite, then on PostgreSQL (in 4 processes each: most tests wait on sockets)
	$(PY) -m pytest -n 4
	TELEDIAG_TEST_BACKEND=postgresql $(PY) -m pytest -n 4 -m "not sqlite_only" $(POSTGRESQL_TESTS)

bench: $(STAMP)  ## ingest benchmark against the bare Twisted ceiling, and idle-connection memory
	$(PY) bench/ingest_bench.py

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis .mypy_cache

LOCALE := telediag/locale
TRANSLATED := pl ru sv
.PHONY: messages
messages: $(STAMP)  ## extract the texts of the console and the self-check, then update (or start) the pl, ru and sv catalogues
	mkdir -p build
	$(VENV)/bin/pybabel extract -F babel.cfg -k N_ -k Nn_:1,2 -k FindingSpec:6 -k ChartSpec:2 -c Translators: --sort-by-file \
		--project telediag --copyright-holder "telediag" -o build/messages.pot .
	for lang in $(TRANSLATED); do \
		$(VENV)/bin/pybabel update -i build/messages.pot -d $(LOCALE) -D messages -l $$lang \
			--init-missing --ignore-obsolete --ignore-pot-creation-date || exit 1; \
	done
