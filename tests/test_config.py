"""The technician writes /etc/goatdev/edge.toml; mistakes are named before anything starts."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from edge.cli import main
from edge.config import ConfigError, config_from_dict, load_config
from edge.config_reference import reference_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_with_no_config_file_the_defaults_run_on_the_simulated_chute(monkeypatch, tmp_path):
    monkeypatch.setattr("edge.config.DEFAULT_CONFIG_PATH", tmp_path / "absent.toml")
    config = load_config(None)
    assert {config.cameras[v].backend for v in ("side", "top", "front")} == {"simulated"}
    assert config.storage.data_dir == Path("goat-data")
    assert config.api.host == "127.0.0.1"


def test_a_misspelt_key_stops_the_daemon_with_the_key_named(tmp_path, capsys):
    path = tmp_path / "edge.toml"
    path.write_text('[cameras.side]\nbakend = "picamera2"\n')
    assert main(["run", "--config", str(path)]) == 2
    assert f"{path}: unknown key 'cameras.side.bakend'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "toml, message",
    [
        (
            "[storage]\nmin_free_disk_mb = -5\n",
            "'storage.min_free_disk_mb': Input should be greater than or equal to 0",
        ),
        ('[cameras.top]\nbackend = "replay"\n', "'cameras.top': the replay backend needs a folder"),
        ("[api]\nport = 70000\n", "'api.port'"),
        ('[device]\nid = "barn east"\n', "'device.id'"),
        ("[button\n", "not valid TOML"),
    ],
)
def test_bad_values_are_named(tmp_path, toml, message):
    path = tmp_path / "edge.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(path)


def test_a_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="absent.toml: config file not found"):
        load_config(tmp_path / "absent.toml")


def test_the_api_token_can_come_from_the_environment_instead_of_the_file():
    config = config_from_dict({"api": {"token": "in-file"}}, env={"GOATDEV_API_TOKEN": "from-env"})
    assert config.api.token == "from-env"
    assert config_from_dict({}, env={}).api.token is None


def test_the_documented_example_is_a_valid_config():
    example = re.search(r"```toml\n(.*?)```", DOC.read_text(), re.S).group(1)
    config = config_from_dict(tomllib.loads(example), "docs example", env={})
    assert config.cameras.front.backend == "opencv" and config.button.enabled


def test_the_documented_key_table_matches_the_code():
    assert reference_markdown() in DOC.read_text(), "run: python -m edge.config_reference (docs/configuration.md)"
