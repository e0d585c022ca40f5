"""The technician runs `goat-edge self-check` after installing and after every deploy: a
readable list, and a non-zero exit when anything would stop the chute from measuring."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pytest

from edge.cli import main as goat_edge
from edge.config import ROOT, load_config
from edge.daemon.self_check import check_clock
from edge.store import Store
from tests.support.daemon_helpers import Daemon, free_port, simulate_captures, write_config


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    return simulate_captures(tmp_path_factory.mktemp("replay"), seeds=(61,))


@pytest.fixture
def config(tmp_path, replay):
    return write_config(tmp_path / "edge.toml", tmp_path / "data", replay, free_port())


def self_check(config, capsys) -> tuple[int, dict[str, str]]:
    code = goat_edge(["self-check", "--config", str(config)])
    lines = capsys.readouterr().out.splitlines()
    return code, {line.split(":", 1)[0][6:]: line for line in lines if line.startswith(("ok  ", "FAIL"))}


def test_on_a_ready_pi_every_check_passes(config, capsys):
    code, checks = self_check(config, capsys)
    assert code == 0
    assert set(checks) == {"config", "clock", "database", "model files", "models load", "cameras"}
    assert all(line.startswith("ok") for line in checks.values())
    assert "side 1280x960" in checks["cameras"]  # each camera took a picture


def test_a_corrupted_model_file_fails_the_check_naming_it(tmp_path, config, capsys):
    models = shutil.copytree(ROOT / "models", tmp_path / "models", ignore=shutil.ignore_patterns("*.pt"))
    weights = models / "top" / "model.ncnn.bin"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, as a bad copy or a failing card leaves
    weights.write_bytes(bytes(data))
    config.write_text(config.read_text() + f'[models]\ndir = "{models}"\n')
    code, checks = self_check(config, capsys)
    assert code == 1
    assert checks["model files"].startswith("FAIL")
    assert "top: model.ncnn.bin is not the file its card lists" in checks["model files"]
    assert checks["cameras"].startswith("ok")  # the other checks still ran


def test_a_camera_that_sends_nothing_fails_the_check(tmp_path, replay, capsys):
    missing = tmp_path / "unplugged"
    config = write_config(tmp_path / "edge.toml", tmp_path / "data", replay, free_port())
    config.write_text(config.read_text().replace(f'folder = "{replay}"', f'folder = "{missing}"', 1))
    code, checks = self_check(config, capsys)
    assert code == 1 and checks["cameras"].startswith("FAIL") and "side camera" in checks["cameras"]


def test_with_the_daemon_running_the_cameras_are_asked_of_it(config, capsys):
    with Daemon(config):
        code, checks = self_check(config, capsys)
    assert code == 0 and "the running daemon has them" in checks["cameras"]


def test_a_config_with_an_unknown_key_fails_first_and_names_it(config, capsys):
    config.write_text(config.read_text().replace("[storage]\n", "[storage]\nkeep_forever = true\n"))
    code, checks = self_check(config, capsys)
    assert code == 1 and list(checks) == ["config"] and "keep_forever" in checks["config"]


def test_a_clock_that_lost_the_time_fails(config):
    settings = load_config(config)
    assert not check_clock(settings, datetime(1970, 1, 1, 0, 1, tzinfo=UTC)).ok
    with Store.open(settings.storage.data_dir) as store:
        store.add_goat("A12")
    now = datetime.now(UTC)
    assert check_clock(settings, now).ok
    # A capture stored "later" than now: the clock went back.
    goat_edge(["capture", "--config", str(config)])
    back = check_clock(settings, now - timedelta(hours=2))
    assert not back.ok and "before the newest capture" in back.detail
