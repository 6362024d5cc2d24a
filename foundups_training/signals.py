"""Blinker signals: how adapters and observers talk to the plugin without importing it.

Adapters *send* ``decision_made``, ``idle_started`` and ``query_asked``; the bridge
(:mod:`foundups_training.bridge`) turns those into pluggy hook calls. Observers (metrics,
telemetry, dashboard) *receive* ``pattern_stored``, ``answer_given``, ``training_progress`` and
``telemetry``; they never sit on a DAE's hot path.

Blinker keeps weak references to receivers: a receiver that is a bound method or a closure
must be kept alive by its owner (see :data:`KEEP_ALIVE`), or connected with ``weak=False``.
"""

from __future__ import annotations

from typing import Any

from blinker import Namespace

NAMESPACE = Namespace()

#: A host DAE decided something. sender: adapter name; kwargs: ``decision`` (Decision).
decision_made = NAMESPACE.signal("decision_made")
#: The host is idle. sender: adapter name; kwargs: ``budget`` (IdleBudget).
#: Receivers return an IdleReport (collected by blinker's ``send``).
idle_started = NAMESPACE.signal("idle_started")
#: Someone asked a question. sender: adapter name; kwargs: ``query`` (Query).
query_asked = NAMESPACE.signal("query_asked")

#: Observer events.
pattern_stored = NAMESPACE.signal("pattern_stored")  # kwargs: patterns (tuple[Pattern]), new (int)
answer_given = NAMESPACE.signal("answer_given")  # kwargs: query (Query), answer (Answer)
training_progress = NAMESPACE.signal("training_progress")  # kwargs: done, total, patterns
telemetry = NAMESPACE.signal("telemetry")  # kwargs: command, event, payload (dict)

#: Strong references to receivers that would otherwise be collected (blinker holds weak refs).
KEEP_ALIVE: list[Any] = []


def emit_telemetry(command: str, event: str, payload: dict[str, Any] | None = None) -> None:
    """Send a telemetry event (shape of the host's Holo Command Interface draft)."""
    try:
        telemetry.send("foundups_training", command=command, event=event, payload=payload or {})
    except Exception as exc:  # noqa: BLE001 - a receiver never fails the sender
        import logging

        from foundups_training.logs import warn_failure

        warn_failure(logging.getLogger(__name__), "telemetry receiver failed", exc)
