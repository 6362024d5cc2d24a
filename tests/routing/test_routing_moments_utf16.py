"""A UTF-16 log (what Windows PowerShell 5.1's ``>`` writes: a byte order mark, CRLF line
ends) gives at a moment exactly what the same text gives in UTF-8, read whole or through the
minute index, as it grows and while its last line is being written."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundups_training.routing import moments
from foundups_training.routing.moments import LogMoments, MinuteIndex, Moment, window_lines
from foundups_training.samples import sample_log

from .test_routing_moments import _conflict, _line, _moment, _piece

_BOM = {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}
_UTF16 = pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])


def _write(path: Path, text: str, encoding: str) -> None:
    """``text`` as the host's log (UTF-8) or as PowerShell writes it (UTF-16, with its
    byte order mark)."""
    path.write_bytes(_BOM.get(encoding, b"") + text.encode(encoding))


def _append(path: Path, text: str, encoding: str) -> None:
    with path.open("ab") as fh:
        fh.write(text.encode(encoding))


def _sample(n: int = 900) -> str:
    """The sample log's first ``n`` stamped lines, CRLF-ended; the first is stamped (the
    byte order mark must not hide its timestamp)."""
    lines = sample_log().read_text(encoding="utf-8").splitlines()[1 : n + 1]
    assert lines[0].startswith("2025-10-20 15:00:01")
    return "\r\n".join(lines) + "\r\n"


#: moments of the sample's first lines: its first minute, a named day, none, "about", silence
_MOMENTS = [
    Moment("15:00:00", "10-20"),
    Moment("15:05:00", "10-20"),
    Moment("15:06:30"),
    Moment("15:09:00", "10-20", approximate=True),
    Moment("03:00:00"),
]


@pytest.fixture()
def twins(tmp_path: Path) -> dict[str, Path]:
    """The sample's stretch in UTF-8 and in both UTF-16s."""
    text = _sample()
    paths = {}
    for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
        paths[encoding] = tmp_path / f"012-{encoding}.txt"
        _write(paths[encoding], text, encoding)
    return paths


@_UTF16
def test_a_utf16_log_gives_what_its_utf8_twin_gives(twins: dict[str, Path], encoding: str) -> None:
    index = MinuteIndex()
    for moment in _MOMENTS:
        expected = list(window_lines(twins["utf-8"], moment))
        assert list(window_lines(twins[encoding], moment)) == expected, moment
        assert index.window(twins[encoding], moment) == expected, moment
    (first,) = index.window(twins[encoding], _MOMENTS[0])
    assert first[0].startswith("2025-10-20 15:00:01")  # no byte order mark before it
    assert len(first) > 20 and all("\r" not in line for line in first)


def test_a_utf8_log_with_a_byte_order_mark_gives_what_one_without_gives(
    twins: dict[str, Path], tmp_path: Path
) -> None:
    """PowerShell 5.1's ``-Encoding UTF8`` and Notepad write UTF-8 with a byte order mark:
    it must not hide the first line's timestamp (mining strips it too)."""
    marked = tmp_path / "012-bom.txt"
    marked.write_bytes(b"\xef\xbb\xbf" + twins["utf-8"].read_bytes())
    index = MinuteIndex()
    for moment in _MOMENTS:
        expected = list(window_lines(twins["utf-8"], moment))
        assert list(window_lines(marked, moment)) == expected, moment
        assert index.window(marked, moment) == expected, moment
    assert index.window(marked, _MOMENTS[0])[0][0].startswith("2025-10-20 15:00:01")


@_UTF16
def test_a_question_about_a_utf16_logs_moment_is_answered_from_it(
    tmp_path: Path, encoding: str
) -> None:
    lines = [*_conflict("20", "15:20", 20), *_conflict("20", "15:34", 40)]
    text = "\r\n".join(lines) + "\r\n"
    _write(utf8 := tmp_path / "012.txt", text, "utf-8")
    _write(utf16 := tmp_path / "012-16.txt", text, encoding)
    ask = "At 15:34 on 20 October, how many rows did the retry write?"
    found = LogMoments(utf16)(ask)
    assert found == LogMoments(utf8)(ask)
    assert any(p.outcome.endswith("(40 rows)") for p in found)


@_UTF16
def test_the_index_of_a_utf16_log_grows_with_it(twins: dict[str, Path], encoding: str) -> None:
    index = MinuteIndex()
    moment = Moment("15:05:00", "10-20")
    index.window(twins[encoding], moment)
    held = index._files[str(twins[encoding])]
    assert held.size == twins[encoding].stat().st_size
    more = _line("20", "15:05:59", "m", "INFO", "[OK] Reconnected \u2603") + "\r\n"
    for path in (twins["utf-8"], twins[encoding]):
        _append(path, more, "utf-8" if path == twins["utf-8"] else encoding)
    grown = index.window(twins[encoding], moment)
    assert grown == list(window_lines(twins["utf-8"], moment))
    assert grown[0][-1].endswith("[OK] Reconnected \u2603")
    assert index._files[str(twins[encoding])] is held  # the new bytes only
    assert held.size == twins[encoding].stat().st_size


@_UTF16
@pytest.mark.parametrize(
    "partial",
    [
        "2025-10-20 15:01:00,000 - m - INFO - being writ",  # a line of the stretch
        "2025-10-20 15:30:00,000 - m - INFO - being writ",  # one after it
        "  File being written\r",  # its CR written, its LF not yet
    ],
    ids=["in-the-stretch", "after-it", "cr-without-lf"],
)
def test_a_half_written_utf16_line_is_indexed_once_whole(
    tmp_path: Path, encoding: str, partial: str
) -> None:
    lines = [_line("20", f"15:0{i}:00", "m", "INFO", f"line {i}") for i in range(3)]
    whole = "\r\n".join(lines) + "\r\n"
    utf8, utf16 = tmp_path / "012.txt", tmp_path / "012-16.txt"
    _write(utf8, whole + partial, "utf-8")
    _write(utf16, whole + partial, encoding)
    index = MinuteIndex()
    moment = Moment("15:01:00", "10-20")
    expected = list(window_lines(utf8, moment))
    assert index.window(utf16, moment) == expected == list(window_lines(utf16, moment))
    held = index._files[str(utf16)]
    assert held.size == len(_BOM[encoding] + whole.encode(encoding))  # whole lines only
    # half a code unit more: read (as a replacement mark) as a whole scan reads it
    with utf16.open("ab") as fh:
        fh.write("\n".encode(encoding)[:1])
    assert index.window(utf16, moment) == list(window_lines(utf16, moment))
    assert held.size == len(_BOM[encoding] + whole.encode(encoding))
    # finished, and the log goes on
    with utf16.open("ab") as fh:
        fh.write("\n".encode(encoding)[1:] + "\r\n".join(lines).encode(encoding))
    _append(utf8, "\n" + "\r\n".join(lines), "utf-8")
    assert index.window(utf16, moment) == list(window_lines(utf8, moment))
    assert index._files[str(utf16)] is held
    assert held.size > len(_BOM[encoding] + whole.encode(encoding))


#: lines whose UTF-16 has a newline byte inside another code unit (U+010A, U+0A00), or a
#: surrogate pair (U+1F4AC)
_piece16 = st.one_of(
    _piece, st.sampled_from(["\u010a\u0a00\u0a0a \U0001f4ac\r\n", "x\u0a00\n", "\u010a\n"])
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from(["utf-16-le", "utf-16-be"]),
    st.lists(_piece16, max_size=60),
    st.lists(_piece16, max_size=30),
    st.sampled_from(["", "2025-10-21 16:0", "  at line", "  at \u0a00"]),
    st.lists(_moment, min_size=1, max_size=3),
)
def test_a_utf16_log_reads_as_its_utf8_twin_as_it_grows(
    tmp_path_factory: pytest.TempPathFactory,
    encoding: str,
    first: list[str],
    more: list[str],
    partial: str,
    moments_asked: list[Moment],
) -> None:
    """As the UTF-8 property (test_routing_moments.py), and the UTF-16 log gives what the
    same text gives in UTF-8, through the index and read whole."""
    folder = tmp_path_factory.mktemp("minutes16")
    utf8, utf16 = folder / "012.txt", folder / "012-16.txt"
    index = MinuteIndex()

    def same() -> None:
        for moment in moments_asked:
            expected = list(window_lines(utf8, moment))
            assert list(window_lines(utf16, moment)) == expected, moment
            assert index.window(utf16, moment) == expected, moment

    def write(text: str) -> None:
        _write(utf8, text, "utf-8")
        _write(utf16, text, encoding)

    write("".join(first) + partial)
    same()
    _append(utf8, "".join(more) + ("\n" if partial else ""), "utf-8")
    _append(utf16, "".join(more) + ("\n" if partial else ""), encoding)
    same()
    write("".join(reversed(more)) + "".join(first))
    same()  # rotated: other content under the same name
    rotated = utf16.with_name("new.txt")
    _write(rotated, "".join(more), encoding)
    rotated.replace(utf16)
    _write(utf8, "".join(more), "utf-8")
    same()


@settings(max_examples=60, deadline=None)
@given(st.lists(_piece16, max_size=60), st.sampled_from(["", "2025-10-21 16:0", "  at line"]))
def test_a_utf8_logs_lines_end_where_minings_reader_ends_them(
    pieces: list[str], partial: str
) -> None:
    """The index reads a UTF-8 log as bytes, for speed, and a UTF-16 one with mining's
    reader: both find the same runs (and leave the same line being written)."""
    data = ("".join(pieces) + partial).encode("utf-8")
    for start, minute in [(0, ""), (0, "2025-10-20 15:59")]:
        fast = moments._utf8_runs_from(io.BytesIO(data), start, minute)
        assert fast == moments._read_runs_from(io.BytesIO(data), start, "utf-8", minute)
