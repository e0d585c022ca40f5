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
# Ultralytics (train extra) pulls in opencv-python, whose cv2 shadows the headless build the
# daemon uses and costs it about 36 MB more memory (benchmarks/RESULTS.md). Put the headless
# cv2 back on top, so tests and benchmarks run the daemon as the Pi does.
if [[ ",${extras}," == *",train,"* ]]; then
    if ! .venv/bin/python -m pip install --force-reinstall --no-deps opencv-python-headless >"$log" 2>&1; then
        cat "$log" >&2
        echo "setup: reinstalling opencv-python-headless failed (log above)" >&2
        exit 1
    fi
fi
