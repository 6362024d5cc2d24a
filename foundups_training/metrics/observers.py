"""Observers: blinker signals in, metrics rows out, off the sender's thread.

The signals fire on a DAE's hot path (a chat message was classified, a pattern stored), so a
receiver only puts a small tuple on a bounded queue; one daemon thread per store does the
SQLite writes. When the queue is full the event is dropped and counted: losing a metrics
row is better than slowing a live stream. The writer says how many were dropped (at most
once a minute, and when it stops), never the sender. A receiver never raises into the
sender: the signals are public, and a host's event with values that are not what the
observer expects is counted in ``failed`` (said once), or recorded as far as it can be.

What is recorded from which signal:

===================  =====================================================================
``pattern_stored``   a pattern event (how many stored, how many new, by kind)
``answer_given``     an answer (tier, model, confidence, latency, escalation)
``training_progress``  a pattern snapshot when ``patterns`` (the total) is given, at most
                     every few seconds and at the end
``telemetry``        ``completed`` / ``failed`` events of ``training.batch``, ``training.index``,
                     ``training.idle``, ``training.live`` become training runs (payload keys
                     ``lines_processed, lines_total, patterns_stored, patterns_total,
                     verified, duration_s | duration_ms, log_path | source``), and a
                     pattern snapshot when ``patterns_total`` is given (its kinds from
                     ``memory_by_kind``: see :func:`memory_totals`)
===================  =====================================================================

A write that finds the file held by another process (a SQLite GUI with pending edits) waits
at most :data:`WRITE_BUSY_S`; what is queued then, and for :data:`_LOCKED_PAUSE_S` after,
is not recorded but counted in ``failed``, with one warning: a command finishes promptly
instead of waiting the store's busy timeout once per row.

A process has one observer per metrics file, however many :class:`MetricsStore` objects
open it: ``ask`` opens the file for the verb and the training plugin's Trainer opens it
again, and an observer each recorded one answer twice. The observer writes through one of
its stores and outlives each of them until the last one closes (see
:func:`attach_observers`). A forked child starts with no observer: the parent's stay the
parent's (see :func:`_after_fork_in_child`).
"""

from __future__ import annotations

import logging
import math
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foundups_training import signals
from foundups_training.logs import warn_failure
from foundups_training.metrics.records import TrainingRun
from foundups_training.metrics.store import MetricsStore, is_locked

if TYPE_CHECKING:
    from foundups_training.engine import Trainer
    from foundups_training.memory import PatternMemory

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
#: How long one of the writer's rows waits for a file another process holds.
WRITE_BUSY_S = 1.0
#: After a write found the file held, queued rows are not tried for this long.
_LOCKED_PAUSE_S = 30.0
#: The writer says how many rows a full queue dropped at most this often (and when it stops).
_DROPPED_TELL_S = 60.0
#: The payload key with what the memory holds by kind after a training verb: the kinds of
#: its pattern snapshot. Not ``by_kind``, which a mining report uses for what that run
#: stored.
MEMORY_BY_KIND = "memory_by_kind"


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _seconds(value: Any) -> float | None:
    """A duration a host's payload gives, or None: a string ("n/a"), a NaN, an infinity or
    a negative number is no duration (``float("n/a")`` raised into the sender)."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def memory_totals(memory: PatternMemory) -> dict[str, Any]:
    """``patterns_total`` and :data:`MEMORY_BY_KIND` for a training verb's telemetry.

    What "patterns over time" draws, per kind, is what the memory holds: a mining report's
    ``by_kind`` counts only what that run stored (21 ``module_location`` when the memory
    held 92). Every producer of a training run's payload sets these from the memory.
    """
    kinds = memory.kind_counts()  # no metadata read: an idle cycle pays this every time
    return {"patterns_total": sum(kinds.values()), MEMORY_BY_KIND: dict(sorted(kinds.items()))}


def snapshot_kinds(payload: Mapping[str, Any], total: int) -> dict[str, int] | None:
    """The kinds of the snapshot a training verb's payload describes, or None.

    :data:`MEMORY_BY_KIND` when given; else ``by_kind`` only when its counts add up to the
    total, as when a producer put the memory's totals there (the menu's batch does): a
    mining report's own ``by_kind`` covers only that run.
    """
    kinds = payload.get(MEMORY_BY_KIND)
    if isinstance(kinds, Mapping):
        return dict(kinds)
    kinds = payload.get("by_kind")
    if isinstance(kinds, Mapping) and sum(_int_or_none(n) or 0 for n in kinds.values()) == total:
        return dict(kinds)
    return None


def run_from_payload(command: str, event: str, payload: Mapping[str, Any]) -> TrainingRun:
    """The training run a ``completed`` / ``failed`` telemetry event describes.

    Its ``source`` is the log it mined (``log_path``, a mining report's name for it) before
    any ``source`` the payload names, then ``host_root`` (an index): a ``mine`` with a host
    tree was recorded as mining the tree.
    """
    duration = _seconds(payload.get("duration_s"))
    if duration is None:
        ms = _seconds(payload.get("duration_ms"))
        duration = None if ms is None else ms / 1000.0
    source = next(
        (
            payload[key]
            for key in ("log_path", "source", "log", "host_root")
            if payload.get(key) not in (None, "")
        ),
        "",
    )
    return TrainingRun(
        ts=time.time(),
        kind=TRAINING_COMMANDS.get(command, command.rsplit(".", 1)[-1]),
        source=str(source),
        lines_processed=_int_or_none(payload.get("lines_processed")) or 0,
        lines_total=_int_or_none(payload.get("lines_total")),
        patterns_stored=_int_or_none(payload.get("patterns_stored")) or 0,
        patterns_total=_int_or_none(payload.get("patterns_total")),
        verified=_int_or_none(payload.get("verified")),
        duration_s=float(duration or 0.0),
        success=event == "completed",
        error=str(payload.get("error", "") or ""),
    )


def _file_key(path: Path) -> Path:
    """The metrics file ``path`` names, as one key whatever the spelling (relative, ``~``,
    a link)."""
    return Path(path).expanduser().resolve()


class MetricsObserver:
    """Receivers for the four observer signals, writing one metrics file through a queue.

    Shared by every store of that file in the process that :func:`attach_observers` was
    given (its *users*); rows are written through :attr:`store`, one of them that is open.
    """

    def __init__(self, store: MetricsStore) -> None:
        #: The store the rows are written through; another user's when this one closes.
        self.store = store
        #: The metrics file, resolved: the key of this observer in the process.
        self.path = _file_key(store.path)
        #: The stores using this observer, each with the telemetry folder whose writer was
        #: attached for it (a Trainer's) or None; the observer stops with the last one.
        self._users: list[tuple[MetricsStore, Path | None]] = []
        #: Held while one row is written, so that the store is not switched under it.
        self._writer_lock = threading.Lock()
        #: Rows dropped because the queue was full.
        self.dropped = 0
        #: :attr:`dropped` as last said, and when (``time.monotonic()``).
        self._dropped_told = 0
        self._dropped_told_at = 0.0
        #: Rows that could not be written (an error, or the file held by another process).
        self.failed = 0
        #: Until this ``time.monotonic()``, queued rows are not tried: the file was held.
        self._paused_until = 0.0
        #: Which failures were logged already (True: the file held), each said once.
        self._told: set[bool] = set()
        self._queue: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.Queue(
            maxsize=_QUEUE_SIZE
        )
        self._last_snapshot = 0.0
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
                with self._writer_lock:
                    store = self.store
                    if time.monotonic() < self._paused_until:
                        self.failed += 1  # the file is held: waiting for each row is no use
                    elif not store.closed:
                        with store.busy_timeout(WRITE_BUSY_S):
                            fn(store, *args)
            except Exception as exc:  # noqa: BLE001 - one bad row must not stop the writer
                self._failed(exc)
            finally:
                self._tell_dropped()
                self._queue.task_done()

    def _tell_dropped(self, *, last: bool = False) -> None:
        """Say how many rows a full queue dropped, if more than last said: at most once
        every :data:`_DROPPED_TELL_S`, and on stopping (``last``). Said here, on the writer's
        thread, so that the sender, which dropped them not to wait, does not wait to log.
        Before, the count went up and nothing said so."""
        dropped = self.dropped
        if dropped == self._dropped_told:
            return
        now = time.monotonic()
        if not last and self._dropped_told and now - self._dropped_told_at < _DROPPED_TELL_S:
            return
        self._dropped_told, self._dropped_told_at = dropped, now
        try:
            log.warning(
                "metrics (%s): %d rows dropped so far, not recorded: the writer's queue of %d "
                "was full (the file slow or held, or a burst of events)",
                self.path,
                dropped,
                self._queue.maxsize,
            )
        except Exception:  # noqa: BLE001 - a handler that cannot write must not stop the writer
            pass

    def _failed(self, exc: Exception) -> None:
        """Count a row that was not written; say so once for a file held by another
        process and once for any other error (the traceback only at DEBUG).

        When another process holds the file, the rows queued for the next
        :data:`_LOCKED_PAUSE_S` are not tried either: each would wait :data:`WRITE_BUSY_S`
        for nothing, and a command's exit waits for the queue.
        """
        self.failed += 1
        locked = is_locked(exc)
        if locked:
            self._paused_until = time.monotonic() + _LOCKED_PAUSE_S
        if locked not in self._told:
            self._told.add(locked)
            why = (
                f"another process holds the file; rows are not recorded for {_LOCKED_PAUSE_S:.0f} s"
                if locked
                else "this row is not recorded"
            )
            warn_failure(log, f"metrics write failed ({self.store.path}: {why})", exc)

    def _put(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(store, *args)``: the store is the one writing when the row's turn
        comes, since the store that was writing when it was queued may have closed."""
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
    def _refused(self, exc: Exception) -> None:
        """A receiver could not make a row of a sender's event: counted, said once, never
        raised into the sender (a host's thread; and blinker would not call the receivers
        after this one)."""
        try:
            self._failed(exc)
        except Exception:  # noqa: BLE001 - nothing may reach the sender
            pass

    def on_pattern_stored(self, sender: object, patterns: Any = (), new: int = 0, **_: Any) -> None:
        """Count the stored patterns by kind and queue one event row."""
        del sender
        try:
            patterns = tuple(patterns or ())
            kinds = Counter(str(getattr(p, "kind", "unknown")) for p in patterns)
            self._put(
                MetricsStore.record_pattern_event,
                len(patterns),
                _int_or_none(new) or 0,
                dict(kinds),
                time.time(),
            )
        except Exception as exc:  # noqa: BLE001 - see _refused
            self._refused(exc)

    def on_answer_given(
        self, sender: object, query: Any = None, answer: Any = None, **_: Any
    ) -> None:
        """Queue one answer row."""
        del sender
        if answer is not None and query is not None:
            self._put(MetricsStore.record_answer, query, answer, time.time())

    def on_training_progress(
        self, sender: object, done: int = 0, total: int = 0, patterns: Any = None, **_: Any
    ) -> None:
        """Queue a pattern snapshot when the total is known (throttled)."""
        del sender
        total_patterns = _int_or_none(patterns)
        if total_patterns is None:
            return
        now = time.monotonic()
        # a host's counts may be None or strings: a comparison of those raised into it
        done_n, total_n = _int_or_none(done), _int_or_none(total)
        finished = (
            bool(total_n) and done_n is not None and total_n is not None and done_n >= total_n
        )
        if not finished and now - self._last_snapshot < _SNAPSHOT_INTERVAL_S:
            return
        self._last_snapshot = now
        self._put(MetricsStore.record_snapshot, total_patterns, None, "progress", time.time())

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
        try:
            if command not in TRAINING_COMMANDS or event not in ("completed", "failed"):
                return
            # a payload that is no mapping (a host's string) still tells that the run ended
            payload = dict(payload) if isinstance(payload, Mapping) else {}
            self._put(MetricsStore.record_training, run_from_payload(command, event, payload))
            total = _int_or_none(payload.get("patterns_total"))
            if total is not None:
                self._put(
                    MetricsStore.record_snapshot,
                    total,
                    snapshot_kinds(payload, total),
                    TRAINING_COMMANDS[command],
                    time.time(),
                )
        except Exception as exc:  # noqa: BLE001 - see _refused
            self._refused(exc)

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

    def _disconnect(self) -> None:
        for signal, receiver in self._connected:
            signal.disconnect(receiver)
        self._connected.clear()

    @property
    def stores(self) -> tuple[MetricsStore, ...]:
        """The open stores using this observer (empty once detached)."""
        return tuple(store for store, _ in self._users)

    def _add(self, store: MetricsStore, telemetry_dir: Path | None) -> None:
        """Make ``store`` a user (under ``_attach_lock``)."""
        self._users.append((store, telemetry_dir))
        if self.store.closed or (self.store.read_only and not store.read_only):
            with self._writer_lock:
                self.store = store

    def release(self, store: MetricsStore) -> None:
        """``store`` closes: write what is queued (through it, while it is still open), and
        go on writing through another user; with the last user gone, :meth:`detach`.

        The queue is written before the store goes, whoever else uses the observer: a
        command's exit waits on closing its own store, and nothing closes the training
        plugin's Trainer's before the process ends.
        """
        with _attach_lock:
            mine = [(s, d) for s, d in self._users if s is store]
            if not mine:
                return
            self._users = [(s, d) for s, d in self._users if s is not store]
            last = not self._users
            if last and _observers.get(self.path) is self:
                del _observers[self.path]
                self._disconnect()  # now, so that no second observer of the file overlaps
        if last:
            self.detach()
            for _, directory in mine:
                _detach_telemetry(directory)
            return
        self.flush()
        with self._writer_lock:
            if self.store is store:
                self.store = next((s for s, _ in self._users if not s.read_only), self._users[0][0])
        for _, directory in mine:  # its own attachment: the writer counts them
            _detach_telemetry(directory)

    def _forget_after_fork(self) -> None:
        """In a forked child: stop receiving and let go of the parent's stores, closing
        nothing (see :func:`_after_fork_in_child`)."""
        for signal, receiver in self._connected:
            signal.disconnect(receiver)
        self._connected.clear()
        self._users = []
        # What the parent queued is the parent's to write (its writer thread goes on there);
        # a lock a parent's thread held at the fork would be held here for ever.
        self._queue = queue.Queue(maxsize=_QUEUE_SIZE)
        self._writer_lock = threading.Lock()

    def detach(self) -> None:
        """Unsubscribe, write what is queued, stop the writer thread (idempotent).

        The telemetry writers attached for its users are detached when each user closes.
        """
        with _attach_lock:
            if _observers.get(self.path) is self:
                del _observers[self.path]
            self._disconnect()
            users, self._users = self._users, []
        if self._thread.is_alive():
            self.flush()
            self._queue.put(None)
            self._thread.join(timeout=5.0)
        self._tell_dropped(last=True)
        for store, directory in users:
            if store.observer is self:
                store.observer = None
            _detach_telemetry(directory)


def _detach_telemetry(directory: Path | None) -> None:
    if directory is not None:
        from foundups_training import telemetry

        telemetry.detach_writer(directory)


_attach_lock = threading.RLock()
#: The observer of each metrics file (resolved path) in this process.
_observers: dict[Path, MetricsObserver] = {}


def _after_fork_in_child() -> None:
    """Forget the parent's observers in a forked child (``multiprocessing`` with ``fork``,
    ``os.fork``), as the training plugin forgets its Trainer there.

    Their writer threads do not exist in the child, and their stores are the parent's
    SQLite connections: the child's signals were queued for no one (a store the child then
    opened joined the parent's observer, its rows were never written and its close waited
    for them), and a row written through the parent's connection from two processes can
    corrupt the file. The child's observers are its own: a store it opens and attaches gets
    a fresh observer with its own thread. Nothing is closed (the connections are the
    parent's); what the parent queued, the parent writes.
    """
    global _attach_lock
    _attach_lock = threading.RLock()
    observers = list(_observers.values())
    _observers.clear()
    for observer in observers:
        observer._forget_after_fork()


if hasattr(os, "register_at_fork"):  # not on Windows, where nothing forks
    os.register_at_fork(after_in_child=_after_fork_in_child)


def observer_for(path: Path | str) -> MetricsObserver | None:
    """The observer recording into the metrics file ``path`` in this process, if any."""
    with _attach_lock:
        return _observers.get(_file_key(Path(path)))


def attach_observers(target: Trainer | MetricsStore, *, telemetry: bool = True) -> MetricsObserver:
    """Subscribe metrics observers (and, for a Trainer, the telemetry JSONL writer).

    ``target`` is a :class:`~foundups_training.engine.Trainer` (its ``metrics`` store and its
    data directory's telemetry folder are used) or a bare :class:`MetricsStore`. One
    observer per metrics file in the process: a second store of a file already observed
    (the CLI verb's and the training plugin's Trainer's in ``ask``) shares its observer,
    so each signal is one row. Idempotent per store. Closing a store writes what is queued;
    closing the last store of the file detaches the observer.
    """
    store = target if isinstance(target, MetricsStore) else target.metrics
    with _attach_lock:
        if store.observer is not None:
            return store.observer  # type: ignore[no-any-return]
        key = _file_key(store.path)
        observer = _observers.get(key)
        if observer is None:
            observer = MetricsObserver(store)
            observer.connect()
            _observers[key] = observer
        directory: Path | None = None
        if telemetry and not isinstance(target, MetricsStore):
            from foundups_training import telemetry as telemetry_mod

            directory = target.settings.telemetry_dir
            telemetry_mod.attach_writer(directory)
        observer._add(store, directory)
        store.observer = observer
        return observer
