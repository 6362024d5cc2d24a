"""Stream a log's lines from a byte offset, in bounded memory.

Lines are yielded with their byte span so the miner can checkpoint at any line boundary.
Bytes that are not UTF-8 are decoded with replacement; a line longer than ``max_line`` bytes
is cut to that bound (the rest skipped, the cut counted); a last line without its newline is
still being written and is left for the next run.

A file emptied and written again while it is being read (logrotate's ``copytruncate``) stops
the reading: before using each block read, the reader checks that the first bytes of the
file it holds open are still the ones it started with. Otherwise the lines the host wrote
after the truncation would be read from the middle of the new content now and again from
its first line by the next run (which sees a new file). A file renamed away (rotation by
rename) is read to its end: the open file's bytes do not change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: Longest line kept, in bytes (longer ones are cut): tracebacks' single lines and JSON dumps
#: rarely pass a few KiB; a runaway line must not hold the whole file in memory.
MAX_LINE_BYTES = 16 * 1024
#: Read size: big enough to amortise syscalls, small enough to be irrelevant to memory.
BLOCK = 1 << 20
#: Bytes at the head of the file compared after each block (see the module docstring).
HEAD_CHECK = 4096


@dataclass(frozen=True, slots=True)
class RawLine:
    """One physical line: its text (no newline) and its byte span ``[start, end)``."""

    start: int
    end: int
    text: str
    truncated: bool = False


def read_lines(
    path: Path, start: int = 0, *, max_line: int = MAX_LINE_BYTES, block: int = BLOCK
) -> Iterator[RawLine]:
    """Yield the complete lines of ``path`` from byte ``start`` (a line boundary).

    Stops before a final line that has no newline yet. Memory is bounded by ``block`` plus
    ``max_line`` whatever the file's or a line's size.
    """
    with path.open("rb") as fh:
        head = _head(fh, HEAD_CHECK)
        fh.seek(start)
        pos = start  # file offset of buf[0]
        buf = b""
        skipping = False  # inside an over-long line whose head was already yielded
        while True:
            chunk = fh.read(block)
            if not chunk:
                return  # whatever is left in buf has no newline: the next run reads it
            if _head(fh, len(head)) != head:
                return  # emptied and rewritten under us: this block is not the file we read
            buf += chunk
            i = 0
            while True:
                nl = buf.find(b"\n", i)
                if nl < 0:
                    break
                if skipping:
                    skipping = False
                elif nl - i > max_line:
                    yield RawLine(pos + i, pos + nl + 1, _decode(buf[i : i + max_line]), True)
                else:
                    yield RawLine(pos + i, pos + nl + 1, _decode(buf[i:nl]))
                i = nl + 1
            buf = buf[i:]
            pos += i
            if len(buf) > max_line:
                if not skipping:
                    # Peek for the end of this long line: only cut it when it is complete,
                    # so a half-written long line at EOF is still left for later.
                    end = _find_newline(fh, pos + len(buf))
                    if end is None:
                        return
                    yield RawLine(pos, end + 1, _decode(buf[:max_line]), truncated=True)
                    skipping = True
                pos += len(buf)
                buf = b""


def _find_newline(fh, from_offset: int) -> int | None:  # type: ignore[no-untyped-def]
    """Offset of the next newline at or after ``from_offset``, restoring the read position."""
    here = fh.tell()
    try:
        fh.seek(from_offset)
        off = from_offset
        while True:
            chunk = fh.read(BLOCK)
            if not chunk:
                return None
            nl = chunk.find(b"\n")
            if nl >= 0:
                return off + nl
            off += len(chunk)
    finally:
        fh.seek(here)


def _head(fh, n: int) -> bytes:  # type: ignore[no-untyped-def]
    """The first ``n`` bytes of the open file (fewer if it is shorter), keeping the position."""
    here = fh.tell()
    try:
        fh.seek(0)
        return bytes(fh.read(n))
    finally:
        fh.seek(here)


def _decode(raw: bytes) -> str:
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return raw.decode("utf-8", "replace")
