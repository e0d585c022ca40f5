#!/usr/bin/env bash
# Sets everything up and runs the whole test suite.
#   scripts/test.sh            everything (the README's test command, and CI's)
#   scripts/test.sh --fast     day-to-day: leaves out the slow and training tests
#                              (pytest -m "not slow and not train"); about 1.5 min here
# Other arguments go to pytest, e.g. scripts/test.sh -m services, scripts/test.sh tests/test_store.py
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
for arg in "$@"; do
    if [ "$arg" = "--fast" ]; then
        args+=(-m "not slow and not train")
    else
        args+=("$arg")
    fi
done
# The train extra too: the training smoke test trains, exports and checks parity.
scripts/setup.sh test,train
.venv/bin/ruff check edge cloud_sync scripts tests benchmarks
.venv/bin/ruff format --check edge cloud_sync scripts tests benchmarks
.venv/bin/mypy
exec .venv/bin/python -m pytest "${args[@]}"
