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

A run of NULs inside a line ends a line there (``nul_breaks``, what mining asks for): a host
that crashed while its log was extended leaves its last, partial line, then NULs where the
lost bytes were, and the restarted host's first line goes on right after them, with no
newline between. The NULs start the next line (the parser drops NULs that start a line).
"""

from __future__ import annotations

import os
import re
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
    nul_breaks: bool = False,
) -> Iterator[RawLine]:
    """:func:`read_lines` of a file already open (binary). ``to_end``: the file will not
    grow (a rotated log), so a last line without its newline is read too. ``nul_breaks``:
    a run of NULs with text before and after it, inside a line that is not cut, ends a
    line (see the module docstring); the pieces' spans are exact, so a checkpoint may fall
    between them."""
    head = _head(fh, HEAD_CHECK)
    enc = encoding_of(head)
    nl = NEWLINES[enc]
    unit = len(nl)  # bytes of a code unit
    max_line -= max_line % len(nl)  # a cut never splits a UTF-16 code unit
    fh.seek(start)
    pos = start  # file offset of buf[0]
    buf = b""
    skipping = False  # inside an over-long line whose head was already yielded
    while True:
        chunk = fh.read(block)
        if not chunk:
            if to_end and buf and not skipping:
                text = _decode(buf[:max_line], enc)
                if nul_breaks and "\0" in text and len(buf) <= max_line:
                    yield from nul_pieces(buf, pos, pos + len(buf), enc, unit)
                else:
                    yield RawLine(pos, pos + len(buf), text, len(buf) > max_line)
            return  # otherwise what is left in buf has no newline: the next run reads it
        if _head(fh, len(head)) != head:
            return  # emptied and rewritten under us: this block is not the file we read
        buf += chunk
        # a crash's NULs are rare: lines are looked at for them only in a block that has
        # one (a UTF-16 log: always)
        nuls = nul_breaks and (unit > 1 or b"\0" in buf)
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
            elif nuls and "\0" in (text := _decode(buf[i:end], enc)):
                yield from nul_pieces(buf[i:end], pos + i, pos + end + len(nl), enc, unit)
            elif nuls:
                yield RawLine(pos + i, pos + end + len(nl), text)
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
NEWLINES = {
    "utf-8": b"\n",
    "utf-16-le": b"\n\x00",
    "utf-16le": b"\n\x00",  # without a byte order mark
    "utf-16-be": b"\x00\n",
    "utf-16be": b"\x00\n",  # without a byte order mark
}


#: Bytes of a log's head looked at for UTF-16 text without a byte order mark.
SNIFF_BYTES = 64


def encoding_of(head: bytes) -> str:
    """The log's encoding, from its first bytes: UTF-16 when it starts with a UTF-16 byte
    order mark (what Windows PowerShell 5.1's ``>`` and ``Out-File`` write), UTF-16-LE
    without one when its first characters are ASCII with a NUL after each (what some
    Windows tools write: ``"utf-16le"``, spelt without the hyphen, so that nothing skips a
    byte order mark it does not have), UTF-16-BE without one when they are ASCII with a NUL
    before each (``"utf-16be"``: Java's ``UTF-16BE``, ``iconv -t UTF-16BE``), else UTF-8
    (whose decoding replaces what is not UTF-8: cp1252 bytes read as replacement marks).
    Text in UTF-8 has no NUL between its characters, so it is never read as UTF-16."""
    if head.startswith(b"\xff\xfe"):
        return "utf-16-le"
    if head.startswith(b"\xfe\xff"):
        return "utf-16-be"
    if b"\0" in head[:SNIFF_BYTES] and _utf16le_ascii(head):
        return "utf-16le"
    # UTF-16-BE ASCII is UTF-16-LE ASCII one byte later: its first byte is a NUL (the high
    # byte of its first character, or of a crash's NUL before it): the NULs before the
    # text are an odd count here, an even one before UTF-16-LE text.
    if head[:1] == b"\0" and _utf16le_ascii(head[1:]):
        return "utf-16be"
    return "utf-8"


def _utf16le_ascii(head: bytes) -> bool:
    """Whether ``head`` starts with ASCII text in UTF-16-LE: two printable characters or
    more (or tab, CR, LF), each followed by a NUL, after any run of NUL characters a crash
    left at the start, up to the next such run. A UTF-8 log with NULs at its start has no
    NUL between its characters."""
    body = head.lstrip(b"\0")
    if (len(head) - len(body)) % 2:
        return False
    sample = body[:SNIFF_BYTES]
    sample = sample[: len(sample) - len(sample) % 2]
    for k in range(0, len(sample), 2):
        if not (sample[k] or sample[k + 1]):  # a NUL character: the text ends here
            sample = sample[:k]
            break
    return (
        len(sample) >= 4 and not any(sample[1::2]) and all(b in _TEXT_BYTES for b in sample[0::2])
    )


#: The ASCII bytes a log's text starts with: printable, tab, CR, LF.
_TEXT_BYTES = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}
#: A run of NULs that ends a line: two NUL characters or more. One alone is left in its
#: line: text misread as UTF-8 (UTF-16 not told by its head) has one after each character.
MIN_NUL_RUN = 2
_NUL_RUN = re.compile(f"\0{{{MIN_NUL_RUN},}}")
_NUL_BYTES = re.compile(_NUL_RUN.pattern.encode())
#: What is not text before a NUL run: a byte order mark, NULs (the parser drops both at a
#: line's start).
_NOT_TEXT = "\ufeff\0"


def text_pieces(text: str) -> list[str]:
    """A line of text cut as ``read_open(..., nul_breaks=True)`` cuts its bytes (for lines
    that are text already: tests, :func:`~foundups_training.mining.miner.extract_patterns`).
    The pieces are :func:`nul_pieces`' texts: a piece before a run loses a CR that ends it;
    the last piece is the rest of ``text`` as it is."""
    if "\0" not in text:
        return [text]
    pieces, first = [], 0
    body = len(text.removesuffix("\r"))
    for m in _NUL_RUN.finditer(text):
        if m.end() < body and text[first : m.start()].lstrip(_NOT_TEXT):
            # the run ends this piece as a newline ends a line: a CR before it goes with it
            pieces.append(text[first : m.start()].removesuffix("\r"))
            first = m.start()
    pieces.append(text[first:])
    return pieces


def nul_pieces(data: bytes, start: int, end: int, enc: str, unit: int) -> Iterator[RawLine]:
    """The line ``data`` (at file offset ``start``; the next line starts at ``end``) cut
    before each run of :data:`MIN_NUL_RUN` NUL characters or more that has text before it
    (not only a byte order mark) and after it. Each piece but the last ends where the next
    starts, at the run's first NUL; the last keeps the line's end.

    A CR right before a run is text here, as it is before a newline: the run ends a line
    there (an empty one when the CR is all it has, as ``\\r\\n`` alone is), and the CR is
    dropped from its text as a CRLF's is. A progress bar's ``\\r`` then a crash's NULs so
    leave the new boot's first line a line of its own, its NULs dropped by the parser."""
    body = len(data) - unit if data.endswith("\r".encode(enc)) else len(data)
    first = 0
    for m in _NUL_BYTES.finditer(data):
        a, b = m.start(), m.end()
        if unit > 1:  # whole NUL code units only: a zero byte may be half of another one
            a += -(start + a) % unit
            b -= (start + b) % unit
            if b - a < MIN_NUL_RUN * unit:
                continue
        if b < body and data[first:a].decode(enc, "replace").lstrip(_NOT_TEXT):
            yield RawLine(start + first, start + a, _decode(data[first:a], enc))
            first = a
    yield RawLine(start + first, end, _decode(data[first:], enc))


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
