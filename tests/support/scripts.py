"""Running the project's scripts/ as a user would: a subprocess from the repository root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_script(name: str, *args: str, timeout_s: float = 900) -> subprocess.CompletedProcess:
    """scripts/<name> with args, its output captured; Ultralytics kept offline."""
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=ROOT,
        env=dict(os.environ, YOLO_OFFLINE="1"),
    )
