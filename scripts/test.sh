#!/usr/bin/env bash
# The whole suite against both databases. PostgreSQL gets a fresh database per run (the
# tests create and drop it); Redis-backed tests use the local server under keys of their
# own. The two runs share nothing else, so they run side by side (each run's output is
# printed when it ends); DESKPILOT_TEST_SERIAL=1 runs them one after the other instead.
set -uo pipefail
cd "$(dirname "$0")/.."

databases=(sqlite postgresql)
status=0

if [ "${DESKPILOT_TEST_SERIAL:-0}" = "1" ]; then
  for database in "${databases[@]}"; do
    echo
    echo "===== test suite on ${database} ====="
    DESKPILOT_TEST_DATABASE="${database}" .venv/bin/pytest -o "cache_dir=.pytest_cache/${database}" "$@" \
      || status=$?
  done
  exit "${status}"
fi

logs=$(mktemp -d)
trap 'rm -rf "${logs}"' EXIT
declare -A pids
for database in "${databases[@]}"; do
  DESKPILOT_TEST_DATABASE="${database}" .venv/bin/pytest -o "cache_dir=.pytest_cache/${database}" "$@" \
    > "${logs}/${database}.log" 2>&1 &
  pids[${database}]=$!
done
echo "running the suite on ${databases[*]} side by side; each run's output follows when it ends"
for database in "${databases[@]}"; do
  wait "${pids[${database}]}" || status=$?
  echo
  echo "===== test suite on ${database} ====="
  cat "${logs}/${database}.log"
done
exit "${status}"
