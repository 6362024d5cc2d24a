"""Instrument / uninstrument: idempotent, reversible, before or after the host's import."""

from __future__ import annotations

import importlib
import inspect

import wrapt
from foundups_training.adapters.idle import IdleInstrumentor
from foundups_training.adapters.livechat import PROCESSOR, LiveChatInstrumentor
from foundups_training.adapters.menu import MenuInstrumentor


def _raw(cls: type, name: str) -> object:
    return cls.__dict__[name]


def test_one_instance_per_class() -> None:
    assert LiveChatInstrumentor() is LiveChatInstrumentor()
    assert LiveChatInstrumentor() is not IdleInstrumentor()


def test_instrument_before_import_wraps_on_import() -> None:
    inst = LiveChatInstrumentor()
    inst.instrument()
    assert inst.applied() == []  # nothing of the host imported yet
    mp = importlib.import_module(PROCESSOR)
    assert isinstance(_raw(mp.MessageProcessor, "process_message"), wrapt.FunctionWrapper)
    assert f"{PROCESSOR}:MessageProcessor.process_message" in inst.applied()


def test_instrument_after_import_wraps_at_once() -> None:
    mp = importlib.import_module(PROCESSOR)
    original = _raw(mp.MessageProcessor, "process_message")
    LiveChatInstrumentor().instrument()
    wrapped = _raw(mp.MessageProcessor, "process_message")
    assert isinstance(wrapped, wrapt.FunctionWrapper)
    assert wrapped.__wrapped__ is original


def test_instrument_and_uninstrument_are_idempotent() -> None:
    mp = importlib.import_module(PROCESSOR)
    original = _raw(mp.MessageProcessor, "process_message")
    inst = LiveChatInstrumentor()
    inst.instrument()
    inst.instrument()
    once = _raw(mp.MessageProcessor, "process_message")
    assert once.__wrapped__ is original  # one layer, not two
    inst.uninstrument()
    inst.uninstrument()
    assert _raw(mp.MessageProcessor, "process_message") is original
    assert not inst.is_instrumented and inst.applied() == []


def test_reinstrument_after_uninstrument() -> None:
    mp = importlib.import_module(PROCESSOR)
    inst = LiveChatInstrumentor()
    inst.instrument()
    inst.uninstrument()
    inst.instrument()
    assert isinstance(_raw(mp.MessageProcessor, "process_message"), wrapt.FunctionWrapper)


def test_uninstrument_before_import_leaves_the_host_alone() -> None:
    inst = LiveChatInstrumentor()
    inst.instrument()
    inst.uninstrument()
    mp = importlib.import_module(PROCESSOR)  # the pending hook fires but is inactive
    assert not isinstance(_raw(mp.MessageProcessor, "process_message"), wrapt.FunctionWrapper)


def test_async_methods_stay_coroutine_functions() -> None:
    LiveChatInstrumentor().instrument()
    IdleInstrumentor().instrument()
    mp = importlib.import_module(PROCESSOR)
    idle = importlib.import_module("modules.infrastructure.idle_automation.src.idle_automation_dae")
    assert inspect.iscoroutinefunction(mp.MessageProcessor.generate_response)
    assert inspect.iscoroutinefunction(mp.MessageProcessor().generate_response)
    assert inspect.iscoroutinefunction(idle.IdleAutomationDAE._execute_pattern_training)


def test_every_target_of_every_instrumentor_is_applied() -> None:
    for cls in (LiveChatInstrumentor, IdleInstrumentor, MenuInstrumentor):
        inst = cls()
        inst.instrument()
        for module in inst.instrumentation_dependencies():
            importlib.import_module(module)
        assert inst.applied() == sorted(f"{t.module}:{t.path}" for t in cls.targets)


def test_module_level_function_wrapped_before_from_import_binds_it() -> None:
    # main.py does "from ...launch import run_training_system" at import time.
    MenuInstrumentor().instrument()
    launch = importlib.import_module("modules.ai_intelligence.training_system.scripts.launch")
    from modules.ai_intelligence.training_system.scripts.launch import run_training_system

    assert run_training_system is launch.run_training_system
    assert isinstance(run_training_system, wrapt.FunctionWrapper)


def test_auto_activation_loads_the_entry_point_group() -> None:
    import foundups_training.auto as auto

    active = auto.activate()
    assert set(active) >= {"livechat", "idle", "menu"}
    assert all(i.is_instrumented for i in active.values())
    assert auto.activate() == active  # idempotent
    auto.deactivate()
    assert not any(i.is_instrumented for i in active.values())


def test_auto_skips_disabled_and_broken_adapters(monkeypatch) -> None:
    from importlib.metadata import EntryPoint

    import foundups_training.auto as auto

    monkeypatch.setenv("FOUNDUPS_TRAINING_DISABLE", "idle")
    group = auto.ADAPTER_GROUP
    eps = [
        EntryPoint("broken", "foundups_training.adapters.no_such_module:Nope", group),
        EntryPoint("idle", "foundups_training.adapters.idle:IdleInstrumentor", group),
        EntryPoint("livechat", "foundups_training.adapters.livechat:LiveChatInstrumentor", group),
    ]
    before = len(auto.ERRORS)
    active = auto.activate(eps)
    assert list(active) == ["livechat"]
    assert auto.ERRORS[before][0] == "broken"
    assert not IdleInstrumentor().is_instrumented
    auto.deactivate()


def test_auto_off_switch(monkeypatch) -> None:
    import foundups_training.auto as auto

    monkeypatch.setenv("FOUNDUPS_TRAINING_OFF", "1")
    assert auto.activate() == {}
    assert not LiveChatInstrumentor().is_instrumented
