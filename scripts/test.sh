#!/usr/bin/env bash
# The whole suite against both databases. PostgreSQL gets a fresh database per run (the
# tests create and drop it); Redis-backed tests use the local server.
set -uo pipefail
cd "$(dirname "$0")/.."

status=0
for database in sqlite postgresql; do
  echo
  echo "===== test suite on ${database} ====="
  DESKPILOT_TEST_DATABASE="${database}" .venv/bin/pytest "$@" || status=$?
done
exit "${status}"
