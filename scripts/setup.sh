#!/usr/bin/env bash
# Creates .venv and installs the project with the extras given (default: test).
# Usage: scripts/setup.sh [EXTRAS]   e.g. scripts/setup.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-test}"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# pip's output is only worth reading when it fails.
if ! { .venv/bin/python -m pip install --upgrade pip && .venv/bin/python -m pip install -e ".[${extras}]"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "setup: installing the project failed (log above)" >&2
    exit 1
fi
