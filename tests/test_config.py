from __future__ import annotations

from pathlib import Path

import pytest

from foundups_training.config import ConfigError, load_settings


def test_defaults_use_platform_dir_not_drive_letters(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings(env={})
    assert "foundups-training" in str(s.data_dir)
    assert s.threshold == 0.7
    assert s.checkpoint_path.parent == s.data_dir


def test_precedence_file_env_flags(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "config.toml").write_text('threshold = 0.5\nlog_path = "from-file.txt"\n')
    env = {"FOUNDUPS_TRAINING_HOME": str(data), "FOUNDUPS_TRAINING_LOG": "from-env.txt"}
    s = load_settings(env=env)
    assert s.data_dir == data
    assert s.threshold == 0.5
    assert s.log_path == Path("from-env.txt")
    s2 = load_settings({"data_dir": str(tmp_path / "flag"), "threshold": 0.9}, env=env)
    assert s2.data_dir == tmp_path / "flag"
    assert s2.threshold == 0.9


def test_bad_values_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="threshold"):
        load_settings(
            env={"FOUNDUPS_TRAINING_THRESHOLD": "lots", "FOUNDUPS_TRAINING_HOME": str(tmp_path)}
        )
    bad = tmp_path / "bad.toml"
    bad.write_text("threshold = [")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load_settings({"config_file": str(bad)}, env={})
    with pytest.raises(ConfigError, match="between 0 and 1"):
        load_settings({"threshold": 3}, env={})


def test_plugin_lists_are_parsed(tmp_path: Path) -> None:
    s = load_settings(
        env={"FOUNDUPS_TRAINING_PLUGINS": "a, b", "FOUNDUPS_TRAINING_HOME": str(tmp_path)}
    )
    assert s.plugins_allow == ("a", "b")


@pytest.mark.parametrize("key", ["threshold", "fast_path_similarity"])
def test_the_environment_wins_over_the_routing_table_too(tmp_path: Path, key: str) -> None:
    """The ``[routing]`` table may hold the two top-level routing settings; the environment
    still wins over the file there, as everywhere (before, the table outweighed it)."""
    from foundups_training.routing.rules import RoutingRules

    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[foundups_training.routing]\n{key} = 0.9\n")
    env = {"FOUNDUPS_TRAINING_CONFIG": str(cfg), f"FOUNDUPS_TRAINING_{key.upper()}": "0.5"}
    rules = RoutingRules.from_settings(load_settings({"data_dir": tmp_path}, env=env))
    assert getattr(rules, key) == 0.5
    alone = RoutingRules.from_settings(
        load_settings({"data_dir": tmp_path}, env={"FOUNDUPS_TRAINING_CONFIG": str(cfg)})
    )
    assert getattr(alone, key) == 0.9  # the table still counts when nothing else says
