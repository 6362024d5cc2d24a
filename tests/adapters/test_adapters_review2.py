"""Second review of the adapters: each test here failed before its fix.

- (a) activation after the host's imports: main.py binds the training entry points with
  ``from … import`` at import time, so wrapping only the defining module left main.py's
  names (the ones its menu calls) on the host's broken originals;
- (b) a wrapped host method pickles and copies as the bare one does (wrapt's proxies refuse
  ``pickle``, ``copy.copy`` and ``copy.deepcopy`` outright);
- (c) the replaced idle phase takes its arguments exactly as the host's method does, and
  hands back what a host method that is not a coroutine function returns;
- (d) so do the replaced menu entry points (``run_training_system``,
  ``execute_training_command``).
"""

from __future__ import annotations

import asyncio
import copy
import gc
import importlib
import pickle
import sys
import types
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from foundups_training.adapters import menu as menu_adapter
from foundups_training.adapters.base import instrumentors_in_place
from foundups_training.adapters.idle import IDLE_DAE, IdleInstrumentor
from foundups_training.adapters.livechat import PROCESSOR, LiveChatInstrumentor
from foundups_training.adapters.menu import COMMANDS, LAUNCH, MenuInstrumentor
from foundups_training.hookspecs import hookimpl
from standin_chat import message

from foundups_training import bridge, plugins
from foundups_training.config import Settings
from foundups_training.records import IdleReport


@pytest.fixture(autouse=True)
def _nothing_instrumented(standin_host: Any) -> None:
    """Start with no adapter in effect. The shared fixture's first reset imports
    ``foundups_training.auto``, whose import activates every adapter: the first adapter test
    of a process would otherwise start instrumented."""
    for inst in instrumentors_in_place():
        inst.uninstrument()


def _outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("returned", fn())
    except Exception as exc:  # noqa: BLE001 - the exception's type is what is compared
        return ("raised", type(exc))


# -- (a) activation after main.py's imports ------------------------------------------------------
@pytest.fixture
def plugin_menu(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The plugin's menu, recording the Trainer it was opened on."""
    seen: list[Any] = []
    monkeypatch.setattr(menu_adapter, "_plugin_menu", lambda: lambda trainer: seen.append(trainer))
    monkeypatch.setattr(menu_adapter, "current_trainer", lambda: "THE-TRAINER")
    return seen


def test_option_11_reaches_the_plugin_when_main_py_was_imported_first(
    plugin_menu: list[Any],
) -> None:
    """``import foundups_training.auto`` placed after main.py's imports (the docs allow it)
    wrapped ``launch.run_training_system`` but not main.py's own name for it, which is what
    the menu calls: option 11 still ran the host's broken submenu."""
    host_main = importlib.import_module("main")  # "from …launch import run_training_system"
    original = host_main.run_training_system

    MenuInstrumentor().instrument()
    host_main.run_training_system()

    assert plugin_menu == ["THE-TRAINER"]
    assert host_main.run_training_system is importlib.import_module(LAUNCH).run_training_system
    commands = importlib.import_module(COMMANDS)
    assert host_main.execute_training_command is commands.execute_training_command
    MenuInstrumentor().uninstrument()
    assert host_main.run_training_system is original  # the host's own again


def test_only_the_hosts_own_function_is_rebound(
    plugin_menu: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module whose same-named global is something else keeps it; a name the host rebinds
    while instrumented is left to the host by ``uninstrument``."""
    launch = importlib.import_module(LAUNCH)
    original = launch.run_training_system
    other = types.ModuleType("host_other")
    other.run_training_system = lambda: "theirs"  # type: ignore[attr-defined]
    alias = types.ModuleType("host_alias")
    alias.run_training_system = original  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "host_other", other)
    monkeypatch.setitem(sys.modules, "host_alias", alias)

    inst = MenuInstrumentor()
    inst.instrument()

    assert other.run_training_system() == "theirs"
    assert alias.run_training_system is launch.run_training_system
    mine = lambda: "rebound"  # noqa: E731 - the host assigns its own while instrumented
    alias.run_training_system = mine  # type: ignore[attr-defined]
    inst.uninstrument()
    assert alias.run_training_system is mine
    assert launch.run_training_system is original


# -- (b) pickle and copy ---------------------------------------------------------------------------
def _copies() -> list[tuple[str, Any]]:
    """What pickling and copying the host's callables gives (compared, not the objects)."""
    mp = importlib.import_module(PROCESSOR)
    launch = importlib.import_module(LAUNCH)
    p = mp.MessageProcessor(stream_title="s")
    item = message("m1", "alice", "hello")

    def bound_pickled() -> Any:
        return pickle.loads(pickle.dumps(p.process_message))(item)["message_id"]

    def bound_deepcopied() -> Any:
        held = copy.deepcopy({"callback": p.process_message})["callback"]
        return (held.__self__ is not p, held(item)["message_id"])

    def bound_copied() -> Any:
        return copy.copy(p.process_message).__self__ is p

    def through_class_pickled() -> Any:
        fn = pickle.loads(pickle.dumps(mp.MessageProcessor.process_message))
        return fn(p, item)["message_id"]

    def function_pickled() -> Any:
        return pickle.loads(pickle.dumps(launch.run_training_system)) is launch.run_training_system

    def function_copied() -> Any:
        fn = launch.run_training_system
        return (copy.copy(fn) is fn, copy.deepcopy(fn) is fn)

    runs = [
        bound_pickled,
        bound_deepcopied,
        bound_copied,
        through_class_pickled,
        function_pickled,
        function_copied,
    ]
    return [_outcome(run) for run in runs]


def _purge() -> None:
    for name in [n for n in sys.modules if n == "modules" or n.startswith("modules.")]:
        del sys.modules[name]


def test_wrapped_host_callables_pickle_and_copy_as_bare_ones(decisions: list[Any]) -> None:
    """wrapt's proxies raise NotImplementedError from ``__reduce__``/``__copy__``/
    ``__deepcopy__``: a host object holding a bound method of a wrapped class (a callback
    table it deep-copies, a task it pickles for a worker process) broke once instrumented."""
    plain = _copies()
    _purge()
    LiveChatInstrumentor().instrument()
    MenuInstrumentor().instrument()

    wrapped = _copies()

    assert LiveChatInstrumentor().applied() and MenuInstrumentor().applied()
    assert wrapped == plain
    assert all(kind == "returned" for kind, _ in plain)
    assert decisions  # the copies still report (they are the wrapped method)


# -- (c) the idle phase's arguments and return ---------------------------------------------------
class _Idle:
    """An idle plugin that answers at once."""

    @hookimpl
    def on_idle(self, budget: Any) -> IdleReport:
        return IdleReport(lines_processed=7)


@pytest.fixture
def idle_plugin(host_settings: Settings) -> Iterator[None]:
    plugins.use_only(_Idle(), name="idle-now")
    bridge.connect()
    yield
    plugins.reset_plugin_manager()


def test_the_idle_phase_raises_argument_errors_at_call_time(idle_plugin: None) -> None:
    """The wrapper returned its own coroutine without calling the host's method: a call with
    arguments the host's method does not take raised no TypeError at all (the plugin's
    answer came back), where unwrapped it raises at the call."""
    mod = importlib.import_module(IDLE_DAE)
    dae = mod.IdleAutomationDAE()
    unwrapped = _outcome(lambda: dae._execute_pattern_training("unexpected"))

    IdleInstrumentor().instrument()
    wrapped = _outcome(lambda: dae._execute_pattern_training("unexpected"))

    assert wrapped == unwrapped == ("raised", TypeError)


def test_a_host_phase_that_is_not_a_coroutine_function_gets_its_own_value(
    idle_plugin: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host whose phase 3 returns its dict directly (made sync) got a coroutine from the
    wrapper instead: ``training_result["success"]`` then failed in ``run_idle_tasks``."""
    mod = importlib.import_module(IDLE_DAE)
    answer = {"task": "pattern_training", "success": False, "error": "host's own"}
    monkeypatch.setattr(mod.IdleAutomationDAE, "_execute_pattern_training", lambda self: answer)

    IdleInstrumentor().instrument()
    got = mod.IdleAutomationDAE()._execute_pattern_training()

    assert got is answer


def test_the_plugins_answer_leaves_no_unawaited_host_coroutine(idle_plugin: None) -> None:
    """The host's coroutine, created up front for its argument check, is closed when the
    plugin answers instead: no "was never awaited" warning in the host's log."""
    mod = importlib.import_module(IDLE_DAE)
    IdleInstrumentor().instrument()
    gc.collect()  # what earlier tests left unawaited is not this test's

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = asyncio.run(mod.IdleAutomationDAE()._execute_pattern_training())
        gc.collect()

    assert result["lines_processed"] == 7  # the plugin's answer, not the host's
    assert not [w for w in caught if "never awaited" in str(w.message)]


# -- (d) the replaced menu entry points take their arguments as the host's do --------------------
def test_the_menu_entry_points_raise_argument_errors_as_unwrapped(
    plugin_menu: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """The menu wrappers ran the plugin's side whatever they were called with: a missing or
    unexpected argument, which the host's functions reject with TypeError, opened the
    plugin's menu or ran its command instead."""
    launch = importlib.import_module(LAUNCH)
    commands = importlib.import_module(COMMANDS)
    calls: list[Callable[[], Any]] = [
        lambda: launch.run_training_system("unexpected"),
        lambda: commands.execute_training_command("status"),
        lambda: commands.execute_training_command("status", None, False, "extra"),
        lambda: commands.execute_training_command("status", None, json=True),
    ]
    unwrapped = [_outcome(call) for call in calls]

    MenuInstrumentor().instrument()
    wrapped = [_outcome(call) for call in calls]

    assert wrapped == unwrapped == [("raised", TypeError)] * len(calls)
    assert plugin_menu == []
    capsys.readouterr()


def test_the_command_is_read_by_the_hosts_parameter_names(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Keyword calls in any order still reach the plugin's command with its own values."""
    asked: list[tuple[str, bool]] = []

    def run_ask(question: str, json_output: bool, out: Any) -> dict[str, Any]:
        asked.append((question, json_output))
        return {"command": "ask"}

    monkeypatch.setattr(menu_adapter, "_run_ask", run_ask)
    MenuInstrumentor().instrument()
    commands = importlib.import_module(COMMANDS)

    commands.execute_training_command(json_output=True, targets="where?", command="ask")
    commands.execute_training_command("ask", json_output=False, targets="why?")

    assert asked == [("where?", True), ("why?", False)]
    capsys.readouterr()
