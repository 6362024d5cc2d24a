"""MetricsStore: the history of what was learned and how well it answers, in SQLite.

One file in the data directory (``settings.metrics_path``), WAL mode so the host's process
and a CLI can write at the same time, a ``PRAGMA user_version`` schema number so a newer
version can migrate an older file. Only the standard library: the store opens in
milliseconds and never pulls chromadb or a model in.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from foundups_training.logs import warn_failure
from foundups_training.metrics.records import (
    AnswerRow,
    EvalRun,
    EvalTier,
    Snapshot,
    TrainingRun,
)
from foundups_training.text import from_surrogates

if TYPE_CHECKING:
    from foundups_training.records import Answer, Query

log = logging.getLogger(__name__)

#: Bumped whenever the tables change; :meth:`MetricsStore._migrate` upgrades older files.
SCHEMA_VERSION = 1

_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS pattern_snapshots (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    total INTEGER NOT NULL,
    by_kind TEXT NOT NULL DEFAULT '{}',
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS pattern_snapshots_ts ON pattern_snapshots(ts);
CREATE TABLE IF NOT EXISTS pattern_events (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    stored INTEGER NOT NULL,
    new INTEGER NOT NULL,
    by_kind TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS training_runs (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    lines_processed INTEGER NOT NULL DEFAULT 0,
    lines_total INTEGER,
    patterns_stored INTEGER NOT NULL DEFAULT 0,
    patterns_total INTEGER,
    verified INTEGER,
    duration_s REAL NOT NULL DEFAULT 0,
    success INTEGER NOT NULL DEFAULT 1,
    error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS training_runs_ts ON training_runs(ts);
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    query TEXT NOT NULL DEFAULT '',
    tier TEXT NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    confidence REAL NOT NULL DEFAULT 0,
    latency_ms REAL NOT NULL DEFAULT 0,
    escalated INTEGER NOT NULL DEFAULT 0,
    escalation_reason TEXT NOT NULL DEFAULT '',
    n_patterns INTEGER NOT NULL DEFAULT 0,
    asked_by TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS answers_tier_ts ON answers(tier, ts);
CREATE TABLE IF NOT EXISTS eval_runs (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    dataset TEXT NOT NULL,
    n_items INTEGER NOT NULL DEFAULT 0,
    meta TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS eval_tiers (
    run_id INTEGER NOT NULL REFERENCES eval_runs(id) ON DELETE CASCADE,
    tier TEXT NOT NULL,
    n INTEGER NOT NULL,
    accuracy REAL NOT NULL,
    escalation_rate REAL NOT NULL DEFAULT 0,
    ece REAL,
    brier REAL,
    p50_ms REAL,
    p95_ms REAL,
    calibration TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (run_id, tier)
);
"""

#: "The latest answers of a tier" is by id (the order recorded, see :meth:`MetricsStore.snapshots`),
#: which the (tier, ts) index does not give: without this one, each tier's latest latencies
#: sorted every answer of the tier (seconds for a million). Only an index, so no new schema
#: number: an older version reads and writes a file that has it.
_LATEST_BY_TIER_INDEX = "CREATE INDEX IF NOT EXISTS answers_tier_id ON answers(tier, id)"
#: The tiers that answered, in order: one index lookup per tier, where ``SELECT DISTINCT``
#: reads every answer's index entry.
_TIERS = (
    "WITH RECURSIVE t(tier) AS (SELECT MIN(tier) FROM answers UNION ALL "
    "SELECT (SELECT MIN(tier) FROM answers WHERE tier > t.tier) FROM t WHERE t.tier IS NOT NULL) "
    "SELECT tier FROM t WHERE tier IS NOT NULL"
)
#: How long opening a file waits to add that index while another process holds the file;
#: the next open adds it otherwise.
_INDEX_BUSY_MS = 200
#: The latency stored for an answer whose latency is no number (NaN, infinite, negative):
#: the answer is kept and counted, its latency left out of the percentiles.
NO_LATENCY = -1.0

#: Stored query text is cut here: the history is for counting, not for re-reading chats.
_MAX_QUERY_CHARS = 300
#: How long a statement waits for another process's lock (SQLite's busy handler).
BUSY_TIMEOUT_S = 10.0
#: How long opening a file retries its switch to WAL, which SQLite refuses at once (without
#: the busy handler) while another process holds the file.
_WAL_RETRY_S = 5.0


#: The ``reason`` of the snapshot :meth:`Trainer.clear` records (the memory emptied); status
#: reads it to leave out a failed attempt the clear came after.
SNAPSHOT_CLEARED = "clear"


class MetricsError(RuntimeError):
    """The metrics file cannot be used (newer schema, not a database)."""


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation; None for no values.

    Values that are not finite numbers are left out: ``sorted`` does not order a list
    holding a NaN, and an infinity makes the interpolation NaN.
    """
    data = sorted(v for v in values if math.isfinite(v))
    if not data:
        return None
    if len(data) == 1:
        return float(data[0])
    pos = (len(data) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return float(data[lo] + (data[hi] - data[lo]) * (pos - lo))


def is_locked(exc: BaseException) -> bool:
    """Whether a SQLite error is another connection holding the file (SQLITE_BUSY/LOCKED)."""
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc).lower()


def _connect(target: str) -> sqlite3.Connection:
    """A read-only store's connection to a ``file:`` URI."""
    return sqlite3.connect(
        target, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )


def _probability(value: float) -> float:
    """A confidence as the router promises it: finite and in 0-1, a NaN or an infinity as 0.

    An answer of a host's own tier may carry anything: SQLite stores a NaN as NULL, which
    the column refuses (the answer was lost), and one infinity made its tier's mean
    confidence infinite for ever (and ``status --json`` print ``Infinity``, not JSON).
    """
    number = float(value)
    if not math.isfinite(number):
        return 0.0
    return min(max(number, 0.0), 1.0)


def _latency(value: float) -> float:
    """A latency in ms, or :data:`NO_LATENCY` for one that is no duration (NaN, infinite,
    negative): the answer is still counted, its latency is not."""
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else NO_LATENCY


def _duration(value: float) -> float:
    """A run's duration in seconds; one that is no duration (NaN, infinite, negative) is 0,
    as an unknown one is: SQLite stores a NaN as NULL, which the column refuses."""
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else 0.0


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def _storable(text: str) -> str:
    """``text`` as SQLite can store it. A path with bytes that are not UTF-8 (a host root
    named in latin-1) reaches Python with lone surrogates, which SQLite refuses, and the
    whole row would be lost: each such byte is shown as it was (``caf\\xe9``), any other
    lone surrogate as its escape (``\\udc00``)."""
    return from_surrogates(text, "backslashreplace")


def _loads(text: str | None, default: Any) -> Any:
    try:
        return json.loads(text) if text else default
    except ValueError:
        return default


class MetricsStore:
    """Record and query training, answer and evaluation history.

    Safe to share between threads (one connection behind a lock); safe to open from several
    processes at once (WAL, a busy timeout).
    """

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        self.path = Path(path)
        #: True when opened with ``read_only``: nothing is created, migrated or written.
        self.read_only = read_only
        #: True when a read-only store could read neither the file's WAL nor a copy of it:
        #: the figures may miss the last rows written (a warning said so).
        self.may_be_stale = False
        self._lock = threading.RLock()
        self._closed = False
        #: True in a forked child until it first uses the store: the connection is the
        #: parent's, never used or closed here (see :meth:`_after_fork_in_child`).
        self._inherited = False
        #: Deletes the private copy a read-only store reads (see :meth:`_read_copy`).
        self._copy_remover: weakref.finalize[Any, MetricsStore] | None = None
        self._open()
        #: Set by :func:`foundups_training.metrics.attach_observers` (the file's observer in
        #: this process, shared with its other stores); left on close.
        self.observer: Any = None
        _stores.add(self)

    def _open(self) -> None:
        """Connect to the file, in WAL mode, migrated (when writable)."""
        self._conn: sqlite3.Connection
        if self.read_only:
            self._conn = self._connect_read_only()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Observers write from their own thread: the connection is shared under our lock.
            self._conn = sqlite3.connect(
                str(self.path),
                timeout=BUSY_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,
            )
        self._conn.row_factory = sqlite3.Row
        try:
            # before anything is written: a file of a newer version is refused as it is
            # (before, it was switched to WAL first, and its connection left open)
            self._refuse_newer()
            if not self.read_only:
                self._use_wal()
                # NORMAL is durable across app crashes in WAL mode; only an OS crash can lose
                # the last commits, which is fine for metrics and keeps each write cheap.
                self._conn.execute("PRAGMA synchronous=NORMAL")
                self._conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except MetricsError:
            self._conn.close()
            self._remove_copy()
            raise
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            if is_locked(exc):
                # not a broken file: one an operator must not delete
                raise MetricsError(
                    f"{self.path}: another process holds the metrics file ({exc}); "
                    "try again when it is done"
                ) from exc
            raise MetricsError(f"{self.path}: not a usable metrics database ({exc})") from exc

    def _after_fork_in_child(self) -> None:
        """Let go of the parent's connection in a forked child (``multiprocessing`` with
        ``fork``, ``os.fork``), touching nothing of it.

        SQLite connections must not cross a fork: the child holds none of the parent's file
        locks, so rows it wrote through the inherited connection went to a write-ahead log
        the parent or another process had already checkpointed and removed, and the child's
        close then copied that stale log over their newer rows. A lock another thread of the
        parent held at the fork (the observers' writer holds it for each row) would stay held
        for ever, and the child's close or next row would hang. So the child gets a fresh
        lock and no observer (the parent's is the parent's); the parent's connection is kept
        aside, never used or closed here; the first use in the child opens the child's own
        connection; closing a store the child never used closes nothing of the parent's.
        """
        self._lock = threading.RLock()
        self.observer = None
        remover, self._copy_remover = self._copy_remover, None
        if remover is not None:
            remover.detach()  # the private copy is the parent's to delete
        if not self._closed and not self._inherited:
            _inherited_connections.append(self._conn)
            self._inherited = True

    def _connection(self) -> sqlite3.Connection:
        """The open connection (under the lock), the child's own after a fork."""
        if self._closed:
            raise MetricsError(f"{self.path}: the metrics store is closed")
        if self._inherited:
            self._open()
            self._inherited = False
        return self._conn

    def _use_wal(self) -> None:
        """Put the file in WAL mode, unless it is already.

        SQLite refuses the switch with "database is locked" at once, without waiting in the
        busy handler, while another connection holds the file: several processes opening a
        brand-new file together failed 1 time in 180, and that process then ran without
        metrics for its life. So the switch is tried again for :data:`_WAL_RETRY_S`; a file
        already in WAL mode (every open after the first) is not switched at all.
        """
        deadline = time.monotonic() + _WAL_RETRY_S
        while True:
            mode = self._conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() == "wal":
                return
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if not is_locked(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(0.02)

    def _connect_read_only(self) -> sqlite3.Connection:
        """A connection that never writes: for ``status`` and ``report``, which must work on
        a data directory this process cannot write (another account's, a backup).

        ``mode=ro`` still wants to create the WAL index (``-shm``) next to the file, which a
        read-only folder refuses: :meth:`_read_without_index` then reads it another way. A
        missing or empty file is an empty history, held in memory, so that reading creates
        nothing.
        """

        def empty() -> sqlite3.Connection:
            conn = _connect("file::memory:")
            conn.executescript(_SCHEMA_V1)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            return conn

        if not self.path.is_file() or self.path.stat().st_size == 0:
            return empty()
        conn: sqlite3.Connection | None = None
        try:
            try:
                conn = _connect(f"{self.path.resolve().as_uri()}?mode=ro")
                version = conn.execute("PRAGMA user_version").fetchone()[0]
            except sqlite3.OperationalError:
                if conn is not None:
                    conn.close()
                conn = self._read_without_index()
                version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            self._remove_copy()
            raise MetricsError(f"{self.path}: not a usable metrics database ({exc})") from exc
        if int(version) == 0:  # created but never given its tables: nothing recorded yet
            conn.close()
            self._remove_copy()
            return empty()
        return conn

    def _read_without_index(self) -> sqlite3.Connection:
        """A connection to a file that cannot be opened read-only in place (its folder
        refuses the ``-shm`` that ``mode=ro`` creates).

        ``immutable=1`` reads the file as it is, without locks, which is right for a folder
        nobody can be writing either, but it ignores the WAL: what a writer committed and
        never checkpointed (a process killed, a copy made without its ``-shm``) is left out
        without a word (``answers: 0`` for 50 recorded). So when a non-empty WAL sits beside
        the file, the file and its WAL are read from a private copy (:meth:`_read_copy`);
        only when that fails are the file's own pages read, with a warning that the figures
        may be stale.
        """
        immutable = f"{self.path.resolve().as_uri()}?mode=ro&immutable=1"
        wal = self.path.with_name(self.path.name + "-wal")
        try:
            pending = wal.stat().st_size > 0
        except OSError:
            pending = False
        if not pending:
            return _connect(immutable)
        try:
            return self._read_copy()
        except Exception as exc:  # noqa: BLE001 - read what the file holds, and say so
            self.may_be_stale = True
            warn_failure(
                log,
                f"the metrics in {self.path} may be stale (the last rows written are in "
                f"{wal.name}, which this process can neither read in place nor copy)",
                exc,
            )
            return _connect(immutable)

    def _read_copy(self) -> sqlite3.Connection:
        """A read-only connection to a private copy of the file and its WAL, in a temporary
        folder deleted on :meth:`close` (else at exit).

        Copied as the pattern store's reader copies its SQLite file
        (:func:`foundups_training.memory.readcopy.copy_sqlite`: SQLite's backup API when it
        can read the file, else the files as they are, again if they changed meanwhile);
        in a folder it may write, SQLite builds the copy's WAL index and reads the WAL.
        """
        from foundups_training.memory.readcopy import copy_sqlite

        folder = Path(tempfile.mkdtemp(prefix="foundups-training-metrics-"))
        self._copy_remover = weakref.finalize(self, shutil.rmtree, folder, True)
        try:
            copy = folder / self.path.name
            copy_sqlite(self.path, copy)
            conn = _connect(f"{copy.resolve().as_uri()}?mode=ro")
            try:
                conn.execute("PRAGMA user_version").fetchone()
            except BaseException:
                conn.close()
                raise
        except BaseException:
            self._remove_copy()
            raise
        log.info("%s cannot be read in place: reading a copy in %s", self.path, folder)
        return conn

    def _remove_copy(self) -> None:
        remover, self._copy_remover = self._copy_remover, None
        if remover is not None:
            remover()

    # -- lifecycle --------------------------------------------------------------------------
    def _refuse_newer(self) -> None:
        """Raise :class:`MetricsError` for a file a newer version wrote."""
        version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise MetricsError(
                f"{self.path} has schema {version}, this version understands up to "
                f"{SCHEMA_VERSION}: upgrade foundups-training"
            )

    def _migrate(self) -> None:
        self._refuse_newer()  # again: another process may have upgraded it meanwhile
        version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if version < 1 and not self.read_only:
            self._conn.executescript(_SCHEMA_V1)
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        if not self.read_only:
            self._add_latest_by_tier_index()

    def _add_latest_by_tier_index(self) -> None:
        """Add :data:`_LATEST_BY_TIER_INDEX` to a file made before it (once per file).

        Looked up first, so that an open of a file that has it writes nothing; added with a
        short wait, so that a file another process holds opens as promptly as before (the
        next open adds it).
        """
        found = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'answers_tier_id'"
        ).fetchone()
        if found:
            return
        self._conn.execute(f"PRAGMA busy_timeout={_INDEX_BUSY_MS}")
        try:
            self._conn.execute(_LATEST_BY_TIER_INDEX)
        except sqlite3.OperationalError as exc:
            if not is_locked(exc):
                raise
            log.debug("%s is held by another process: its index is added later", self.path)
        finally:
            self._conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")

    @property
    def schema_version(self) -> int:
        """The schema number of the open file."""
        with self._lock:
            return int(self._connection().execute("PRAGMA user_version").fetchone()[0])

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def close(self) -> None:
        """Write what the observer holds, leave it (it stops with the file's last store in
        the process: see :func:`~foundups_training.metrics.attach_observers`), then close
        the file (idempotent)."""
        observer, self.observer = self.observer, None
        if observer is not None:
            observer.release(self)
        with self._lock:
            if not self._closed:
                self._closed = True
                if not self._inherited:  # the parent's connection is not the child's to close
                    self._conn.close()
                self._remove_copy()

    def __enter__(self) -> MetricsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def busy_timeout(self, seconds: float) -> Iterator[None]:
        """Let the writes inside wait at most ``seconds`` for another process's lock.

        The observers' writer uses a short one: a file held for minutes (a SQLite GUI with
        pending edits) must not hold each queued row for the full :data:`BUSY_TIMEOUT_S`.
        The store's lock is held throughout, so no other thread's query runs meanwhile.
        """
        with self._lock:
            self._execute(f"PRAGMA busy_timeout={int(seconds * 1000)}")
            try:
                yield
            finally:
                if not self._closed:
                    self._conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")

    def _execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._connection().execute(sql, tuple(params))

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._execute(sql, params).fetchall()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """Let the queries inside see one moment of the history: one read transaction, under
        the lock (so no other thread's row goes in between either).

        A summary is several queries: a row written between two of them (the observers'
        writer, another process) made it disagree with itself (runs counted without the
        lines they processed). In WAL mode a reader blocks no writer.
        """
        with self._lock:
            conn = self._connection()
            if conn.in_transaction:  # inside another reading: that moment is this one
                yield
                return
            conn.execute("BEGIN")
            try:
                yield
            finally:
                with contextlib.suppress(sqlite3.Error):
                    if conn.in_transaction:
                        conn.execute("COMMIT")

    # -- recording --------------------------------------------------------------------------
    def record_snapshot(
        self,
        total: int,
        by_kind: Mapping[str, int] | None = None,
        reason: str = "",
        ts: float | None = None,
    ) -> None:
        """Remember how many patterns the memory holds now (one point of "patterns over time")."""
        self._execute(
            "INSERT INTO pattern_snapshots(ts, total, by_kind, reason) VALUES (?, ?, ?, ?)",
            (ts or time.time(), int(total), _json(dict(by_kind or {})), reason),
        )

    def record_pattern_event(
        self,
        stored: int,
        new: int,
        by_kind: Mapping[str, int] | None = None,
        ts: float | None = None,
    ) -> None:
        """Remember one ``pattern_stored`` signal: how many were upserted, how many were new."""
        self._execute(
            "INSERT INTO pattern_events(ts, stored, new, by_kind) VALUES (?, ?, ?, ?)",
            (ts or time.time(), int(stored), int(new), _json(dict(by_kind or {}))),
        )

    def record_training(self, run: TrainingRun) -> int:
        """Remember one training run; returns its row id."""
        cur = self._execute(
            "INSERT INTO training_runs(ts, kind, source, lines_processed, lines_total, "
            "patterns_stored, patterns_total, verified, duration_s, success, error) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run.ts,
                _storable(run.kind),
                _storable(run.source),
                int(run.lines_processed),
                run.lines_total,
                int(run.patterns_stored),
                run.patterns_total,
                run.verified,
                _duration(run.duration_s),
                int(bool(run.success)),
                _storable(run.error),
            ),
        )
        return int(cur.lastrowid or 0)

    def record_answer(self, query: Query | str, answer: Answer, ts: float | None = None) -> None:
        """Remember one answer: tier, model, confidence, latency, escalation."""
        from foundups_training.mining.redact import redact

        text = query if isinstance(query, str) else query.text
        # a question may quote a log line, secrets included: redacted as the miner redacts
        text = redact(text[: _MAX_QUERY_CHARS * 4])
        # so may an error, which can be huge (a whole response quoted): only its start is
        # redacted and kept, as the query's, so that it cannot stall the answering thread
        # (errors are counted, not read back)
        error = redact(answer.error[: _MAX_QUERY_CHARS * 4])[:_MAX_QUERY_CHARS]
        asked_by = "" if isinstance(query, str) else query.asked_by
        self._execute(
            "INSERT INTO answers(ts, query, tier, model, confidence, latency_ms, escalated, "
            "escalation_reason, n_patterns, asked_by, error) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                ts or time.time(),
                text[:_MAX_QUERY_CHARS],
                answer.tier,
                answer.model,
                _probability(answer.confidence),
                _latency(answer.latency_ms),
                int(bool(answer.escalated)),
                answer.escalation_reason,
                len(answer.patterns),
                asked_by,
                error,
            ),
        )

    def record_eval(
        self,
        dataset: str,
        tiers: Iterable[EvalTier | Mapping[str, Any] | Any],
        *,
        n_items: int | None = None,
        meta: Mapping[str, Any] | None = None,
        ts: float | None = None,
    ) -> int:
        """Remember one evaluation run and return its id.

        ``dataset`` names the QA file; ``tiers`` holds one result per evaluated tier
        ("routed", "memory", "gemma", "qwen"), each an :class:`EvalTier` or a mapping / object
        with its field names: ``tier, n, accuracy, escalation_rate, ece, brier, p50_ms,
        p95_ms, calibration`` (bins as :class:`CalibrationBin`, mappings with ``lower, upper,
        count, confidence, accuracy``, or 5-tuples in that order). ``meta`` is free-form
        (threshold, model names, git revision…).
        """
        results = [EvalTier.coerce(t) for t in tiers]
        if not results:
            raise ValueError("record_eval needs at least one tier result")
        with self._lock:
            self._execute("BEGIN IMMEDIATE")
            try:
                cur = self._execute(
                    "INSERT INTO eval_runs(ts, dataset, n_items, meta) VALUES (?, ?, ?, ?)",
                    (
                        ts or time.time(),
                        dataset,
                        n_items if n_items is not None else max(r.n for r in results),
                        _json(dict(meta or {})),
                    ),
                )
                run_id = int(cur.lastrowid or 0)
                for r in results:
                    self._execute(
                        "INSERT OR REPLACE INTO eval_tiers(run_id, tier, n, accuracy, "
                        "escalation_rate, ece, brier, p50_ms, p95_ms, calibration) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?)",
                        (
                            run_id,
                            r.tier,
                            r.n,
                            r.accuracy,
                            r.escalation_rate,
                            r.ece,
                            r.brier,
                            r.p50_ms,
                            r.p95_ms,
                            _json([list(_bin_tuple(b)) for b in r.calibration]),
                        ),
                    )
                self._execute("COMMIT")
            except BaseException:
                # SQLite has rolled back already after some errors (a full disk): a ROLLBACK
                # then fails, and its "no transaction is active" would hide why.
                with contextlib.suppress(sqlite3.Error):
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                raise
        return run_id

    def record_eval_report(
        self,
        report: Any,
        dataset: str,
        *,
        meta: Mapping[str, Any] | None = None,
        n_bins: int = 10,
    ) -> int:
        """Record an :class:`foundups_training.evaluation.harness.EvalReport` in one call.

        Takes each tier's measures from ``report.tiers`` (name -> TierReport) and builds its
        calibration bins from ``report.results`` (items with ``tier``, ``confidence``,
        ``right``). Returns the run id.
        """
        from foundups_training.metrics.calibration import calibration_bins

        results = list(getattr(report, "results", ()) or ())
        tiers = []
        for name, tier_report in dict(report.tiers).items():
            data = EvalTier.coerce({**_fields_of(tier_report), "tier": name})
            pairs = [(r.confidence, r.right) for r in results if r.tier == name]
            tiers.append(replace(data, calibration=calibration_bins(pairs, n_bins)))
        return self.record_eval(dataset, tiers, n_items=getattr(report, "items", None), meta=meta)

    # -- queries ----------------------------------------------------------------------------
    def snapshots(self, limit: int | None = None) -> list[Snapshot]:
        """Pattern counts over time, oldest first (the last ``limit`` if given).

        In the order they were recorded (here and in every "latest" below), not by ``ts``: a
        clock that was ahead for a while must not make an older row the last one.
        """
        sql = "SELECT ts, total, by_kind, reason FROM pattern_snapshots ORDER BY id DESC"
        rows = self._rows(sql + (" LIMIT ?" if limit else ""), (limit,) if limit else ())
        return [
            Snapshot(r["ts"], r["total"], _loads(r["by_kind"], {}), r["reason"])
            for r in reversed(rows)
        ]

    def training_runs(self, limit: int = 50, kind: str | None = None) -> list[TrainingRun]:
        """The latest training runs, newest first."""
        where = "WHERE kind = ?" if kind else ""
        params: tuple[Any, ...] = (kind, limit) if kind else (limit,)
        rows = self._rows(f"SELECT * FROM training_runs {where} ORDER BY id DESC LIMIT ?", params)
        return [_record(TrainingRun, r) for r in rows]

    def last_training(self) -> TrainingRun | None:
        """The most recent training run of any kind, whether it succeeded or not, or None.

        What to show as "last training" is :meth:`last_successful_training`: a failed run
        (the store locked by another process, Ctrl-C) trained nothing.
        """
        runs = self.training_runs(limit=1)
        return runs[0] if runs else None

    def last_successful_training(self) -> TrainingRun | None:
        """The most recent training run of any kind that succeeded, or None."""
        rows = self._rows("SELECT * FROM training_runs WHERE success != 0 ORDER BY id DESC LIMIT 1")
        return _record(TrainingRun, rows[0]) if rows else None

    def last_failed_training(self) -> TrainingRun | None:
        """The most recent run when it failed (no run has succeeded since), else None.

        What an operator needs to see next to "last training": the attempt after it did not
        work, and why (``error``).
        """
        last = self.last_training()
        return last if last is not None and not last.success else None

    def lines_processed_total(self) -> int:
        """Log lines processed by all recorded runs together."""
        row = self._rows("SELECT COALESCE(SUM(lines_processed), 0) AS n FROM training_runs")
        return int(row[0]["n"])

    def answers(self, limit: int = 100, tier: str | None = None) -> list[AnswerRow]:
        """The latest answers, newest first."""
        where = "WHERE tier = ?" if tier else ""
        params: tuple[Any, ...] = (tier, limit) if tier else (limit,)
        rows = self._rows(f"SELECT * FROM answers {where} ORDER BY id DESC LIMIT ?", params)
        return [_record(AnswerRow, r) for r in rows]

    def latencies_by_tier(self, limit_per_tier: int = 2000) -> dict[str, list[float]]:
        """The latest answer latencies (ms) of each tier, for percentiles and plots.

        Only measured ones: :data:`NO_LATENCY`, and an infinity an older version stored,
        are left out (a tier with none measured has an empty list).
        """
        out: dict[str, list[float]] = {}
        with self._reading():
            for r in self._rows(_TIERS):
                # filtered after the index picks the tier's latest rows, so that it still
                # walks them newest first instead of sorting the tier
                rows = self._rows(
                    "SELECT latency_ms FROM answers WHERE tier = ? "
                    "AND +latency_ms >= 0 AND +latency_ms < ? ORDER BY id DESC LIMIT ?",
                    (r["tier"], math.inf, limit_per_tier),
                )
                out[r["tier"]] = [float(x["latency_ms"]) for x in rows]
        return out

    def answer_stats(self) -> dict[str, Any]:
        """Answers per tier: count, mean confidence, escalations, errors, p50/p95 latency.

        The mean takes each confidence as :func:`_probability` makes it, so that a row an
        older version stored as it came (an infinity) cannot make a tier's mean infinite.
        """
        with self._reading():
            rows = self._rows(
                "SELECT tier, COUNT(*) AS n, "
                "AVG(CASE WHEN abs(confidence) < ? THEN MIN(MAX(confidence, 0.0), 1.0) ELSE 0 END) "
                "AS conf, SUM(escalated) AS esc, SUM(error != '') AS errors FROM answers "
                "GROUP BY tier ORDER BY tier",
                (math.inf,),
            )
            latencies = self.latencies_by_tier()
        by_tier: dict[str, Any] = {}
        total = escalated = 0
        for r in rows:
            lat = latencies.get(r["tier"], [])
            by_tier[r["tier"]] = {
                "answers": int(r["n"]),
                "mean_confidence": round(float(r["conf"] or 0.0), 4),
                "escalated": int(r["esc"] or 0),
                "errors": int(r["errors"] or 0),
                "p50_ms": _round(percentile(lat, 50)),
                "p95_ms": _round(percentile(lat, 95)),
            }
            total += int(r["n"])
            escalated += int(r["esc"] or 0)
        return {
            "answers": total,
            "escalated": escalated,
            "escalation_rate": round(escalated / total, 4) if total else None,
            "by_tier": by_tier,
        }

    def eval_runs(self, limit: int = 50, dataset: str | None = None) -> list[EvalRun]:
        """The latest evaluation runs, oldest first (the order a plot wants)."""
        where = "WHERE dataset = ?" if dataset else ""
        params: tuple[Any, ...] = (dataset, limit) if dataset else (limit,)
        runs = self._rows(f"SELECT * FROM eval_runs {where} ORDER BY id DESC LIMIT ?", params)
        out: list[EvalRun] = []
        for run in reversed(runs):
            tiers = tuple(
                EvalTier.coerce(
                    {
                        **dict(t),
                        "calibration": _loads(t["calibration"], []),
                    }
                )
                for t in self._rows(
                    "SELECT * FROM eval_tiers WHERE run_id = ? ORDER BY tier", (run["id"],)
                )
            )
            out.append(
                EvalRun(
                    id=run["id"],
                    ts=run["ts"],
                    dataset=run["dataset"],
                    n_items=run["n_items"],
                    tiers=tiers,
                    meta=_loads(run["meta"], {}),
                )
            )
        return out

    def summary(self) -> dict[str, Any]:
        """Everything the metrics view shows, as plain data (``--json``), all of one moment
        (see :meth:`_reading`)."""
        with self._reading():
            return self._summary()

    def _summary(self) -> dict[str, Any]:
        last = self.last_successful_training()
        failed = self.last_failed_training()
        snaps = self.snapshots(limit=1)
        evals = self.eval_runs(limit=1)
        runs = self._rows(
            "SELECT kind, success != 0 AS ok, COUNT(*) AS n FROM training_runs GROUP BY kind, ok"
        )
        return {
            "metrics_path": str(self.path),
            "schema_version": SCHEMA_VERSION,
            # runs that trained something; the ones that failed are counted apart
            "training_runs": {r["kind"]: int(r["n"]) for r in runs if r["ok"]},
            "failed_runs": {r["kind"]: int(r["n"]) for r in runs if not r["ok"]},
            "lines_processed": self.lines_processed_total(),
            "last_training": last.as_dict() if last else None,
            "last_failure": failed.as_dict() if failed else None,
            "patterns": (
                {"total": snaps[0].total, "by_kind": dict(snaps[0].by_kind), "ts": snaps[0].ts}
                if snaps
                else None
            ),
            "answers": self.answer_stats(),
            "last_eval": evals[0].as_dict() if evals else None,
            "last_gemma_eval": self._last_tier_eval("gemma"),
        }

    def _last_tier_eval(self, tier: str) -> dict[str, Any] | None:
        """The latest evaluation of ``tier`` (its accuracy, and the run's id, dataset and
        time), or None: the last run may have left it out (the demo's, ``--tiers memory``),
        which must not hide the one measured before."""
        rows = self._rows(
            "SELECT r.id, r.ts, r.dataset, t.accuracy FROM eval_tiers t "
            "JOIN eval_runs r ON r.id = t.run_id WHERE t.tier = ? ORDER BY r.id DESC LIMIT 1",
            (tier,),
        )
        if not rows:
            return None
        row = rows[0]
        return {
            "id": row["id"],
            "ts": row["ts"],
            "dataset": row["dataset"],
            "accuracy": row["accuracy"],
        }


#: Every store of this process, for the fork handler below.
_stores: weakref.WeakSet[MetricsStore] = weakref.WeakSet()
#: The parent's connections of the stores a forked child inherited: kept, so that they are
#: neither used nor closed (nor collected, which closes) while the child runs.
_inherited_connections: list[sqlite3.Connection] = []


def _after_fork_in_child() -> None:
    for store in list(_stores):
        store._after_fork_in_child()


if hasattr(os, "register_at_fork"):  # not on Windows, where nothing forks
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _fields_of(obj: Any) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        return dict(obj)
    as_dict = getattr(obj, "as_dict", None)
    if callable(as_dict):
        return dict(as_dict())
    return dict(vars(obj))


def _bin_tuple(b: Any) -> tuple[float, float, int, float, float]:
    return (b.lower, b.upper, b.count, b.confidence, b.accuracy)


_R = TypeVar("_R")


def _record(cls: type[_R], row: sqlite3.Row) -> _R:
    """A record dataclass from a row whose columns are named like its fields.

    SQLite has no boolean type: fields annotated ``bool`` are converted back.
    """
    columns = set(row.keys())
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name in columns:
            value = row[f.name]
            values[f.name] = bool(value) if f.type in (bool, "bool") else value
    return cls(**values)
