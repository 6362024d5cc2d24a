"""A byte order mark in the middle of a log (what a tool appending with one of its own leaves,
or logs joined by ``cat`` that each start with one) hides no timestamp: the line after it is
read at its own minute, as mining reads it, through the minute index and by a whole read."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundups_training.mining.miner import extract_patterns
from foundups_training.routing.moments import LogMoments, MinuteIndex, Moment, window_lines

from .loglines import conflict, quiet
from .test_routing_moments import _moment, _piece

_BOM = "\ufeff"
_AT_34 = Moment("15:34:00", "10-20")
_AT_20 = Moment("15:20:00", "10-20")


def _log(path: Path, encoding: str, head: str = "", nuls: bool = False) -> None:
    """A conflict at 15:20, then what a tool appended: a byte order mark, a conflict at
    15:34 and quiet polling. ``head``: a byte order mark the file starts with (UTF-8 read
    past its mark, or UTF-16's); ``nuls``: a crash's NULs at the very start, which have a
    UTF-8 log read another way."""
    before = "\n".join(conflict("20", "15:20", 20)) + "\n"
    after = "\n".join([*conflict("20", "15:34", 40), *quiet("20", "15", 36)]) + "\n"
    text = ("\0" * 8 if nuls else "") + before + _BOM + after
    path.write_text(head + text, encoding=encoding, newline="")


_LOGS = pytest.mark.parametrize(
    ("encoding", "head", "nuls"),
    [
        ("utf-8", "", False),  # the host's log
        ("utf-8", "", True),
        ("utf-8", _BOM, False),  # one that starts with a mark as well
        ("utf-16-le", _BOM, False),  # PowerShell's ">"
        ("utf-16-be", _BOM, False),
    ],
)


@_LOGS
def test_the_line_after_a_byte_order_mark_is_read_at_its_minute(
    tmp_path: Path, encoding: str, head: str, nuls: bool
) -> None:
    path = tmp_path / "012.txt"
    _log(path, encoding, head, nuls)
    (whole,) = list(window_lines(path, _AT_34))
    assert whole[0] == _BOM + conflict("20", "15:34", 40)[0]
    assert "(40 rows)" in whole[2]
    assert MinuteIndex().window(path, _AT_34) == [whole]
    # and not with the line before it, at 15:20
    (early,) = list(window_lines(path, _AT_20))
    assert not any("15:34" in line for line in early)
    assert MinuteIndex().window(path, _AT_20) == [early]
    # mined as mining mines it (its parser drops the mark)
    (retry,) = [p for p in extract_patterns(whole) if "INSERT" in p.decision]
    assert retry.outcome.endswith("(40 rows)")


@_LOGS
def test_a_question_at_that_moment_gets_its_patterns(
    tmp_path: Path, encoding: str, head: str, nuls: bool
) -> None:
    path = tmp_path / "012.txt"
    _log(path, encoding, head, nuls)
    found = LogMoments(path)("At 15:34 on 20 October, how many rows did the retry write?")
    assert any(p.outcome.endswith("(40 rows)") for p in found)


def test_an_indexed_log_appended_to_with_a_mark_is_read_at_its_minute(tmp_path: Path) -> None:
    """The index grows over the appended bytes (it is not made again), and finds the line."""
    path = tmp_path / "012.txt"
    path.write_text("\n".join(conflict("20", "15:20", 20)) + "\n", encoding="utf-8")
    index = MinuteIndex()
    assert index.window(path, _AT_34) == []
    held = index._files[str(path)]
    with path.open("a", encoding="utf-8", newline="") as fh:
        fh.write(_BOM + "\n".join([*conflict("20", "15:34", 40), *quiet("20", "15", 36)]) + "\n")
    window = index.window(path, _AT_34)
    assert index._files[str(path)] is held
    assert window == list(window_lines(path, _AT_34))
    assert window[0][0] == _BOM + conflict("20", "15:34", 40)[0]


def test_many_marks_and_nuls_before_a_timestamp_count_as_the_nuls_did(tmp_path: Path) -> None:
    """Marks and NULs together count, as NULs alone did, up to the bound past which a UTF-16
    line's timestamp is cut off: a UTF-8 mark's three bytes are one character."""
    path = tmp_path / "012.txt"
    stamped = conflict("20", "15:34", 40)[0]
    early = conflict("20", "15:20", 20)[0]
    lines = [early, _BOM * 9000 + stamped, (_BOM + "\0") * 3 + stamped]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # the short lead is read; the long one hides its timestamp: it goes with 15:20's line
    assert list(window_lines(path, _AT_34)) == [[lines[2]]] == MinuteIndex().window(path, _AT_34)
    assert list(window_lines(path, _AT_20)) == [lines[:2]] == MinuteIndex().window(path, _AT_20)


#: A generated line, some with what a tool appending left before it.
_marked = st.tuples(st.sampled_from(["", "", _BOM, _BOM + "\0\0", "\0\0" + _BOM]), _piece).map(
    "".join
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(_marked, max_size=40),
    st.lists(_marked, max_size=20),
    st.sampled_from(["utf-8", "utf-16-le"]),
    st.lists(_moment, min_size=1, max_size=3),
)
def test_the_index_reads_what_a_whole_scan_reads_with_marks_in_the_log(
    tmp_path_factory: pytest.TempPathFactory,
    first: list[str],
    more: list[str],
    encoding: str,
    moments: list[Moment],
) -> None:
    path = tmp_path_factory.mktemp("marks") / "012.txt"
    head = _BOM if encoding == "utf-16-le" else ""
    path.write_text(head + "".join(first), encoding=encoding, newline="")
    index = MinuteIndex()
    for moment in moments:
        assert index.window(path, moment) == list(window_lines(path, moment)), moment
    with path.open("a", encoding=encoding, newline="") as fh:
        fh.write("".join(more))
    for moment in moments:
        assert index.window(path, moment) == list(window_lines(path, moment)), moment
