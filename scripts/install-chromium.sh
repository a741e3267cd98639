#!/usr/bin/env bash
# Debian's Chromium for the browser tests (and the crawler's optional JavaScript rendering).
# Playwright drives it through `executable_path`; Playwright's own browser download is never used.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
run_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
export DEBIAN_FRONTEND=noninteractive
run_root apt-get install -y --no-install-recommends chromium \
  || { run_root apt-get update && run_root apt-get install -y --no-install-recommends chromium; }
