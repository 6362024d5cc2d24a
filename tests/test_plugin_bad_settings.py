"""A setting the Trainer cannot be built with (an operator's typo) never raises into the host:
the hooks answer with the error, the plugin stays registered, and a fixed setting works on
the next call, without restarting the host."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundups_training.plugin import TrainingPlugin
from foundups_training.plugins import IsolatingPluginManager
from foundups_training.records import IdleBudget, Query


def test_a_bad_setting_is_an_answer_not_a_dropped_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOUNDUPS_TRAINING_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("FOUNDUPS_TRAINING_LOG", str(tmp_path / "012.txt"))
    monkeypatch.setenv("FOUNDUPS_TRAINING_THRESHOLD", "high")  # the typo
    pm = IsolatingPluginManager()
    plugin = TrainingPlugin()
    pm.register(plugin, name="training")
    query = Query(text="Which module handles youtube auth?", tier="memory")

    answer = pm.call_safely("on_query", query=query)
    assert answer is not None and answer.tier == "none"
    assert "threshold" in answer.error and "ConfigError" in answer.error
    (report,) = pm.call_safely("on_idle", budget=IdleBudget(max_lines=10))
    assert not report.success and "threshold" in report.error
    assert pm.get_plugins() == {plugin} and not pm.failures

    monkeypatch.setenv("FOUNDUPS_TRAINING_THRESHOLD", "0.7")  # fixed, host still running
    try:
        answer = pm.call_safely("on_query", query=query)
        # the router answers now (from an empty store: nothing recalled, no model needed)
        assert answer is not None and "unavailable" not in answer.error
        assert answer.tier == "none" and answer.model == ""  # nothing answered it
        assert answer.error == "no patterns recalled"
    finally:
        plugin.close()
