#!/usr/bin/env bash
# Sets everything up and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# The train extra too: the training smoke test trains, exports and checks parity.
scripts/setup.sh test,train
exec .venv/bin/python -m pytest "$@"
