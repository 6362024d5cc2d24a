"""Observers: blinker signals in, metrics rows out, off the sender's thread.

The signals fire on a DAE's hot path (a chat message was classified, a pattern stored), so a
receiver only puts a small tuple on a bounded queue; one daemon thread per store does the
SQLite writes. When the queue is full the event is dropped and counted: losing a metrics
row is better than slowing a live stream.

What is recorded from which signal:

===================  =====================================================================
``pattern_stored``   a pattern event (how many stored, how many new, by kind)
``answer_given``     an answer (tier, model, confidence, latency, escalation)
``training_progress``  a pattern snapshot when ``patterns`` (the total) is given, at most
                     every few seconds and at the end
``telemetry``        ``completed`` / ``failed`` events of ``training.batch``, ``training.index``,
                     ``training.idle``, ``training.live`` become training runs (payload keys
                     ``lines_processed, lines_total, patterns_stored, patterns_total,
                     verified, duration_s | duration_ms, source, by_kind``)
===================  =====================================================================
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foundups_training import signals
from foundups_training.metrics.records import TrainingRun

if TYPE_CHECKING:
    from foundups_training.engine import Trainer
    from foundups_training.metrics.store import MetricsStore

log = logging.getLogger(__name__)

#: telemetry command -> training run kind
TRAINING_COMMANDS: dict[str, str] = {
    "training.batch": "batch",
    "training.index": "index",
    "training.idle": "idle",
    "training.live": "live",
}

_QUEUE_SIZE = 10_000
#: Progress snapshots closer together than this are not worth a row.
_SNAPSHOT_INTERVAL_S = 5.0


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def run_from_payload(command: str, event: str, payload: Mapping[str, Any]) -> TrainingRun:
    """The training run a ``completed`` / ``failed`` telemetry event describes."""
    duration = payload.get("duration_s")
    if duration is None and payload.get("duration_ms") is not None:
        duration = float(payload["duration_ms"]) / 1000.0
    return TrainingRun(
        ts=time.time(),
        kind=TRAINING_COMMANDS.get(command, command.rsplit(".", 1)[-1]),
        source=str(payload.get("source", payload.get("log", payload.get("host_root", ""))) or ""),
        lines_processed=_int_or_none(payload.get("lines_processed")) or 0,
        lines_total=_int_or_none(payload.get("lines_total")),
        patterns_stored=_int_or_none(payload.get("patterns_stored")) or 0,
        patterns_total=_int_or_none(payload.get("patterns_total")),
        verified=_int_or_none(payload.get("verified")),
        duration_s=float(duration or 0.0),
        success=event == "completed",
        error=str(payload.get("error", "") or ""),
    )


class MetricsObserver:
    """Receivers for the four observer signals, writing to one store through a queue."""

    def __init__(self, store: MetricsStore) -> None:
        self.store = store
        self.dropped = 0
        self.failed = 0
        self._queue: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.Queue(
            maxsize=_QUEUE_SIZE
        )
        self._last_snapshot = 0.0
        #: The telemetry folder whose writer this observer attached (detached with it).
        self.telemetry_dir: Path | None = None
        self._connected: list[tuple[Any, Callable[..., Any]]] = []
        self._thread = threading.Thread(
            target=self._drain, name=f"metrics-writer:{store.path.name}", daemon=True
        )
        self._thread.start()

    # -- the writer thread --------------------------------------------------------------------
    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                fn, args = item
                if not self.store.closed:
                    fn(*args)
            except Exception:  # one bad row must not stop the writer
                self.failed += 1
                if self.failed == 1:
                    log.exception("metrics write failed (%s)", self.store.path)
            finally:
                self._queue.task_done()

    def _put(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            self._queue.put_nowait((fn, args))
        except queue.Full:
            self.dropped += 1

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued row is written (True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)
        return not self._queue.unfinished_tasks

    # -- receivers (run on the sender's thread: keep them tiny) -------------------------------
    def on_pattern_stored(self, sender: object, patterns: Any = (), new: int = 0, **_: Any) -> None:
        """Count the stored patterns by kind and queue one event row."""
        del sender
        patterns = tuple(patterns or ())
        kinds = Counter(getattr(p, "kind", "unknown") for p in patterns)
        self._put(
            self.store.record_pattern_event, len(patterns), int(new or 0), dict(kinds), time.time()
        )

    def on_answer_given(
        self, sender: object, query: Any = None, answer: Any = None, **_: Any
    ) -> None:
        """Queue one answer row."""
        del sender
        if answer is not None and query is not None:
            self._put(self.store.record_answer, query, answer, time.time())

    def on_training_progress(
        self, sender: object, done: int = 0, total: int = 0, patterns: Any = None, **_: Any
    ) -> None:
        """Queue a pattern snapshot when the total is known (throttled)."""
        del sender
        total_patterns = _int_or_none(patterns)
        if total_patterns is None:
            return
        now = time.monotonic()
        finished = bool(total) and done >= total
        if not finished and now - self._last_snapshot < _SNAPSHOT_INTERVAL_S:
            return
        self._last_snapshot = now
        self._put(self.store.record_snapshot, total_patterns, None, "progress", time.time())

    def on_telemetry(
        self,
        sender: object,
        command: str = "",
        event: str = "",
        payload: Mapping[str, Any] | None = None,
        **_: Any,
    ) -> None:
        """Turn finished training verbs into training runs (and snapshots when totals came)."""
        del sender
        if command not in TRAINING_COMMANDS or event not in ("completed", "failed"):
            return
        payload = dict(payload or {})
        self._put(self.store.record_training, run_from_payload(command, event, payload))
        total = _int_or_none(payload.get("patterns_total"))
        if total is not None:
            by_kind = payload.get("by_kind")
            self._put(
                self.store.record_snapshot,
                total,
                by_kind if isinstance(by_kind, Mapping) else None,
                TRAINING_COMMANDS[command],
                time.time(),
            )

    # -- wiring -------------------------------------------------------------------------------
    def connect(self) -> None:
        """Subscribe to the four signals (strong references: blinker would drop ours)."""
        for signal, receiver in (
            (signals.pattern_stored, self.on_pattern_stored),
            (signals.answer_given, self.on_answer_given),
            (signals.training_progress, self.on_training_progress),
            (signals.telemetry, self.on_telemetry),
        ):
            signal.connect(receiver, weak=False)
            self._connected.append((signal, receiver))

    def detach(self) -> None:
        """Unsubscribe, write what is queued, stop the writer thread (idempotent)."""
        for signal, receiver in self._connected:
            signal.disconnect(receiver)
        self._connected.clear()
        if self._thread.is_alive():
            self.flush()
            self._queue.put(None)
            self._thread.join(timeout=5.0)
        directory = self.telemetry_dir
        if directory is not None:
            from foundups_training import telemetry

            telemetry.detach_writer(directory)
            self.telemetry_dir = None


_attach_lock = threading.Lock()


def attach_observers(target: Trainer | MetricsStore, *, telemetry: bool = True) -> MetricsObserver:
    """Subscribe metrics observers (and, for a Trainer, the telemetry JSONL writer).

    ``target`` is a :class:`~foundups_training.engine.Trainer` (its ``metrics`` store and its
    data directory's telemetry folder are used) or a bare :class:`MetricsStore`. Idempotent:
    a store gets one observer however often this is called. Closing the store detaches it.
    """
    from foundups_training.metrics.store import MetricsStore

    store = target if isinstance(target, MetricsStore) else target.metrics
    with _attach_lock:
        if store.observer is not None:
            return store.observer
        observer = MetricsObserver(store)
        observer.connect()
        if telemetry and not isinstance(target, MetricsStore):
            from foundups_training import telemetry as telemetry_mod

            directory = target.settings.telemetry_dir
            telemetry_mod.attach_writer(directory)
            observer.telemetry_dir = directory
        store.observer = observer
        return observer
