"""The Pi daemon's code path stays free of PyTorch and Ultralytics (memory, start-up, AGPL)."""

from __future__ import annotations

import subprocess
import sys

RUNTIME_MODULES = (
    "edge.cli",
    "edge.detect.ncnn_pose",
    "edge.measure.estimate",
    "edge.sim.capture",
    "edge.calibrate.solve",
    "edge.geometry.calibration",
    # Importing the Ultralytics detector's module loads nothing heavy; making one does.
    "edge.detect.ultralytics_detector",
)


def test_importing_the_runtime_loads_neither_torch_nor_ultralytics():
    code = (
        f"import sys\nfor m in {RUNTIME_MODULES!r}: __import__(m)\n"
        "import edge.cli; edge.cli.build_parser()\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'ultralytics'))\n"
        "print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_daemon_with_real_cameras_never_loads_the_simulator_or_the_training_code():
    """Every module `goat-edge run` imports, and a camera of each real backend made: the
    renderer (about 2,000 lines, its noise tables) stays out of a Pi's memory."""
    code = (
        "import sys\n"
        "import edge.daemon.run, edge.daemon.cli, edge.api.app, edge.pipeline.context\n"
        "import edge.cli; edge.cli.build_parser()  # goat-edge builds every subcommand's parser\n"
        "from edge.camera.factory import make_camera\n"
        "from edge.config import CameraConfig\n"
        "for backend in ('opencv', 'picamera2', 'replay'):\n"
        "    make_camera('side', CameraConfig(backend=backend, folder='.'), size_px=(1280, 960), sim_seed_base=0)\n"
        # `goat-edge simulate`'s parser (edge.sim.cli) is loaded with the others; what it renders with is not.
        "parsers = ('edge.sim', 'edge.sim.cli')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('edge.sim', 'edge.training')) and m not in parsers))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
