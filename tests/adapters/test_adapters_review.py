"""Review findings on the adapters and the live path: each test failed before its fix.

- (a) nothing raises into the host, whatever it passes: unprintable exceptions, arguments
  whose ``__str__``/``__bool__`` raise, scalar fields where lists were expected, session
  properties that raise, a ``/proc/stat`` in another format;
- (b) the stream is never slowed: a huge chat message is not scanned whole by the writer
  thread (its regexes hold the GIL), and the first decision does not load the plugins on the
  host's thread;
- (c) nothing lost silently: a failing wrapper path is logged (once), not only counted;
- (d) host fields reach a stored pattern only sanitised (a timeout's duration);
- (e) an async wrapper hands back exactly what the host's method returned;
- (f) a cancelled idle cycle does not hold the host's exit.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
from collections.abc import Iterator
from typing import Any, cast

import pytest
from foundups_training.adapters import idle as idle_adapter
from foundups_training.adapters.activity import ACTIVITY
from foundups_training.adapters.idle import IDLE_DAE, IdleInstrumentor
from foundups_training.adapters.livechat import (
    PROCESSOR,
    LiveChatInstrumentor,
    message_decision,
)
from foundups_training.adapters.menu import COMMANDS, MenuInstrumentor
from foundups_training.hookspecs import hookimpl
from plugin_doubles import RecordingMemory as _Memory
from standin_chat import message

from foundups_training import bridge, live, plugins
from foundups_training.config import Settings
from foundups_training.live import LiveLearner
from foundups_training.records import Decision, IdleReport

#: Generous bound for "this did not hang" (never a timing assertion).
HANG_S = 30.0


class _Unprintable(Exception):
    """An exception whose own message cannot be formatted."""

    def __str__(self) -> str:
        raise RuntimeError("the exception cannot print itself either")


class _Hostile:
    """A host value whose ``__str__`` and ``__bool__`` raise an unprintable exception."""

    def __str__(self) -> str:
        raise _Unprintable()

    def __bool__(self) -> bool:
        raise _Unprintable()


def _outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return ("returned", fn(*args))
    except Exception as exc:  # noqa: BLE001 - the exception is what is compared
        return ("raised", type(exc))


class _Trainer:
    def __init__(self) -> None:
        self.memory = _Memory()


# -- (a) never raise into the host -----------------------------------------------------------
def test_unprintable_error_inside_a_wrapper_does_not_reach_the_host() -> None:
    """An exception whose ``__str__`` raises, caught by ``observe``, used to be formatted
    with an f-string inside the ``except`` block, and that raised into the host's call."""
    inst = LiveChatInstrumentor()
    result = {"message_id": "m1", "text": _Hostile()}

    got = inst._wrap_process_message(lambda *a, **k: result, None, ({},), {})

    assert got is result
    assert inst.errors == {"process_message": 1}
    assert "<unprintable>" in inst.last_error


def test_menu_command_arguments_that_raise_go_to_the_hosts_function(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The command's arguments were read (``str``, ``bool``) outside ``observe``: a host
    object whose ``__str__``/``__bool__`` raises made the wrapper raise into ``main.py``."""
    commands = importlib.import_module(COMMANDS)
    calls = [(_Hostile(), None, False), ("ask", _Hostile(), False), ("status", None, _Hostile())]
    unwrapped = [_outcome(commands.execute_training_command, *c) for c in calls]

    MenuInstrumentor().instrument()
    wrapped = [_outcome(commands.execute_training_command, *c) for c in calls]

    assert wrapped == unwrapped
    capsys.readouterr()


def test_scalar_troll_signals_keep_the_decision() -> None:
    """``list(troll_signals)`` turned a string into its characters and lost the decision
    (TypeError) for a number."""
    one = message_decision({"message_id": "1", "is_troll": True, "troll_signals": "whacked"}, "s")
    other = message_decision({"message_id": "2", "is_troll": True, "troll_signals": 5}, "s")

    assert one is not None and one.reasoning == "is_troll, troll_signal:whacked"
    assert other is not None and other.reasoning == "is_troll, troll_signal:5"


def test_a_session_whose_is_running_raises_does_not_fail_the_idle_check() -> None:
    """``stream_live`` read each session's ``is_running`` bare: a host property that raises
    failed every idle cycle (the host's own training then ran instead)."""

    class Session:
        @property
        def is_running(self) -> bool:
            raise RuntimeError("connection lost")

    session = Session()
    ACTIVITY.stream_started(session)
    ACTIVITY.stream_ended(session)

    assert ACTIVITY.stream_live() is False


def test_proc_stat_in_another_format_is_unmeasurable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``/proc/stat`` whose first line is not numbers raised ValueError out of the CPU
    gate, instead of "unmeasurable" (the load average is the fallback then)."""

    class Stat:
        def __enter__(self) -> Stat:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def readline(self) -> str:
            return "cpu  not numbers here\n"

    monkeypatch.setattr(idle_adapter, "open", lambda *a, **k: Stat(), raising=False)

    assert idle_adapter._proc_stat_busy() is None


# -- (b) never slow the stream ---------------------------------------------------------------
def test_a_huge_message_is_not_scanned_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sanitiser's and the redactor's regexes ran over the whole text: a 10 MB chat
    message held the GIL for seconds in the writer thread (measured: the host's thread
    stalled 3.4 s). Only a bounded head is scanned now."""
    scanned: list[int] = []

    def redact(text: str) -> str:
        scanned.append(len(text))
        return text

    monkeypatch.setattr(live, "_REDACT", redact)

    out = live.clean("word " * 2_000_000)

    assert max(scanned) <= 10_000  # of 10,000,000 characters
    assert out.startswith("word word") and out.endswith("…")


def test_the_cut_never_keeps_half_a_secret() -> None:
    """The word a cut splits is dropped: half a key no longer matches the redactor's rules,
    and whitespace collapsing could bring it into the stored text."""
    key = "AIza" + "B" * 35
    text = "hi" + " " * (live.MAX_SCAN - 20) + key + " and more"

    out = live.clean(text, limit=10_000)

    assert "AIza" not in out and "BBBB" not in out
    assert out.startswith("hi")


def test_plugins_are_loaded_when_the_bridge_connects_not_on_the_first_message(
    host_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plugin manager was built lazily by the first ``decision_made``: the entry-point
    scan and the plugins' imports (26-40 ms) ran on the host's thread, mid-stream."""
    loads: list[str] = []

    def load_entry_points(pm: Any, *args: Any, **kwargs: Any) -> list[str]:
        loads.append("loaded")
        return []

    monkeypatch.setattr(plugins, "load_entry_points", load_entry_points)
    plugins.reset_plugin_manager()
    bridge.connect()
    LiveChatInstrumentor().instrument()
    after_connect = len(loads)

    mp = importlib.import_module(PROCESSOR)
    mp.MessageProcessor(stream_title="s").process_message(message("m1", "alice", "hello"))

    assert after_connect == 1
    assert len(loads) == 1


# -- (c) nothing lost silently -----------------------------------------------------------------
def test_a_failing_wrapper_path_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    """Errors inside ``observe`` were logged at DEBUG only: a host change that makes every
    decision fail lost them all without a word at the default level."""
    inst = LiveChatInstrumentor()
    caplog.set_level(logging.WARNING, logger="foundups_training.adapters.base")

    class Broken:
        def __str__(self) -> str:
            raise ValueError("broken")

    for _ in range(3):
        inst._wrap_process_message(lambda *a, **k: {"message_id": Broken()}, None, ({},), {})

    warnings = [r for r in caplog.records if r.name == "foundups_training.adapters.base"]
    assert inst.errors == {"process_message": 3}
    assert len(warnings) == 1
    assert "process_message" in warnings[0].getMessage()


def test_an_unprintable_field_skips_its_decision_not_its_batch() -> None:
    """Reporting a malformed decision formatted its exception with an f-string: one whose
    ``__str__`` raises escaped ``write`` and the whole batch was counted failed, unstored."""
    trainer = _Trainer()
    learner = LiveLearner(cast(Any, trainer))
    good = Decision(id="ok", source="live_chat", action="ignore", context={"text": "hello"})
    bad = Decision(id="bad", source="live_chat", action="ignore", reasoning=cast(Any, _Hostile()))

    learner.write([bad, good])

    assert [p.id for p in trainer.memory.patterns] == ["chat-ok"]
    assert learner.stats()["invalid"] == 1


# -- (d) host fields are sanitised before storage ---------------------------------------------
def test_a_timeout_duration_is_sanitised_before_storage() -> None:
    """``duration_seconds`` (the host's value, any type) went into the stored decision and
    into earlier patterns' outcomes raw: control characters, secrets, any length."""
    trainer = _Trainer()
    learner = LiveLearner(cast(Any, trainer))
    junk = "60\x00\x1b[31m AIza" + "C" * 35 + " " + "x" * 5000
    earlier = Decision(
        id="m1", source="live_chat", action="ignore", subject="UC-bob", context={"text": "hi"}
    )
    timeout = Decision(
        id="t1",
        source="live_chat",
        action="timeout",
        subject="UC-bob",
        context={"stage": "moderation", "moderator": "Mod1", "duration_seconds": junk},
    )

    learner.write([earlier, timeout])

    stored = {p.id: p for p in trainer.memory.patterns}
    for text in (stored["mode-t1"].decision, stored["chat-m1"].outcome):
        assert "AIza" not in text and "\x00" not in text and "\x1b" not in text
        assert len(text) < 200


# -- (e) an async wrapper returns what the host's method returned -----------------------------
def test_a_sync_return_from_an_async_target_is_handed_back_as_it_is(
    decisions: list[Decision],
) -> None:
    """The wrapper wrapped whatever the host's method returned in a coroutine: a method
    that returns a plain value (made sync, or a stand-in) gave the host a coroutine."""
    from foundups_training import signals

    inst = LiveChatInstrumentor()
    processed = {"message_id": "m1", "author_id": "UC-a", "text": "hi"}
    assert signals.decision_made.receivers

    got = inst._wrap_generate_response(lambda *a, **k: "hello", None, (processed,), {})
    listening = inst._wrap_start_listening(lambda *a, **k: True, None, (), {})

    assert got == "hello" and listening is True
    assert [(d.id, d.outcome) for d in decisions] == [("m1", "hello")]


# -- (f) the host's exit is never held ---------------------------------------------------------
class _SlowIdle:
    """An idle plugin that holds its cycle until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()
        self.daemon: bool | None = None

    @hookimpl
    def on_idle(self, budget: Any) -> IdleReport:
        self.daemon = threading.current_thread().daemon
        self.entered.set()
        self.release.wait(HANG_S)
        self.finished.set()
        return IdleReport(lines_processed=1)


@pytest.fixture
def slow_idle(host_settings: Settings) -> Iterator[_SlowIdle]:
    plugin = _SlowIdle()
    plugins.use_only(plugin, name="slow")
    bridge.connect()
    IdleInstrumentor().instrument()
    yield plugin
    plugin.release.set()
    plugins.reset_plugin_manager()


def test_a_cancelled_idle_cycle_does_not_hold_the_hosts_exit(slow_idle: _SlowIdle) -> None:
    """``asyncio.to_thread`` ran the cycle in the loop's default executor, whose threads are
    not daemons: ``asyncio.run`` (and the interpreter's exit) joined it, so a host stopped
    mid-cycle waited for the whole cycle (up to ``idle_max_seconds``; forever at 0)."""
    dae_module = importlib.import_module(IDLE_DAE)

    async def host() -> None:
        task = asyncio.create_task(dae_module.IdleAutomationDAE()._execute_pattern_training())
        while not slow_idle.entered.is_set():
            await asyncio.sleep(0.01)
        task.cancel()  # the host is stopping (Ctrl+C)
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(host())  # returns without waiting for the cycle

    assert slow_idle.daemon is True
    assert not slow_idle.finished.is_set()  # the cycle was still running when the host ended


def test_the_idle_result_still_comes_back(slow_idle: _SlowIdle) -> None:
    """Running the cycle in a daemon thread still hands its report to the host."""
    dae_module = importlib.import_module(IDLE_DAE)
    slow_idle.release.set()

    result = asyncio.run(dae_module.IdleAutomationDAE()._execute_pattern_training())

    assert result["task"] == "pattern_training" and result["lines_processed"] == 1
