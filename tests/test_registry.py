"""Model versions kept on the Pi: added once, switched whole, every switch recorded and undoable."""

from __future__ import annotations

import shutil

import pytest

from edge.config import ModelsConfig
from edge.registry import Registry, RegistryError
from edge.registry.registry import set_version

SHIPPED = ModelsConfig().dir


@pytest.fixture
def two_sets(tmp_path):
    """The shipped set, and the same models with one file's bytes changed (another version)."""
    first = tmp_path / "first"
    for view in ("side", "top", "front", "closeup"):
        shutil.copytree(SHIPPED / view, first / view)
    second = tmp_path / "second"
    shutil.copytree(first, second)
    metadata = second / "top" / "metadata.yaml"
    metadata.write_text(metadata.read_text() + "# retrained\n")
    return first, second


def test_a_set_added_twice_is_one_version_named_by_its_files(tmp_path, two_sets):
    first, second = two_sets
    registry = Registry(tmp_path / "models")
    assert registry.add(first) == registry.add(first) == set_version(first)
    assert registry.add(second) != set_version(first)
    (registry.root / "reports").mkdir()  # the promotions' reports sit beside the versions
    assert registry.versions() == [set_version(first), set_version(second)]
    assert (registry.path(set_version(second)) / "closeup" / "model.ncnn.bin").is_file()


def test_an_incomplete_set_is_refused_by_name_and_nothing_is_kept(tmp_path, two_sets):
    first, _ = two_sets
    (first / "front" / "model.ncnn.bin").unlink()
    registry = Registry(tmp_path / "models")
    with pytest.raises(RegistryError, match=r"first: not a complete model set \(front/model.ncnn.bin missing\)"):
        registry.add(first)
    assert registry.versions() == []


def test_switching_and_rolling_back_move_the_active_link_and_keep_the_history(tmp_path, two_sets):
    first, second = two_sets
    registry = Registry(tmp_path / "models")
    installed = tmp_path / "installed"
    assert registry.active() is None and registry.active_dir(installed) == installed
    a, b = registry.add(first), registry.add(second)
    registry.activate(a, "installed")
    registry.activate(b, "better on held-out goats")
    assert registry.active() == b and registry.active_dir(installed) == tmp_path / "models" / b
    assert registry.rollback() == a
    assert registry.active() == a
    assert [(h["from"], h["to"]) for h in registry.history()] == [(None, a), (a, b), (b, a)]
    with pytest.raises(RegistryError, match="no model version 'nope' on this Pi"):
        registry.activate("nope", "typo")
    assert registry.active() == a


def test_nothing_to_roll_back_to_is_said_plainly(tmp_path):
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        Registry(tmp_path / "models").rollback()
