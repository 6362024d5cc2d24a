"""BackgroundWriter: the live path's way into memory, without ever blocking the caller.

A DAE's hot path calls :meth:`BackgroundWriter.submit`, which puts the pattern on a bounded
queue and returns. One thread drains the queue in batches into
:meth:`PatternMemory.upsert`. When the queue is full (the store is slow, or the machine is
busy), the pattern is appended to a JSONL journal under ``settings.journal_dir`` instead; a
batch that fails to store is journaled too (when it failed halfway, only the patterns it did
not store: see :class:`~foundups_training.memory.store.PartialWrite`). The journal is
replayed when the writer starts -- :func:`~foundups_training.memory.store.open_memory` starts
it when it finds one, so a journal never waits for the next failed write -- so nothing is
dropped silently: every pattern is counted as written, spilled or, if even the journal
cannot be written, lost (logged as an error).

A crash or a full disk may land in the middle of a journal line, so each
append starts on a fresh line, a failed append is cut back to its last complete line, and
the replay reads every line on its own, so one torn line holds back no other. A line the
replay cannot read (torn, or written by a later version of the plugin) is set aside in
:data:`UNREADABLE_NAME`, never deleted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from foundups_training.logs import warn_failure
from foundups_training.records import Pattern

from .lock import StoreLocked, WriterLock
from .store import PartialWrite

if TYPE_CHECKING:
    from .store import PatternMemory

log = logging.getLogger(__name__)

JOURNAL_NAME = "pending.jsonl"
#: Journal files a replay renamed aside; one left behind (replay cut short) is replayed again.
REPLAY_GLOB = "replay-*.jsonl"
#: Held (an OS file lock) for a whole replay: every process of one user shares the journal in
#: server mode, and two replays of one file counted ``seen`` twice or aborted on the other's
#: progress file. The file stays (deleting a lock file races the next process to open it).
REPLAY_LOCK_NAME = "replay.lock"
#: How long :func:`discard_journal` (``clear``) waits for another process's replay to let go
#: of the replay lock. A replay stores 512 patterns a round trip, so one of a normal journal
#: ends within seconds; a longer one means a huge journal or a stuck store.
REPLAY_WAIT_S = 30.0
_LOCK_POLL_S = 0.1
#: Where a replay sets aside the journal lines it cannot read (torn by a crash, or written by
#: a later version of the plugin, which a version that reads them replays once they are moved
#: back into ``pending.jsonl``); said in a warning, never deleted by a replay or ``clear``.
UNREADABLE_NAME = "unreadable.txt"
#: How long an append waits for another process's append (or a replay's look) at the same
#: journal file, and a replay for the appends in flight in a file it renamed aside; both are
#: one write of a few lines, so this is only reached by a stuck process.
APPEND_WAIT_S = 2.0
#: How often an append reopens ``pending.jsonl`` that a replay renamed aside under it.
_REOPEN_TRIES = 3

#: Messages of chromadb's own storage failures, matched in lower case (for an error that was
#: re-raised as another type): a full disk, an I/O error, a failed compaction.
STORE_FAILURE_MESSAGES = ("database or disk is full", "disk i/o error", "compaction")

# One lock for every journal append and every rename-aside in this process: the live learner
# and the memory's writer append to the same file, and two appends must never interleave.
_journal_lock = threading.Lock()


def pattern_to_json(pattern: Pattern) -> str:
    """One journal line (no newline), always encodable as UTF-8.

    Chat text can hold a lone UTF-16 surrogate (half an emoji from a JSON ``\\ud83d``
    escape), which UTF-8 cannot encode: such a line is written with ASCII escapes instead,
    so it still round-trips exactly (the store replaces the surrogate when it writes).
    """
    data = asdict(pattern)
    line = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    return line


def pattern_from_json(line: str) -> Pattern:
    """Parse a journal line written by :func:`pattern_to_json`.

    Raises ValueError for JSON that is no pattern of this version, even when it parses into
    one (``"outcome": null``, ``"seen": "3"``, an int id: a hand edit, another tool, a later
    version): the store refused such a pattern only when its whole replay batch was written,
    so one line held back its batch and every journal file after it, at every replay. A key
    this version does not know (a later version's field) raises too: the pattern was stored
    without it, and what that version wrote was lost.
    """
    data = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError(f"a journal line is a JSON object, not {type(data).__name__}")
    unknown = sorted(set(data) - _FIELD_NAMES)
    if unknown:
        raise ValueError(f"fields this version does not know: {', '.join(map(str, unknown))}")
    pattern = Pattern.from_dict(data)
    _check_pattern(pattern)
    return pattern


#: A pattern's fields: a journal line with any other key was written by a later version.
_FIELD_NAMES = frozenset(f.name for f in fields(Pattern))
#: The pattern fields that hold text (every ``str`` field, so one added later is checked too).
_TEXT_FIELDS = tuple(f.name for f in fields(Pattern) if f.type in ("str", str))


def _check_pattern(pattern: Pattern) -> None:
    """ValueError unless every field has the type :func:`pattern_to_json` writes."""
    wrong = [name for name in _TEXT_FIELDS if not isinstance(getattr(pattern, name), str)]
    if not isinstance(pattern.verified, bool):
        wrong.append("verified")
    if type(pattern.seen) is not int:  # bool is an int too
        wrong.append("seen")
    if not all(len(v) == 3 and all(isinstance(part, str) for part in v) for v in pattern.variants):
        wrong.append("variants")
    if not all(type(n) is int for n in pattern.tally):
        wrong.append("tally")
    if wrong or not pattern.id:
        raise ValueError(f"not a pattern: {', '.join(wrong) or 'id'} of the wrong type")


def is_store_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is chromadb failing its own storage.

    After such an error a later chromadb call froze the whole process with the GIL held
    (chromadb's bug, 2 of 6 runs after a full disk), so the writer must not call it again.
    """
    from chromadb.errors import InternalError  # chromadb is imported when the store opens

    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        text = str(error).lower()
        if isinstance(error, InternalError) or any(m in text for m in STORE_FAILURE_MESSAGES):
            return True
        error = error.__cause__ or error.__context__
    return False


def journal_pending(journal_dir: Path) -> bool:
    """Whether ``journal_dir`` holds journaled patterns not yet replayed."""
    journal_dir = Path(journal_dir)
    try:
        return (journal_dir / JOURNAL_NAME).exists() or any(journal_dir.glob(REPLAY_GLOB))
    except OSError:
        return False


class JournalBusy(TimeoutError):
    """Another process held the replay lock (its replay of the journal was running) for
    longer than :func:`discard_journal` waits: nothing was deleted."""

    def __init__(self, journal_dir: Path, owner: dict[str, Any], waited_s: float) -> None:
        self.journal_dir = journal_dir
        self.owner = owner
        who = f"process {owner['pid']}" if owner.get("pid") else "another process"
        if owner.get("host"):
            who += f" on {owner['host']}"
        super().__init__(
            f"the journal in {journal_dir} is being replayed by {who}, still after "
            f"{waited_s:g} s; nothing was deleted. Try again when that replay has finished, "
            "or stop that process."
        )


@contextlib.contextmanager
def journal_discarded(journal_dir: Path, wait_s: float | None = None) -> Iterator[int]:
    """Delete the journal (and any replay in progress with its progress file) under the
    replay lock, and keep holding it until the ``with`` block ends; yields how many
    journaled patterns (lines) were deleted. For ``clear``: every pattern goes, those
    waiting on disk to be stored included.

    Without the lock a replay in another process (server mode: every process of a user
    shares the journal) raced the deletion: it stored patterns the clear meant to delete, or
    failed on files that vanished under it. A replay holds the lock for its whole run, so
    this waits for it to end -- up to ``wait_s`` (default :data:`REPLAY_WAIT_S`), then raises
    :class:`JournalBusy` having deleted nothing: never an unbounded wait on a stuck process.
    Holding the lock through the ``with`` block lets the caller delete the stored patterns
    before any replay can run again.
    """
    journal_dir = Path(journal_dir)
    if not journal_dir.is_dir():  # nothing journaled; and locking would create the folder
        yield 0
        return
    lock = _take_replay_lock(journal_dir, REPLAY_WAIT_S if wait_s is None else wait_s)
    try:
        yield _discard_files(journal_dir)
    finally:
        lock.release()


def discard_journal(journal_dir: Path, wait_s: float | None = None) -> int:
    """:func:`journal_discarded` without holding the lock afterwards; returns how many
    journaled patterns (lines) were deleted. Raises :class:`JournalBusy` when another
    process's replay holds the lock for longer than ``wait_s``."""
    with journal_discarded(journal_dir, wait_s) as lines:
        return lines


def _take_replay_lock(journal_dir: Path, wait_s: float) -> WriterLock:
    """The replay lock, taken within ``wait_s`` seconds (it never blocks: polled), else
    :class:`JournalBusy` naming its holder."""
    lock = WriterLock(journal_dir / REPLAY_LOCK_NAME)
    deadline = time.monotonic() + max(wait_s, 0.0)
    said = False
    while True:
        try:
            return lock.acquire()
        except StoreLocked as exc:
            if time.monotonic() >= deadline:
                raise JournalBusy(journal_dir, exc.owner, wait_s) from None
            if not said:
                log.info("waiting up to %g s for the journal replay of %s to finish",
                         wait_s, exc.owner.get("pid") or "another process")  # fmt: skip
                said = True
        time.sleep(min(_LOCK_POLL_S, max(deadline - time.monotonic(), 0.0)))


def _after_fork_in_child() -> None:
    """A forked child (``multiprocessing`` with ``fork``, ``os.fork``) gets a journal lock of
    its own: the one another thread held at the fork would stay held for ever in the child
    (its first spill hung, and with it the caller). The replay lock is a
    :class:`~foundups_training.memory.lock.WriterLock`, which a child never holds."""
    global _journal_lock
    _journal_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows, where nothing forks
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _discard_files(journal_dir: Path) -> int:
    """Delete the journal files; the caller holds the replay lock."""
    try:
        files = [journal_dir / JOURNAL_NAME, *journal_dir.glob(REPLAY_GLOB)]
    except OSError:
        return 0
    lines = 0
    with _journal_lock:  # no append lands in a file being deleted
        for path in files:
            try:
                with path.open("rb") as fh:
                    lines += sum(1 for line in fh if line.strip())
                path.unlink()
            except FileNotFoundError:
                continue
            Path(f"{path}.progress").unlink(missing_ok=True)
    return lines


def append_journal(journal_dir: Path, patterns: Sequence[Pattern]) -> int:
    """Append patterns to the journal on disk, now; returns how many were journaled.

    Never raises: what cannot be journaled (the disk is full, a pattern cannot be encoded) is
    logged as an error with its count, and the caller counts it lost. Written with plain
    ``write`` calls, so a failure part-way is known to the byte: complete lines are kept and
    counted, the torn rest is cut off. A file that does not end in a newline (a crash in the
    middle of an earlier append) gets one first, so this append never glues onto it.
    """
    path = Path(journal_dir) / JOURNAL_NAME
    lines: list[bytes] = []
    for pattern in patterns:
        try:
            lines.append((pattern_to_json(pattern) + "\n").encode("utf-8"))
        except Exception as exc:  # noqa: BLE001 - one unencodable pattern must not cost the others
            warn_failure(log, f"could not encode pattern {getattr(pattern, 'id', '?')!r} for "
                         "the journal: it is lost", exc, logging.ERROR)  # fmt: skip
    if not lines:
        return 0
    with _journal_lock:
        kept, error = _append_lines(path, lines)
    if error is not None:
        log.error(
            "could not journal %d of %d patterns to %s (%s): they are lost",
            len(patterns) - kept,
            len(patterns),
            path,
            error,
            exc_info=error,
        )
    return kept


def _append_lines(path: Path, lines: list[bytes]) -> tuple[int, Exception | None]:
    """(complete lines appended, the error that stopped the rest); under the journal lock."""
    payload = b"".join(lines)
    written = start = 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _open_for_append(path) as fh:
            try:
                start = fh.seek(0, os.SEEK_END)
                if start:
                    fh.seek(start - 1)
                    if fh.read(1) != b"\n":
                        fh.write(b"\n")  # append mode: always at the end
                        start += 1
                while written < len(payload):
                    written += fh.write(payload[written:]) or 0
            except Exception:
                complete = _complete_bytes(lines, written)
                if written > complete:
                    with contextlib.suppress(OSError):  # else the replay skips the torn line
                        fh.truncate(start + complete)
                raise
            finally:
                _unlock_file(fh)
    except Exception as exc:  # noqa: BLE001 - counted and logged by the caller
        complete = _complete_bytes(lines, written)
        return sum(1 for _ in _prefix_lines(lines, complete)), exc
    return len(lines), None


def _open_for_append(path: Path) -> IO[bytes]:
    """``path`` opened for appending, unbuffered (each write is one system call, so what was
    written is known to the byte), and file-locked against the other processes' appends.

    Every process of a user shares the journal in server mode. A replay renames the journal
    aside and then takes this lock on the renamed file (:func:`_lock_file`), so an append of
    another process that opened it before the rename either ends before the replay reads it,
    or finds it renamed and opens the journal again: before, its line was half written when
    the replay read the file, or written after the replay had deleted it, and lost.
    """
    for attempt in range(_REOPEN_TRIES):
        fh = open(path, "a+b", buffering=0)
        if not _lock_file(fh, APPEND_WAIT_S):
            log.warning("appending to %s without its file lock: another process held it "
                        "for %g s", path, APPEND_WAIT_S)  # fmt: skip
            return fh
        if attempt == _REOPEN_TRIES - 1 or _same_file(fh, path):
            return fh
        _unlock_file(fh)
        fh.close()
    raise AssertionError("unreachable")


def _same_file(fh: IO[bytes], path: Path) -> bool:
    """Whether ``fh`` is still the file at ``path`` (a replay may have renamed it aside)."""
    try:
        mine = os.fstat(fh.fileno())
    except OSError:
        return True  # cannot tell: append as before
    try:
        there = os.stat(path)
    except OSError:
        return False  # renamed aside, no new journal yet: opening it again creates one
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)


def _lock_file(fh: IO[bytes], wait_s: float) -> bool:
    """An exclusive ``flock`` on ``fh``, polled for up to ``wait_s`` s; False if another
    process held it that long. True where files cannot be locked (Windows, a file system
    without ``flock``): the journal is then used as before, without the lock."""
    try:
        import fcntl
    except ImportError:  # Windows
        return True
    deadline = time.monotonic() + max(wait_s, 0.0)
    while True:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
        except OSError:
            return True
        time.sleep(min(0.01, max(deadline - time.monotonic(), 0.0)))


def _unlock_file(fh: IO[bytes]) -> None:
    """Drop :func:`_lock_file`'s lock explicitly: a child forked meanwhile shares the open
    file, and closing it here alone would leave the lock held for as long as the child ran."""
    try:
        import fcntl
    except ImportError:  # Windows
        return
    with contextlib.suppress(OSError):
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _prefix_lines(lines: list[bytes], nbytes: int) -> Iterable[bytes]:
    """The lines that fit whole in the first ``nbytes`` bytes of their concatenation."""
    used = 0
    for line in lines:
        used += len(line)
        if used > nbytes:
            return
        yield line


def _complete_bytes(lines: list[bytes], written: int) -> int:
    """How many of the ``written`` bytes belong to complete lines."""
    return sum(len(line) for line in _prefix_lines(lines, written))


class BackgroundWriter:
    """A bounded queue and one thread that stores what the live path submits.

    ``submit`` never waits for the store: at worst it appends one line to the journal.
    Counters (``stats()``): submitted, written, spilled, replayed, lost, queued.
    """

    def __init__(
        self,
        memory: PatternMemory,
        journal_dir: Path,
        *,
        maxsize: int = 2048,
        batch_size: int = 128,
        linger_s: float = 0.05,
        replay_every_s: float = 30.0,
    ) -> None:
        self.memory = memory
        self.journal_dir = Path(journal_dir)
        self.batch_size = max(1, batch_size)
        self.linger_s = linger_s
        self.replay_every_s = replay_every_s
        self._queue: queue.Queue[Pattern] = queue.Queue(maxsize=max(1, maxsize))
        self._counts_lock = threading.Lock()
        self._idle = threading.Condition()
        # What is still to store is the queue's ``unfinished_tasks``: counted from the put
        # to the ``task_done`` that follows the pattern's storing or spilling, so a pattern
        # the thread has just taken off the queue is never missed (see :meth:`flush`).
        self._replaying = False
        self._stop = threading.Event()
        self._closing = threading.Event()  # a replay in progress stops at its next batch
        # Set by a store failure (see is_store_failure): everything is journaled from then
        # on, and nothing replayed, until the process restarts.
        self._store_failed = threading.Event()
        self._thread: threading.Thread | None = None
        self._unreadable: set[Path] = set()  # journal files a replay could not read, said once
        self.submitted = 0
        self.written = 0
        self.spilled = 0
        self.replayed = 0
        self.lost = 0

    # -- caller side --------------------------------------------------------------------
    def submit(self, pattern: Pattern | Iterable[Pattern]) -> bool:
        """Hand over a pattern (or several); True if all were queued, False if any spilled."""
        if not isinstance(pattern, Pattern):
            batch = list(pattern)
            return self.submit_many(batch) == len(batch)
        with self._counts_lock:
            self.submitted += 1
        if not self._stop.is_set():
            try:
                self._queue.put_nowait(pattern)
            except queue.Full:
                pass
            else:
                if self._stop.is_set():
                    # close() may have ended between the look above and the put: its thread
                    # is gone and its last drain done, so nothing would ever take this one.
                    self._spill_leftover()
                return True
        self._spill([pattern])
        return False

    def submit_many(self, patterns: Iterable[Pattern]) -> int:
        """Submit several; returns how many were queued (the rest were journaled)."""
        return sum(self.submit(p) for p in patterns if isinstance(p, Pattern))

    def stats(self) -> dict[str, int]:
        """Counters since this writer started, plus the current queue depth."""
        with self._counts_lock:
            return {
                "submitted": self.submitted,
                "written": self.written,
                "spilled": self.spilled,
                "replayed": self.replayed,
                "lost": self.lost,
                "queued": self._queue.qsize(),
            }

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until everything queued so far is stored (or spilled); True if it was."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._queue.unfinished_tasks or self._replaying:
                if not self.running:  # never started, or closed: no one will store them
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(0.05 if remaining is None else min(remaining, 0.05))
        return True

    # -- lifetime -----------------------------------------------------------------------
    def start(self) -> BackgroundWriter:
        """Start the thread; it first replays any journal left by an earlier run."""
        if self._thread is None:
            with self._idle:
                self._replaying = True
            self._thread = threading.Thread(
                target=self._run, name="foundups-training-writer", daemon=True
            )
            self._thread.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Store what is queued (up to ``timeout``), journal the rest, stop the thread.

        A replay in progress stops at its next batch: what it has not stored is still on disk
        (with its progress file) for the next start, so closing never waits for a long one.
        """
        self._closing.set()
        self.flush(timeout)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._spill_leftover()

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    # -- thread side --------------------------------------------------------------------
    def _run(self) -> None:
        # Nothing may end this thread but close(): a pattern taken off the queue by a dead
        # thread would be neither stored, journaled nor counted, and the queue would fill.
        try:
            self.replay()
        except Exception as exc:  # noqa: BLE001 - the journal stays on disk for the next start
            warn_failure(log, "journal replay failed; it will be retried on the next start",
                         exc, logging.ERROR)  # fmt: skip
            self._note_store_failure(exc)
        finally:
            with self._idle:
                self._replaying = False
                self._idle.notify_all()
        last_replay = time.monotonic()
        while not self._stop.is_set():
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                # Idle: store what a burst (or an unreachable store) spilled, without
                # waiting for the next start.
                if time.monotonic() - last_replay > self.replay_every_s:
                    last_replay = time.monotonic()
                    if journal_pending(self.journal_dir):  # new spills, or a failed replay's
                        try:
                            self.replay()
                        except Exception as exc:  # noqa: BLE001 - retried later
                            log.warning("journal replay failed (%s); will retry", exc)
                            self._note_store_failure(exc)
                continue
            batch = [first]
            # Wait a moment for more: one upsert of many is far cheaper than many of one.
            deadline = time.monotonic() + self.linger_s
            while len(batch) < self.batch_size:
                remaining = deadline - time.monotonic()
                try:
                    item = (
                        self._queue.get(timeout=max(remaining, 0))
                        if remaining > 0
                        else (self._queue.get_nowait())
                    )
                except queue.Empty:
                    break
                batch.append(item)
            try:
                self._store(batch)
            except Exception as exc:  # noqa: BLE001 - _store accounts for the batch; keep serving
                warn_failure(log, f"the background writer failed on a batch of {len(batch)}",
                             exc, logging.ERROR)  # fmt: skip

    def _store(self, batch: list[Pattern]) -> None:
        try:
            if self._store_failed.is_set():  # the store failed: never call it again
                self._spill(batch)
                return
            self.memory.upsert(batch)
        except PartialWrite as exc:  # journal only what was not stored: counted once
            rest = [p for p in batch if p.id not in exc.stored]
            warn_failure(log, f"storing {len(rest)} live patterns failed; journaling them",
                         exc, logging.ERROR)  # fmt: skip
            self._spill(rest)
            with self._counts_lock:
                self.written += len(batch) - len(rest)
            self._note_store_failure(exc)
        except Exception as exc:  # noqa: BLE001 - a failed batch is journaled, never dropped
            warn_failure(log, f"storing {len(batch)} live patterns failed; journaling them",
                         exc, logging.ERROR)  # fmt: skip
            self._spill(batch)
            self._note_store_failure(exc)
        else:
            with self._counts_lock:
                self.written += len(batch)
        finally:
            self._done(len(batch))

    def _done(self, n: int) -> None:
        """``n`` patterns taken off the queue are stored or spilled: wake :meth:`flush`."""
        with self._idle:
            for _ in range(n):
                self._queue.task_done()
            self._idle.notify_all()

    def _note_store_failure(self, exc: BaseException) -> None:
        """Stop writing to the store for good after it failed its own storage (see
        :func:`is_store_failure`): later batches go to the journal, which the next process
        start replays; said once, in one line."""
        if self._store_failed.is_set() or not is_store_failure(exc):
            return
        self._store_failed.set()
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.error(
            "the pattern store failed (%s): this process journals live patterns from now on "
            "and stops writing to the store until it restarts",
            first_line,
        )

    def _spill_leftover(self) -> None:
        """Journal what is still queued (the thread has stopped, or is stopping)."""
        leftover: list[Pattern] = []
        for _ in range(self._queue.qsize() + 1):  # bounded: submits may go on meanwhile
            try:
                leftover.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if leftover:
            try:
                self._spill(leftover)
            finally:
                self._done(len(leftover))

    # -- journal ------------------------------------------------------------------------
    @property
    def journal_path(self) -> Path:
        """Where spilled patterns are appended."""
        return self.journal_dir / JOURNAL_NAME

    def spill(self, patterns: Sequence[Pattern]) -> int:
        """Append patterns to the journal now (no queue); returns how many were journaled.

        Counted as spilled, and the rest (the journal refused them: logged) as lost.
        """
        journaled = append_journal(self.journal_dir, patterns)
        with self._counts_lock:
            self.spilled += journaled
            self.lost += len(patterns) - journaled
        return journaled

    def _spill(self, patterns: list[Pattern]) -> None:
        self.spill(patterns)

    def replay(self) -> int:
        """Store every journaled pattern, then delete the journal; returns how many.

        The journal is first renamed aside, so new spills during the replay start a fresh
        file; a replay cut short (crash, kill) leaves the renamed file for the next start.
        0 without reading the journal while another writer (of any process) replays it, or
        after the store failed (see :func:`is_store_failure`).
        """
        if not self.journal_dir.is_dir() or self._store_failed.is_set():
            return 0
        # One replay at a time across processes (and writers of one process: each takes its
        # own handle, and flock locks handles). Never waits: whoever holds the lock stores
        # the journal, and what is spilled meanwhile waits for the next idle replay.
        lock = WriterLock(self.journal_dir / REPLAY_LOCK_NAME)
        try:
            lock.acquire()
        except StoreLocked:
            log.debug("journal replay skipped: another writer is replaying %s", self.journal_dir)
            return 0
        except OSError as exc:
            log.warning("journal replay skipped: cannot lock %s (%s)", lock.path, exc)
            return 0
        try:
            return self._replay_locked()
        finally:
            lock.release()

    def _replay_locked(self) -> int:
        """:meth:`replay`'s work, under the replay lock."""
        with _journal_lock:
            if self.journal_path.exists():
                aside = self.journal_dir / f"replay-{int(time.time())}-{uuid.uuid4().hex[:8]}.jsonl"
                os.replace(self.journal_path, aside)
        total = 0
        for path in sorted(self.journal_dir.glob(REPLAY_GLOB)):
            if self._closing.is_set():
                break
            try:
                read = self._read_replay_file(path)
            except OSError as exc:
                # Left in place, and the other files replayed: one file this process cannot
                # read (another account's, mode 0600; a folder of that name) held back every
                # file after it, at every replay. Said once per writer, as replays recur.
                level = logging.DEBUG if path in self._unreadable else logging.WARNING
                self._unreadable.add(path)
                log.log(level, "journal replay: cannot read %s (%s); it is left in place and "
                        "the other journal files are replayed", path, exc)  # fmt: skip
                continue
            if read is None:
                log.info("journal replay: another process is still appending to %s; it is "
                         "left for the next replay", path)  # fmt: skip
                continue
            total += self._replay_file(path, *read)
        return total

    @staticmethod
    def _read_replay_file(path: Path) -> tuple[list[Pattern], int, list[bytes]] | None:
        """(the patterns of a journal file, the bytes read, the lines that are no pattern of
        this version), or None while another process still appends to the file.

        Read under the file's append lock (:func:`_open_for_append`): an append in flight
        when the replay renamed the journal aside ends first, and none follows it.
        """
        patterns: list[Pattern] = []
        unreadable: list[bytes] = []
        # Bytes, each line decoded on its own: a line torn inside a multi-byte character (a
        # crash or a full disk mid-append) must cost that line only, not the whole file --
        # decoding the file as text raised before any line was stored, at every start.
        with path.open("rb") as fh:
            if not _lock_file(fh, APPEND_WAIT_S):
                return None
            try:
                for raw in fh:
                    if not raw.strip():
                        continue
                    try:
                        patterns.append(pattern_from_json(raw.decode("utf-8")))
                    except Exception:  # noqa: BLE001 - torn or foreign; the rest is still good
                        unreadable.append(raw.rstrip(b"\r\n"))
                read = fh.tell()
            finally:
                _unlock_file(fh)
        return patterns, read, unreadable

    def _replay_file(
        self, path: Path, patterns: list[Pattern], read: int, unreadable: list[bytes]
    ) -> int:
        """Store ``patterns`` (the first ``read`` bytes of ``path``), set ``unreadable`` aside,
        then delete the file; returns how many this call stored."""
        # Upserts add ``seen`` up, so a replay cut short must not store its first batches
        # again: a progress file says how many lines are stored, and the ``seen`` the store
        # held for the batch in flight (a pattern whose ``seen`` moved already got it).
        progress = path.with_name(path.name + ".progress")
        done, before = self._replay_progress(progress)
        seen_counts = getattr(self.memory, "seen_counts", None)
        for start in range(done, len(patterns), 512):
            if self._closing.is_set():
                # Closing: the file and its progress stay for the next start.
                log.info("journal replay of %s paused at %d of %d patterns (closing)",
                         path, start, len(patterns))  # fmt: skip
                return start - done
            batch = patterns[start : start + 512]
            if before is not None and seen_counts is not None:
                now = seen_counts([p.id for p in batch])
                batch = [p for p in batch if now.get(p.id, 0) == before.get(p.id, 0)]
            elif seen_counts is not None:
                held = seen_counts([p.id for p in batch])
                self._save_progress(progress, {"done": start, "before": held})
            self.memory.upsert(batch)
            # The lines stored, exactly: a line another process added to the file later is
            # the next replay's (saying 512 after a batch of 3 counted it stored, unstored).
            self._save_progress(progress, {"done": min(start + 512, len(patterns))})
            before = None
            # Counted batch by batch, once its progress is saved: a replay the store cuts
            # short later has stored these, and its retry starts after them. The whole
            # slice: a pattern left out above was stored by an attempt that failed before
            # this point, which counted none of its batch.
            with self._counts_lock:
                self.replayed += len(patterns[start : start + 512])
        stored = max(len(patterns) - done, 0)
        if self._grew(path, read) or not self._set_aside(path, unreadable):
            return stored  # the file (and its progress) stays for the next replay
        with contextlib.suppress(OSError):
            path.unlink()
        with contextlib.suppress(OSError):
            progress.unlink()
        log.info("replayed %d journaled patterns from %s", stored, path)
        return stored

    def _set_aside(self, path: Path, lines: list[bytes]) -> bool:
        """Append the lines of ``path`` this version cannot read to :data:`UNREADABLE_NAME`;
        False (said) if they could not all be written, and ``path`` must stay.

        They were skipped and deleted with their file: a later version's patterns (sharing
        the journal in server mode, or left by it before a downgrade) were lost for good.
        """
        if not lines:
            return True
        target = self.journal_dir / UNREADABLE_NAME
        with _journal_lock:
            kept, error = _append_lines(target, [line + b"\n" for line in lines])
        if error is not None:
            log.error("could not set aside %d journal lines of %s that this version cannot "
                      "read in %s (%s): the file is kept for the next replay",
                      len(lines) - kept, path, target, error)  # fmt: skip
            return False
        log.warning("%s: %d journal lines this version cannot read (written by a later "
                    "version of the plugin or another tool, or torn by a crash) are kept in "
                    "%s; a version that reads them replays them once they are moved back "
                    "into %s", path, len(lines), target, self.journal_path)  # fmt: skip
        return True

    @staticmethod
    def _grew(path: Path, read: int) -> bool:
        """Whether ``path`` holds more than the replay read (said).

        An append of a process without the file lock (an earlier version sharing the journal)
        may still land in a file the replay renamed aside. The replay deleted such a line with
        the file; copying it back into the journal lost it when that append failed. Left in
        the file instead, it is the next replay's: the progress file says what is stored.
        """
        try:
            grew = path.stat().st_size > read
        except OSError:
            return False
        if grew:
            log.info("journal lines were written to %s during its replay: it is kept for the "
                     "next one", path)  # fmt: skip
        return grew

    @staticmethod
    def _replay_progress(path: Path) -> tuple[int, dict[str, int] | None]:
        """(lines of the replay file already stored, pre-write ``seen`` of the next batch)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            done = int(data["done"])
            before = data.get("before")
            return max(done, 0), before if isinstance(before, dict) else None
        except (OSError, ValueError, TypeError, KeyError):
            return 0, None

    @staticmethod
    def _save_progress(path: Path, data: dict[str, Any]) -> None:
        """Write the progress file atomically, through a temp file of this process and thread:
        with one shared name, a second writer's rename found the file already moved away."""
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def __repr__(self) -> str:
        state: dict[str, Any] = self.stats()
        return f"BackgroundWriter({self.journal_dir}, {state})"
