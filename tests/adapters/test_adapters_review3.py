"""Third review of the adapters' base: each test here failed before its fix.

- (a) a host module executed again while instrumented (``importlib.reload``, as a
  developer's auto-reload does, or a fresh import after it was dropped from
  ``sys.modules``) came back with the host's bare class and functions: wrapt's post-import
  hook fires once, so decisions stopped reaching the plugin without a word;
- (b) ``instrument()`` while another thread was in the middle of importing a target module
  (in ``sys.modules``, its body still running) looked for the targets in the half-built
  module, did not find them, and nothing wrapped them when the import completed; so did
  activation from inside a target module's own import (the same thread);
- (c) a module handed to an instrumentor twice got a second wrapper on its module-level
  functions (the "still wrapped" check read class attributes only).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import logging
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import wrapt
from foundups_training.adapters.base import Instrumentor, Target, instrumentors_in_place
from foundups_training.adapters.livechat import PROCESSOR, LiveChatInstrumentor
from foundups_training.adapters.menu import LAUNCH, MenuInstrumentor
from standin_chat import message

WAIT = 30.0  # seconds a test waits for a thread before it fails (never reached when it works)


@pytest.fixture(autouse=True)
def _nothing_instrumented(standin_host: Any) -> None:
    """Start with no adapter in effect (importing ``foundups_training.auto`` activates all)."""
    for inst in instrumentors_in_place():
        inst.uninstrument()


def _layers(value: Any) -> int:
    """How many wrapt wrappers are stacked on ``value``."""
    n = 0
    while isinstance(value, wrapt.FunctionWrapper):
        n += 1
        value = value.__wrapped__
    return n


def _method_layers(cls: type, name: str) -> int:
    return _layers(vars(cls)[name])


# -- (a) a host module executed again -----------------------------------------------------------
def _reload(name: str) -> types.ModuleType:
    return importlib.reload(sys.modules[name])


def _reimport(name: str) -> types.ModuleType:
    del sys.modules[name]
    return importlib.import_module(name)


@pytest.mark.parametrize("again", [_reload, _reimport], ids=["reload", "reimport"])
def test_a_host_module_executed_again_is_wrapped_again(again: Any, decisions: list[Any]) -> None:
    """After the reload the class is a new one with the host's bare methods: the next chat
    message made no decision."""
    mp = importlib.import_module(PROCESSOR)
    inst = LiveChatInstrumentor()
    inst.instrument()
    old_class = mp.MessageProcessor
    old_instance = old_class()
    assert _method_layers(old_class, "process_message") == 1

    mp = again(PROCESSOR)

    assert mp.MessageProcessor is not old_class  # the host's module really ran again
    assert isinstance(mp.__loader__, importlib.machinery.SourceFileLoader)  # its own loader
    assert mp.__spec__.loader is mp.__loader__
    assert _method_layers(mp.MessageProcessor, "process_message") == 1
    assert _method_layers(mp.MessageProcessor, "generate_response") == 1
    mp.MessageProcessor().process_message(message("after", "alice", "hello"))
    old_instance.process_message(message("old", "bob", "hi"))  # made before: still reported
    assert [d.id for d in decisions] == ["after", "old"]

    again(PROCESSOR)  # and again: still one layer
    assert _method_layers(sys.modules[PROCESSOR].MessageProcessor, "process_message") == 1

    inst.uninstrument()  # takes out every wrapper it put in, the old class's too
    assert _method_layers(sys.modules[PROCESSOR].MessageProcessor, "process_message") == 0
    assert _method_layers(old_class, "process_message") == 0


def test_a_reloaded_module_level_function_is_wrapped_once() -> None:
    launch = importlib.import_module(LAUNCH)
    inst = MenuInstrumentor()
    inst.instrument()
    assert _layers(launch.run_training_system) == 1

    for _ in range(2):
        importlib.reload(launch)
        assert _layers(launch.run_training_system) == 1

    inst.uninstrument()
    assert _layers(launch.run_training_system) == 0


def test_a_module_reloaded_while_not_instrumented_stays_the_hosts() -> None:
    mp = importlib.import_module(PROCESSOR)
    inst = LiveChatInstrumentor()
    inst.instrument()
    inst.uninstrument()
    importlib.reload(mp)
    assert _method_layers(mp.MessageProcessor, "process_message") == 0


# -- (b) instrument() during the target module's import --------------------------------------------
RACE = "review3_racing_host"
CALLS: list[str] = []


class _Racing(Instrumentor):
    """An instrumentor of a test module whose body waits on events the test sets."""

    name = "racing"
    targets: ClassVar[tuple[Target, ...]] = (
        Target(RACE, "Host.method", "_wrap"),
        Target(RACE, "function", "_wrap"),
    )

    def _init_state(self) -> None:
        super()._init_state()
        self.applied_event = threading.Event()
        self.applies = threading.Semaphore(0)  # one release per ``_apply``

    def _wrap(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        CALLS.append(wrapped.__name__)
        return wrapped(*args, **kwargs)

    def _apply(self, module: types.ModuleType) -> None:
        super()._apply(module)
        self.applied_event.set()  # the test waits for this, not for a time
        self.applies.release()


BODY = """
import review3_sync as sync

sync.entered.set()
sync.before_classes()


class Host:
    def method(self):
        return "host"


def function():
    return "function"
"""


@pytest.fixture
def racing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[types.SimpleNamespace]:
    """The racing module on ``sys.path``, its ``review3_sync`` events, a fresh instrumentor."""
    (tmp_path / f"{RACE}.py").write_text(BODY, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    sync = types.ModuleType("review3_sync")
    sync.entered = threading.Event()  # type: ignore[attr-defined]
    sync.before_classes = lambda: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "review3_sync", sync)
    CALLS.clear()
    inst = _Racing()
    inst.applied_event.clear()
    yield types.SimpleNamespace(sync=sync, inst=inst)
    inst.uninstrument()
    sys.modules.pop(RACE, None)
    Instrumentor._instances.pop(_Racing, None)


def test_instrument_while_another_thread_imports_the_target(
    racing: types.SimpleNamespace, caplog: pytest.LogCaptureFixture
) -> None:
    proceed = threading.Event()
    racing.sync.before_classes = lambda: proceed.wait(WAIT)
    imported: list[types.ModuleType] = []
    importer = threading.Thread(target=lambda: imported.append(importlib.import_module(RACE)))
    importer.start()
    try:
        assert racing.sync.entered.wait(WAIT)
        assert RACE in sys.modules  # half-built: the classes are not defined yet
        with caplog.at_level(logging.WARNING):
            racing.inst.instrument()
    finally:
        proceed.set()
        importer.join(WAIT)

    assert racing.inst.applied_event.wait(WAIT)
    module = imported[0]
    assert _method_layers(module.Host, "method") == 1
    assert _layers(module.function) == 1
    assert (module.Host().method(), module.function()) == ("host", "function")
    assert CALLS == ["method", "function"]
    assert racing.inst.applied() == [f"{RACE}:Host.method", f"{RACE}:function"]
    assert "not found" not in caplog.text  # nothing was looked for in the half-built module


def test_activation_from_inside_the_target_modules_own_import(
    racing: types.SimpleNamespace,
) -> None:
    """The host's module (or one it imports while it runs) activates the plugin: the same
    thread is importing the target when ``instrument()`` runs."""
    racing.sync.before_classes = racing.inst.instrument

    module = importlib.import_module(RACE)

    assert racing.inst.applied_event.wait(WAIT)
    assert _method_layers(module.Host, "method") == 1
    assert _layers(module.function) == 1
    assert module.function() == "function" and CALLS == ["function"]


def test_an_import_that_failed_meanwhile_is_wrapped_when_the_host_retries(
    racing: types.SimpleNamespace,
) -> None:
    """The other thread's import fails after ``instrument()``: the host's retry runs the
    body again, and those definitions are wrapped (the post-import hook had been spent on the
    half-built module)."""
    proceed = threading.Event()
    runs: list[int] = []

    def before_classes() -> None:
        runs.append(1)
        if len(runs) == 1:
            proceed.wait(WAIT)
            raise RuntimeError("the host's module failed")

    racing.sync.before_classes = before_classes
    failed: list[BaseException] = []

    def import_it() -> None:
        try:
            importlib.import_module(RACE)
        except RuntimeError as exc:
            failed.append(exc)

    importer = threading.Thread(target=import_it)
    importer.start()
    try:
        assert racing.sync.entered.wait(WAIT)
        racing.inst.instrument()
    finally:
        proceed.set()
        importer.join(WAIT)
    assert failed and RACE not in sys.modules

    module = importlib.import_module(RACE)

    assert _method_layers(module.Host, "method") == 1
    assert _layers(module.function) == 1


def test_a_module_handed_over_twice_is_wrapped_once(racing: types.SimpleNamespace) -> None:
    """Two deliveries of one module (here the finder's, at the end of a fresh import, and the
    waiter's, for an ``instrument()`` cycle during that import) wrapped a module-level
    function twice: the "still wrapped" check looked at class attributes only."""
    racing.inst.instrument()
    importlib.import_module(RACE)  # the first import: wrapt's hook
    assert racing.inst.applies.acquire(timeout=WAIT)
    del sys.modules[RACE]
    racing.sync.entered.clear()
    proceed = threading.Event()
    racing.sync.before_classes = lambda: proceed.wait(WAIT)
    imported: list[types.ModuleType] = []
    importer = threading.Thread(target=lambda: imported.append(importlib.import_module(RACE)))
    importer.start()
    try:
        assert racing.sync.entered.wait(WAIT)
        racing.inst.uninstrument()
        racing.inst.instrument()
    finally:
        proceed.set()
        importer.join(WAIT)

    assert racing.inst.applies.acquire(timeout=WAIT)
    assert racing.inst.applies.acquire(timeout=WAIT)
    assert _method_layers(imported[0].Host, "method") == 1
    assert _layers(imported[0].function) == 1
