"""The exit path has one overall bound, and no step waits again for what made no progress.

When run-host's main.py returns, ``auto.flush_live`` drains the bridge, waits for the live
learner and flushes it; at exit the bridge's own drain runs, then ``auto.close_live`` drains
again, waits for the learner again and closes it and the memory's writer. Each step used to
wait its full bound: a plugin stuck in ``on_decision`` cost its drain three times, and the
whole path up to ~50 s. Now the steps share ``bridge.EXIT_S``, and an exit drain does not
wait again for a plugin still in the call an earlier one gave up on. Real bridge, real plugin
manager, real training plugin and store; plugins are held on events (never on the clock),
and the bounds are patched small; the tests count waits and read the bounds each step got.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from foundups_training.hookspecs import hookimpl
from plugin_doubles import Recording
from rel_helpers import settings_for

from foundups_training import bridge, plugins, signals
from foundups_training.engine import Trainer
from foundups_training.memory.writer import JOURNAL_NAME, pattern_from_json
from foundups_training.plugin import TrainingPlugin
from foundups_training.plugins import IsolatingPluginManager
from foundups_training.records import Decision

#: How long a held plugin waits for the test to release it (a safety net: every test
#: releases it; past this the hold ends and the test's counts no longer match).
HOLD_S = 60.0


class Stuck:
    """Holds ``on_decision`` of each decision named in ``held`` until that one is released."""

    def __init__(self, *held: str) -> None:
        self.gates = {each: threading.Event() for each in held}
        self.entered = {each: threading.Event() for each in held}
        self.decisions: list[str] = []

    @hookimpl(tryfirst=True)
    def on_decision(self, decision: Decision) -> None:
        self.decisions.append(decision.id)
        if decision.id in self.gates:
            self.entered[decision.id].set()
            self.gates[decision.id].wait(HOLD_S)

    def release(self) -> None:
        for gate in self.gates.values():
            gate.set()


class _Waits(threading.Condition):
    """The bridge's delivery condition, counting the drains' waits on it."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def wait(self, timeout: float | None = None) -> bool:
        self.count += 1
        return super().wait(timeout)


class Exit:
    """The exit path under test, and what its drains did: (bound, delivered all, waited)."""

    def __init__(self, auto: ModuleType) -> None:
        self.auto = auto
        self.drains: list[tuple[float, bool, bool]] = []
        self.plugins: list[object] = []

    def connect(self, *named: tuple[object, str]) -> None:
        """Make ``named`` (plugin, name) the process's plugins, the bridge connected."""
        pm = IsolatingPluginManager()
        for plugin, name in named:
            pm.register(plugin, name=name)
            self.plugins.append(plugin)
        plugins.reset_plugin_manager(lambda: pm)
        bridge.connect()

    def waited(self) -> list[bool]:
        return [waited for _bound, _ok, waited in self.drains]


@pytest.fixture
def exit_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[Exit]:
    """``foundups_training.auto`` (activating nothing), a fresh exit budget, DRAIN_S 0.5 s
    and a spy on the bridge's drains. Held plugins are released at the end (their delivery
    threads are the process's, and the next test needs them)."""
    monkeypatch.setenv("FOUNDUPS_TRAINING_OFF", "1")  # importing auto instruments nothing
    import foundups_training.auto as auto

    monkeypatch.setattr(bridge, "DRAIN_S", 0.5)
    monkeypatch.setattr(bridge, "_exit_budget", bridge._ExitBudget())
    delivery = bridge._delivery
    waits = _Waits()
    monkeypatch.setattr(delivery, "done", waits)
    path = Exit(auto)
    real_drain = delivery.drain

    def drain(timeout: float, *args: Any) -> bool:
        before = waits.count
        ok = real_drain(timeout, *args)
        path.drains.append((timeout, ok, waits.count > before))
        return ok

    monkeypatch.setattr(delivery, "drain", drain)
    try:
        yield path
    finally:
        for plugin in path.plugins:
            if isinstance(plugin, Stuck):
                plugin.release()
        bridge.drain(30)
        bridge.disconnect()
        plugins.reset_plugin_manager()


def _decide(*ids: str) -> None:
    for each in ids:
        signals.decision_made.send(
            "host",
            decision=Decision(
                id=each,
                source="live_chat",
                action="respond",
                subject="UC1",
                stream="s",
                context={"stage": "message", "text": f"viewer line {each}", "author": "u1"},
            ),
        )


@pytest.mark.parametrize("run_host", [True, False], ids=["run-host", "import-auto"])
def test_a_plugin_stuck_in_on_decision_is_waited_for_once(
    exit_path: Exit, run_host: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: its drain waited in flush_live, in the bridge's exit handler and in
    close_live (3 waits, 15 s with the real DRAIN_S; 2 for a host importing auto)."""
    stuck, recording = Stuck("d1"), Recording()
    exit_path.connect((recording, "recording"), (stuck, "stuck"))
    _decide("d1", "d2", "d3")
    assert stuck.entered["d1"].wait(30)
    with caplog.at_level(logging.WARNING, logger="foundups_training.bridge"):
        if run_host:
            exit_path.auto.flush_live(0.5)
        bridge._drain_at_exit()
        exit_path.auto.close_live(0.5)
    assert exit_path.waited() == [True] + [False] * (2 if run_host else 1)
    assert not any(ok for _bound, ok, _waited in exit_path.drains)
    assert recording.decisions == ["d1", "d2", "d3"]  # the healthy plugin got them all
    # The decisions behind the stuck call are reported lost, with the plugin holding them.
    [lost] = [r.getMessage() for r in caplog.records if "at exit" in r.getMessage()]
    assert "3 decisions not delivered to the plugins within" in lost
    assert "at exit; plugin stuck has been in on_decision for" in lost
    assert lost.endswith("they are lost")


def test_a_plugin_that_delivered_since_is_waited_for_again(exit_path: Exit) -> None:
    """Only a plugin still in the very call an earlier drain gave up on is skipped: one
    that returned from it (and is now in the next) may deliver the rest."""
    stuck = Stuck("d1", "d2")
    exit_path.connect((stuck, "stuck"))
    _decide("d1", "d2", "d3")
    assert stuck.entered["d1"].wait(30)
    exit_path.auto.flush_live(0.5)  # waits: d1 does not return
    stuck.gates["d1"].set()
    assert stuck.entered["d2"].wait(30)  # progress: d1 delivered, now held in d2
    bridge._drain_at_exit()  # waits again: the plugin moved since
    exit_path.auto.close_live(0.5)  # does not: still in the same call (d2)
    assert exit_path.waited() == [True, True, False]
    stuck.gates["d2"].set()
    assert bridge.drain(30)  # an ordinary drain (not the exit's) always waits
    assert stuck.decisions == ["d1", "d2", "d3"]


def _ids(data: Path) -> tuple[set[str], list[str]]:
    """(chat pattern ids stored, chat pattern ids journaled)."""
    trainer = Trainer(settings_for(data))
    try:
        stored = {p.id for p in trainer.memory.all_patterns({"kind": "chat_response"})}
    finally:
        trainer.close()
    journal = settings_for(data).journal_dir / JOURNAL_NAME
    lines = journal.read_text(encoding="utf-8").splitlines() if journal.exists() else []
    return stored, [pattern_from_json(line).id for line in lines]


def test_later_steps_get_only_what_is_left_and_nothing_queued_is_lost(
    exit_path: Exit, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A plugin stuck in on_decision and a stuck store (another write holds it), with
    EXIT_S 1 s, 0.5 s of it kept for the closes, DRAIN_S and every step's own bound 5 s.

    The first drain gets the 0.5 s that may be waited, and uses it; from then on the
    drains and the wait for the learner get nothing, and the two closes share what is left
    (each may wait twice its bound). Before: every step got 5 s (50 s in all). The
    decisions that reached the learner are all stored or journaled, each once."""
    monkeypatch.setattr(bridge, "EXIT_S", 1.0)
    monkeypatch.setattr(bridge, "EXIT_CLOSE_S", 0.5)
    monkeypatch.setattr(bridge, "DRAIN_S", 5.0)
    data = tmp_path / "data"
    trainer = Trainer(settings_for(data))
    training = TrainingPlugin(trainer)
    live = training.live  # built before the exit, as after any chat message
    memory = trainer.memory  # opened before its write lock is held
    stuck = Stuck("d1")
    exit_path.connect((training, "training"), (stuck, "stuck"))
    bounds: dict[str, list[float]] = {}

    def spy(obj: object, name: str) -> None:
        real = getattr(obj, name)

        def call(timeout: float, *args: Any) -> Any:
            bounds.setdefault(name, []).append(timeout)
            return real(timeout, *args)

        monkeypatch.setattr(obj, name, call)

    for obj, name in (
        (training, "wait_ready"),
        (live, "flush"),
        (live, "close"),
        (memory, "stop_writer"),
    ):
        spy(obj, name)
    try:
        with memory._write_lock:  # a long write in progress: every upsert waits
            _decide("d1", "d2", "d3", "d4")
            assert stuck.entered["d1"].wait(30)
            deadline = time.monotonic() + 30  # the training plugin's lane is not held
            while bridge.plugin_stats()["training"]["waiting"] and time.monotonic() < deadline:
                time.sleep(0.01)
            assert live.stats()["submitted"] == 4
            exit_path.drains.clear()
            bounds.clear()
            exit_path.auto.flush_live(5.0)
            bridge._drain_at_exit()
            exit_path.auto.close_live(5.0)
        thread = live._thread
        if thread is not None:
            thread.join(300)  # the batch in flight lands once the store is free
        stats = live.stats()
    finally:
        trainer.close()
    first, *later = [bound for bound, _ok, _waited in exit_path.drains]
    assert first == pytest.approx(0.5)  # EXIT_S less what is kept for the closes
    assert exit_path.waited() == [True, False, False]
    assert later == [0.0, 0.0]
    assert bounds["wait_ready"] == [0.0, 0.0]
    # flush_live's own flush: what its 0.5 s had left once the drain had used it
    assert len(bounds["flush"]) >= 1 and bounds["flush"][0] == 0.0
    [close] = bounds["close"]
    assert 0.0 <= close <= 0.5 / 4  # its flush and its join: half of what is left at most
    [stop] = bounds["stop_writer"]
    assert 0.0 <= stop <= 0.5 / 2
    # Nothing that reached the learner was lost: each decision stored or journaled, once.
    assert stats["processed"] == stats["submitted"] == 4 and stats["failed"] == 0
    stored, journaled = _ids(data)
    assert not stored & set(journaled) and len(journaled) == len(set(journaled))
    assert stored | set(journaled) == {f"chat-d{i}" for i in range(1, 5)}
