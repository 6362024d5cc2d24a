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

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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
        yield from read_open(fh, start, max_line=max_line, block=block)


def read_open(
    fh: BinaryIO,
    start: int = 0,
    *,
    max_line: int = MAX_LINE_BYTES,
    block: int = BLOCK,
    to_end: bool = False,
) -> Iterator[RawLine]:
    """:func:`read_lines` of a file already open (binary). ``to_end``: the file will not
    grow (a rotated log), so a last line without its newline is read too."""
    head = _head(fh, HEAD_CHECK)
    enc = encoding_of(head)
    nl = NEWLINES[enc]
    max_line -= max_line % len(nl)  # a cut never splits a UTF-16 code unit
    fh.seek(start)
    pos = start  # file offset of buf[0]
    buf = b""
    skipping = False  # inside an over-long line whose head was already yielded
    while True:
        chunk = fh.read(block)
        if not chunk:
            if to_end and buf and not skipping:
                yield RawLine(
                    pos, pos + len(buf), _decode(buf[:max_line], enc), len(buf) > max_line
                )
            return  # otherwise what is left in buf has no newline: the next run reads it
        if _head(fh, len(head)) != head:
            return  # emptied and rewritten under us: this block is not the file we read
        buf += chunk
        i = 0
        while True:
            end = _find(buf, nl, i, pos)
            if end < 0:
                break
            if skipping:
                skipping = False
            elif end - i > max_line:
                yield RawLine(
                    pos + i, pos + end + len(nl), _decode(buf[i : i + max_line], enc), True
                )
            else:
                yield RawLine(pos + i, pos + end + len(nl), _decode(buf[i:end], enc))
            i = end + len(nl)
        buf = buf[i:]
        pos += i
        if len(buf) > max_line:
            if not skipping:
                # Peek for the end of this long line: only cut it when it is complete,
                # so a half-written long line at EOF is still left for later.
                found = _find_newline(fh, pos + len(buf), nl)
                if found is None and not to_end:
                    return
                stop = found + len(nl) if found is not None else os.fstat(fh.fileno()).st_size
                yield RawLine(pos, stop, _decode(buf[:max_line], enc), truncated=True)
                skipping = True
            pos += len(buf)
            buf = b""


#: The newline of each encoding a log can be in.
NEWLINES = {"utf-8": b"\n", "utf-16-le": b"\n\x00", "utf-16-be": b"\x00\n"}


def encoding_of(head: bytes) -> str:
    """The log's encoding, from its first bytes: UTF-16 when it starts with a UTF-16 byte
    order mark (what Windows PowerShell 5.1's ``>`` and ``Out-File`` write), else UTF-8
    (whose decoding replaces what is not UTF-8: cp1252 bytes read as replacement marks)."""
    if head.startswith(b"\xff\xfe"):
        return "utf-16-le"
    if head.startswith(b"\xfe\xff"):
        return "utf-16-be"
    return "utf-8"


def _find(buf: bytes, nl: bytes, i: int, pos: int) -> int:
    """Index in ``buf`` (which starts at file offset ``pos``) of the next newline at or after
    ``i``; in UTF-16 only one that starts a code unit (an even file offset) counts."""
    while True:
        end = buf.find(nl, i)
        if end < 0 or len(nl) == 1 or (pos + end) % 2 == 0:
            return end
        i = end + 1


def _find_newline(fh: BinaryIO, from_offset: int, nl: bytes = b"\n") -> int | None:
    """Offset of the next newline at or after ``from_offset``, restoring the read position."""
    here = fh.tell()
    try:
        fh.seek(from_offset)
        off = from_offset
        carry = b""  # a UTF-16 newline may straddle two reads
        while True:
            chunk = fh.read(BLOCK)
            if not chunk:
                return None
            data = carry + chunk
            end = _find(data, nl, 0, off - len(carry))
            if end >= 0:
                return off - len(carry) + end
            carry = data[-(len(nl) - 1) :] if len(nl) > 1 else b""
            off += len(chunk)
    finally:
        fh.seek(here)


def _head(fh: BinaryIO, n: int) -> bytes:
    """The first ``n`` bytes of the open file (fewer if it is shorter), keeping the position."""
    here = fh.tell()
    try:
        fh.seek(0)
        return bytes(fh.read(n))
    finally:
        fh.seek(here)


def _decode(raw: bytes, encoding: str = "utf-8") -> str:
    text = raw.decode(encoding, "replace")
    return text[:-1] if text.endswith("\r") else text
