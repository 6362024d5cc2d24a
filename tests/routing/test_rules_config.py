"""The ``[foundups_training.routing]`` table: checked when the settings are read.

A mistake there used to surface only when a question was answered (a raw ValueError and a
traceback), or not at all: a string where a list of patterns belongs was read as one
pattern per character, so every question with a "w", an "h" or a "y" went to Qwen.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from foundups_training import cli
from foundups_training.config import ConfigError, Settings, load_settings
from foundups_training.routing import RoutingRules

LOOKUP = "Which module handles youtube auth?"


def _settings_with(tmp_path: Path, routing: str) -> Settings:
    config = tmp_path / "config.toml"
    config.write_text("[foundups_training.routing]\n" + routing)
    return load_settings({"data_dir": tmp_path / "data", "config_file": config}, env={})


def test_a_string_where_a_list_of_patterns_belongs_is_refused() -> None:
    with pytest.raises(ConfigError, match="reasoning_patterns") as err:
        RoutingRules().updated({"reasoning_patterns": "^why"})
    # the message shows the fix, not only the fault
    assert "reasoning_patterns = ['^why']" in str(err.value)


def test_the_same_string_in_the_config_file_stops_the_command(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="reasoning_patterns") as err:
        _settings_with(tmp_path, 'reasoning_patterns = "^why"\n')
    assert str(tmp_path / "config.toml") in str(err.value)


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({"bogus": 1}, ["unknown routing setting 'bogus'"]),
        ({"gemma_max_option": 2}, ["unknown routing setting", "did you mean 'gemma_max_options'"]),
        ({"gemma_max_options": "abc"}, ["'gemma_max_options'", "a number is expected"]),
        ({"gemma_max_options": 2.5}, ["'gemma_max_options'", "whole number"]),
        ({"gemma_max_options": True}, ["'gemma_max_options'", "a number is expected"]),
        ({"recall_n": -3}, ["'recall_n'", "at least 0"]),
        ({"model_weight": float("nan")}, ["'model_weight'"]),
        ({"module_patterns": [r"\bwhich\b", 5]}, ["'module_patterns'", "strings"]),
        ({"module_patterns": [r"(which"]}, ["'module_patterns'", "'(which'", "regular expression"]),
    ],
)
def test_mistakes_name_the_setting(table: dict[str, object], words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        RoutingRules().updated(table)
    for word in words:
        assert word in str(err.value)


@pytest.mark.parametrize(
    "routing",
    [
        'reasoning_patterns = "^why"\n',
        "bogus = 1\n",
        'gemma_max_options = "abc"\n',
        'reasoning_patterns = ["(why"]\n',
        "routing_max = [1, 2]\n",
    ],
)
def test_the_command_line_says_configuration_error(
    tmp_path: Path, routing: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real CLI, as the operator runs it: one line, exit status 2, no traceback (before,
    ``status`` accepted every one of these and ``ask`` failed each answer)."""
    config = tmp_path / "config.toml"
    config.write_text("[foundups_training.routing]\n" + routing)
    code = cli.main(["status", "--data-dir", str(tmp_path / "data"), "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("foundups-training: configuration error: config file ")
    assert "Traceback" not in err and err.count("\n") == 1


def test_a_valid_table_routes_as_it_always_did(tmp_path: Path) -> None:
    """Lists of patterns, whole numbers, numbers for weights (an int where a float is
    expected, a number in a string as at the top level): read exactly as before."""
    settings = _settings_with(
        tmp_path,
        'reasoning_patterns = ["\\\\bponder\\\\b"]\n'
        "gemma_max_options = 2\n"
        "max_options = 4.0\n"
        "model_weight = 1\n"
        'recall_n = "12"\n',
    )
    rules = RoutingRules.from_settings(settings)
    assert rules.reasoning_patterns == (r"\bponder\b",)
    assert rules.intent("ponder the stream") == "reasoning"
    assert rules.intent("why is it so") == "lookup"
    assert rules.intent(LOOKUP) == "module_location"
    assert (rules.gemma_max_options, rules.max_options, rules.recall_n) == (2, 4, 12)
    assert isinstance(rules.max_options, int) and isinstance(rules.model_weight, float)


def test_the_defaults_are_untouched_by_an_empty_or_identical_table() -> None:
    defaults = RoutingRules()
    assert defaults.updated({}) == defaults
    same = {"reasoning_patterns": list(defaults.reasoning_patterns), "recall_n": 16}
    assert defaults.updated(same) == defaults
    assert defaults.intent(LOOKUP) == "module_location"
    assert defaults.intent("Why does the bot check the lowest score first?") == "reasoning"
