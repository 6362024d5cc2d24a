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

import json
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from foundups_training.mining.checkpoint import (
    MINER_VERSION,
    Checkpoint,
    ResumePoint,
    fingerprint,
    load_checkpoint,
    now_iso,
    resume_point,
    save_checkpoint,
    tail_hash,
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
from foundups_training.mining.reader import RawLine, read_lines
from foundups_training.mining.templates import mask
from foundups_training.records import MASKED, Pattern

log = logging.getLogger(__name__)

#: Consolidated patterns held before an intermediate upsert + checkpoint (bounds memory on
#: a huge log mined without a budget).
FLUSH_PATTERNS = 5000
#: Records between progress callbacks and clock checks.
TICK = 1024
_RING = CONTEXT_RECORDS + MAX_EPISODE_RECORDS + 16

ProgressFn = Callable[[int, int], None]
#: Warnings about an older miner's patterns already logged by this process.
_TOLD: set[str] = set()


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
        """Take the next record (records must come in file order)."""
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
        self.ring.append((record.start, record.date_in))
        self.last_end = record.end
        while self.open and self.open[0].done:
            self.open.popleft().emit(self.verifier, self.consolidator)

    def _line_level(self, record: LogRecord) -> None:
        logger = record.logger
        if has_template(record):
            # warnings and routine lines repeat: build each (logger, template) pattern
            # once, then count
            key = f"{logger}\x1f{mask(record.message)}"
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
            end = pos + len(text) + 1
            yield RawLine(pos, end, text)
            pos = end

    for rec in _records(parser, raws()):
        session.process(rec)
    return session.consolidator.patterns()


def pending_path(checkpoint_path: Path) -> Path:
    """The write-ahead journal of a flush in progress (next to the checkpoint)."""
    return checkpoint_path.with_name(checkpoint_path.name + ".pending")


def _write_pending(path: Path, memory: Any, patterns: list[Pattern], target: Checkpoint) -> bool:
    """Journal a flush before its write: the patterns, the checkpoint it ends with, and the
    ``seen`` the store held for each beforehand. False when ``memory`` cannot say (then the
    write is not journaled, as before)."""
    seen_counts = getattr(memory, "seen_counts", None)
    if seen_counts is None:
        return False
    before = seen_counts([p.id for p in patterns])
    data = json.dumps(
        {
            "target": asdict(target),
            "before": before,
            "patterns": [asdict(p) for p in patterns],
        }
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk must not leave half a journal behind
        raise
    return True


def recover_pending(memory: Any, checkpoint_path: Path) -> str:
    """Finish a flush that a kill or a write error interrupted; returns a warning or ''.

    The store's upsert adds ``seen`` up, so re-reading the same lines after a write that
    partly landed would count them twice. The journal says what the store held before the
    write: a pattern whose ``seen`` moved already got its share and is skipped, the others
    are written, then the journaled checkpoint is saved -- exactly one count per line.
    """
    path = pending_path(checkpoint_path)
    try:
        journal = json.loads(path.read_text(encoding="utf-8"))
        target = Checkpoint(**journal["target"])
        before: dict[str, int] = journal["before"]
        patterns = [Pattern.from_dict(p) for p in journal["patterns"]]
    except FileNotFoundError:
        return ""
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        path.unlink(missing_ok=True)
        return f"unreadable pending write journal {path} dropped ({exc})"
    current, _ = load_checkpoint(checkpoint_path)
    if current is not None and asdict(current) == asdict(target):
        path.unlink(missing_ok=True)  # the write and the checkpoint both landed
        return ""
    now = memory.seen_counts([p.id for p in patterns])
    todo = [p for p in patterns if now.get(p.id, 0) == before.get(p.id, 0)]
    _store(memory, todo)  # raises: the journal stays for the next run
    save_checkpoint(checkpoint_path, target)
    path.unlink(missing_ok=True)
    return (
        f"finished an interrupted write ({len(patterns) - len(todo)} of {len(patterns)} "
        "patterns had landed)"
    )


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
    (see :func:`_start_again`). Raises ``FileNotFoundError`` / ``PermissionError`` /
    ``IsADirectoryError`` for a log that cannot be read, and whatever ``memory.upsert`` or
    ``memory.delete`` raises (the checkpoint is then left where it was).
    """
    started = time.perf_counter()
    log_path = Path(log_path)
    if not log_path.exists():
        raise FileNotFoundError(f"log file not found: {log_path}")
    if log_path.is_dir():
        raise IsADirectoryError(f"log path is a directory: {log_path}")
    with log_path.open("rb"):
        pass  # fail early, with the OS's reason, on an unreadable file
    warnings: list[str] = []
    warn = recover_pending(memory, checkpoint_path)
    if warn:
        warnings.append(warn)
    cp, warn = load_checkpoint(checkpoint_path)
    if warn:
        warnings.append(warn)
    point = resume_point(log_path, cp)
    again, why = _start_again(log_path, cp, point, remine)
    removed = 0
    if again:
        if cp is not None:
            # Until this run's first checkpoint lands, the old one says "made by no miner,
            # nothing from earlier files": a run after a kill starts again too, instead of
            # resuming at an offset whose patterns are gone.
            save_checkpoint(checkpoint_path, replace(cp, miner=0, earlier_lines=0))
        removed = _forget_log(memory)
        point = ResumePoint()
        why += f" ({removed} patterns mined from a log before were removed)"
    elif point.warning:
        warnings.append(point.warning)
        log.warning("%s: %s", log_path, point.warning)
    # the oldest miner whose patterns the store holds: a warned run does not make the
    # older patterns it kept look current
    store_miner = MINER_VERSION if again or cp is None else min(cp.miner, MINER_VERSION)
    if why:
        warnings.append(why)
        if again or why not in _TOLD:
            _TOLD.add(why)  # an idle task mines every few minutes: say it once a process
            log.warning("%s", why)
    verifier = None
    if host_root is not None:
        if Path(host_root).is_dir():
            verifier = Verifier(Path(host_root))
        else:
            warnings.append(f"host root {host_root} is not a directory; nothing verified")
    size = log_path.stat().st_size
    read_fp = fingerprint(log_path)  # the file this run reads (the path may move on)
    session = MiningSession(
        verifier,
        done_offset=point.offset,
        episode_offset=point.episode_offset,
        replay_offset=point.replay_offset,
        replay_date=point.replay_date,
    )
    parser = LineParser(date=point.replay_date)
    lines_total = point.lines_processed
    stored = new = verified = with_module = 0
    by_kind: dict[str, int] = {}
    deadline = None if max_seconds is None else started + max(0.0, max_seconds)
    budget = None if max_lines is None else max(0, max_lines)

    def flush() -> None:
        nonlocal stored, new, verified, with_module, lines_total
        patterns = session.consolidator.patterns()
        offset, ep_off, replay, date = session.resume_state()
        fp = fingerprint(log_path)
        if fp.inode != read_fp.inode or (
            fingerprint(log_path, head_len=read_fp.head_len).head != read_fp.head
        ):
            # Rotated or rewritten mid-run: the path names other bytes than the ones
            # read. Checkpoint the file that was read, so the next run sees the change
            # and starts the new file from its first line instead of at this offset.
            fp = read_fp
        target = Checkpoint(
            path=str(log_path.resolve()),
            offset=offset,
            fingerprint=fp.render(),
            lines_processed=lines_total + session.lines,
            updated_at=now_iso(),
            episode_offset=ep_off,
            replay_offset=replay,
            replay_date=date,
            size=fp.size,
            inode=fp.inode,
            tail=tail_hash(log_path, offset),
            miner=store_miner,
            earlier_lines=point.earlier_lines,
        )
        journal = pending_path(checkpoint_path)
        journaled = bool(patterns) and _write_pending(journal, memory, patterns, target)
        new += _store(memory, patterns)  # raises: checkpoint untouched, journal kept
        session.consolidator.clear()
        stored += len(patterns)
        for p in patterns:
            by_kind[p.kind] = by_kind.get(p.kind, 0) + 1
            if p.module:
                with_module += 1
                verified += int(p.verified)
        save_checkpoint(checkpoint_path, target)
        if journaled:
            journal.unlink(missing_ok=True)

    n = 0
    if budget != 0:
        reader = read_lines(log_path, point.replay_offset)
        stopped = False
        for raw in reader:
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
                    progress(rec.end, size)
                if deadline is not None and time.perf_counter() >= deadline:
                    stopped = True
                    break
                if len(session.consolidator) >= FLUSH_PATTERNS:
                    flush()
        if not stopped:
            last = parser.flush()  # end of file: the held record is complete
            if last is not None:
                session.process(last)
        close = getattr(reader, "close", None)
        if close is not None:
            close()
    flush()
    offset = session.resume_state()[0]
    if progress is not None:
        progress(offset, size)
    return MineReport(
        log_path=str(log_path),
        lines_processed=session.lines,
        patterns_stored=stored,
        patterns_new=new,
        patterns_total=int(memory.count()),
        verified=verified,
        with_module=with_module,
        duration_s=time.perf_counter() - started,
        progress=(offset / size) if size else 1.0,
        truncated_lines=session.truncated,
        lines_total=lines_total + session.lines,
        offset=offset,
        size=size,
        episodes_pending=len(session.open),
        by_kind=by_kind,
        warnings=tuple(warnings),
        patterns_removed=removed,
        older_patterns_kept=store_miner < MINER_VERSION,
    )
