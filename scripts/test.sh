#!/usr/bin/env bash
# `make test`: start throw-away Kafka and PostgreSQL (the test profile), run the whole suite
# against them, stop them, and exit with pytest's status.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
$PY scripts/infra.py up --profile test --fresh || exit 1
export TEST_KAFKA_BOOTSTRAP=127.0.0.1:19092
export TEST_PG_ADMIN_DSN=postgresql://postgres@127.0.0.1:55433/postgres
mkdir -p artifacts
$PY -m pytest "$@"
status=$?
$PY scripts/infra.py down --profile test
exit $status
