"""The technician promotes a retrained model set while the daemon runs: it is used from the
next capture on, without a restart and without losing the capture that was running; a set
that will not load is named and the old one measures on; a roll-back goes back the same way.
"""

from __future__ import annotations

import shutil
import threading

import pytest

from edge.cli import main as goat_edge
from edge.config import ROOT
from tests.support.daemon_helpers import Daemon, free_port, simulate_captures, wait_for, write_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    return simulate_captures(tmp_path_factory.mktemp("replay"), seeds=(71,))


def retrained(folder, mark: str):
    """The shipped models, copied with a changed metadata comment: a new version (the
    version is a hash of the files) that loads and measures as the shipped one does."""
    models = shutil.copytree(ROOT / "models", folder, ignore=shutil.ignore_patterns("*.pt"))
    for view in ("side", "top", "front", "closeup"):
        with open(models / view / "metadata.yaml", "a") as fh:
            fh.write(f"# {mark}\n")
    return models


def versions(daemon) -> dict:
    return daemon.get("/api/health").json()["model_versions"]


def test_a_promoted_set_is_used_from_the_next_capture_and_a_rollback_returns(tmp_path, replay, capsys):
    config = write_config(tmp_path / "edge.toml", tmp_path / "data", replay, free_port())
    config.write_text(config.read_text() + "[models]\nreload_check_s = 1\n")
    # Second-long captures, so that the promotion lands while one runs.
    text = config.read_text().replace('backend = "replay"', 'backend = "simulated"')
    config.write_text(text.replace("[cameras.side]", "[cameras]\ntimeout_s = 30\n[cameras.side]", 1))
    with Daemon(config) as daemon:
        shipped = versions(daemon)
        answer = {}
        running = threading.Thread(target=lambda: answer.update(r=daemon.post("/api/captures")))
        running.start()
        wait_for(lambda: daemon.get("/api/health").json()["busy"], timeout_s=30)
        v2 = retrained(tmp_path / "v2", "v2")
        assert goat_edge(["models", "promote", "--config", str(config), "--force", str(v2)]) == 0
        assert "switches to it between captures" in capsys.readouterr().out
        running.join(60)
        # The capture under way finished, measured wholly with the set it started with.
        assert answer["r"].status_code == 201 and answer["r"].json()["model_versions"] == shipped
        new = wait_for(lambda: (v := versions(daemon)) != shipped and v, timeout_s=30)
        assert new["side"] != shipped["side"]
        after = daemon.post("/api/captures").json()
        assert after["model_versions"] == new
        # The retrained set has no ± fitted for it yet: its numbers come without one, and
        # the health answer says what to run.
        assert after["measurements"]["body_length_cm"] is not None and not after["measurement_uncertainty"]
        models = daemon.get("/api/health").json()
        assert models["parts"]["models"]["uncertainty"] is None
        assert any("no ± fitted for these model versions" in w for w in models["warnings"])
        assert goat_edge(["models", "rollback", "--config", str(config)]) == 0
        wait_for(lambda: versions(daemon) == shipped, timeout_s=30)
        back = daemon.post("/api/captures").json()
        assert back["model_versions"] == shipped and back["measurement_uncertainty"]
        health = daemon.get("/api/health").json()
        assert "tuning captures" in health["parts"]["models"]["uncertainty"] and not health["warnings"]


def test_a_promoted_set_that_will_not_load_is_named_and_the_old_one_measures_on(tmp_path, replay, capsys):
    config = write_config(tmp_path / "edge.toml", tmp_path / "data", replay, free_port())
    config.write_text(config.read_text() + "[models]\nreload_check_s = 1\n")
    broken = retrained(tmp_path / "broken", "broken")
    (broken / "top" / "model.ncnn.param").write_text("not an ncnn model\n")
    with Daemon(config) as daemon:
        shipped = versions(daemon)
        assert goat_edge(["models", "promote", "--config", str(config), "--force", str(broken)]) == 0
        health = wait_for(lambda: (h := daemon.get("/api/health").json())["warnings"] and h, timeout_s=30)
        assert health["parts"]["models"]["ok"] is False
        assert "did not load, still running" in health["parts"]["models"]["problem"]
        assert health["model_versions"] == shipped
        assert daemon.post("/api/captures").json()["model_versions"] == shipped
        # Rolled back: the problem is gone.
        assert goat_edge(["models", "rollback", "--config", str(config)]) == 0
        wait_for(lambda: daemon.get("/api/health").json()["parts"]["models"]["ok"], timeout_s=30)
