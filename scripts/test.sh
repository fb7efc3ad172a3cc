#!/usr/bin/env bash
# `make test`: lint and type-check the code, start throw-away Kafka and PostgreSQL (the test
# profile), run the whole suite against them, stop them, and exit with pytest's status.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
# First the code's own checks (configured in pyproject.toml): lint and import order, then
# types. A failure fails the run before any server starts.
$PY -m ruff check . || exit 1
$PY -m mypy || exit 1
$PY scripts/infra.py up --profile test --fresh || exit 1
# TEST_PORT_SHIFT moves every test port (servers and the stack) for a second checkout.
shift_by=${TEST_PORT_SHIFT:-0}
export TEST_KAFKA_BOOTSTRAP=127.0.0.1:$((19092 + shift_by))
export TEST_PG_ADMIN_DSN=postgresql://postgres@127.0.0.1:$((55433 + shift_by))/postgres
mkdir -p artifacts
# pytest's temporary folders (ACH files of the payments tests among them) stay under the
# test state, where the secrets scan below looks.
# A hung run fails within 30 minutes instead of running on.
timeout --signal=INT --kill-after=60 1800 $PY -m pytest --basetemp=.state/test/pytest "$@"
status=$?
# Then no full SSN, account or card number anywhere it does not belong: every database,
# topic, log, captured message and ACH file's permissions (SCAN_SECRETS=0 skips it).
if [ "${SCAN_SECRETS:-1}" = "1" ]; then
    $PY scripts/scan_secrets.py --dir .state/test --planted tests/security/planted_secrets.txt \
        || { [ $status -eq 0 ] && status=1; }
fi
$PY scripts/infra.py down --profile test
exit $status
