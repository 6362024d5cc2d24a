"""``instrument()`` racing another thread's import of a target module, in every order.

The importing thread goes through three steps the instrumentor cannot see from outside:
the finders (``sys.meta_path``: wrapt's and the base's watcher among them) found the module;
the import system put it in ``sys.modules`` (still initialising); its body ran. ``instrument()``
has three of its own: it scans ``sys.modules``, installs the watcher, registers wrapt's
post-import hooks. Before the fix, an import whose finders had run before the hook was
registered, and whose module was not yet in ``sys.modules`` when it was, ended with the
module never wrapped: wrapt's hook waited for an import that had already passed its finder,
and the watcher stood aside for a hook it took to be pending.

The test module comes from a finder and loader of its own that stop on events between the
steps, so each order is reached on purpose, not by timing.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import itertools
import sys
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
import wrapt
from foundups_training.adapters import base
from foundups_training.adapters.base import Instrumentor, Target, instrumentors_in_place

WAIT = 30.0  # seconds a test waits for a thread before it fails (never reached when it works)
NAME = "import_race_host"
CALLS: list[str] = []

NOT_STARTED, FOUND, INSERTED, DONE = range(4)
STEPS = ("not-started", "found", "inserted", "done")


@pytest.fixture(autouse=True)
def _nothing_instrumented(standin_host: Any) -> None:
    """Start with no adapter in effect (importing ``foundups_training.auto`` activates all)."""
    for inst in instrumentors_in_place():
        inst.uninstrument()


class _Race(Instrumentor):
    """An instrumentor of the test module; its ``_apply`` tells the test it ran."""

    name = "import-race"
    targets: ClassVar[tuple[Target, ...]] = (
        Target(NAME, "Host.method", "_wrap"),
        Target(NAME, "function", "_wrap"),
    )

    def _init_state(self) -> None:
        super()._init_state()
        self.applied_cond = threading.Condition()

    def _wrap(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        CALLS.append(wrapped.__name__)
        return wrapped(*args, **kwargs)

    def _apply(self, module: types.ModuleType) -> None:
        super()._apply(module)
        with self.applied_cond:
            self.applied_cond.notify_all()


def _body(module: types.ModuleType) -> None:
    exec(  # the test module's own body
        "class Host:\n    def method(self):\n        return 'host'\n\n\n"
        "def function():\n    return 'function'\n",
        module.__dict__,
    )


class _Loader(importlib.abc.Loader):
    """Stops after the module was found (``create_module``: not in ``sys.modules`` yet) and
    after it was put there (``exec_module``: before its body runs)."""

    def __init__(self) -> None:
        self.found = threading.Event()
        self.inserted = threading.Event()
        self.release_found = threading.Event()
        self.release_inserted = threading.Event()
        self.on_found: Callable[[], None] = lambda: None
        self.body: Callable[[types.ModuleType], None] = _body

    def create_module(self, spec: Any) -> None:
        assert NAME not in sys.modules
        self.on_found()
        self.found.set()
        assert self.release_found.wait(WAIT)
        return None  # the default module

    def exec_module(self, module: types.ModuleType) -> None:
        assert sys.modules[NAME] is module
        self.inserted.set()
        assert self.release_inserted.wait(WAIT)
        self.body(module)


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, loader: _Loader) -> None:
        self.loader = loader

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != NAME:
            return None
        return importlib.util.spec_from_loader(name, self.loader)


@pytest.fixture
def race() -> Iterator[types.SimpleNamespace]:
    """The test module's finder (last on ``sys.meta_path``), its loader, a fresh instrumentor."""
    loader = _Loader()
    finder = _Finder(loader)
    sys.meta_path.append(finder)
    CALLS.clear()
    inst = _Race()
    yield types.SimpleNamespace(loader=loader, inst=inst)
    loader.release_found.set()
    loader.release_inserted.set()
    inst.uninstrument()
    _join_waiters()
    sys.meta_path.remove(finder)
    sys.modules.pop(NAME, None)
    Instrumentor._instances.pop(_Race, None)


class _Importer:
    """The other thread's import, moved forward one step at a time by the test."""

    def __init__(self, loader: _Loader) -> None:
        self.loader = loader
        self.step = NOT_STARTED
        self.module: list[types.ModuleType] = []
        self.error: list[BaseException] = []
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            self.module.append(importlib.import_module(NAME))
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            self.error.append(exc)

    def advance_to(self, step: int) -> None:
        if self.step < FOUND <= step:
            self.thread.start()
            assert self.loader.found.wait(WAIT)
        if self.step < INSERTED <= step:
            self.loader.release_found.set()
            assert self.loader.inserted.wait(WAIT)
        if self.step < DONE <= step:
            self.loader.release_inserted.set()
            self.thread.join(WAIT)
            assert not self.thread.is_alive()
        self.step = max(self.step, step)


def _layers(value: Any) -> int:
    """How many wrapt wrappers are stacked on ``value``."""
    n = 0
    while isinstance(value, wrapt.FunctionWrapper):
        n += 1
        value = value.__wrapped__
    return n


def _join_waiters() -> None:
    """Let every thread the base started to wait for an import finish."""
    for thread in threading.enumerate():
        if thread.name.startswith("foundups-training-import-"):
            thread.join(WAIT)


def _assert_wrapped_once(inst: _Race, module: types.ModuleType) -> None:
    with inst.applied_cond:
        assert inst.applied_cond.wait_for(
            lambda: _layers(vars(module.Host)["method"]) and _layers(module.function), WAIT
        ), "the module was never wrapped"
    _join_waiters()
    assert _layers(vars(module.Host)["method"]) == 1
    assert _layers(module.function) == 1
    assert (module.Host().method(), module.function()) == ("host", "function")
    assert CALLS == ["method", "function"]
    assert inst.applied() == [f"{NAME}:Host.method", f"{NAME}:function"]


ORDERS = list(itertools.combinations_with_replacement(range(4), 3))


@pytest.mark.parametrize(
    ("at_scan", "at_watcher", "at_hook"),
    ORDERS,
    ids=["scan-{}_watcher-{}_hook-{}".format(*(STEPS[s] for s in o)) for o in ORDERS],
)
def test_every_order_of_import_and_instrument_wraps_once(
    race: types.SimpleNamespace,
    monkeypatch: pytest.MonkeyPatch,
    at_scan: int,
    at_watcher: int,
    at_hook: int,
) -> None:
    """The importing thread is at step ``at_scan`` when ``instrument()`` scans
    ``sys.modules``, at ``at_watcher`` when the watcher is installed and at ``at_hook`` when
    wrapt's hook is registered; then its import completes."""
    importer = _Importer(race.loader)
    scanned, installed = threading.Event(), threading.Event()
    go_install, go_register = threading.Event(), threading.Event()
    install = base._install_watcher

    def paused_install() -> None:
        scanned.set()
        assert go_install.wait(WAIT)
        install()
        installed.set()
        assert go_register.wait(WAIT)

    monkeypatch.setattr(base, "_install_watcher", paused_install)
    importer.advance_to(at_scan)
    instrumenting = threading.Thread(target=race.inst.instrument)
    instrumenting.start()
    try:
        assert scanned.wait(WAIT)
        importer.advance_to(at_watcher)
        go_install.set()
        assert installed.wait(WAIT)
        importer.advance_to(at_hook)
    finally:
        go_install.set()
        go_register.set()
        instrumenting.join(WAIT)
    importer.advance_to(DONE)

    _assert_wrapped_once(race.inst, importer.module[0])


@pytest.mark.parametrize("at", [FOUND, INSERTED], ids=["found", "inserted"])
def test_an_instrument_cycle_during_the_import_wraps_once(
    race: types.SimpleNamespace, at: int
) -> None:
    """``instrument()``, ``uninstrument()``, ``instrument()`` while the other thread's import
    waits: the second ``instrument()`` registers no hook of its own (wrapt kept the first)."""
    importer = _Importer(race.loader)
    importer.advance_to(at)
    race.inst.instrument()
    race.inst.uninstrument()
    race.inst.instrument()
    importer.advance_to(DONE)

    _assert_wrapped_once(race.inst, importer.module[0])


def test_activation_from_the_target_modules_own_loader(race: types.SimpleNamespace) -> None:
    """``instrument()`` on the importing thread itself, which holds the module's import lock
    and has found it but not yet put it in ``sys.modules``: nothing may wait on that lock
    here (the import would never finish)."""
    race.loader.on_found = race.inst.instrument
    race.loader.release_found.set()
    race.loader.release_inserted.set()

    module = importlib.import_module(NAME)

    _assert_wrapped_once(race.inst, module)


def test_an_import_that_fails_after_being_found_leaves_nothing_waiting(
    race: types.SimpleNamespace,
) -> None:
    """The other thread's import fails: nothing to wrap and nothing raised here; the host's
    retry runs the body again (through the finders, now watched) and is wrapped."""

    def failing_body(module: types.ModuleType) -> None:
        race.loader.body = _body  # the retry succeeds
        raise RuntimeError("the host's module failed")

    race.loader.body = failing_body
    importer = _Importer(race.loader)
    importer.advance_to(FOUND)
    race.inst.instrument()
    importer.advance_to(DONE)
    assert isinstance(importer.error[0], RuntimeError) and NAME not in sys.modules
    _join_waiters()

    module = importlib.import_module(NAME)

    _assert_wrapped_once(race.inst, module)


def test_a_reload_whose_body_runs_during_instrument_is_wrapped(
    race: types.SimpleNamespace,
) -> None:
    """Another thread reloads the module and its body is running when ``instrument()``
    registers: wrapt's hook fires at once (a reload does not mark the module initialising)
    and wrapped the old definitions, which the body then replaced with bare ones."""
    race.loader.release_found.set()
    race.loader.release_inserted.set()
    module = importlib.import_module(NAME)
    race.loader.inserted.clear()
    race.loader.release_inserted.clear()
    old_host = module.Host
    reloading = threading.Thread(target=importlib.reload, args=(module,))
    reloading.start()
    try:
        assert race.loader.inserted.wait(WAIT)  # the reload's body is about to run
        race.inst.instrument()
    finally:
        race.loader.release_inserted.set()
        reloading.join(WAIT)

    assert module.Host is not old_host  # the body really ran again
    _assert_wrapped_once(race.inst, module)
