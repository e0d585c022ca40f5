"""Versions of the model set kept on the Pi, and which one the daemon loads.

Layout, under the store's data folder (a farm's models belong with its data, not with
the installed release, which a deploy replaces):

    models/<version>/{side,top,front,closeup}/   one complete set, never changed once added
    models/<version>/uncertainty.yaml             its fitted uncertainty, where there is one
    models/active -> <version>                    the set the daemon loads at start-up
    models/history.jsonl                          every switch: when, from, to, why

A version is named by the sha256 of its model files, so the same set added twice is one
version. The active link is switched by renaming a new link over it, so a reader sees
the old set or the new one, never neither. Until a set is promoted, the daemon loads the
installed release's models (models.dir).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from edge.errors import GoatEdgeError
from edge.keypoints import MODELS

MODEL_FILES = ("model.ncnn.param", "model.ncnn.bin", "metadata.yaml")
REQUIRED = ("side", "top", "front")
ACTIVE = "active"
HISTORY = "history.jsonl"


class RegistryError(GoatEdgeError):
    """A model set that cannot be added, or a version that is not there."""


def set_version(source: Path) -> str:
    """The version of a model set: a short sha256 over its models' files, in a fixed order."""
    digest = hashlib.sha256()
    for model in MODELS:
        for name in MODEL_FILES:
            path = Path(source) / model / name
            if path.is_file():
                digest.update(f"{model}/{name}\n".encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class Registry:
    def __init__(self, root: Path):
        self.root = Path(root)

    def versions(self) -> list[str]:
        """The versions kept, oldest first."""
        if not self.root.is_dir():
            return []
        found = [
            p
            for p in self.root.iterdir()
            if p.is_dir() and not p.is_symlink() and not p.name.startswith(".") and (p / REQUIRED[0]).is_dir()
        ]  # a version holds a set; reports/ beside them is not one
        return [p.name for p in sorted(found, key=lambda p: p.stat().st_mtime)]

    def path(self, version: str) -> Path:
        path = self.root / version
        if version in (ACTIVE, "") or not path.is_dir():
            known = ", ".join(self.versions()) or "none"
            raise RegistryError(f"no model version {version!r} on this Pi (kept: {known})")
        return path

    def active(self) -> str | None:
        link = self.root / ACTIVE
        return os.readlink(link) if link.is_symlink() else None

    def active_dir(self, installed: Path) -> Path:
        """The folder the daemon loads: the active version, or the installed release's models."""
        version = self.active()
        return self.root / version if version else Path(installed)

    def add(self, source: Path) -> str:
        """Copy a complete model set in; returns its version (an existing one if already kept)."""
        source = Path(source)
        missing = [f"{m}/{n}" for m in REQUIRED for n in MODEL_FILES if not (source / m / n).is_file()]
        if missing:
            raise RegistryError(f"{source}: not a complete model set ({missing[0]} missing)")
        version = set_version(source)
        target = self.root / version
        if target.is_dir():
            return version
        partial = self.root / f".{version}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        for model in MODELS:
            if (source / model).is_dir():
                shutil.copytree(source / model, partial / model)
        for extra in ("uncertainty.yaml", "comparison.md"):
            if (source / extra).is_file():
                shutil.copy2(source / extra, partial / extra)
        partial.rename(target)
        return version

    def activate(self, version: str, why: str) -> None:
        """Make version the one the daemon loads next, and record the switch."""
        self.path(version)
        link, new_link = self.root / ACTIVE, self.root / f".{ACTIVE}.new"
        previous = self.active()
        new_link.unlink(missing_ok=True)
        new_link.symlink_to(version, target_is_directory=True)
        os.replace(new_link, link)
        entry = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "from": previous, "to": version, "why": why}
        with (self.root / HISTORY).open("a") as f:
            f.write(json.dumps(entry) + "\n")

    def history(self) -> list[dict]:
        path = self.root / HISTORY
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def rollback(self) -> str:
        """Switch back to the version active before the last switch; returns it."""
        history = self.history()
        if not history or history[-1]["from"] is None:
            raise RegistryError("nothing to roll back to: no earlier model version was active")
        previous = history[-1]["from"]
        self.activate(previous, f"roll back from {history[-1]['to']}")
        return previous
