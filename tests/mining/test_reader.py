"""The reader: byte offsets, partial last lines, over-long lines, bad bytes."""

from __future__ import annotations

from pathlib import Path

from foundups_training.mining.reader import read_lines


def test_offsets_and_partial_last_line(tmp_path: Path) -> None:
    path = tmp_path / "log.txt"
    path.write_bytes(b"one\r\ntwo\nthree (still being written)")
    lines = list(read_lines(path))
    assert [line.text for line in lines] == ["one", "two"]
    assert lines[0].start == 0 and lines[0].end == 5 and lines[1].end == 9
    # resume exactly at a line boundary
    assert [line.text for line in read_lines(path, 5)] == ["two"]


def test_overlong_lines_are_cut_and_flagged(tmp_path: Path) -> None:
    path = tmp_path / "log.txt"
    path.write_bytes(b"short\n" + b"x" * 5000 + b"\nafter\n" + b"y" * 3000)
    lines = list(read_lines(path, max_line=100, block=64))
    assert [len(line.text) for line in lines] == [5, 100, 5]
    assert [line.truncated for line in lines] == [False, True, False]
    assert lines[2].text == "after" and lines[2].end == 6 + 5001 + 6


def test_non_utf8_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "log.txt"
    path.write_bytes(b"caf\xe9 \xff\xfe ok\n")
    (line,) = read_lines(path)
    assert line.text == "caf\ufffd \ufffd\ufffd ok"


def test_a_file_rewritten_while_read_stops_the_reading(tmp_path: Path) -> None:
    """copytruncate mid-read: nothing of the new content is read from the old offset."""
    path = tmp_path / "log.txt"
    path.write_bytes(b"".join(b"old line %04d\n" % i for i in range(400)))
    lines = read_lines(path, block=256)
    got = [next(lines).text for _ in range(10)]
    with path.open("r+b") as fh:  # emptied, then the host writes more than before
        fh.truncate(0)
        fh.write(b"".join(b"NEW line %04d\n" % i for i in range(800)))
    got += [line.text for line in lines]
    assert got and all(text.startswith("old") for text in got)
    assert len(got) < 400  # stopped at the first block read after the rewrite


def test_a_file_renamed_away_while_read_is_read_to_its_end(tmp_path: Path) -> None:
    path = tmp_path / "log.txt"
    path.write_bytes(b"".join(b"old line %04d\n" % i for i in range(400)))
    lines = read_lines(path, block=256)
    got = [next(lines).text for _ in range(10)]
    path.rename(tmp_path / "log.txt.1")
    path.write_bytes(b"NEW line\n" * 800)
    got += [line.text for line in lines]
    assert got == [f"old line {i:04d}" for i in range(400)]
