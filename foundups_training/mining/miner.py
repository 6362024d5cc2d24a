"""``mine_log``: the reader, parser, extractors, consolidation and checkpoint, in one run.

A run resumes from the checkpoint, reads until its budget (lines or seconds) is spent or
the file ends, upserts the consolidated patterns, and only then advances the checkpoint --
so a failed write or a kill -9 loses nothing (the next run re-reads the same lines).

Chunking never changes the result: line-level patterns are counted once (for records at or
after ``offset``), episodes are emitted once and in order (for anchors at or after
``episode_offset``), and an episode whose outcome window is still open when a run stops is
not emitted: the next run re-reads from ``replay_offset`` (its context included) and
finishes it. Mining a log in any number of runs gives the same patterns and counts as one.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import hashlib
import logging
import lzma
import os
import stat
import tempfile
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from glob import escape as glob_escape
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, cast

from foundups_training.logs import warn_once
from foundups_training.mining.checkpoint import (
    HEAD_BYTES,
    MINER_VERSION,
    TAIL_BYTES,
    Checkpoint,
    ResumePoint,
    fingerprint,
    fingerprint_of,
    load_checkpoint,
    now_iso,
    resume_point,
    same_content,
    save_checkpoint,
    tail_hash_of,
)
from foundups_training.mining.consolidate import Consolidator
from foundups_training.mining.extractors import (
    CONTEXT_RECORDS,
    MAX_EPISODE_RECORDS,
    VARIANT_CHARS,
    Episode,
    detect,
    has_template,
    line_patterns,
    plain,
    template_decision,
)
from foundups_training.mining.host_index import Verifier
from foundups_training.mining.parser import LineParser, LogRecord
from foundups_training.mining.reader import (
    BLOCK,
    HEAD_CHECK,
    MAX_LINE_BYTES,
    RawLine,
    read_open,
    text_pieces,
)
from foundups_training.mining.templates import mask
from foundups_training.mining.writeahead import finish_write, pending_path, write_ahead
from foundups_training.records import MASKED, Pattern

if TYPE_CHECKING:
    from foundups_training.memory.lock import WriterLock

log = logging.getLogger(__name__)

#: Consolidated patterns held before an intermediate upsert + checkpoint (bounds memory on
#: a huge log mined without a budget).
FLUSH_PATTERNS = 5000
#: Seconds between intermediate upserts + checkpoints: a killed or interrupted run (Ctrl-C)
#: loses at most this much reading, whatever the log's size.
FLUSH_SECONDS = 10.0
#: Records between progress callbacks and clock checks.
TICK = 1024
#: Files beside the log looked at for a rotated one (``012.txt.1``, ``012.txt.2025-11-26``).
ROTATED_CANDIDATES = 64
#: Rotated logs compressed by logrotate (``compress``) and how to open them: read through a
#: temporary copy of the parts the checkpoint needs (:func:`_decompressed`).
DECOMPRESS: dict[str, Callable[[Path], IO[bytes]]] = {
    ".gz": lambda p: cast(IO[bytes], gzip.GzipFile(p, "rb")),
    ".bz2": lambda p: cast(IO[bytes], bz2.BZ2File(p, "rb")),
    ".xz": lambda p: cast(IO[bytes], lzma.LZMAFile(p, "rb")),
}
#: Rotated logs that cannot be read as they are.
COMPRESSED = frozenset({".gz", ".bz2", ".xz", ".zip", ".zst", ".7z"})
#: A compressed rotated log is not read past this many bytes after the checkpoint's offset
#: (a file that decompresses to more is not a rotated ``012.txt``).
MAX_DECOMPRESSED_TAIL = 1 << 30
_RING = CONTEXT_RECORDS + MAX_EPISODE_RECORDS + 16
#: The run lock beside the checkpoint (``checkpoint.json.lock``), held for a whole run: two
#: processes mining with one data folder (in server mode the host's idle cycle and a CLI
#: ``mine``) would both resume from the same checkpoint and count the same lines twice. In
#: embedded mode the store's writer lock already keeps the second process out.
LOCK_SUFFIX = ".lock"
#: How long a run waits for another process's run to end before it skips (an idle cycle
#: waits at most its ``max_seconds``, the time the host gave it). A run that holds the lock
#: longer is a whole ``mine`` of a long log: the lines it leaves are the next run's.
LOCK_WAIT_S = 30.0
_LOCK_POLL_S = 0.1

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class MineReport:
    """What one ``mine_log`` run did (``as_dict`` for ``--json`` and the host's idle task)."""

    log_path: str
    lines_processed: int
    patterns_stored: int
    patterns_new: int
    patterns_total: int
    verified: int
    with_module: int
    duration_s: float
    progress: float
    truncated_lines: int = 0
    lines_total: int = 0
    offset: int = 0
    size: int = 0
    episodes_pending: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    #: patterns mined from a log before, removed because this run mined it again
    patterns_removed: int = 0
    #: patterns an older miner made were kept (lines of files that are gone): ``remine``
    #: would replace them
    older_patterns_kept: bool = False
    #: why nothing was read: another process was mining with this checkpoint ('' when the
    #: run mined)
    skipped: str = ""

    @property
    def verified_rate(self) -> float:
        """Verified patterns among those naming a module (the seed's ≥70% target)."""
        return self.verified / self.with_module if self.with_module else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain dict: the CLI's ``--json`` keys and a few more."""
        return {
            "log_path": self.log_path,
            "lines_processed": self.lines_processed,
            "patterns_stored": self.patterns_stored,
            "patterns_new": self.patterns_new,
            "patterns_total": self.patterns_total,
            "verified": self.verified,
            "with_module": self.with_module,
            "verified_rate": round(self.verified_rate, 4),
            "duration_s": round(self.duration_s, 3),
            "progress": round(self.progress, 4),
            "truncated_lines": self.truncated_lines,
            "lines_total": self.lines_total,
            "offset": self.offset,
            "size": self.size,
            "episodes_pending": self.episodes_pending,
            "by_kind": dict(self.by_kind),
            "warnings": list(self.warnings),
            "patterns_removed": self.patterns_removed,
            "older_patterns_kept": self.older_patterns_kept,
            "skipped": self.skipped,
        }


class MiningSession:
    """Turns records into patterns; knows which were already counted or emitted."""

    def __init__(
        self,
        verifier: Verifier | None = None,
        *,
        done_offset: int = 0,
        episode_offset: int = 0,
        replay_offset: int = 0,
        replay_date: str = "",
    ) -> None:
        self.verifier = verifier
        self.replay_offset = replay_offset
        self.replay_date = replay_date
        self.done_offset = done_offset
        self.episode_offset = episode_offset
        self.consolidator = Consolidator()
        self.history: deque[LogRecord] = deque(maxlen=CONTEXT_RECORDS)
        self.ring: deque[tuple[int, str]] = deque(maxlen=_RING)  # (start, date_in)
        self.open: deque[Episode] = deque()
        self.lines = 0
        self.truncated = 0
        self.last_end: int | None = None
        self._line_cache: dict[str, list[tuple[Pattern, bool]]] = {}

    def process(self, record: LogRecord) -> None:
        """Take the next record (records must come in file order), then its followers (lines
        another thread wrote inside a traceback: :attr:`LogRecord.followers`)."""
        self._process(record)
        for follower in record.followers or ():
            self._process(follower)

    def _process(self, record: LogRecord) -> None:
        if record.start >= self.done_offset:
            self.lines += record.lines
            self.truncated += record.truncated
            self._line_level(record)
        for ep in self.open:
            if not ep.done:
                ep.step(record)
        if record.start >= self.episode_offset:
            started = detect(record, self.history[-1] if self.history else None, self.history)
            if started is not None:
                self.open.append(started)
        self.history.append(record)
        if self.last_end is None or record.start >= self.last_end:
            self.ring.append((record.start, record.date_in))
            self.last_end = record.end
        # else: a follower inside the traceback before it: no run may start reading there
        while self.open and self.open[0].done:
            self.open.popleft().emit(self.verifier, self.consolidator)

    def finish(self) -> None:
        """Emit every open episode with what it has: the file will not grow (rotated)."""
        while self.open:
            self.open.popleft().emit(self.verifier, self.consolidator)

    def _line_level(self, record: LogRecord) -> None:
        logger = record.logger
        if has_template(record):
            # warnings and routine lines repeat: build each (logger, level, template)
            # pattern once, then count. The level is part of the key: a WARNING and an INFO
            # line of one template are different patterns (warning vs routine, and a step
            # such as "Reconnecting" is learned only as a warning); keyed without it, the
            # first one seen decided for both, and where a chunk began changed the patterns.
            key = f"{logger}\x1f{record.level}\x1f{mask(record.message)}"
        elif logger.startswith("modules."):
            key = logger  # the same logger on most lines
        else:
            return  # no module and not a warning: nothing line-level to learn
        cached = self._line_cache.get(key)
        if cached is None:
            if len(self._line_cache) >= 4096:
                self._line_cache.clear()
            cached = self._line_cache[key] = [
                (p, p.kind == "log_template" and bool(MASKED.search(p.decision)))
                for p in line_patterns(record, self.verifier)
            ]
        for p, masked in cached:
            variant = None
            if masked and self.consolidator.takes_variants(p.id):
                # the line as logged, so "after how many failures?" has a number
                message = plain(record.message)
                decision = template_decision(record.level, message)
                variant = (message[:VARIANT_CHARS], decision, "")
            self.consolidator.bump(p, record.timestamp, variant)

    def resume_state(self) -> tuple[int, int, int, str]:
        """``(offset, episode_offset, replay_offset, replay_date)`` to checkpoint now."""
        if self.last_end is None:
            # nothing was read (a zero budget): everything stays exactly where it was
            return self.done_offset, self.episode_offset, self.replay_offset, self.replay_date
        end = self.last_end
        offset = max(end, self.done_offset)
        episode_offset = self.open[0].anchor.start if self.open else max(end, self.episode_offset)
        episode_offset = min(episode_offset, offset)
        if self.last_end < episode_offset:
            # this run never got past the old replay region: keep the old replay point
            return offset, episode_offset, self.replay_offset, self.replay_date
        starts = list(self.ring)
        # the next run starts CONTEXT_RECORDS records before episode_offset, so the first
        # unfinished episode gets its context (and its previous record) back
        idx = next((i for i, (s, _) in enumerate(starts) if s >= episode_offset), len(starts))
        replay, date = starts[max(0, idx - CONTEXT_RECORDS)]
        return offset, episode_offset, min(replay, episode_offset), date


def _records(parser: LineParser, lines: Iterable[RawLine]) -> Iterator[LogRecord]:
    for raw in lines:
        rec = parser.feed(raw)
        if rec is not None:
            yield rec
    last = parser.flush()
    if last is not None:
        yield last


def extract_patterns(lines: Iterable[str], verifier: Verifier | None = None) -> list[Pattern]:
    """Parse + extract + consolidate an in-memory sequence of lines (no checkpoint, no store).

    Used by the benchmark and tests; episodes still open at the end are not emitted, like
    in :func:`mine_log`.
    """
    session = MiningSession(verifier)
    parser = LineParser()
    pos = 0

    def raws() -> Iterator[RawLine]:
        nonlocal pos
        for text in lines:
            *cut, last = text_pieces(text)  # a crash's NULs end a line, as in mine_log
            for piece in cut:
                yield RawLine(pos, pos + len(piece), piece)
                pos += len(piece)
            end = pos + len(last) + 1
            yield RawLine(pos, end, last)
            pos = end

    for rec in _records(parser, raws()):
        session.process(rec)
    return session.consolidator.patterns()


def recover_pending(memory: Any, checkpoint_path: Path) -> str:
    """Finish a flush that a kill or a write error interrupted (:mod:`.writeahead`);
    returns a warning or ''."""
    current, bad = load_checkpoint(checkpoint_path)
    warn = finish_write(
        pending_path(checkpoint_path),
        memory,
        target_of=lambda fields: Checkpoint(**fields),
        current=current,
        save=lambda target: save_checkpoint(checkpoint_path, target),
    )
    # a finished write saved its checkpoint over a corrupt one: say so here, the run's own
    # read of the checkpoint finds it whole
    return f"{bad}; {warn}" if bad and warn else warn


def _store(memory: Any, patterns: list[Pattern]) -> int:
    if not patterns:
        return 0
    new = memory.upsert(patterns)
    return int(new or 0)


def _forget_log(memory: Any) -> int:
    """Remove every pattern mined from a log; returns how many there were."""
    ids = memory.ids(where={"source": "log"})
    return int(memory.delete(ids)) if ids else 0


def _start_again(
    log_path: Path, cp: Checkpoint | None, point: ResumePoint, remine: bool
) -> tuple[bool, str]:
    """Whether this run forgets the log's patterns and mines it from the start, and what to
    tell the operator either way.

    Asked for (``remine``), it always does. A checkpoint from an older miner means the
    store holds patterns the installed miner would not make; they are replaced on their
    own only when the file still holds every line they came from. When lines came from
    files that are gone (a rotated log), replacing them would lose those: the operator is
    told how to ask for it instead.
    """
    if remine:
        return True, f"mining {log_path} again from the beginning, as asked"
    if cp is None or cp.miner >= MINER_VERSION:
        if cp is not None and cp.miner > MINER_VERSION:
            return False, (
                f"this log was mined by a newer miner (version {cp.miner}; this package's "
                f"is {MINER_VERSION}): its patterns are kept and mining goes on"
            )
        return False, ""
    made_by = f"miner version {cp.miner}" if cp.miner else "a miner from before version 1"
    if point.earlier_lines == 0 and not point.warning:
        return True, (
            f"this log's patterns were made by {made_by}; this package's is "
            f"{MINER_VERSION}: mining {log_path} again from the beginning"
        )
    gone = (
        f"{point.earlier_lines} of the lines mined came from log files that are gone"
        if point.earlier_lines
        else "The store may hold patterns of log files that are gone (rotated)"
    )
    return False, (
        f"this log's patterns were made by {made_by}; this package's is {MINER_VERSION}. "
        f"{gone}, so they are kept: to replace them with what {log_path} holds now, run "
        f"`foundups-training mine --remine {log_path}`"
    )


def _unfinished(
    log_path: Path, cp: Checkpoint | None, scratch: Path
) -> tuple[Path, BinaryIO] | None:
    """The file the checkpoint was written for when it is no longer at ``log_path`` (a
    rotated log: renamed to ``012.txt.1``, compressed to ``012.txt.1.gz``, moved away) and
    still has lines or episodes to mine: found at the checkpoint's own path or beside the
    log, by its content. Returned open, to be closed by the caller: the file itself, or for
    a compressed one a temporary copy in ``scratch`` (:func:`_decompressed`)."""
    if cp is None or not cp.path:
        return None
    here = log_path.resolve()
    try:
        if same_content(log_path, fingerprint(log_path, head_len=cp.head_len or None), cp):
            return None  # the log is still the checkpoint's file (the usual case)
    except OSError:
        pass
    candidates = [Path(cp.path)]
    try:
        beside = sorted(log_path.parent.glob(f"{glob_escape(log_path.name)}?*"))
        beside += sorted(log_path.parent.glob(f"{glob_escape(log_path.stem)}?*{log_path.suffix}"))
    except OSError:
        beside = []
    readable = [c for c in beside if c.suffix not in COMPRESSED or c.suffix in DECOMPRESS]
    candidates += readable[:ROTATED_CANDIDATES]
    for path in dict.fromkeys(candidates):
        try:
            if path.resolve() == here or not path.is_file():
                continue
            opened = _decompressed(path, cp, scratch) if path.suffix in DECOMPRESS else None
            fh = opened if opened is not None else path.open("rb")
        except _UNREADABLE as exc:
            log.warning("rotated log %s could not be read: %s", path, exc)
            continue
        try:
            fp = fingerprint_of(fh, head_len=cp.head_len or None)
            if not same_content(fh, fp, cp):
                fh.close()
                continue
        except OSError:
            fh.close()
            continue
        if fp.size > cp.offset or cp.episode_offset < cp.offset:
            return path, fh
        fh.close()
        return None  # found, and nothing of it is left to mine
    return None


#: What reading a compressed file can raise: a damaged or cut-short archive included.
_UNREADABLE = (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError)


def _decompressed(path: Path, cp: Checkpoint, scratch: Path) -> BinaryIO:
    """A temporary, sparse copy of the compressed log ``path``, at the same offsets: its first
    bytes (what the fingerprint and the reader compare) and everything from just before the
    checkpoint's earliest offset (what is read again) to its end; the bytes between are a
    hole, never written. A file whose first bytes are not the checkpoint's file's is not
    decompressed further: the copy then holds just those bytes, and does not match."""
    head_len = max(cp.head_len, HEAD_BYTES, HEAD_CHECK)
    keep_from = max(0, min(cp.replay_offset, cp.episode_offset, cp.offset) - TAIL_BYTES)
    out = cast(BinaryIO, tempfile.TemporaryFile(dir=scratch, prefix="rotated-"))
    try:
        with DECOMPRESS[path.suffix](path) as src:
            head = src.read(head_len)
            out.write(head)
            pos = len(head)
            if hashlib.sha256(head[: cp.head_len]).hexdigest() != cp.head_hash:
                return out  # another file: same_content tells so from these bytes
            while pos < keep_from and (chunk := src.read(min(BLOCK, keep_from - pos))):
                pos += len(chunk)
            out.seek(pos)
            limit = max(pos, cp.offset) + MAX_DECOMPRESSED_TAIL
            while chunk := src.read(BLOCK):
                out.write(chunk)
                pos += len(chunk)
                if pos > limit:
                    raise ValueError(
                        f"more than {MAX_DECOMPRESSED_TAIL >> 20} MiB after the checkpoint"
                    )
            out.truncate(pos)  # a file that ended inside the hole keeps its size
        out.flush()
        return out
    except BaseException:
        out.close()
        raise


def _store_lost(memory: Any, cp: Checkpoint | None, point: ResumePoint) -> str:
    """Why the checkpoint cannot be resumed from although the file is the same: the store
    holds none of the patterns mined from logs that the checkpoint counts (a new store, a
    Chroma server, an emptied ``chroma`` folder). '' when it can."""
    if cp is None or point.offset == 0 or _log_patterns(cp) <= 0:
        return ""
    ids = getattr(memory, "ids", None)
    if ids is None or ids(where={"source": "log"}):
        return ""
    gone = (
        f"; the patterns of {point.earlier_lines} lines of earlier log files are lost with it"
        if point.earlier_lines
        else ""
    )
    return (
        f"the store holds none of the {_log_patterns(cp)} patterns mined from this log "
        f"(a new or emptied store?): mining it again from the beginning{gone}"
    )


def _log_patterns(cp: Checkpoint | None) -> int:
    """Patterns the checkpoint's chain of log files stored (``extra["log_patterns"]``)."""
    value = cp.extra.get("log_patterns", 0) if cp is not None else 0
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass
class _Totals:
    """What the runs over one or two files (a rotated log, then the log) added up to."""

    lines: int = 0
    truncated: int = 0
    stored: int = 0
    new: int = 0
    verified: int = 0
    with_module: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    offset: int = 0  # of the last file read
    size: int = 0
    lines_total: int = 0  # lines_processed of the checkpoint chain
    pending: int = 0  # episodes still waiting for an outcome
    finished: int = 0  # episodes of a rotated log emitted without waiting any longer


def mine_log(
    log_path: Path,
    memory: Any,
    *,
    checkpoint_path: Path,
    host_root: Path | None = None,
    max_lines: int | None = None,
    max_seconds: float | None = None,
    progress: ProgressFn | None = None,
    remine: bool = False,
) -> MineReport:
    """Mine the next chunk of ``log_path`` into ``memory``, resuming from the checkpoint.

    ``memory`` needs ``upsert(patterns) -> int`` and ``count() -> int``, and ``ids`` and
    ``delete`` to mine a log again. ``progress`` is called with ``(bytes done, file
    size)``. ``remine`` forgets every pattern mined from a log (the code index's and live
    chat's stay) and mines ``log_path`` from its first line; a log whose checkpoint says an
    older miner made its patterns is mined again the same way when nothing would be lost
    (see :func:`_start_again`). A log rotated since the last run (the checkpoint's file
    renamed beside it, compressed there by ``.gz``, ``.bz2`` or ``.xz``, or moved) is first
    mined to its end, its last line and its open episodes included, when it can be found.
    Raises ``FileNotFoundError`` / ``PermissionError`` / ``IsADirectoryError`` for a log
    that cannot be read, ``OSError`` for one that is no regular file (a FIFO, a device),
    ``PermissionError`` for a checkpoint folder where the run lock cannot be made, and
    whatever ``memory.upsert`` or ``memory.delete`` raises (the checkpoint is then left
    where it was).

    One run at a time per checkpoint, across processes: a run holds an OS lock beside the
    checkpoint (:data:`LOCK_SUFFIX`) from its first read of the checkpoint to its last
    write. A second run waits for it up to :data:`LOCK_WAIT_S` (never longer than its
    ``max_seconds``), then goes on from where the first one stopped; if the first is still
    mining then, the second reads nothing and says who holds the lock (``skipped`` and a
    warning). It does not raise: an idle cycle that finds a ``mine`` running has simply
    nothing to do.
    """
    started = time.perf_counter()
    log_path = Path(log_path)
    _check_log(log_path)
    deadline = None if max_seconds is None else started + max(0.0, max_seconds)
    wait = LOCK_WAIT_S if max_seconds is None else min(LOCK_WAIT_S, max(0.0, max_seconds))
    lock, holder = take_run_lock(run_lock_path(checkpoint_path), wait)
    if lock is None:
        return _skipped(log_path, memory, checkpoint_path, holder, wait, started)
    try:
        return _mine_locked(
            log_path,
            memory,
            checkpoint_path,
            host_root=host_root,
            max_lines=max_lines,
            deadline=deadline,
            progress=progress,
            remine=remine,
            started=started,
        )
    finally:
        lock.release()


def _check_log(log_path: Path) -> None:
    """Fail early, with the OS's reason, on a log that cannot be mined. A FIFO or a device
    is refused before it is opened: opening a FIFO waits for a writer, and a device such as
    ``/dev/zero`` never ends; either held the run (an idle cycle: the host's thread) for
    ever."""
    try:
        mode = os.stat(log_path).st_mode
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            raise FileNotFoundError(f"log file not found: {log_path}") from None
        raise
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"log path is a directory: {log_path}")
    if not stat.S_ISREG(mode):
        raise OSError(f"log path is not a regular file ({_file_kind(mode)}): {log_path}")
    with log_path.open("rb"):
        pass  # unreadable (permissions): the OS's reason


def _file_kind(mode: int) -> str:
    """What a file that is not a regular one is, in words."""
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def run_lock_path(checkpoint_path: Path) -> Path:
    """The lock a run holds (:data:`LOCK_SUFFIX`): beside the checkpoint, so every process
    mining with one data folder takes the same one. The file stays: deleting it would race
    a process that opens it."""
    return checkpoint_path.with_name(checkpoint_path.name + LOCK_SUFFIX)


def take_run_lock(path: Path, wait_s: float) -> tuple[WriterLock | None, str]:
    """The run lock, taken within ``wait_s`` seconds (polled, never blocking), or None and
    who holds it, in words ("process 42 on box (since …)")."""
    # the store's lock, imported here: importing the memory package costs what mining
    # without a store need not pay
    from foundups_training.memory.lock import StoreLocked, WriterLock

    lock = WriterLock(path)
    limit = time.monotonic() + wait_s
    said = False
    while True:
        try:
            return lock.acquire(), ""
        except StoreLocked as exc:
            who = exc.who
        if time.monotonic() >= limit:
            return None, who
        if not said:
            log.info("waiting up to %g s for %s, which is mining with %s", wait_s, who, path)
            said = True
        time.sleep(min(_LOCK_POLL_S, max(limit - time.monotonic(), 0.0)))


def _skipped(
    log_path: Path, memory: Any, checkpoint_path: Path, holder: str, waited: float, started: float
) -> MineReport:
    """The report of a run that found another process mining with its checkpoint: nothing
    read or stored, where the checkpoint stands, and why."""
    why = (
        f"{holder} is mining with the checkpoint {checkpoint_path} (two runs at once would "
        f"count the same lines twice): this run waited {waited:g} s for it and read nothing; "
        "mine again when that run has finished"
    )
    log.warning("%s: %s", log_path, why)
    cp, _ = load_checkpoint(checkpoint_path)  # replaced atomically: never half-written
    totals = _Totals()
    try:
        totals.size = os.stat(log_path).st_size
    except OSError:
        pass
    if cp is not None and cp.path == str(log_path.resolve()):
        totals.offset = min(cp.offset, totals.size)
        totals.lines_total = cp.lines_processed
    store_miner = min(cp.miner, MINER_VERSION) if cp is not None else MINER_VERSION
    report = _report(log_path, memory, totals, started, [why], 0, store_miner)
    return replace(report, skipped=why)


def _mine_locked(
    log_path: Path,
    memory: Any,
    checkpoint_path: Path,
    *,
    host_root: Path | None,
    max_lines: int | None,
    deadline: float | None,
    progress: ProgressFn | None,
    remine: bool,
    started: float,
) -> MineReport:
    """:func:`mine_log`'s run, under the run lock."""
    warnings: list[str] = []
    warn = recover_pending(memory, checkpoint_path)
    if warn:
        warnings.append(warn)
    cp, warn = load_checkpoint(checkpoint_path)
    if warn:
        warnings.append(warn)
    verifier = None
    if host_root is not None:
        if Path(host_root).is_dir():
            verifier = Verifier(Path(host_root))
        else:
            warnings.append(f"host root {host_root} is not a directory; nothing verified")
    totals = _Totals()
    found = None if remine else _unfinished(log_path, cp, checkpoint_path.parent)
    rotated = None
    if found is not None:
        # Finish the rotated file first: its last lines and the episodes that waited for
        # an outcome were never mined, and nothing will be appended to it any more.
        rotated, fh = found
        with fh:
            point = resume_point(rotated, cp, fh)
            done = _mine_file(
                rotated,
                fh,
                memory,
                point,
                _log_patterns(cp),
                checkpoint_path,
                verifier,
                totals,
                budget=max_lines,
                deadline=deadline,
                progress=None,
                final=True,
                store_miner=min(cp.miner, MINER_VERSION) if cp is not None else MINER_VERSION,
            )
        note = (
            f"finished the rotated log {rotated} before {log_path}: {totals.lines} more lines, "
            f"{totals.finished} episodes that waited for an outcome"
        )
        warnings.append(note if done else note.replace("finished the", "began finishing the"))
        log.warning("%s", warnings[-1])
        if not done:
            older = min(cp.miner, MINER_VERSION) if cp is not None else MINER_VERSION
            return _report(rotated, memory, totals, started, warnings, 0, older)
        cp, _ = load_checkpoint(checkpoint_path)
        if max_lines is not None:
            max_lines = max(0, max_lines - totals.lines)
    with log_path.open("rb") as fh:
        point = resume_point(log_path, cp, fh)
        if rotated is not None and cp is not None and point.offset == 0:
            # the log that took the rotated one's place: its lines follow the rotated ones
            point = ResumePoint(
                lines_processed=cp.lines_processed, earlier_lines=cp.lines_processed
            )
        again, why = _start_again(log_path, cp, point, remine)
        removed = 0
        lost = ""
        if again:
            if cp is not None:
                # Until this run's first checkpoint lands, the old one says "made by no
                # miner, nothing from earlier files": a run after a kill starts again too,
                # instead of resuming at an offset whose patterns are gone.
                save_checkpoint(checkpoint_path, replace(cp, miner=0, earlier_lines=0))
            removed = _forget_log(memory)
            point = ResumePoint()
            why += f" ({removed} patterns mined from a log before were removed)"
        elif point.warning:
            warnings.append(point.warning)
            log.warning("%s: %s", log_path, point.warning)
        elif lost := _store_lost(memory, cp, point):
            warnings.append(lost)
            log.warning("%s: %s", log_path, lost)
            point = ResumePoint()
        # the oldest miner whose patterns the store holds: a warned run does not make the
        # older patterns it kept look current
        store_miner = MINER_VERSION if again or cp is None else min(cp.miner, MINER_VERSION)
        if why:
            warnings.append(why)
            warn_once(log, why, again=again)
        # patterns mined from logs into this store (``_store_lost``): none left after a
        # re-mine's delete or in a lost store; the rotated files' otherwise
        before = 0 if again or lost else _log_patterns(cp)
        _mine_file(
            log_path,
            fh,
            memory,
            point,
            before,
            checkpoint_path,
            verifier,
            totals,
            budget=max_lines,
            deadline=deadline,
            progress=progress,
            store_miner=store_miner,
        )
    return _report(log_path, memory, totals, started, warnings, removed, store_miner)


class _ReadBack:
    """The open log as the reader reads it, keeping the bytes it read last, in file order.

    The checkpoint's ``tail`` hashes the bytes just before its offset. Read again from the
    file when the checkpoint is written, they are gone after a copytruncate during the run
    (the file emptied, then written again): the hash then matched neither logrotate's copy,
    which the next run looks for to mine what this run left of it, nor anything else, and
    the copy's unread lines were lost. Kept as they were read, they are what the copy holds.
    """

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self._start = 0  # file offset of _data[0]
        self._data = bytearray()
        self._keep = MAX_LINE_BYTES + TAIL_BYTES

    def read(self, n: int = -1) -> bytes:
        pos = self._fh.tell()
        data = self._fh.read(n)
        if not data:
            return data
        end = self._start + len(self._data)
        if pos > end:
            self._start, self._data = pos, bytearray(data)  # the first read at the start
        elif pos >= self._start and pos + len(data) > end:
            self._data += data[end - pos :]  # reading on (or past a look ahead)
        # else: a look back (the head the reader compares): those bytes are kept already
        # A checkpoint's offset is the end of a line of the reader's buffer: within one
        # line's length before the last read's start, or after it.
        self._keep = max(self._keep, 2 * len(data) + MAX_LINE_BYTES + TAIL_BYTES)
        if len(self._data) > self._keep:
            cut = len(self._data) - self._keep
            del self._data[:cut]
            self._start += cut
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def fileno(self) -> int:
        return self._fh.fileno()

    def tail_hash(self, offset: int) -> str | None:
        """:func:`tail_hash_of` the bytes read before ``offset``; None when they were not
        all kept (nothing read yet)."""
        first = max(0, offset - TAIL_BYTES)
        if first < self._start or offset > self._start + len(self._data):
            return None
        return hashlib.sha256(self._data[first - self._start : offset - self._start]).hexdigest()


def _mine_file(
    path: Path,
    fh: BinaryIO,
    memory: Any,
    point: ResumePoint,
    mined_before: int,
    checkpoint_path: Path,
    verifier: Verifier | None,
    totals: _Totals,
    *,
    budget: int | None,
    deadline: float | None,
    progress: ProgressFn | None,
    final: bool = False,
    store_miner: int = MINER_VERSION,
) -> bool:
    """Mine the open file ``fh`` (named ``path``) from ``point``, checkpointing as it goes;
    True when it reached the file's end. ``final``: the file will not grow (a rotated log):
    its last line is read without its newline and its open episodes are emitted."""
    size = os.fstat(fh.fileno()).st_size
    session = MiningSession(
        verifier,
        done_offset=point.offset,
        episode_offset=point.episode_offset,
        replay_offset=point.replay_offset,
        replay_date=point.replay_date,
    )
    parser = LineParser(date=point.replay_date)
    resolved = str(path.resolve())
    read_fp = fingerprint_of(fh)  # what this run starts reading
    window = _ReadBack(fh)
    budget = None if budget is None else max(0, budget)
    last_flush = time.perf_counter()

    def flush() -> None:
        nonlocal last_flush
        patterns = session.consolidator.patterns()
        offset, ep_off, replay, date = session.resume_state()
        # The file that was read, through the open handle wherever its path now leads
        # (rotated, or renamed away with no new file yet); emptied and rewritten in place
        # (copytruncate), the bytes it started with. Either way the next run sees the change
        # and starts the new content from its first line instead of at this offset.
        fp = fingerprint_of(fh)
        if fingerprint_of(fh, head_len=read_fp.head_len).head != read_fp.head:
            fp = read_fp
        target = Checkpoint(
            path=resolved,
            offset=offset,
            fingerprint=fp.render(),
            lines_processed=point.lines_processed + session.lines,
            updated_at=now_iso(),
            episode_offset=ep_off,
            replay_offset=replay,
            replay_date=date,
            size=fp.size,
            inode=fp.inode,
            tail=_tail(window, fh, offset),
            miner=store_miner,
            earlier_lines=point.earlier_lines,
            extra={"log_patterns": mined_before + totals.stored + len(patterns)},
        )
        journal = pending_path(checkpoint_path)
        journaled = bool(patterns) and write_ahead(journal, memory, patterns, asdict(target))
        totals.new += _store(memory, patterns)  # raises: checkpoint untouched, journal kept
        session.consolidator.clear()
        totals.stored += len(patterns)
        for p in patterns:
            totals.by_kind[p.kind] = totals.by_kind.get(p.kind, 0) + 1
            if p.module:
                totals.with_module += 1
                totals.verified += int(p.verified)
        save_checkpoint(checkpoint_path, target)
        if journaled:
            journal.unlink(missing_ok=True)
        last_flush = time.perf_counter()

    n = 0
    stopped = budget == 0
    if not stopped:
        reading = cast(BinaryIO, window)
        for raw in read_open(reading, point.replay_offset, to_end=final, nul_breaks=True):
            rec = parser.feed(raw)
            if rec is None:
                continue
            session.process(rec)
            n += 1
            if budget is not None and session.lines >= budget:
                stopped = True
                break
            if n % TICK == 0:
                if progress is not None:
                    if rec.end > size:  # the log grew while it was read: the reader goes on
                        size = max(rec.end, os.fstat(fh.fileno()).st_size)
                    progress(rec.end, size)
                now = time.perf_counter()
                if deadline is not None and now >= deadline:
                    stopped = True
                    break
                if len(session.consolidator) >= FLUSH_PATTERNS or now - last_flush > FLUSH_SECONDS:
                    flush()
        if not stopped:
            last = parser.flush()  # end of file: the held record is complete
            if last is not None:
                session.process(last)
            if final:
                totals.finished += len(session.open)
                session.finish()
    flush()
    totals.lines += session.lines
    totals.truncated += session.truncated
    offset = session.resume_state()[0]
    # The reader reads what the host appended during the run too: the file's size now, not
    # when the run began (a report then said more than 100 % done).
    size = max(size, offset, os.fstat(fh.fileno()).st_size)
    if progress is not None:
        progress(offset, size)
    totals.offset, totals.size = offset, size
    totals.lines_total = point.lines_processed + session.lines
    totals.pending = len(session.open)
    return not stopped


def _tail(window: _ReadBack, fh: BinaryIO, offset: int) -> str:
    """The checkpoint's tail hash: of the bytes this run read (see :class:`_ReadBack`), or
    of the file's when the run read none of them (a zero budget)."""
    tail = window.tail_hash(offset)
    return tail if tail is not None else tail_hash_of(fh, offset)


def _report(
    path: Path,
    memory: Any,
    totals: _Totals,
    started: float,
    warnings: list[str],
    removed: int,
    store_miner: int,
) -> MineReport:
    return MineReport(
        log_path=str(path),
        lines_processed=totals.lines,
        patterns_stored=totals.stored,
        patterns_new=totals.new,
        patterns_total=int(memory.count()),
        verified=totals.verified,
        with_module=totals.with_module,
        duration_s=time.perf_counter() - started,
        progress=(totals.offset / totals.size) if totals.size else 1.0,
        truncated_lines=totals.truncated,
        lines_total=totals.lines_total,
        offset=totals.offset,
        size=totals.size,
        episodes_pending=totals.pending,
        by_kind=totals.by_kind,
        warnings=tuple(warnings),
        patterns_removed=removed,
        older_patterns_kept=store_miner < MINER_VERSION,
    )
