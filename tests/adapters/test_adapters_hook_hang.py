"""A plugin that hangs (or is merely slow) in a hook never holds the host's thread.

``decision_made`` (the live chat's path) only queues the decision: each plugin's delivery
thread in the bridge calls its ``on_decision``, in order, so a plugin stuck there holds that
thread, not the sender's nor the other plugins' (test_bridge_per_plugin.py).
``query_asked`` and ``idle_started`` wait for ``on_query`` / ``on_idle`` up to a deadline,
then go on without the plugins' result. Real bridge, real blinker signals, real plugin
manager; the plugins are held on events the test sets (never on the clock), and every
wait is bounded so a regression fails instead of hanging.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import plugin_doubles
import pytest
from forking import in_child
from foundups_training.adapters.idle import IDLE_DAE, IdleInstrumentor
from foundups_training.hookspecs import hookimpl

from foundups_training import bridge, plugins, signals
from foundups_training.plugins import IsolatingPluginManager
from foundups_training.records import Answer, Decision, IdleBudget, IdleReport, Query

#: How long a held plugin waits for the test to release it: long enough for any assertion
#: made meanwhile, short enough that the old, blocking bridge fails rather than hangs.
HOLD_S = 20.0


class Holding:
    """Holds its first hook call (any hook) until :attr:`release` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.decisions: list[str] = []
        self.queries = 0
        self.idles = 0
        self.released_in_time: bool | None = None  # False: the hold ran out

    def _hold(self) -> None:
        if not self.entered.is_set():  # the first call only (in a forked child too)
            self.entered.set()
            self.released_in_time = self.release.wait(HOLD_S)

    @hookimpl(tryfirst=True)
    def on_decision(self, decision: Decision) -> None:
        self.decisions.append(decision.id)
        self._hold()

    @hookimpl(tryfirst=True)
    def on_query(self, query: Query) -> Answer | None:
        self.queries += 1
        self._hold()
        return None

    @hookimpl(tryfirst=True)
    def on_idle(self, budget: IdleBudget) -> IdleReport | None:
        self.idles += 1
        self._hold()
        return None


class Recording(plugin_doubles.Recording):
    """A healthy plugin: records the decisions, answers every question."""

    @hookimpl
    def on_query(self, query: Query) -> Answer | None:
        return Answer(text=f"answer to {query.text}", tier="plugin", model="recording")

    @hookimpl
    def on_idle(self, budget: IdleBudget) -> IdleReport | None:
        return IdleReport(lines_processed=7, patterns_stored=1)


@pytest.fixture
def held() -> Iterator[tuple[Holding, Recording]]:
    """A holding plugin (called first) and a healthy one, the process's plugins, the bridge
    connected. The holding plugin is always released at the end: the delivery thread is the
    process's, and the next test needs it."""
    holding, recording = Holding(), Recording()
    pm = IsolatingPluginManager()
    pm.register(recording, name="recording")
    pm.register(holding, name="holding")
    plugins.reset_plugin_manager(lambda: pm)
    bridge.connect()
    try:
        yield holding, recording
    finally:
        holding.release.set()
        bridge.drain(30)
        bridge.disconnect()
        plugins.reset_plugin_manager()


def _said(caplog: pytest.LogCaptureFixture, about: str) -> list[str]:
    """The bridge's warnings that mention ``about`` (not a late summary of an earlier test's
    drops, which the delivery thread may log at any time)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "foundups_training.bridge"
        and r.levelno >= logging.WARNING
        and about in r.getMessage()
    ]


def _wait_for(caplog: pytest.LogCaptureFixture, about: str) -> list[str]:
    """:func:`_said` once it says something (bounded): a late call's last word comes from
    its own thread, and must not fall into the next test."""
    deadline = time.monotonic() + 30
    while not _said(caplog, about) and time.monotonic() < deadline:
        time.sleep(0.02)
    return _said(caplog, about)


def _decide(*ids: str) -> None:
    for each in ids:
        signals.decision_made.send(
            "host", decision=Decision(id=each, source="live_chat", action="a")
        )


def test_a_plugin_hanging_in_on_decision_never_holds_the_sender(
    held: tuple[Holding, Recording],
) -> None:
    holding, recording = held
    _decide("d1", "d2", "d3")
    # Every send returned while the holding plugin was still inside on_decision (it can only
    # leave without the release once HOLD_S runs out; released_in_time below says it did not).
    assert holding.entered.wait(30)
    assert not holding.release.is_set()
    holding.release.set()
    assert bridge.drain(30)
    assert holding.released_in_time is True
    assert holding.decisions == ["d1", "d2", "d3"]
    assert recording.decisions == ["d1", "d2", "d3"]  # every plugin, in the host's order
    assert bridge.stats()["dropped"] == 0


def test_a_full_queue_drops_counts_and_warns_once(
    held: tuple[Holding, Recording],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    holding, recording = held
    monkeypatch.setattr(bridge, "QUEUE_SIZE", 3)
    _decide("d0")
    assert holding.entered.wait(30)  # d0 is in the plugin: its queue is empty again
    caplog.set_level(logging.WARNING, logger="foundups_training.bridge")
    _decide("d1", "d2", "d3", "d4", "d5", "d6", "d7")
    # The holding plugin's queue (the healthy plugin's may drop too: sent this fast, its
    # queue of 3 can fill before its thread polls it).
    assert bridge.plugin_stats()["holding"]["dropped"] == 4
    [text] = _said(caplog, "dropped so far for plugin holding")  # one line for four drops
    assert "1 decision dropped so far for plugin holding: its queue is full (3 waiting)" in text
    assert "plugin holding has been in on_decision" in text
    # The summary waits out DROP_WARN_S after a warning; made 0 here, the delivery thread
    # counts the later drops in one line as soon as the queue has room again.
    monkeypatch.setattr(bridge, "DROP_WARN_S", 0.0)
    holding.release.set()
    assert bridge.drain(30)
    assert holding.released_in_time is True
    assert holding.decisions == ["d0", "d1", "d2", "d3"]
    assert recording.decisions == sorted(recording.decisions)  # in the host's order
    [summary] = _wait_for(caplog, "dropped in all for plugin holding")
    assert summary == (
        "foundups-training: 4 decisions dropped in all for plugin holding while its queue was full"
    )


def test_drain_waits_until_the_queued_decisions_are_delivered(
    held: tuple[Holding, Recording],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    holding, recording = held
    _decide("d1", "d2")
    assert holding.entered.wait(30)
    assert not bridge.drain(0.1)  # d1 is held in the plugin, d2 waits behind it
    # Disconnecting waits a bounded time, says who holds the queue, and loses nothing.
    monkeypatch.setattr(bridge, "DRAIN_S", 0.1)
    with caplog.at_level(logging.WARNING, logger="foundups_training.bridge"):
        bridge.disconnect()
    [text] = _said(caplog, "not delivered")
    assert "2 decisions not delivered to the plugins within 0.1 s of disconnecting" in text
    assert "plugin holding has been in on_decision" in text
    holding.release.set()
    assert bridge.drain(30)
    assert recording.decisions == ["d1", "d2"]


def test_a_plugin_hanging_in_on_query_costs_the_caller_one_deadline(
    held: tuple[Holding, Recording],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    holding, _recording = held
    monkeypatch.setattr(bridge, "query_deadline", lambda pm: 2.0)
    given: list[Answer] = []

    def observer(sender: object, **kwargs: object) -> None:
        given.append(kwargs["answer"])  # type: ignore[arg-type]

    signals.answer_given.connect(observer)
    try:
        with caplog.at_level(logging.WARNING, logger="foundups_training.bridge"):
            assert bridge.ask(Query("first")) is None  # the host's own path applies
            assert not holding.release.is_set() and holding.queries == 1
            # While that call is stuck, the next one fails at once: no second stuck thread.
            assert bridge.ask(Query("second")) is None
            assert holding.queries == 1
        warnings = _said(caplog, "on_query")
        assert len(warnings) == 2, warnings
        assert "plugin holding did not return from on_query within 2 s" in warnings[0]
        assert "on_query not called: plugin holding is still in the call" in warnings[1]
        assert given == []

        holding.release.set()  # the stuck call returns; its late answer is discarded
        deadline = time.monotonic() + 30
        answer = None
        while answer is None and time.monotonic() < deadline:
            answer = bridge.ask(Query("third"))
            time.sleep(0.02)
        assert answer is not None and answer.text == "answer to third"
        assert holding.released_in_time is True
        assert [a.text for a in given] == ["answer to third"]
        [late] = _wait_for(caplog, "returned from on_query")
        assert "plugin holding returned from on_query after" in late
        assert "that result was discarded" in late
    finally:
        signals.answer_given.disconnect(observer)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_gets_its_own_delivery_thread(held: tuple[Holding, Recording]) -> None:
    """The parent's delivery thread is stuck in a plugin, a decision queued behind it, when
    the host forks: the child's decisions are delivered by a thread of its own, and the
    parent's queued decision stays the parent's (delivered once, there)."""
    holding, recording = held
    _decide("p1", "p2")
    assert holding.entered.wait(30)

    def child() -> dict[str, Any]:
        _decide("c1")
        return {"drained": bridge.drain(10), "last": recording.decisions[-1:]}

    # (the parent's p1 and p2 reached the healthy plugin before the fork, or not)
    assert in_child(child) == {"drained": True, "last": ["c1"]}
    holding.release.set()
    assert bridge.drain(30)
    assert recording.decisions == ["p1", "p2"]


def test_a_plugin_hanging_in_on_idle_lets_the_hosts_idle_phase_go_on(
    held: tuple[Holding, Recording],
    host_settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The host's idle phase (AutoModeratorDAE awaits it once its stream ends) waits for
    ``on_idle`` the budget's seconds and a grace, then runs the host's own phase 3."""
    holding, _recording = held
    monkeypatch.setenv("FOUNDUPS_TRAINING_IDLE_MAX_SECONDS", "1")
    monkeypatch.setattr(bridge, "IDLE_GRACE_S", 1.0)
    IdleInstrumentor().instrument()
    dae = importlib.import_module(IDLE_DAE).IdleAutomationDAE()
    with caplog.at_level(logging.WARNING, logger="foundups_training.bridge"):
        first = asyncio.run(dae._execute_pattern_training())
        assert first["error"] == "012.txt not found"  # the host's own phase 3 answered
        assert not holding.release.is_set() and holding.idles == 1
        second = asyncio.run(dae._execute_pattern_training())  # fails fast meanwhile
        assert second["error"] == "012.txt not found" and holding.idles == 1
    warnings = _said(caplog, "on_idle")
    assert "plugin holding did not return from on_idle within 2 s" in warnings[0], warnings
    holding.release.set()
    deadline = time.monotonic() + 30
    result: dict[str, Any] = {}
    while result.get("lines_processed") != 7 and time.monotonic() < deadline:
        result = asyncio.run(dae._execute_pattern_training())
        time.sleep(0.02)
    assert result["lines_processed"] == 7 and result["success"] is True, result
    assert holding.released_in_time is True
    assert _wait_for(caplog, "returned from on_idle")


def test_run_hosts_flush_hands_the_queued_decisions_over_first(
    held: tuple[Holding, Recording],
) -> None:
    """``run-host`` flushes the live learner when the host's main() returns; the decisions
    still in the bridge's queue must reach the plugins first (the learner stores only what
    reached it), whatever order the exit handlers run in."""
    import foundups_training.auto as auto

    holding, recording = held
    _decide("d1", "d2")
    assert holding.entered.wait(30)
    flushed = threading.Event()
    flusher = threading.Thread(target=lambda: (auto.flush_live(30), flushed.set()), daemon=True)
    flusher.start()
    assert not flushed.wait(0.3)  # it waits for the bridge, which waits for the plugin
    holding.release.set()
    flusher.join(60)
    assert flushed.is_set()
    assert recording.decisions == ["d1", "d2"]  # both delivered before the flush returned
