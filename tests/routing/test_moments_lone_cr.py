"""A lone CR, then a crash's NULs, after a line end: mining's reader cuts the line after the
CR (an empty line, as ``\\r\\n`` alone is, then the NULs' line), and a moment of the log is
read cut there, through the minute index and read whole alike.

Found by the property test in test_moments_nul_and_load_retry.py: the index reads a
minute's run of lines as a byte range, and a range may end where the reader cut a line
before a crash's NULs. Before, that range's last bytes were cut again on their own, as if
its CR were the one before the line's end: the run before it was not cut there, and the
index gave ``"\\r\\0\\0\\0"`` where a whole read (and mining) gives ``""`` and ``"\\0\\0\\0"``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from foundups_training.routing import moments
from foundups_training.routing.moments import MinuteIndex, Moment, window_lines

from .test_moments_nul_and_load_retry import _ENCODINGS, _append, _mined, _write

_X0 = "2025-10-20 15:58:00,000 - m - INFO - x0\n"
_GLUED = (
    "2025-10-20 15:59:10,000 - m - INFO - partial"
    + "\0" * 4
    + "2025-10-20 16:01:00,000 - m - ERROR - new boot\n"
)
FIRST = ["\r\0\0\0", _X0, _X0]
MORE = ["\r\0\0\0", _GLUED]
AT = Moment("15:59:00", "", False)


def _read_alike(path: Path, index: MinuteIndex) -> list[list[str]]:
    """The stretch at :data:`AT` read whole, once it was checked to be what the minute index
    reads and what mining's reader cuts the log into."""
    whole = list(window_lines(path, AT))
    assert index.window(path, AT) == whole
    mined, short = _mined(path)
    assert not short
    ended = [f"{text}\0\n" for text in mined]  # as the property test ends them
    assert whole == [[line[:-1] for line in day] for day in moments._window(ended, AT)]
    return whole


@pytest.mark.parametrize("encoding", _ENCODINGS)
def test_a_lone_cr_before_nuls_cuts_the_line_through_the_index_as_mining_does(
    tmp_path: Path, encoding: str
) -> None:
    """The property test's falsifying example: the log written, grown, then rotated (other
    content under the same name). The rotated log's third line is ``\\r NULs \\r NULs``
    then 15:58's line: the reader cuts it after each CR, and 16:01's run ends at the second
    cut (15:58's line starts there)."""
    path = tmp_path / "012.txt"
    index = MinuteIndex()
    _write(path, "".join(FIRST), encoding)
    assert _read_alike(path, index) == []
    _append(path, "".join(MORE), encoding)
    _read_alike(path, index)
    _write(path, "".join(reversed(MORE)) + "".join(FIRST), encoding)
    partial, new_boot = _GLUED.removesuffix("\n").split("\0" * 4)
    assert _read_alike(path, index) == [[partial, "\0" * 4 + new_boot, "", "\0" * 3]]


def test_a_range_that_ends_at_a_cut_after_a_cr_is_cut_as_the_whole_line_is(
    tmp_path: Path,
) -> None:
    """The index's reading of one run: bytes that end where the reader cut a line (before a
    crash's NULs), not at its line end; a CR they end with is text, as in the whole line."""
    path = tmp_path / "012.txt"
    line = "\r\0\0\0\r\0\0\0" + _X0
    path.write_bytes(line.encode())
    assert list(moments._read_ranges(path, [(0, 5)])) == ["\r", "\0\0\0\r"]
    assert list(moments._read_ranges(path, [(0, -1)]))[:2] == ["\r", "\0\0\0\r"]
