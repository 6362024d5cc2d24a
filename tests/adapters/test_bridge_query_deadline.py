"""The bridge waits for ``on_query`` as long as the router may legitimately take.

A question runs at most two model tiers, each bounded by the routing rules'
``model_timeout_s``: the bridge's deadline is derived from it (2 × it and a margin; 0, no
limit there, is no bound here), from the settings the plugin itself uses, and falls back to
``QUERY_TIMEOUT_S`` when they cannot be read. Real settings from a real config file, real
bridge and plugin manager.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from foundups_training.hookspecs import hookimpl

from foundups_training import bridge, plugins
from foundups_training.config import Settings, load_settings
from foundups_training.plugins import IsolatingPluginManager
from foundups_training.records import Answer, Query

HOLD_S = 20.0


class Holding:
    """Holds its first question until :attr:`release` is set."""

    def __init__(self, hold: bool = True) -> None:
        self.release = threading.Event()
        self.queries = 0 if hold else 1  # holds the first question only

    @hookimpl
    def on_query(self, query: Query) -> Answer | None:
        self.queries += 1
        if self.queries == 1:
            self.release.wait(HOLD_S)
        return Answer(text=f"answer to {query.text}", tier="plugin", model="holding")


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The config file the settings are read from (written by each test)."""
    path = tmp_path / "config.toml"
    monkeypatch.setenv("FOUNDUPS_TRAINING_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FOUNDUPS_TRAINING_CONFIG", str(path))
    return path


@pytest.fixture
def pm() -> Iterator[IsolatingPluginManager]:
    manager = IsolatingPluginManager()
    plugins.reset_plugin_manager(lambda: manager)
    yield manager
    bridge.disconnect()
    plugins.reset_plugin_manager()


def _deadline(pm: IsolatingPluginManager) -> float:
    """The deadline as a fresh connection reads it."""
    bridge.disconnect()
    bridge.connect()
    return bridge.query_deadline(pm)


def test_the_deadline_is_two_model_tiers_and_a_margin(
    config: Path, pm: IsolatingPluginManager
) -> None:
    config.write_text("[routing]\nmodel_timeout_s = 1000\n", encoding="utf-8")
    assert _deadline(pm) == 2 * 1000 + bridge.QUERY_MARGIN_S
    # Read once per connection: a later change applies from the next one.
    config.write_text("[routing]\nmodel_timeout_s = 100\n", encoding="utf-8")
    assert bridge.query_deadline(pm) == 2 * 1000 + bridge.QUERY_MARGIN_S
    assert _deadline(pm) == 2 * 100 + bridge.QUERY_MARGIN_S


def test_no_model_limit_is_no_bridge_limit(config: Path, pm: IsolatingPluginManager) -> None:
    config.write_text("[routing]\nmodel_timeout_s = 0\n", encoding="utf-8")
    assert _deadline(pm) == 0.0


def test_unreadable_settings_fall_back_to_the_constant(
    config: Path,
    pm: IsolatingPluginManager,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config.write_text("[routing\nmodel_timeout_s = = 1\n", encoding="utf-8")  # not TOML
    monkeypatch.setattr(bridge, "QUERY_TIMEOUT_S", 7.0)
    pm.register(Holding(hold=False), name="holding")
    bridge.connect()
    with caplog.at_level(logging.WARNING, logger="foundups_training.bridge"):
        answer = bridge.ask(Query("still answered"))  # never raises into the host
    assert answer is not None and answer.text == "answer to still answered"
    assert bridge.query_deadline(pm) == 7.0
    [line] = [r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage()]
    assert "ConfigError" in line and "on_query is waited for 7 s" in line


def test_the_settings_of_a_trainer_given_to_the_plugin_win(
    config: Path, pm: IsolatingPluginManager, tmp_path: Path
) -> None:
    """``plugins.use_only(TrainingPlugin(Trainer(settings)))``: that Trainer's routing rules
    answer, so the bridge waits as long as they may take, whatever the environment says."""
    from foundups_training.engine import Trainer
    from foundups_training.plugin import TrainingPlugin

    config.write_text("[routing]\nmodel_timeout_s = 1000\n", encoding="utf-8")
    own = Settings(data_dir=tmp_path / "own", extra={"routing": {"model_timeout_s": 50.0}})
    assert load_settings().extra["routing"]["model_timeout_s"] == 1000
    plugin = TrainingPlugin(Trainer(own))
    pm.register(plugin, name="training")
    try:
        assert _deadline(pm) == 2 * 50 + bridge.QUERY_MARGIN_S
    finally:
        plugin.close()


def test_a_question_is_cut_off_at_the_derived_deadline(
    config: Path,
    pm: IsolatingPluginManager,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """End to end: a plugin still in ``on_query`` past 2 × ``model_timeout_s`` (the margin
    made 0 here) costs the caller that deadline, not the old fixed 900 s."""
    config.write_text("[routing]\nmodel_timeout_s = 0.5\n", encoding="utf-8")
    monkeypatch.setattr(bridge, "QUERY_MARGIN_S", 0.0, raising=False)
    holding = Holding()
    pm.register(holding, name="holding")
    bridge.connect()
    try:
        with caplog.at_level(logging.WARNING, logger="foundups_training.bridge"):
            assert bridge.ask(Query("first")) is None
        assert not holding.release.is_set()  # it gave up on the plugin, not the reverse
        said = [r.getMessage() for r in caplog.records if "on_query" in r.getMessage()]
        assert "plugin holding did not return from on_query within 1 s" in said[0], said
    finally:
        holding.release.set()
    # Once the held call returns, questions are answered again (and nothing is left
    # running into the next test).
    answer = None
    for _ in range(int(HOLD_S / 0.02)):
        answer = bridge.ask(Query("second"))
        if answer is not None:
            break
        threading.Event().wait(0.02)
    assert answer is not None and answer.text == "answer to second"
