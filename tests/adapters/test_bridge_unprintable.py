"""A plugin's failure is reported whatever the host's objects print like.

Real bridge, real blinker signals, real plugin manager. The host's decision and a plugin's
exception are objects the plugin does not control: the report of a failure must not fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import plugin_doubles
import pytest
from foundups_training.hookspecs import hookimpl

from foundups_training import bridge, plugins, signals
from foundups_training.logs import shown
from foundups_training.plugins import IsolatingPluginManager
from foundups_training.records import Decision


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for this one")


class NoRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for this one")


class RaisingUnprintable:
    """Raises an exception whose ``__str__`` raises, on its first decision."""

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl(tryfirst=True)
    def on_decision(self, decision: Decision) -> None:
        self.calls += 1
        raise Unprintable()


class Cancelling(plugin_doubles.Recording):
    """Lets a BaseException out for a decision whose id is no string (the plugin manager
    passes those on), records the others."""

    @hookimpl(tryfirst=True)
    def on_decision(self, decision: Decision) -> None:
        if not isinstance(decision.id, str):
            raise asyncio.CancelledError()
        super().on_decision(decision)


@pytest.fixture
def manager() -> Iterator[IsolatingPluginManager]:
    pm = IsolatingPluginManager()
    plugins.reset_plugin_manager(lambda: pm)
    try:
        yield pm
    finally:
        bridge.drain(30)
        bridge.disconnect()
        plugins.reset_plugin_manager()


def _send(*ids: object) -> None:
    for each in ids:
        signals.decision_made.send(
            "host",
            decision=Decision(id=each, source="live_chat", action="a"),  # type: ignore[arg-type]
        )


def test_a_plugin_raising_an_unprintable_error_is_recorded_and_dropped(
    manager: IsolatingPluginManager,
) -> None:
    raising, recording = RaisingUnprintable(), plugin_doubles.Recording()
    manager.register(raising, name="raising")
    manager.register(recording, name="recording")
    bridge.connect()
    _send("d1", "d2")
    assert bridge.drain(30)
    assert raising.calls == 1  # dropped after its first failure
    assert not manager.is_registered(raising)
    assert [(n, h, e) for n, h, e in manager.failures] == [
        ("raising", "on_decision", "Unprintable: <unprintable>")
    ]
    assert recording.decisions == ["d1", "d2"]


def test_a_decision_whose_id_cannot_print_does_not_end_the_delivery_thread(
    manager: IsolatingPluginManager,
) -> None:
    cancelling = Cancelling()
    manager.register(cancelling, name="cancelling")
    bridge.connect()
    _send(NoRepr(), "d2", "d3")
    assert bridge.drain(30)  # a dead lane never delivers: drain would say False
    assert cancelling.decisions == ["d2", "d3"]


def test_shown_is_short_and_never_raises() -> None:
    assert shown("x" * 10_000_000) == repr("x" * 78)[:79] + "…"
    assert len(shown("x" * 10_000_000)) == 80
    assert shown(NoRepr()) == "<unprintable NoRepr>"
    assert shown("abc") == "'abc'"
