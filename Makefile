# The two commands: `make run` (the whole portal with demo data) and `make test` (the suite).
# Both install what they need first: Python packages in .venv, the Kafka jars (Maven
# Central), the portal's front-end packages (npm) and, for tests, Debian's Chromium.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)

.PHONY: run test setup python-deps portal-assets browser kafka-jars stop clean

run: setup
	$(PY) scripts/run.py

test: setup browser
	bash scripts/test.sh

setup: python-deps kafka-jars portal-assets

python-deps: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@echo "[setup] Python packages into $(VENV) (from PyPI; the first time takes a few minutes)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install --progress-bar off -e '.[test,dev,bench]'
	touch $@

kafka-jars: .cache/kafka/.installed

.cache/kafka/.installed: infra/pom.xml
	@echo "[setup] Apache Kafka's jars from Maven Central into .cache/kafka (first time only)"
	mvn -B -f infra/pom.xml dependency:copy-dependencies -DoutputDirectory=$(CURDIR)/.cache/kafka/libs -DincludeScope=runtime
	touch $@

portal-assets: services/gateway/node_modules/.installed

services/gateway/node_modules/.installed: services/gateway/package.json
	@echo "[setup] the portal's front-end packages from npm (first time only)"
	cd services/gateway && npm ci --no-audit --no-fund
	touch $@

browser:
	bash scripts/install_browser.sh

stop:
	$(PY) scripts/run.py --stop
	$(PY) scripts/infra.py down --profile run
	$(PY) scripts/infra.py down --profile test

clean: stop
	rm -rf .state
