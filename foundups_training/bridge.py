"""The bridge: adapter signals in, pluggy hook calls out.

One receiver per adapter signal, connected strongly (blinker holds weak references by
default, and a bridge that vanishes silently would stop all learning). Every call goes
through :meth:`IsolatingPluginManager.call_safely`, so no plugin error reaches the sender.
"""

from __future__ import annotations

import threading
from typing import Any

from foundups_training import signals
from foundups_training.plugins import IsolatingPluginManager, get_plugin_manager
from foundups_training.records import Answer, Decision, IdleBudget, IdleReport, Query

_connected: dict[str, Any] = {}
_lock = threading.Lock()


def _pm(manager: IsolatingPluginManager | None) -> IsolatingPluginManager:
    return manager if manager is not None else get_plugin_manager()


def connect(manager: IsolatingPluginManager | None = None) -> None:
    """Connect the bridge (idempotent). ``manager`` defaults to the process-wide one.

    The process-wide manager is loaded here, at activation: loaded lazily, the first chat
    message would pay for the entry-point scan and the plugins' imports (tens of ms) on the
    host's thread, in the middle of a stream.
    """
    if manager is None:
        get_plugin_manager()  # never raises: a plugin that fails to load is logged, skipped
    with _lock:
        if _connected:
            return

        def on_decision(sender: object, decision: Decision, **_: Any) -> None:
            _pm(manager).call_safely("on_decision", decision=decision)

        def on_idle(sender: object, budget: IdleBudget, **_: Any) -> list[IdleReport]:
            results = _pm(manager).call_safely("on_idle", budget=budget) or []
            return [r for r in results if r is not None]

        def on_query(sender: object, query: Query, **_: Any) -> Answer | None:
            answer = _pm(manager).call_safely("on_query", query=query)
            if answer is not None:
                signals.answer_given.send("bridge", query=query, answer=answer)
            return answer

        for signal, receiver in (
            (signals.decision_made, on_decision),
            (signals.idle_started, on_idle),
            (signals.query_asked, on_query),
        ):
            signal.connect(receiver, weak=False)
            _connected[signal.name] = receiver


def disconnect() -> None:
    """Undo :func:`connect` (tests, uninstrumenting)."""
    with _lock:
        for name, receiver in _connected.items():
            signals.NAMESPACE.signal(name).disconnect(receiver)
        _connected.clear()


def idle(budget: IdleBudget, sender: str = "bridge") -> IdleReport | None:
    """Send ``idle_started`` and return the first report (what the idle adapter needs)."""
    for _receiver, reports in signals.idle_started.send(sender, budget=budget):
        for report in reports or []:
            return report
    return None


def ask(query: Query, sender: str = "bridge") -> Answer | None:
    """Send ``query_asked`` and return the answer."""
    for _receiver, answer in signals.query_asked.send(sender, query=query):
        if answer is not None:
            return answer
    return None
