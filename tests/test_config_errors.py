"""Mistakes in the TOML file and the environment: one clear configuration error each.

Before, a typo in a key (``treshold``) left the default in force without a word, a value of
the wrong kind was converted into something else (``true`` → 1.0, 1.5 lines → 1, a list →
the path ``['a', 'b']``), and a Chroma URL the client cannot use failed only when the store
was first opened, as a raw ValueError.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from foundups_training import cli
from foundups_training.config import ConfigError, Settings, load_settings, with_overrides


def _load(tmp_path: Path, toml: str, **env: str) -> Settings:
    config = tmp_path / "config.toml"
    config.write_text(toml)
    return load_settings({"data_dir": tmp_path / "data", "config_file": config}, env=env)


def test_a_typo_in_a_key_is_an_error_that_suggests_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, "treshold = 0.5\n")
    message = str(err.value)
    assert str(tmp_path / "config.toml") in message
    assert "unknown setting 'treshold'" in message and "did you mean 'threshold'?" in message


def test_an_unknown_key_far_from_any_setting_lists_the_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown setting 'zzz'") as err:
        _load(tmp_path, "[foundups_training]\nzzz = 1\n")
    assert "threshold" in str(err.value) and "routing" in str(err.value)


def test_an_unknown_table_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown setting 'sub'"):
        _load(tmp_path, "[foundups_training.sub]\nx = 1\n")


def test_top_level_keys_count_beside_a_routing_table(tmp_path: Path) -> None:
    """``threshold = 0.5`` above ``[foundups_training.routing]`` is a top-level key of the
    file; it used to be dropped because the [foundups_training] table existed."""
    settings = _load(tmp_path, "threshold = 0.5\n[foundups_training.routing]\nrecall_n = 12\n")
    assert settings.threshold == 0.5
    assert settings.extra == {"routing": {"recall_n": 12}}


def test_a_key_set_twice_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'threshold' is set both at the top level"):
        _load(tmp_path, "threshold = 0.5\n[foundups_training]\nthreshold = 0.6\n")


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ("threshold = true\n", ["'threshold'", "not true/false"]),
        ("idle_max_lines = 1.5\n", ["'idle_max_lines'", "whole number"]),
        ("fast_path_similarity = nan\n", ["'fast_path_similarity'", "not a number"]),
        ('log_path = ["a", "b"]\n', ["'log_path'", "a path"]),
        ("plugins_allow = 5\n", ["'plugins_allow'", "list of names"]),
        ("gemma_model = 5\n", ["'gemma_model'", "a string"]),
        ('data_dir = "/elsewhere"\n', ["'data_dir' cannot be set", "--data-dir"]),
        ('config_file = "other.toml"\n', ["'config_file' cannot be set"]),
        ("routing = 5\n", ["'routing' must be a table"]),
    ],
)
def test_values_of_the_wrong_kind_are_refused(tmp_path: Path, toml: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, toml)
    for word in words:
        assert word in str(err.value)


def test_values_that_were_right_stay_right(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        'threshold = 1\nidle_max_lines = 5000.0\nidle_minutes = 3\nplugins_allow = ["a"]\n'
        'log_path = "~/012.txt"\n',
        FOUNDUPS_TRAINING_IDLE_MAX_SECONDS="90",
        FOUNDUPS_TRAINING_DISABLE="idle, menu",
    )
    assert settings.threshold == 1.0 and isinstance(settings.threshold, float)
    assert settings.idle_max_lines == 5000 and isinstance(settings.idle_max_lines, int)
    assert settings.idle_minutes == 3.0 and settings.idle_max_seconds == 90.0
    assert settings.plugins_allow == ("a",) and settings.plugins_deny == ("idle", "menu")
    assert settings.log_path == Path("~/012.txt").expanduser()


@pytest.mark.parametrize(
    "url",
    [
        "ftp://x",
        "localhost:8000",
        "http://",
        "http://memory-box:eighty",
        "http://memory-box:8000/some/path",
        "http://user:secret@memory-box:8000",
    ],
)
def test_a_chroma_url_the_client_cannot_use_is_a_configuration_error(
    tmp_path: Path, url: str
) -> None:
    with pytest.raises(ConfigError, match="'chroma_url'"):
        load_settings({"data_dir": tmp_path}, env={"FOUNDUPS_TRAINING_CHROMA_URL": url})
    with pytest.raises(ConfigError, match="'chroma_url'"):
        _load(tmp_path, f'chroma_url = "{url}"\n')
    with pytest.raises(ConfigError, match="'chroma_url'"):
        with_overrides(load_settings({"data_dir": tmp_path}, env={}), chroma_url=url)


@pytest.mark.parametrize(
    "url", ["http://memory-box:8000", "https://memory-box", "http://10.0.0.5:8000/", ""]
)
def test_a_chroma_url_the_client_can_use_is_kept(tmp_path: Path, url: str) -> None:
    env = {"FOUNDUPS_TRAINING_CHROMA_URL": url}
    assert load_settings({"data_dir": tmp_path}, env=env).chroma_url == url


def test_the_command_line_reports_a_bad_chroma_url_as_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reviewer's command: ``mine`` with ``FOUNDUPS_TRAINING_CHROMA_URL=ftp://x`` ran
    until the store was opened and ended with ``mine: ValueError`` and status 1."""
    monkeypatch.setenv("FOUNDUPS_TRAINING_CHROMA_URL", "ftp://x")
    log = tmp_path / "012.txt"
    log.write_text("2025-10-20 15:07:04,541 - root - INFO - hello\n")
    code = cli.main(["mine", str(log), "--data-dir", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("foundups-training: configuration error: setting 'chroma_url'")


def test_the_command_line_reports_a_typo_in_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "config.toml").write_text("treshold = 0.5\n")
    assert cli.main(["status", "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err
    assert "configuration error" in err and "did you mean 'threshold'?" in err
