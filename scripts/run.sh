#!/usr/bin/env bash
# Sets everything up and runs the daemon on the simulated chute, with the tablet page at
# http://127.0.0.1:8080/ (press Capture there; each capture is a new simulated goat).
# Extra arguments go to `goat-edge run`, e.g. --config my.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
echo "tablet page: http://127.0.0.1:8080/   (Ctrl-C stops the daemon)"
exec .venv/bin/goat-edge run "$@"
