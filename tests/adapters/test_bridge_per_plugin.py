"""Each plugin gets the decisions on a queue and thread of its own.

One plugin hanging in ``on_decision`` holds its own queue only: the others keep receiving the
host's decisions, in the host's order, and only the stuck plugin's queue fills and drops.
Real bridge, real blinker signals, real plugin manager; the held plugin waits on an event the
test sets (never on the clock), and every wait is bounded so a regression fails instead of
hanging.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from forking import in_child
from foundups_training.hookspecs import hookimpl
from plugin_doubles import Recording

from foundups_training import bridge, plugins, signals
from foundups_training.plugins import IsolatingPluginManager
from foundups_training.records import Decision

#: How long the held plugin waits for the test to release it (a safety net, not a timing).
HOLD_S = 20.0
#: How long the test waits for something that should happen at once.
WAIT_S = 30.0


class Holding:
    """Holds its first decision until :attr:`release` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.decisions: list[str] = []
        self.released_in_time: bool | None = None

    @hookimpl(tryfirst=True)
    def on_decision(self, decision: Decision) -> None:
        self.decisions.append(decision.id)
        if not self.entered.is_set():
            self.entered.set()
            self.released_in_time = self.release.wait(HOLD_S)


class Exiting:
    """Calls ``sys.exit`` on a decision (a plugin's failure, not the host's)."""

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def on_decision(self, decision: Decision) -> None:
        self.calls += 1
        sys.exit(3)


@pytest.fixture
def pm() -> Iterator[IsolatingPluginManager]:
    """An empty process-wide plugin manager behind the connected bridge."""
    manager = IsolatingPluginManager()
    plugins.reset_plugin_manager(lambda: manager)
    bridge.connect()
    try:
        yield manager
    finally:
        for plugin in manager.get_plugins():
            if isinstance(plugin, Holding):
                plugin.release.set()
        bridge.drain(WAIT_S)
        bridge.disconnect()
        plugins.reset_plugin_manager()


def _decide(*ids: str) -> None:
    for each in ids:
        signals.decision_made.send(
            "host", decision=Decision(id=each, source="live_chat", action="a")
        )


def _until(check: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT_S
    while not check() and time.monotonic() < deadline:
        time.sleep(0.01)
    return check()


def test_a_plugin_hanging_in_on_decision_does_not_delay_the_others(
    pm: IsolatingPluginManager,
) -> None:
    holding, recording = Holding(), Recording()
    pm.register(recording, name="recording")
    pm.register(holding, name="holding")
    _decide("d1", "d2", "d3")
    assert holding.entered.wait(WAIT_S)
    # While the holding plugin is still inside its first call, the other one gets them all.
    assert _until(lambda: recording.decisions == ["d1", "d2", "d3"]), recording.decisions
    assert _until(lambda: bridge.plugin_stats()["recording"]["waiting"] == 0)  # counted after
    assert not holding.release.is_set() and holding.decisions == ["d1"]
    assert not bridge.drain(0.1)  # drain waits for every plugin's queue
    assert bridge.stats()["waiting"] == 3  # d1 in the holding plugin, d2 and d3 behind it
    detail = bridge.plugin_stats()
    assert detail["recording"] == {"queued": 3, "delivered": 3, "dropped": 0, "waiting": 0}
    assert detail["holding"]["waiting"] == 3
    holding.release.set()
    assert bridge.drain(WAIT_S)
    assert holding.released_in_time is True
    assert holding.decisions == ["d1", "d2", "d3"]  # late, but all, in the host's order
    assert recording.decisions == ["d1", "d2", "d3"]


def test_only_the_stuck_plugins_queue_fills_and_drops(
    pm: IsolatingPluginManager,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    holding, recording = Holding(), Recording()
    pm.register(recording, name="recording")
    pm.register(holding, name="holding")
    monkeypatch.setattr(bridge, "QUEUE_SIZE", 3)
    before = bridge.stats()
    _decide("d0")
    assert holding.entered.wait(WAIT_S)  # d0 is in the holding plugin: its queue is empty
    caplog.set_level(logging.WARNING, logger="foundups_training.bridge")
    sent = ["d0"]
    for n in range(1, 8):  # one at a time, each delivered to the healthy plugin first
        sent.append(f"d{n}")
        _decide(sent[-1])
        assert _until(lambda: recording.decisions == sent), (sent, recording.decisions)
    after = bridge.stats()
    assert after["dropped"] - before["dropped"] == 4  # d4..d7, for the holding plugin only
    assert bridge.plugin_stats()["recording"]["dropped"] == 0
    drops = [
        r.getMessage()
        for r in caplog.records
        if r.name == "foundups_training.bridge" and "dropped" in r.getMessage()
    ]
    assert len(drops) == 1, drops  # one line for four drops
    assert (
        "1 decision dropped so far for plugin holding: its queue is full (3 waiting)" in (drops[0])
    )
    assert "plugin holding has been in on_decision for" in drops[0]
    holding.release.set()
    assert bridge.drain(WAIT_S)
    assert holding.decisions == ["d0", "d1", "d2", "d3"]
    assert recording.decisions == sent


def test_a_plugin_that_exits_is_dropped_and_the_others_go_on(
    pm: IsolatingPluginManager,
) -> None:
    """The per-plugin threads keep ``call_safely``'s isolation: a plugin that raises (even
    ``SystemExit``) is logged, disabled and never called again, and nothing else ends."""
    exiting, recording = Exiting(), Recording()
    pm.register(exiting, name="exiting")
    pm.register(recording, name="recording")
    _decide("d1")
    assert _until(lambda: bool(pm.failures))
    assert pm.failures == [("exiting", "on_decision", "SystemExit: 3")]
    assert not pm.has_plugin("exiting")
    _decide("d2")  # queued for the healthy plugin alone
    assert bridge.drain(WAIT_S)
    assert exiting.calls == 1
    assert recording.decisions == ["d1", "d2"]


def test_drain_from_inside_on_decision_does_not_wait_on_itself(
    pm: IsolatingPluginManager,
) -> None:
    results: list[bool] = []

    class Draining:
        @hookimpl
        def on_decision(self, decision: Decision) -> None:
            results.append(bridge.drain(WAIT_S))

    pm.register(Draining(), name="draining")
    _decide("d1")
    assert _until(lambda: bool(results))
    assert results == [False]  # its own decision is still being delivered
    assert bridge.drain(WAIT_S)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_delivers_its_own_decisions(pm: IsolatingPluginManager) -> None:
    """The parent's holding plugin is stuck with a decision queued behind it: the child's
    decisions reach every plugin through threads of the child's own."""
    holding, recording = Holding(), Recording()
    pm.register(recording, name="recording")
    pm.register(holding, name="holding")
    _decide("p1", "p2")
    assert holding.entered.wait(WAIT_S)
    assert _until(lambda: recording.decisions == ["p1", "p2"])

    def child() -> dict[str, Any]:
        # The child's holding plugin has entered already (the parent's state): it does not
        # hold again.
        _decide("c1")
        drained = bridge.drain(10)
        return {"drained": drained, "recording": recording.decisions, "holding": holding.decisions}

    assert in_child(child) == {
        "drained": True,
        "recording": ["p1", "p2", "c1"],
        "holding": ["p1", "c1"],
    }
    holding.release.set()
    assert bridge.drain(WAIT_S)
    assert holding.decisions == ["p1", "p2"]
    assert recording.decisions == ["p1", "p2"]


def test_disconnect_ends_the_delivery_threads(pm: IsolatingPluginManager) -> None:
    """A delivery thread per plugin, not one per decision, and none left once disconnected
    and drained (tests and reconnections would otherwise pile them up)."""

    def threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name.startswith("foundups-training-bridge")]

    assert _until(lambda: not threads())  # an earlier test's, ending after its disconnect
    pm.register(Recording(), name="recording")
    _decide("d1", "d2")
    assert bridge.drain(WAIT_S)
    assert [t.name for t in threads()] == ["foundups-training-bridge-recording"]
    totals = bridge.stats()
    bridge.disconnect()
    assert _until(lambda: not threads())
    assert bridge.stats() == totals  # the counters outlive the threads
