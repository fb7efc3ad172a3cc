#!/usr/bin/env bash
# `make test`: start throw-away Kafka and PostgreSQL (the test profile), run the whole suite
# against them, stop them, and exit with pytest's status.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
$PY scripts/infra.py up --profile test --fresh || exit 1
# TEST_PORT_SHIFT moves every test port (servers and the stack) for a second checkout.
shift_by=${TEST_PORT_SHIFT:-0}
export TEST_KAFKA_BOOTSTRAP=127.0.0.1:$((19092 + shift_by))
export TEST_PG_ADMIN_DSN=postgresql://postgres@127.0.0.1:$((55433 + shift_by))/postgres
mkdir -p artifacts
$PY -m pytest "$@"
status=$?
$PY scripts/infra.py down --profile test
exit $status
