"""The first chat message of a process builds nothing on the host's thread.

The training plugin's Trainer and live learner (about 30 modules to import) are built in a
background thread; decisions that arrive before the learner is ready are queued, in order,
neither dropped nor waited for. Real plugin manager, real bridge, the stand-in host's
MessageProcessor, the real embedded Chroma memory.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from foundups_training.adapters.livechat import LiveChatInstrumentor
from standin_chat import message

from foundups_training import bridge, config, live, plugins
from foundups_training.config import Settings
from foundups_training.plugin import TrainingPlugin
from foundups_training.records import Decision

MP = "modules.communication.livechat.src.message_processor"


@pytest.fixture
def builders(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, threading.Thread]]:
    """Which thread built the settings/Trainer and which the LiveLearner."""
    built: list[tuple[str, threading.Thread]] = []
    real_load = config.load_settings

    def load_settings(*args: Any, **kwargs: Any) -> Settings:
        built.append(("trainer", threading.current_thread()))
        return real_load(*args, **kwargs)

    class RecordingLearner(live.LiveLearner):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            built.append(("live", threading.current_thread()))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(config, "load_settings", load_settings)
    monkeypatch.setattr(live, "LiveLearner", RecordingLearner)
    return built


@pytest.fixture
def fresh_plugin(host_settings: Settings) -> Iterator[TrainingPlugin]:
    """A training plugin built as the entry point builds it (no Trainer yet), registered as
    the only plugin, the bridge connected."""
    plugin = TrainingPlugin()

    plugins.use_only(plugin)
    bridge.connect()
    yield plugin
    plugin.close()
    plugins.reset_plugin_manager()


def test_the_first_chat_message_builds_nothing_on_the_hosts_thread(
    fresh_plugin: TrainingPlugin, builders: list[tuple[str, threading.Thread]]
) -> None:
    LiveChatInstrumentor().instrument()
    host = importlib.import_module(MP).MessageProcessor(stream_title="first")
    host.process_message(message("f1", "zoe", "first message of the process"))
    here = threading.current_thread()
    assert here not in [thread for _, thread in builders]

    assert bridge.drain(30)  # the decision reaches on_decision on the bridge's thread
    assert fresh_plugin.wait_ready(120)
    assert sorted(what for what, _ in builders) == ["live", "trainer"]
    assert here not in [thread for _, thread in builders]
    # The decision was kept and written, not dropped.
    assert fresh_plugin.live.flush(60)
    stored = fresh_plugin.trainer.memory.get("chat-f1")
    assert stored is not None and "first message of the process" in stored.context


def test_decisions_before_the_learner_is_ready_are_queued_in_order(
    fresh_plugin: TrainingPlugin,
    builders: list[tuple[str, threading.Thread]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The learner's build is held back: the host's calls return meanwhile, and every
    decision reaches the store once it is built, in the order the host made them."""
    gate = threading.Event()
    here = threading.current_thread()
    recording_load = config.load_settings

    def held_load(*args: Any, **kwargs: Any) -> Settings:
        if threading.current_thread() is not here:  # never hold the caller (no hang)
            gate.wait(120)
        return recording_load(*args, **kwargs)

    monkeypatch.setattr(config, "load_settings", held_load)
    pm = plugins.get_plugin_manager()
    for i in range(3):
        decision = Decision(
            id=f"q{i}",
            source="live_chat",
            action="ignore",
            context={"text": f"line {i}", "author": "ann"},
            subject="UC-ann",
            stream="held",
        )
        assert pm.call_safely("on_decision", decision=decision) == []
    assert here not in [thread for _, thread in builders]
    assert not fresh_plugin.ready  # still being built: the calls did not wait for it

    gate.set()
    assert fresh_plugin.wait_ready(120)
    learner = fresh_plugin.live
    assert learner.flush(60)
    stats = learner.stats()
    assert (stats["submitted"], stats["dropped"], stats["failed"]) == (3, 0, 0), stats
    memory = fresh_plugin.trainer.memory
    last = memory.get("chat-q2")
    assert last is not None and "recent: ann: line 0 | ann: line 1" in last.context
    assert all(memory.get(f"chat-q{i}") is not None for i in range(2))


def test_warm_up_at_activation_builds_the_learner_before_any_decision(
    fresh_plugin: TrainingPlugin, builders: list[tuple[str, threading.Thread]]
) -> None:
    plugins.warm_up().join(120)
    assert fresh_plugin.wait_ready(120)
    assert sorted(what for what, _ in builders) == ["live", "trainer"]
    assert threading.current_thread() not in [thread for _, thread in builders]


def test_a_learner_that_cannot_be_built_is_one_warning_and_never_reaches_the_host(
    fresh_plugin: TrainingPlugin,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("threshold = [unclosed\n")
    monkeypatch.setenv("FOUNDUPS_TRAINING_CONFIG", str(bad))
    pm = plugins.get_plugin_manager()
    with caplog.at_level(logging.WARNING):
        for i in range(3):
            decision = Decision(id=f"b{i}", source="live_chat", action="ignore")
            assert pm.call_safely("on_decision", decision=decision) == []
        assert not fresh_plugin.wait_ready(120)
        decision = Decision(id="b3", source="live_chat", action="ignore")
        assert pm.call_safely("on_decision", decision=decision) == []
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.getMessage().startswith("live learning is off for this process: ConfigError")
    assert record.exc_info is None
    assert pm.has_plugin("training")  # dropped nothing: on_idle / on_query report their own
