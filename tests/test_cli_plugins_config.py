"""The ``plugins`` verb honours the allow/deny lists of the config file it is given."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundups_training import plugins
from foundups_training.cli import main

ENV = ("FOUNDUPS_TRAINING_HOME", "FOUNDUPS_TRAINING_CONFIG", "FOUNDUPS_TRAINING_PLUGINS")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in (*ENV, "FOUNDUPS_TRAINING_DISABLE"):
        monkeypatch.delenv(name, raising=False)  # restored afterwards, whatever main() sets
    plugins.reset_plugin_manager()
    yield
    plugins.reset_plugin_manager()


def _listed(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    assert main([*argv, "plugins", "--json"]) == 0
    return list(json.loads(capsys.readouterr().out)["plugins"])


def test_a_config_file_named_by_flag_denies_a_plugin(
    tmp_path: Path, clean_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "deny.toml"
    config.write_text('plugins_deny = ["training"]\n')
    listed = _listed(capsys, "--data-dir", str(tmp_path / "d"), "--config", str(config))
    assert "training" not in listed


def test_a_config_file_in_the_data_dir_allows_only_what_it_names(
    tmp_path: Path, clean_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "config.toml").write_text('plugins_allow = ["nothing-by-this-name"]\n')
    assert _listed(capsys, "--data-dir", str(data)) == []


def test_without_lists_the_training_plugin_is_listed(
    tmp_path: Path, clean_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "training" in _listed(capsys, "--data-dir", str(tmp_path / "d"))
