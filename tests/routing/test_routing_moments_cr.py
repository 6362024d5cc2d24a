"""A carriage return that no newline follows (a progress bar redrawing its line, an old
Mac's line end) does not end a line of the log: mining's reader ends lines at newlines
only, and a moment of the log is read as the lines mining sees, through the minute index
and read whole alike, in UTF-8 (with or without a byte order mark) and in UTF-16."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundups_training.mining.reader import read_open
from foundups_training.routing import moments
from foundups_training.routing.moments import MinuteIndex, Moment, window_lines

from .test_routing_moments import _moment, _piece

_BOM = {"utf-8-sig": b"", "utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}
_ENCODINGS = ["utf-8", "utf-8-sig", "utf-16-le", "utf-16-be"]


def _write(path: Path, text: str, encoding: str) -> None:
    """``text`` as the host writes it (UTF-8), as Notepad does (a byte order mark; Python's
    ``utf-8-sig`` writes it) or as PowerShell 5.1 does (UTF-16, with its byte order mark)."""
    path.write_bytes(_BOM.get(encoding, b"") + text.encode(encoding))


def _append(path: Path, text: str, encoding: str) -> None:
    with path.open("ab") as fh:
        fh.write(text.encode("utf-8" if encoding == "utf-8-sig" else encoding))


def _mined(path: Path) -> list[str]:
    """The lines mining's reader gives for ``path`` (a last line being written too), the
    byte order mark off the first (as mining's parser takes it off)."""
    with path.open("rb") as fh:
        texts = [raw.text for raw in read_open(fh, to_end=True)]
    if texts:
        texts[0] = texts[0].removeprefix("\ufeff")
    return texts


_PROGRESS = "2025-10-20 14:04:58,000 - m - INFO - Uploading 10%"
_AFTER_CR = "2025-10-20 14:05:00,000 - m - INFO - stamped after a lone CR"
_BAR = "2025-10-20 14:05:01,000 - m - INFO - Downloading  10%\r  55%\r 100%"
_REDRAWN = "\r2025-10-20 14:05:02,000 - m - INFO - redrawn from the line's start"
_TWO_CRS = "2025-10-20 14:05:03,000 - m - INFO - two CRs before the newline"
_LATER = "2025-10-20 14:09:00,000 - m - INFO - later"
_HIDDEN = "2025-10-20 14:06:00,000 - m - INFO - inside a later line"
_AFTER = "2025-10-20 14:10:00,000 - m - INFO - after the stretch"
#: The log: a timestamp after a lone CR, in the stretch (14:05:00) and in a line that is
#: not (14:06:00 inside 14:09:00's line), a progress bar's CRs, CRLF and LF line ends.
_LOG = (
    f"{_PROGRESS}\r{_AFTER_CR}\n{_BAR}\r\n{_REDRAWN}\n{_TWO_CRS}\r\r\n"
    f"{_LATER}\r{_HIDDEN}\r\n{_AFTER}\n"
)
_AT = Moment("14:05:00", "10-20")
_ABOUT = Moment("14:05:00", "10-20", approximate=True)  # from 14:04:00
#: What mining sees in the stretch: a lone CR is text, one before the newline is not.
_STRETCH = [_BAR, _REDRAWN, f"{_TWO_CRS}\r"]


@pytest.mark.parametrize("encoding", _ENCODINGS)
def test_a_lone_cr_does_not_end_a_line(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "012.txt"
    _write(path, _LOG, encoding)
    mined = _mined(path)
    assert mined[1:4] == _STRETCH and len(mined) == 6  # the reader: one line per LF
    index = MinuteIndex()
    for moment, expected in [
        (_AT, [_STRETCH]),
        (_ABOUT, [[f"{_PROGRESS}\r{_AFTER_CR}", *_STRETCH]]),
        (Moment("14:06:00", "10-20"), []),  # 14:06:00 is inside 14:09:00's line
    ]:
        assert list(window_lines(path, moment)) == expected, moment
        assert index.window(path, moment) == expected, moment


@pytest.mark.parametrize("encoding", _ENCODINGS)
def test_a_progress_bar_being_written_joins_its_line_once_whole(
    tmp_path: Path, encoding: str
) -> None:
    """A bar's CR written, the next frame not yet: the line is still being written (the
    index leaves it out; the stretch reads it as it is so far), then goes on to its LF."""
    path = tmp_path / "012.txt"
    bar = "2025-10-20 14:05:04,000 - m - INFO - bar 10%"
    _write(path, f"{_BAR}\n{bar}\r", encoding)
    index = MinuteIndex()
    assert index.window(path, _AT) == [[_BAR, bar]] == list(window_lines(path, _AT))
    _append(path, f" 20%\r{_AFTER}\n", encoding)
    whole = f"{bar}\r 20%\r{_AFTER}"
    assert index.window(path, _AT) == [[_BAR, whole]] == list(window_lines(path, _AT))
    assert _mined(path) == [_BAR, whole]


#: pieces that put lone CRs before, inside and after the timestamps of :data:`_piece`
_cr_piece = st.one_of(
    _piece,
    st.sampled_from(
        [
            "\r",
            "\r\r\n",
            " 50%\r",
            "\r2025-10-21 16:01:00,000 - m - INFO - after a CR\n",
            "2025-10-20 16:02:30,000 - m - INFO - bar\r",
        ]
    ),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from(_ENCODINGS),
    st.lists(_cr_piece, max_size=40),
    st.lists(_cr_piece, max_size=20),
    st.lists(_moment, min_size=1, max_size=3),
)
def test_the_index_and_a_whole_read_see_the_lines_mining_sees(
    tmp_path_factory: pytest.TempPathFactory,
    encoding: str,
    first: list[str],
    more: list[str],
    asked: list[Moment],
) -> None:
    """Whatever CRs the log has, and as it grows (a last line maybe ending in one): the
    stretch read through the index is the one read whole, and both are the stretch of the
    lines mining's reader gives."""
    path = tmp_path_factory.mktemp("cr") / "012.txt"
    index = MinuteIndex()

    def same() -> None:
        # the reader's lines, each with a NUL and a line end: the stretch's reading takes off
        # the line end (and a CR before it, which the NUL keeps a line's own last CR from
        # being taken for), and the NUL is taken off here
        mined = [f"{text}\0\n" for text in _mined(path)]
        for moment in asked:
            expected = [[line[:-1] for line in day] for day in moments._window(mined, moment)]
            assert list(window_lines(path, moment)) == expected, moment
            assert index.window(path, moment) == expected, moment

    _write(path, "".join(first), encoding)
    same()
    _append(path, "".join(more), encoding)
    same()
