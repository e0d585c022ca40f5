"""The Pi daemon's code path stays free of PyTorch and Ultralytics (memory, start-up, AGPL)."""
from __future__ import annotations

import subprocess
import sys

RUNTIME_MODULES = ("edge.cli", "edge.detect.ncnn_pose", "edge.measure.estimate", "edge.sim.capture",
                   "edge.calibrate.solve", "edge.geometry.calibration")


def test_importing_the_runtime_loads_neither_torch_nor_ultralytics():
    code = (f"import sys\nfor m in {RUNTIME_MODULES!r}: __import__(m)\n"
            "import edge.cli; edge.cli.build_parser()\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'ultralytics'))\n"
            "print(heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
