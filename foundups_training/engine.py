"""The Trainer: one facade over mining, memory, routing and metrics.

The CLI, the menu and the training plugin all go through a Trainer, so each capability is
wired in one place. Every part is opened lazily on first use: building a Trainer is free.
Once closed, a Trainer stays closed: nothing opens a part again (see :class:`TrainerClosed`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foundups_training.config import Settings
from foundups_training.logs import warn_failure
from foundups_training.records import Answer, IdleBudget, IdleReport, Query

if TYPE_CHECKING:
    from foundups_training.memory import PatternMemory
    from foundups_training.metrics import MetricsStore
    from foundups_training.mining import IndexReport, MineReport
    from foundups_training.mining.commands import CommandMiningReport
    from foundups_training.routing import Router

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]


class TrainerClosed(RuntimeError):
    """A Trainer was used after :meth:`Trainer.close`.

    Without it, the next use opened the store (and its writer lock), a model or the metrics
    again, lazily as on first use, and nobody was left to close them: the store stayed
    locked for other processes until this one ended.
    """

    def __init__(self) -> None:
        super().__init__(
            "this Trainer is closed (its store, models and metrics were released); "
            "build a new Trainer to use them again"
        )


class Trainer:
    """Owns the parts of one data directory; safe to share between threads."""

    def __init__(self, settings: Settings, *, read_only: bool = False) -> None:
        self.settings = settings
        self.read_only = read_only
        self._lock = threading.RLock()  # serialises long work (mine, index, clear)
        # Opening a part has its own lock, so a live writer that needs the memory does not
        # wait behind a long mining run, and two threads never open the store twice (the
        # second would hit the one-writer lock).
        self._parts_lock = threading.RLock()
        self._parts: dict[str, Any] = {}
        self._closed = False  # set under _parts_lock: no part opens once close() began

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (every method that needs a part then raises
        :class:`TrainerClosed`; those that never raise report it instead)."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise TrainerClosed()

    def _part(self, name: str, factory: Callable[[], Any]) -> Any:
        part = self._parts.get(name)
        if part is None:
            with self._parts_lock:
                self._check_open()
                part = self._parts.get(name)
                if part is None:
                    part = factory()
                    self._parts[name] = part
        return part

    # -- parts, opened on first use -------------------------------------------------------
    @property
    def memory(self) -> PatternMemory:
        """The pattern store (embedded Chroma, or a Chroma server when configured)."""
        from foundups_training.memory import open_memory

        return self._part("memory", lambda: open_memory(self.settings, read_only=self.read_only))

    @property
    def router(self) -> Router:
        """The Gemma/Qwen router over this memory."""
        from foundups_training.routing import Router

        return self._part("router", lambda: Router.from_settings(self.settings, self.memory))

    @property
    def metrics(self) -> MetricsStore:
        """The SQLite metrics store in the data directory."""
        from foundups_training.metrics import MetricsStore

        return self._part("metrics", lambda: MetricsStore(self.settings.metrics_path))

    def has_part(self, name: str) -> bool:
        """Whether ``memory``, ``router`` or ``metrics`` has been opened already."""
        return name in self._parts

    # -- capabilities -------------------------------------------------------------------
    def index(
        self, host_root: Path | str, progress: ProgressFn | None = None, *, prune: bool = True
    ) -> IndexReport:
        """Index the host's source tree into code patterns; with ``prune``, code patterns of
        an earlier index that the tree no longer yields are removed."""
        from foundups_training.mining import index_host

        self._check_open()
        with self._lock:
            return index_host(Path(host_root), self.memory, progress=progress, prune=prune)

    def mine(
        self,
        log_path: Path | str | None = None,
        *,
        host_root: Path | str | None = None,
        max_lines: int | None = None,
        max_seconds: float | None = None,
        progress: ProgressFn | None = None,
        remine: bool = False,
    ) -> MineReport:
        """Mine the next chunk of the log (resuming from the checkpoint) into memory, then the
        telemetry's new events; ``remine``: forget the patterns mined from a log and from the
        telemetry and mine this log and every telemetry day file from the start."""
        from foundups_training.mining import mine_log

        self._check_open()
        with self._lock:
            report = mine_log(
                Path(log_path) if log_path else self.settings.log_path,
                self.memory,
                checkpoint_path=self.settings.checkpoint_path,
                host_root=Path(host_root) if host_root else None,
                max_lines=max_lines,
                max_seconds=max_seconds,
                progress=progress,
                remine=remine,
            )
            # A budgeted run (an idle cycle) waits for another process's telemetry pass no
            # longer than it may run, as mine_log waits for the log's.
            commands = self.mine_commands(remine=remine, wait_s=max_seconds)
            if commands is not None and commands.warning:
                report = replace(report, warnings=(*report.warnings, commands.warning))
            # The log's count was taken before the telemetry's command patterns were added
            # (or, with ``remine``, removed): what the memory holds is counted now.
            try:
                report = replace(report, patterns_total=self.memory.count())
            except Exception as exc:  # noqa: BLE001 - the patterns are stored; keep the count
                warn_failure(log, "counting the patterns failed", exc)
            return report

    def mine_commands(
        self, *, remine: bool = False, wait_s: float | None = None
    ) -> CommandMiningReport | None:
        """Mine this data directory's telemetry into ``command`` patterns; never raises.

        ``None`` when it failed: the failure is logged, the log's patterns are already safe,
        and the telemetry offsets only move after a successful store. ``wait_s``: the most to
        wait for another process's pass (None: the miner's ``LOCK_WAIT_S``).
        """
        from foundups_training.mining.commands import mine_commands

        try:
            return mine_commands(
                self.settings.telemetry_dir,
                self.memory,
                self.settings.commands_checkpoint_path,
                remine=remine,
                wait_s=wait_s,
            )
        except Exception as exc:  # noqa: BLE001 - the log's patterns are already safe
            warn_failure(log, "mining the telemetry failed", exc)
            return None

    def idle(self, budget: IdleBudget) -> IdleReport:
        """One idle-training cycle within ``budget``; never raises.

        Emits ``training.idle`` telemetry (``completed`` or ``failed``), which the metrics
        observers record as a training run.
        """
        from foundups_training import telemetry

        start = time.perf_counter()
        if self._closed:
            # Nothing was tried: no ``training.idle`` telemetry, which the metrics would count
            # as a failed training run.
            error = f"TrainerClosed: {TrainerClosed()}"
            log.warning("idle training skipped: %s", error)
            return IdleReport(success=False, error=error)
        try:
            host_root = self.settings.host_root if self.settings.host_root.is_dir() else None
            report = self.mine(
                self.settings.log_path,
                host_root=host_root,
                max_lines=budget.max_lines,
                max_seconds=budget.max_seconds,
            )
            idle = IdleReport(
                lines_processed=report.lines_processed,
                patterns_stored=report.patterns_stored,
                patterns_total=report.patterns_total,
                duration_s=time.perf_counter() - start,
                progress=report.progress,
                # another process was mining with the checkpoint: this cycle had nothing to do
                skipped_reason=report.skipped,
            )
            payload = {**report.as_dict(), **self.memory_totals(), "source": budget.reason}
            telemetry.emit("training.idle", "completed", payload)
            return idle
        except Exception as exc:  # noqa: BLE001 - an idle cycle reports, never raises
            warn_failure(log, "idle training failed", exc)
            error = f"{type(exc).__name__}: {exc}"
            payload = {
                "error": error,
                "source": budget.reason,
                "log_path": str(self.settings.log_path),
            }
            telemetry.emit("training.idle", "failed", payload)
            return IdleReport(success=False, duration_s=time.perf_counter() - start, error=error)

    def memory_totals(self) -> dict[str, Any]:
        """The memory's totals for a training verb's telemetry (the metrics' "patterns over
        time" draws its kinds from them, see
        :func:`~foundups_training.metrics.observers.memory_totals`); empty when they cannot
        be counted: the patterns are stored, the snapshot then has no kinds."""
        from foundups_training.metrics.observers import memory_totals

        try:
            return memory_totals(self.memory)
        except Exception as exc:  # noqa: BLE001 - the run happened; only its kinds are lost
            warn_failure(log, "counting the patterns by kind failed", exc)
            return {}

    def ask(self, query: Query, *, started: float | None = None) -> Answer:
        """Answer a query through the router; never raises.

        ``started``: the ``time.perf_counter()`` reading when the caller began waiting (the
        plugin's ``on_query``), so that the answer's latency counts opening the store and
        loading the router on the first question; default: now."""
        begun = time.perf_counter()
        started = begun if started is None else started
        try:
            return self.router.answer(query, started=started)
        except Exception as exc:  # noqa: BLE001 - the answer carries the error
            warn_failure(log, "answering failed", exc)
            return Answer(
                text="",
                tier="none",
                error=f"{type(exc).__name__}: {exc}",
                latency_ms=_waited_ms(started, begun),
            )

    def status(self) -> dict[str, Any]:
        """What has been learned: patterns by kind, lines processed, last training."""
        from foundups_training.status import collect_status

        self._check_open()
        return collect_status(self)

    def clear(self) -> None:
        """Delete every pattern and the checkpoints of the log and of the telemetry, so that
        training again learns everything again (the metrics history is kept, and ends with
        a snapshot of 0 patterns)."""
        self._check_open()
        with self._lock:
            from foundups_training.mining.checkpoint import backup_path
            from foundups_training.mining.writeahead import pending_path

            self.memory.clear(confirm=True)
            for checkpoint in (
                self.settings.checkpoint_path,
                self.settings.commands_checkpoint_path,
            ):
                # an interrupted flush's record would put its checkpoint back
                pending_path(checkpoint).unlink(missing_ok=True)
                checkpoint.unlink(missing_ok=True)
                backup_path(checkpoint).unlink(missing_ok=True)
            self._record_cleared()

    def _record_cleared(self) -> None:
        """Record a snapshot of 0 patterns: the dashboard's "patterns" card and plot take
        the last snapshot, and without one they kept the total from before the clear.

        Rows the observers still hold for this store are written first, so that the 0 is the
        last point. Never raises: the patterns are gone whatever the metrics say.
        """
        from foundups_training.metrics.observers import WRITE_BUSY_S
        from foundups_training.metrics.store import SNAPSHOT_CLEARED

        try:
            store = self.metrics
            observer = store.observer
            if observer is not None:
                observer.flush()
            with store.busy_timeout(WRITE_BUSY_S):
                store.record_snapshot(0, {}, SNAPSHOT_CLEARED)
        except Exception as exc:  # noqa: BLE001 - the clear itself succeeded
            warn_failure(log, "recording the clear in the metrics failed", exc)

    def close(self) -> None:
        """Release the store's lock and any loaded model; a second call does nothing.

        Every part is closed even when closing one fails or is interrupted (Ctrl-C while the
        model unloads must still release the store and write the metrics' queued rows); an
        interruption is raised again once all are closed. Afterwards the Trainer opens
        nothing again: ``index``, ``mine``, ``status``, ``clear`` and the parts raise
        :class:`TrainerClosed`; ``ask``, ``idle``, ``mine_commands`` and ``memory_totals``,
        which never raise, say so in their result.
        """
        with self._parts_lock:
            self._closed = True
        interrupted: BaseException | None = None
        for name in ("router", "memory", "metrics"):
            with self._parts_lock:
                part = self._parts.pop(name, None)
            closer = getattr(part, "close", None)
            if closer is not None:
                try:
                    closer()
                except Exception as exc:  # noqa: BLE001 - close the other parts too
                    warn_failure(log, f"closing {name} failed", exc)
                except BaseException as exc:  # noqa: BLE001 - Ctrl-C: close the others first
                    if interrupted is None:
                        interrupted = exc
        if interrupted is not None:
            raise interrupted

    def __enter__(self) -> Trainer:
        self._check_open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _waited_ms(started: Any, begun: float) -> float:
    """Milliseconds since ``started``, a caller's ``time.perf_counter()`` reading, or since
    ``begun`` (when :meth:`Trainer.ask` began) for one that is not a number in the past:
    ``ask`` never raises, and a caller's stray value (text, an int past a float's range)
    raised out of its error path."""
    now = time.perf_counter()
    try:
        waited = now - float(started)
    except (TypeError, ValueError, OverflowError):
        waited = now - begun
    return (waited if 0 <= waited < float("inf") else now - begun) * 1000
