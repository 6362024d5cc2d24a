"""The training plugin: this distribution's own implementation of the three hooks.

Registered through the ``foundups_training`` entry-point group, so ``pip install`` is all it
takes. It builds its Trainer lazily from the settings (env / config file), hands live
decisions to a background learner, mines during idle time, and answers queries.

The first ``on_decision`` of a process comes from the host's hot path (a chat message), so
the Trainer and the live learner (about 30 modules to import) are built in a background
thread (:meth:`TrainingPlugin.warm`); decisions arriving before the learner is ready wait in
a bounded queue and are handed to it, in order, once it is.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import deque
from typing import TYPE_CHECKING

from foundups_training.hookspecs import hookimpl
from foundups_training.logs import trace
from foundups_training.records import Answer, Decision, IdleBudget, IdleReport, Query

if TYPE_CHECKING:
    from foundups_training.config import Settings
    from foundups_training.engine import Trainer
    from foundups_training.live import LiveLearner

log = logging.getLogger(__name__)

#: Decisions kept while the live learner is being built (as many as its own queue holds).
EARLY_QUEUE = 10_000
#: Seconds after a failed build of the live learner before a decision tries again.
RETRY_BUILD_S = 60.0


def _warn(message: str, *args: object, exc: BaseException | None = None) -> None:
    """One clear warning line; the traceback only when logging at DEBUG (``-vv``)."""
    log.warning(message, *args, exc_info=trace(log, exc))


class PluginClosed(RuntimeError):
    """The training plugin was used after :meth:`TrainingPlugin.close`."""

    def __init__(self) -> None:
        super().__init__("the training plugin is closed (the host closed it); nothing is built")


class TrainingPlugin:
    """Hook implementations backed by one lazily-built Trainer."""

    def __init__(self, trainer: Trainer | None = None) -> None:
        # The settings a Trainer given here was built with: a forked child builds its own
        # Trainer from them (None: from the environment's settings, on first use).
        self._settings: Settings | None = trainer.settings if trainer is not None else None
        # Set by close(): the hooks then build nothing (kept across a fork: a child of a
        # closed plugin stays closed).
        self._closed = False
        self._reset(trainer)
        _plugins.add(self)

    def _reset(self, trainer: Trainer | None) -> None:
        """The state of a plugin that has built nothing yet (``trainer`` aside)."""
        self._trainer = trainer
        self._live: LiveLearner | None = None
        self._lock = threading.Lock()  # builds the trainer
        self._live_lock = threading.Lock()  # builds the live learner (never inside _lock)
        # Decisions that came before the live learner was ready; guarded by _early_lock,
        # which is only ever held for a few appends (the host's thread takes it).
        self._early: deque[Decision] = deque()
        self._early_lock = threading.Lock()
        self._early_dropped = 0
        self._warm_thread: threading.Thread | None = None
        self._warm_error = ""
        self._warm_failed_at = 0.0  # monotonic time of the last failed build
        # A read-only Trainer for queries while another process holds the store for writing.
        self._reader: Trainer | None = None
        self._told: set[str] = set()  # build failures already logged
        self._warm_told: set[str] = set()  # the live learner's, already logged

    @property
    def trainer(self) -> Trainer:
        """The Trainer, built from the environment's settings on first use."""
        with self._lock:
            if self._closed:
                raise PluginClosed()
            if self._trainer is None:
                from foundups_training.config import load_settings, usable_data_dir
                from foundups_training.engine import Trainer

                settings = self._settings if self._settings is not None else load_settings()
                # One clear reason, logged once, instead of each part failing on its own.
                usable_data_dir(settings)
                self._trainer = Trainer(settings)
                # Opening the metrics store is file I/O: keep it off the caller's thread.
                threading.Thread(
                    target=_observe, args=(self._trainer,), name="foundups-metrics", daemon=True
                ).start()
            return self._trainer

    @property
    def live(self) -> LiveLearner:
        """The background learner that turns decisions into live patterns.

        Built on first use (this may import for a while: the hot path never calls it, see
        :meth:`on_decision`); decisions queued before it existed are handed to it first.
        """
        live = self._live
        if live is not None:
            return live
        trainer = self.trainer
        with self._live_lock:
            if self._live is None:
                from foundups_training.live import LiveLearner

                learner = LiveLearner(trainer)
                with self._early_lock:
                    while self._early:
                        learner.submit(self._early.popleft())
                    self._live = learner
            return self._live

    @property
    def ready(self) -> bool:
        """Whether the live learner is built (decisions go straight to it)."""
        return self._live is not None

    def warm(self) -> threading.Thread | None:
        """Build the Trainer and the live learner in a background thread (idempotent).

        Returns the thread (None when the learner is already built). Called by the first
        ``on_decision``; an activation can call it earlier.
        """
        with self._early_lock:
            if self._live is not None or self._closed:
                return None
            return self._start_warming()

    def _start_warming(self) -> threading.Thread:
        """The warm-up thread, started once (under _early_lock)."""
        if self._warm_thread is None:
            self._warm_thread = threading.Thread(
                target=self._warm, name="foundups-training-warm", daemon=True
            )
            self._warm_thread.start()
        return self._warm_thread

    def _warm(self) -> None:
        try:
            self.live  # noqa: B018 - building it is the point
        except Exception as exc:  # noqa: BLE001 - a thread of ours: report, never raise
            with self._early_lock:
                error = self._warm_error = f"{type(exc).__name__}: {exc}"
                self._warm_failed_at = time.monotonic()
                lost = len(self._early)
                self._early_dropped += lost
                self._early.clear()
                # A decision tries again every RETRY_BUILD_S while the chat goes on: the
                # same reason is said once, not once a minute for as long as the host runs.
                said = error in self._warm_told
                self._warm_told.add(error)
            if said:
                log.debug("live learning still off: %s (%d queued decisions dropped)", error, lost)
            else:
                _warn(
                    "live learning is off for this process: %s (%d queued decisions dropped; "
                    "tried again on a decision every %g s)",
                    error,
                    lost,
                    RETRY_BUILD_S,
                    exc=exc,
                )
            return
        if self._warm_told:
            log.info("live learning is on: the live learner was built after all")

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait for a warm-up in progress; True when the live learner is built."""
        thread = self._warm_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        return self._live is not None

    @hookimpl
    def on_decision(self, decision: Decision) -> None:
        """Queue the decision for the background learner (never blocks, never raises)."""
        if self._closed:  # a host that sends on after closing the plugin: nothing is built
            self._early_dropped += 1
            return
        try:
            live = self._live
            if live is None:
                with self._early_lock:
                    live = self._live
                    if live is None:
                        self._queue_early(decision)
                        return
            live.submit(decision)
        except Exception as exc:  # noqa: BLE001 - the host's hot path
            _warn("could not queue decision %s: %s", decision.id, exc, exc=exc)

    def _queue_early(self, decision: Decision) -> None:
        """Keep a decision until the learner is built, and have it built (under _early_lock)."""
        if self._warm_error:
            if time.monotonic() - self._warm_failed_at < RETRY_BUILD_S:
                self._early_dropped += 1
                return
            # Try again now and then: the cause (a setting, a locked store) may be fixed.
            self._warm_error, self._warm_thread = "", None
        if len(self._early) < EARLY_QUEUE:
            self._early.append(decision)
        else:
            self._early_dropped += 1
            dropped = self._early_dropped
            if dropped in (1, 10, 100) or dropped % 1000 == 0:
                log.warning("live learner not ready: %d decisions dropped (queue full)", dropped)
        self._start_warming()

    @hookimpl
    def on_idle(self, budget: IdleBudget) -> IdleReport | None:
        """Mine the next chunk of the configured log within the budget.

        Never raises: a Trainer that cannot be built (a bad setting, say) is a failed report,
        and the next call tries again. Raising would get the plugin unregistered for the
        rest of the host's process, fixed setting or not."""
        try:
            trainer = self.trainer
        except Exception as exc:  # noqa: BLE001 - reported in the IdleReport
            return IdleReport(success=False, error=self._unbuilt(exc))
        return trainer.idle(budget)

    @hookimpl
    def on_query(self, query: Query) -> Answer | None:
        """Route the query to memory, Gemma or Qwen (never raises, like :meth:`on_idle`).

        The answer's latency counts from here: the first question opens the store and
        builds the router, and the host waited for that too."""
        started = time.perf_counter()
        try:
            trainer = self._answering_trainer()
        except Exception as exc:  # noqa: BLE001 - reported in the Answer
            return Answer(
                text="",
                tier="none",
                error=self._unbuilt(exc),
                latency_ms=(time.perf_counter() - started) * 1000,
            )
        return trainer.ask(query, started=started)

    def _unbuilt(self, exc: Exception) -> str:
        """Why the Trainer could not be built, logged once per distinct reason."""
        error = f"training plugin unavailable: {type(exc).__name__}: {exc}"
        if error not in self._told:
            self._told.add(error)
            _warn("%s", error, exc=exc)
        return error

    def _answering_trainer(self) -> Trainer:
        """The Trainer that answers: this plugin's, or a read-only one while another process
        holds the embedded store for writing (as ``status`` and ``eval`` read it)."""
        trainer = self.trainer
        if trainer.read_only or trainer.has_part("memory"):
            return trainer
        from foundups_training.memory import StoreLocked

        try:
            trainer.memory  # noqa: B018 - opening it (and its writer lock) is the point
        except StoreLocked as exc:
            return self._read_only(trainer, exc)
        except Exception:  # noqa: BLE001 - ask() meets it again and reports it in the answer
            return trainer
        # The store is ours now; a reader opened earlier (perhaps answering on another
        # thread at this moment) is closed with the plugin.
        return trainer

    def _read_only(self, trainer: Trainer, locked: Exception) -> Trainer:
        with self._lock:
            if self._closed:
                # close() ran while this question met the lock: a reader made now would
                # be nobody's to close.
                raise PluginClosed()
            if self._reader is None:
                from foundups_training.engine import Trainer

                owner = getattr(locked, "owner", {}) or {}
                log.info(
                    "the pattern store is open for writing by %s: answering from it read-only",
                    f"process {owner['pid']}" if owner.get("pid") else "another process",
                )
                self._reader = Trainer(trainer.settings, read_only=True)
            return self._reader

    def _after_fork_in_child(self) -> None:
        """Start over in a forked child (``multiprocessing`` with ``fork``, ``os.fork``).

        What the parent built is the parent's: the threads of its learner and warm-up do not
        exist in the child (decisions queued there would never be written), a lock one of
        them held at the fork would be held forever (the child's next hook call would hang),
        and the store's open handles belong to the parent's writer. The child forgets all of
        it without closing anything (closing would release the parent's store lock, or
        journal the parent's queue a second time at the child's exit) and builds its own on
        first use, as a new process would.
        """
        self._reset(None)

    def close(self) -> None:
        """Flush the live learner and release the trainer's resources; afterwards the hooks
        build nothing again (``on_query`` and ``on_idle`` report the plugin closed, decisions
        are dropped and counted). Before, a decision sent after ``close()`` built a new live
        learner on the closed Trainer: a thread nobody closed, its writes failing."""
        with self._lock, self._early_lock:
            self._closed = True
            reader, self._reader = self._reader, None
        self.wait_ready(10.0)
        if self._live is not None:
            self._live.close()
        if reader is not None:
            reader.close()
        if self._trainer is not None:
            self._trainer.close()


def _observe(trainer: Trainer) -> None:
    """Record this process's answers, patterns and training runs in the metrics store."""
    try:
        from foundups_training.metrics import attach_observers

        attach_observers(trainer)
    except Exception as exc:  # noqa: BLE001 - metrics are optional; learning goes on
        _warn("metrics observers could not be attached: %s: %s", type(exc).__name__, exc, exc=exc)


#: Every TrainingPlugin of this process, for the fork handler below.
_plugins: weakref.WeakSet[TrainingPlugin] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for each in list(_plugins):
        each._after_fork_in_child()


if hasattr(os, "register_at_fork"):  # not on Windows, where nothing forks
    os.register_at_fork(after_in_child=_after_fork_in_child)


#: The object the entry point names.
plugin = TrainingPlugin()
