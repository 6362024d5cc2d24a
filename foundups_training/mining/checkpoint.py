"""Where mining stopped: a byte offset plus a fingerprint of the file, written atomically.

The checkpoint says three things about the log:

* ``offset`` -- every line before it has been counted (line-level patterns, ``lines_processed``);
* ``episode_offset`` -- every episode anchored before it has been emitted (an episode whose
  outcome window was still open when the run stopped is re-read next time, not emitted early);
* ``replay_offset`` -- where the next run starts reading, a few lines earlier, so episodes get
  their context window back.

The fingerprint (sha256 of the file's first bytes, plus a hash of the bytes just before
``offset``, size and inode) tells a grown file from a rotated, truncated or replaced one.

It also says which miner made the log's patterns (``miner``, :data:`MINER_VERSION` when it
was written; 0 for a checkpoint from before versions were recorded) and how many lines
were mined from files before this one (``earlier_lines``; None when unknown). A
newer miner re-reads the log from the start when the file still holds everything that was
mined (``earlier_lines == 0``), and otherwise says how to (see ``mine_log``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from foundups_training.mining.writeahead import write_atomically

#: Bytes hashed at the head of the file: enough to tell two logs apart (first lines carry
#: timestamps), small enough to be free.
HEAD_BYTES = 4096
#: Bytes hashed just before the offset: catches a file rewritten with the same beginning.
TAIL_BYTES = 256
VERSION = 2
#: What the miner makes of a log. Raise it with every change that makes the same lines give
#: other patterns (other ids, texts, outcomes or instances): a log mined by an older miner
#: is then mined again from the start (``mine_log``), instead of keeping the old patterns
#: beside the new ones. 2: a time zone after the time, a level with no message, and the
#: level in the key of a line's template (a warning and a routine line stay two patterns).
#: 3: a traceback's exception line whatever its class is named, right after the frames
#: (``requests.exceptions.ReadTimeout: …``), and exception groups' tracebacks.
MINER_VERSION = 3

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What identifies a log file's content up to some point."""

    head: str  # sha256 hex of the first head_len bytes
    head_len: int
    size: int
    inode: int

    def render(self) -> str:
        """The string stored under the checkpoint's ``fingerprint`` key."""
        return f"sha256:{self.head}:{self.head_len}"


def _hash_range(fh: Any, start: int, length: int) -> str:
    """sha256 of ``length`` bytes from ``start``; the file's position is kept (a reader may
    be iterating over the same open file)."""
    here = fh.tell()
    try:
        fh.seek(start)
        return hashlib.sha256(fh.read(length)).hexdigest()
    finally:
        fh.seek(here)


def fingerprint(path: Path, head_len: int | None = None) -> Fingerprint:
    """Fingerprint ``path``; ``head_len`` hashes exactly that many bytes (to compare)."""
    with path.open("rb") as fh:
        return fingerprint_of(fh, head_len)


def fingerprint_of(fh: BinaryIO, head_len: int | None = None) -> Fingerprint:
    """Fingerprint an open file: the file itself, wherever its path now leads."""
    st = os.fstat(fh.fileno())
    n = min(HEAD_BYTES if head_len is None else head_len, st.st_size)
    return Fingerprint(head=_hash_range(fh, 0, n), head_len=n, size=st.st_size, inode=st.st_ino)


def tail_hash(path: Path, offset: int) -> str:
    """sha256 of up to :data:`TAIL_BYTES` bytes ending at ``offset``."""
    with path.open("rb") as fh:
        return tail_hash_of(fh, offset)


def tail_hash_of(fh: BinaryIO, offset: int) -> str:
    """:func:`tail_hash` of an open file."""
    start = max(0, offset - TAIL_BYTES)
    return _hash_range(fh, start, offset - start)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The persisted state of one log's mining (see the module docstring)."""

    path: str
    offset: int
    fingerprint: str
    lines_processed: int
    updated_at: str
    episode_offset: int = 0
    replay_offset: int = 0
    replay_date: str = ""  # the date in effect at replay_offset ("[HH:MM:SS]" lines lack one)
    size: int = 0
    inode: int = 0
    tail: str = ""
    version: int = VERSION
    extra: dict[str, Any] = field(default_factory=dict)
    #: the miner that made this log's patterns (0: written before versions were recorded)
    miner: int = 0
    #: lines mined from files before this one (a log rotated away, another path), whose
    #: patterns the store holds too; None when unknown
    earlier_lines: int | None = None

    @property
    def head_hash(self) -> str:
        """The sha256 part of :attr:`fingerprint`."""
        parts = self.fingerprint.split(":")
        return parts[1] if len(parts) == 3 else ""

    @property
    def head_len(self) -> int:
        """How many bytes :attr:`head_hash` covers."""
        parts = self.fingerprint.split(":")
        try:
            n = int(parts[2]) if len(parts) == 3 else 0
        except ValueError:
            return 0
        # A corrupt "sha256:…:-5" hashed the whole log (read(-5) reads to the end) on every
        # comparison: unknown, like a missing length, instead.
        return n if n > 0 else 0


def now_iso() -> str:
    """The current UTC time, ISO-8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


#: The copy of the checkpoint kept beside it (``checkpoint.json.bak``), read when the
#: checkpoint itself is corrupt or unreadable (a bad sector, a hand edit, a backup tool's
#: partial copy).
BACKUP_SUFFIX = ".bak"


def backup_path(path: Path) -> Path:
    """Where the copy of the checkpoint at ``path`` is kept (:data:`BACKUP_SUFFIX`)."""
    return path.with_name(path.name + BACKUP_SUFFIX)


def load_checkpoint(path: Path) -> tuple[Checkpoint | None, str]:
    """The checkpoint at ``path`` (or None) and a warning when it exists but is unusable.

    A corrupt or unreadable one is replaced by its copy (:func:`backup_path`), with a
    warning: the copy holds the same position, so resuming from it counts nothing twice.
    A missing checkpoint is not: deleting it (``clear``) means "start again".
    """
    return read_with_backup(path, _parse)


def read_with_backup(path: Path, parse: Callable[[Any], T]) -> tuple[T | None, str]:
    """The checkpoint ``parse`` makes of the JSON at ``path``, or of its copy when that one
    is corrupt or unreadable, and a warning saying which; the log's and the telemetry's
    checkpoints share it. ``parse`` raises ``ValueError``, ``TypeError`` or ``KeyError`` for
    data that is no checkpoint. A missing file is not corrupt: that is "start again", and
    the copy is not used."""
    cp, problem = _read(path, parse)
    if cp is not None or not problem:
        return cp, ""
    backup = backup_path(path)
    copy, _ = _read(backup, parse)
    if copy is not None:
        return copy, f"checkpoint {path} {problem}; resumed from its backup {backup}"
    return None, f"checkpoint {path} {problem}; starting from the beginning"


def _read(path: Path, parse: Callable[[Any], T]) -> tuple[T | None, str]:
    """The checkpoint ``parse`` makes of one file's JSON, or None and what is wrong with the
    file ('' when it is missing)."""
    try:
        raw = path.read_bytes()  # decoded by json.loads: bad bytes are "corrupt", not a crash
    except FileNotFoundError:
        return None, ""
    except OSError as exc:
        return None, f"unreadable ({exc.strerror})"
    try:
        return parse(json.loads(raw)), ""
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        # RecursionError: thousands of nested brackets (json.loads recurses into them)
        return None, f"is corrupt ({exc})"


def _parse(data: Any) -> Checkpoint:
    """The log's checkpoint in a file's JSON (``ValueError`` … when it holds none)."""
    known = {k: data[k] for k in Checkpoint.__dataclass_fields__ if k in data}
    cp = Checkpoint(**known)
    if not isinstance(cp.offset, int) or cp.offset < 0:
        raise ValueError("bad offset")
    numbers = ("lines_processed", "episode_offset", "replay_offset", "size", "inode", "miner")
    for name in (*numbers, "earlier_lines"):
        value = getattr(cp, name)
        if value is None and name == "earlier_lines":
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"bad {name}")
    for name in ("path", "fingerprint", "updated_at", "replay_date", "tail"):
        if not isinstance(getattr(cp, name), str):
            raise ValueError(f"bad {name}")
    if not isinstance(cp.extra, dict):
        raise ValueError("bad extra")
    return cp


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Write ``checkpoint`` atomically, its copy first (:func:`write_with_backup`)."""
    write_with_backup(path, json.dumps(asdict(checkpoint), indent=2, sort_keys=True))


def write_with_backup(path: Path, data: str) -> None:
    """Write a checkpoint's ``data`` atomically: a temporary file, fsync, then ``os.replace``.

    A crash at any point leaves either the old checkpoint or the new one, never half of one.
    The same data goes to its backup first (:func:`backup_path`): a copy of this one, not
    of the one before, since resuming from an older position would read again lines whose
    patterns the store has counted. Until the checkpoint itself lands, the flush's
    write-ahead journal (:mod:`.writeahead`) finishes it from either file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(backup_path(path), data)
    write_atomically(path, data)
    if os.name == "posix":  # make the renames themselves durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def same_content(file: Path | BinaryIO, fp: Fingerprint, cp: Checkpoint) -> bool:
    """Whether ``file`` (fingerprinted as ``fp`` with the checkpoint's ``head_len``) holds
    what the checkpoint's file held up to its offset: the same first bytes and the same
    bytes just before the offset. Without both hashes nothing can be told: False."""
    if not (cp.head_hash and cp.tail) or fp.size < cp.offset or fp.head != cp.head_hash:
        return False
    tail = tail_hash(file, cp.offset) if isinstance(file, Path) else tail_hash_of(file, cp.offset)
    return tail == cp.tail


#: The head hash of a file that was empty: nothing was hashed.
_EMPTY_HEAD = hashlib.sha256(b"").hexdigest()


def _was_empty(cp: Checkpoint) -> bool:
    """Whether ``cp`` was written for an empty file: no byte read, hashed or mined. Its head
    length is 0, which :attr:`Checkpoint.head_len` cannot tell from an unknown one."""
    return (
        cp.offset == 0
        and cp.episode_offset == 0
        and cp.fingerprint == f"sha256:{_EMPTY_HEAD}:0"
        and cp.size == 0
    )


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Where to read from and what has already been done, decided from a checkpoint."""

    replay_offset: int = 0
    episode_offset: int = 0
    offset: int = 0
    lines_processed: int = 0
    replay_date: str = ""
    warning: str = ""
    #: lines mined from files before this one; None when unknown
    earlier_lines: int | None = 0


def resume_point(log_path: Path, cp: Checkpoint | None, fh: BinaryIO | None = None) -> ResumePoint:
    """Decide where to resume ``log_path`` given its checkpoint; detect rotation and the like.

    ``fh``: the file the run will read, open: it is what is compared (the path may lead
    elsewhere a moment later)."""
    if cp is None:
        return ResumePoint()
    if fh is None:
        with log_path.open("rb") as opened:
            return resume_point(log_path, cp, opened)
    resolved = str(log_path.resolve())
    fp = fingerprint_of(fh, head_len=cp.head_len or None)
    if cp.path and cp.path != resolved:
        if not same_content(fh, fp, cp):
            return ResumePoint(
                warning=f"checkpoint was for {cp.path}; mining {resolved} from the beginning",
                earlier_lines=cp.lines_processed,
            )
        # The file the checkpoint describes, reached by another path (moved, a link, a
        # mapped drive): what it held up to the offset was mined; mining it again from its
        # first line would count every line twice.
    if fp.size < cp.offset:
        why = (
            "rotated (a new file, shorter than what was mined)"
            if cp.inode and fp.inode != cp.inode
            else "truncated (smaller than the checkpoint)"
        )
        return ResumePoint(
            lines_processed=cp.lines_processed,
            warning=f"log was {why}; restarted from the beginning",
            earlier_lines=cp.lines_processed,
        )
    if _was_empty(cp) and not (cp.inode and fp.inode != cp.inode):
        # The log was empty when this checkpoint was written (a log rotated a moment
        # before): nothing of it was read, so whatever it holds now is what it grew by.
        # Its 0-byte head hash cannot be compared with the 4 KiB the log has now.
        return ResumePoint(lines_processed=cp.lines_processed, earlier_lines=cp.earlier_lines)
    replaced = (cp.head_hash and fp.head != cp.head_hash) or (
        cp.tail and tail_hash_of(fh, cp.offset) != cp.tail
    )
    if replaced:
        why = "rotated" if cp.inode and fp.inode != cp.inode else "replaced"
        return ResumePoint(
            lines_processed=cp.lines_processed,
            warning=f"log was {why} (fingerprint changed); restarted from the beginning",
            earlier_lines=cp.lines_processed,
        )
    return ResumePoint(
        replay_offset=min(cp.replay_offset, cp.episode_offset, cp.offset),
        episode_offset=min(cp.episode_offset, cp.offset),
        offset=cp.offset,
        lines_processed=cp.lines_processed,
        replay_date=cp.replay_date,
        earlier_lines=cp.earlier_lines,
    )
