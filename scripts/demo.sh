#!/usr/bin/env bash
# Sets everything up, takes one capture in the simulated chute and measures it.
# (The daemon with its tablet page arrives with the edge-daemon issue; until then this
# shows the capture -> keypoints -> centimetres path end to end.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
seed="${1:-$RANDOM}"
out="goat-data/demo/seed-${seed}"
.venv/bin/goat-edge simulate --seed "$seed" --out "$out"
.venv/bin/goat-edge measure --side "$out/side.jpg" --top "$out/top.jpg" --front "$out/front.jpg" \
    --calibration "$out/calibration.json" --keypoints "$out/keypoints.json" --json > "$out/result.json"
.venv/bin/python - "$out" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
measured = json.loads((out / "result.json").read_text())["measurements"]
truth = json.loads((out / "truth.json").read_text())["goats"][0]["measurements"]
print(f"{'measurement':<20}{'measured':>10}{'true (3D model)':>17}")
for name, value in measured.items():
    true = truth.get(name)
    print(f"{name:<20}{value:>10.1f}" + (f"{true:>17.1f}" if true is not None else f"{'':>17}"))
print(f"images and results: {out}/")
PY
