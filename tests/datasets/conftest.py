"""Fixtures shared by the dataset tests."""
import pytest


@pytest.fixture
def datasets_dir(tmp_path, monkeypatch):
    """An empty cache: TINYKERAS_HOME points at a temporary folder."""
    monkeypatch.setenv("TINYKERAS_HOME", str(tmp_path / "home"))
    folder = tmp_path / "home" / "datasets"
    folder.mkdir(parents=True)
    return folder
