"""Whatever the plugin side does, the host sees the same return values and the same exceptions.

Each scenario runs twice on the stand-in host: once unwrapped, once instrumented with a
plugin that raises from every hook and a signal receiver that raises on every decision.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from foundups_training.adapters import livechat
from foundups_training.adapters.idle import IdleInstrumentor
from foundups_training.adapters.livechat import PROCESSOR, LiveChatInstrumentor
from foundups_training.hookspecs import hookimpl
from standin_chat import ban, message, timeout

from foundups_training import bridge, plugins, signals


class Hostile:
    """A plugin that raises from every hook."""

    calls = 0

    @hookimpl
    def on_decision(self, decision: Any) -> None:
        Hostile.calls += 1
        raise RuntimeError("plugin exploded on a decision")

    @hookimpl
    def on_idle(self, budget: Any) -> Any:
        Hostile.calls += 1
        raise RuntimeError("plugin exploded while idle")


def _hostile_receiver(sender: object, **_: Any) -> None:
    raise ValueError("observer exploded")


@pytest.fixture
def hostile() -> Iterator[None]:
    def factory() -> plugins.IsolatingPluginManager:
        pm = plugins.IsolatingPluginManager()
        pm.register(Hostile(), name="hostile")
        return pm

    plugins.reset_plugin_manager(factory)
    bridge.connect()
    signals.decision_made.connect(_hostile_receiver, weak=False)
    yield
    signals.decision_made.disconnect(_hostile_receiver)
    plugins.reset_plugin_manager()


def _outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("returned", fn())
    except Exception as exc:  # noqa: BLE001 - the exception is what is compared
        return ("raised", (type(exc), exc.args))


#: The same inputs for both runs (timestamps included).
ITEMS = [
    message("m1", "alice", "hi ✊✋🖐"),
    message("m2", "bob", "maga maga"),
    message("m3", "old", "x", seconds_ago=900),
    timeout("bob", deleted="maga maga"),
    ban("carl"),
    message("m4", "d", "@bot?"),
]


def _chat_scenario() -> list[tuple[str, Any]]:
    mp = importlib.import_module(PROCESSOR)
    p = mp.MessageProcessor(stream_title="s", bot_channel_id="UC-bot")
    m1, m2, m3, tmo, bn, m4 = ITEMS
    runs: list[Callable[[], Any]] = [
        lambda: p.process_message(m1),
        lambda: p.process_message(m2),
        lambda: p.process_message(m3),
        lambda: p.process_message(tmo),
        lambda: p.process_message(bn),
        lambda: p.process_message(None),  # the host raises AttributeError
        lambda: p.process_message({"type": "unknown"}),
        lambda: asyncio.run(p.generate_response(p.process_message(m4))),
        lambda: asyncio.run(p.generate_response({"text": "!explode", "message_id": "m5"})),
        lambda: asyncio.run(p.generate_response({"text": "quiet", "message_id": "m6"})),
        lambda: p.event_handler.handle_timeout_event(None),  # raises in the host
        lambda: p.generate_response(),  # missing argument: TypeError at call time
    ]
    return [_outcome(run) for run in runs]


def _purge() -> None:
    import sys

    for name in [n for n in sys.modules if n.startswith("modules")]:
        del sys.modules[name]


def test_chat_calls_return_and_raise_exactly_as_unwrapped(hostile: None) -> None:
    plain = _chat_scenario()
    _purge()
    LiveChatInstrumentor().instrument()
    wrapped = _chat_scenario()
    assert LiveChatInstrumentor().applied()  # the second run really was wrapped
    assert wrapped == plain
    assert any(kind == "raised" for kind, _ in plain)


def test_failures_inside_the_wrapper_are_swallowed_and_counted(
    hostile: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = _chat_scenario()
    _purge()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("adapter bug")

    monkeypatch.setattr(livechat, "message_decision", broken)
    monkeypatch.setattr(livechat, "moderation_decision", broken)
    inst = LiveChatInstrumentor()
    inst.instrument()
    assert _chat_scenario() == plain
    assert inst.errors["process_message"] >= 2 and inst.errors["handle_timeout_event"] == 1
    assert inst.errors["receiver"] >= 1  # the raising observer, isolated per receiver


def _idle_result() -> tuple[str, Any]:
    mod = importlib.import_module("modules.infrastructure.idle_automation.src.idle_automation_dae")

    def run() -> Any:
        result = asyncio.run(mod.IdleAutomationDAE()._execute_pattern_training())
        return {k: v for k, v in result.items() if k != "duration"}

    return _outcome(run)


def test_idle_with_a_raising_plugin_gives_the_hosts_own_result(
    hostile: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOUNDUPS_TRAINING_IDLE_MINUTES", "0")
    monkeypatch.setenv("FOUNDUPS_TRAINING_IDLE_MAX_CPU", "100")
    plain = _idle_result()
    _purge()
    IdleInstrumentor().instrument()
    Hostile.calls = 0
    assert _idle_result() == plain
    assert Hostile.calls == 1  # the plugin really was asked (and then dropped)
