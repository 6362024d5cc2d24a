"""Log reading leftovers: a crash's NULs inside a line, a traceback with another thread's
line inside it, HoloIndex lines with milliseconds and levels in any case, a UTF-16 log
without a byte order mark, the lines a stopped re-mine records."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from foundups_training.cli.mine import lines_kept
from foundups_training.mining.checkpoint import Checkpoint
from foundups_training.mining.miner import extract_patterns, mine_log
from foundups_training.mining.parser import parse_text
from foundups_training.mining.reader import encoding_of, read_open
from foundups_training.routing.moments import MinuteIndex, Moment, window_lines
from foundups_training.samples import sample_log

SAMPLE_LINES = sample_log().read_text(encoding="utf-8").splitlines(keepends=True)
LC = "modules.communication.livechat.src.livechat_core"
MP = "modules.communication.livechat.src.message_processor"
SR = "modules.platform_integration.stream_resolver.src.stream_resolver"


def _seen(store: Any) -> dict[str, int]:
    return {pid: p.seen for pid, p in store.items.items()}


def _mine_in_chunks(log: Path, store: Any, cp: Path, max_lines: int | None) -> int:
    """Mine ``log`` to its end, ``max_lines`` a run; the lines the runs counted."""
    lines = 0
    for _ in range(5000):
        report = mine_log(log, store, checkpoint_path=cp, max_lines=max_lines)
        lines += report.lines_processed
        if report.lines_processed == 0 or max_lines is None:
            return lines
    raise AssertionError("mining never ended")


# -- 1. a run of NULs inside a line --------------------------------------------------------
OLD_BOOT = f"2025-10-20 15:00:00,000 - {LC} - INFO - Polling chat (interval 5.0s, 3 new mess"
NEW_BOOT = f"2025-10-20 16:00:00,000 - {LC} - ERROR - Chat connection lost after restart"


def _crash_text(nuls: str = "\0" * 600) -> str:
    """The old boot's partial last line, the NULs where its lost bytes were, the new boot's
    first line right after them (no newline between), then what the new boot logged."""
    return (
        f"2025-10-20 14:59:59,000 - {LC} - INFO - before the crash\n"
        f"{OLD_BOOT}{nuls}{NEW_BOOT}\n"
        f"2025-10-20 16:00:01,000 - {LC} - WARNING - Reconnecting in 2s (attempt 1/3)\n"
        f"2025-10-20 16:00:03,000 - {LC} - INFO - [OK] Reconnected to live chat\n"
    )


def test_a_nul_run_inside_a_line_ends_the_old_boots_record() -> None:
    recs = parse_text(_crash_text())
    assert [r.message for r in recs][1:3] == [
        "Polling chat (interval 5.0s, 3 new mess",
        "Chat connection lost after restart",
    ]
    crash = recs[2]
    assert crash.is_error and crash.timestamp == "2025-10-20T16:00:00" and crash.logger == LC
    assert len(recs) == 5 and not any("\0" in r.message for r in recs)


@pytest.mark.parametrize("nuls", ["\0", "\0" * 600], ids=["one nul", "nul run"])
def test_trailing_nuls_and_a_single_nul_are_no_boundary(nuls: str) -> None:
    """A run must have text after it (NULs before the newline end nothing), and one NUL
    alone is not a crash's run (text misread as UTF-8 has one after each character)."""
    recs = parse_text(f"{OLD_BOOT}{nuls}\n")
    assert len(recs) == 1
    if len(nuls) == 1:
        assert len(parse_text(f"{OLD_BOOT}{nuls}{NEW_BOOT}\n")) == 1


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le", "utf-16-be", "utf-16le"])
def test_the_reader_cuts_a_line_at_a_nul_run_with_exact_spans(
    tmp_path: Path, encoding: str
) -> None:
    bom = {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}.get(encoding, b"")
    path = tmp_path / "012.txt"
    path.write_bytes(bom + _crash_text().replace("\n", "\r\n").encode(encoding))
    with path.open("rb") as fh:
        lines = list(read_open(fh, nul_breaks=True))
        assert [line.text.lstrip("\ufeff\0") for line in lines][1:3] == [OLD_BOOT, NEW_BOOT]
        assert all(a.end == b.start for a, b in itertools.pairwise(lines))
        # a run may resume where the new boot's line starts: the reader finds it whole
        again = list(read_open(fh, lines[2].start, nul_breaks=True))
        assert again[0].text.lstrip("\0") == NEW_BOOT and again[0].end == lines[2].end
        # without nul_breaks a line ends at its newline only
        assert len(list(read_open(fh))) == 4


@pytest.mark.parametrize("max_lines", [None, 1, 2, 3])
def test_mining_a_log_with_a_crash_nul_run(
    tmp_path: Path, make_store: Any, max_lines: int | None
) -> None:
    """The new boot's error is learned, and chunked runs (a checkpoint between the two
    pieces of the line) equal one pass."""
    text = _crash_text()
    log = tmp_path / "012.txt"
    log.write_text(text, encoding="utf-8")
    store = make_store()
    assert _mine_in_chunks(log, store, tmp_path / "cp.json", max_lines) == 5
    errors = [p for p in store.items.values() if p.kind == "error_fix"]
    assert len(errors) == 1 and "Chat connection lost after restart" in errors[0].context
    assert "[OK] Reconnected" in errors[0].outcome
    assert _seen(store) == {p.id: p.seen for p in extract_patterns(text.splitlines())}


# -- 2. a traceback with another thread's line inside it -----------------------------------
def _interleaved(between: str) -> list[str]:
    """An unhandled exception's traceback, with ``between`` after its first frame line."""
    return [
        f"2025-10-20 15:00:00,000 - {MP} - ERROR - Unhandled exception while processing message",
        "Traceback (most recent call last):",
        '  File "O:\\Foundups-Agent\\modules\\x\\message_processor.py", line 412, in process',
        *between.splitlines(),
        '    author = message["authorDetails"]["displayName"]',
        "KeyError: 'authorDetails'",
        f"2025-10-20 15:00:02,000 - {MP} - INFO - Skipping malformed message (no authorDetails)",
    ]


OTHER = f"2025-10-20 15:00:00,500 - {SR} - INFO - Checking Move2Japan [JAPAN] for live stream"


def test_a_traceback_keeps_its_lines_across_another_threads_line() -> None:
    recs = parse_text("\n".join(_interleaved(OTHER)) + "\n")
    assert [r.logger for r in recs] == [MP, SR, MP]
    err, other, _ = recs
    assert err.exception == "KeyError: 'authorDetails'"
    assert err.crash_site == (
        'message_processor.py line 412, in process: author = message["authorDetails"]'
        '["displayName"]'
    )
    assert err.lines == 5 and err.start < other.start < other.end < err.end
    assert other.extra is None and other.lines == 1 and not other.is_error


def test_another_line_not_followed_by_the_traceback_ends_it() -> None:
    """When no frame or exception line comes after it, the other line ends the traceback
    (a traceback cut off by a restart), as before."""
    lines = _interleaved(OTHER)
    del lines[4:6]
    recs = parse_text("\n".join(lines) + "\n")
    assert [r.logger for r in recs] == [MP, SR, MP]
    assert recs[0].lines == 3 and recs[0].exception == "" and recs[0].end == recs[1].start
    # the same logger's own next line ends it too
    same = [*_interleaved(OTHER.replace(SR, MP))]
    assert [r.lines for r in parse_text("\n".join(same) + "\n")][:2] == [3, 2]


IDLE = "modules.infrastructure.idle_automation.src.idle_automation_dae"
ROUTINE = f"2025-10-20 15:00:00,500 - {IDLE} - INFO - [IDLE] Phase 1: pattern training: 500 lines"


def _learned(patterns: Any) -> dict[str, tuple[Any, ...]]:
    return {p.id: (p.seen, p.context, p.decision, p.outcome, p.variants) for p in patterns}


@pytest.mark.parametrize("other", [OTHER, ROUTINE], ids=["stream check", "routine line"])
@pytest.mark.parametrize("at", [2, 5, 8])
@pytest.mark.parametrize("max_lines", [None, 1, 2, 3])
def test_mining_an_interleaved_traceback_in_chunks_equals_one_pass(
    tmp_path: Path, make_store: Any, max_lines: int | None, at: int, other: str
) -> None:
    """The other line's span lies inside the traceback's: no run starts reading there (its
    episodes' context would be read from the middle of the traceback), and every line is
    counted once."""
    lines = [line.rstrip("\n") for line in SAMPLE_LINES[1:60]]
    lines[at:at] = _interleaved(other)
    log = tmp_path / "012.txt"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    store = make_store()
    assert _mine_in_chunks(log, store, tmp_path / "cp.json", max_lines) == len(lines)
    assert _learned(store.items.values()) == _learned(extract_patterns(lines))
    # the error's situation (its first line) says what was raised, and where
    situations = [p.context.split("\n")[0] for p in store.items.values()]
    assert any(
        "Unhandled exception" in s and "line 412" in s and s.endswith("KeyError: 'authorDetails'")
        for s in situations
    ), situations


# -- 3. HoloIndex milliseconds, levels in any case -----------------------------------------
@pytest.mark.parametrize(
    ("line", "fmt", "level", "logger", "message"),
    [
        ("[08:08:22.123] [BOT][AI] [QWEN-DECISION] EXECUTE x", "holo", "INFO", "holo_index",
         "[BOT][AI] [QWEN-DECISION] EXECUTE x"),
        ("[08:08:22,5] [ERROR] index failed", "holo", "ERROR", "holo_index",
         "[ERROR] index failed"),
        (f"2025-10-20 15:00:00,000 - {LC} - info - Polling chat", "dotted", "INFO", LC,
         "Polling chat"),
        (f"2025-10-20 15:00:00,000 - {LC} - Warning - Reconnecting", "dotted", "WARNING", LC,
         "Reconnecting"),
        (f"2025-10-20 15:00:00,000 - {LC} - warn - Reconnecting", "dotted", "WARNING", LC,
         "Reconnecting"),
        ("2025-10-20 15:00:00,000 [warning] [DAEMON] slow tick", "tagged", "WARNING", "",
         "[DAEMON] slow tick"),
        ("2025-10-20 15:00:00,000 [Error] [DAEMON] crashed", "tagged", "ERROR", "",
         "[DAEMON] crashed"),
    ],
)  # fmt: skip
def test_holo_milliseconds_and_levels_in_any_case(
    line: str, fmt: str, level: str, logger: str, message: str
) -> None:
    (rec,) = parse_text(f"{line}\n")
    assert (rec.fmt, rec.level, rec.logger, rec.message) == (fmt, level, logger, message)
    # a HoloIndex line carries no date: none was seen before it here
    assert rec.timestamp == ("" if fmt == "holo" else "2025-10-20T15:00:00")
    assert rec.module == ("modules/communication/livechat" if logger == LC else "")


def test_holo_time_with_milliseconds_takes_the_carried_date() -> None:
    recs = parse_text(f"{NEW_BOOT}\n[16:00:05.250] [HOLO-SEARCH] Searching: 'auth'\n")
    assert recs[1].fmt == "holo" and recs[1].timestamp == "2025-10-20T16:00:05"


def test_a_word_in_lower_case_is_still_no_level() -> None:
    """Only a level's name is read as one in any case: other words stay text, as before."""
    (rec,) = parse_text("2025-10-20 15:00:00,000 - root - note - hello\n")
    assert rec.fmt == "dated" and rec.level == "" and rec.logger == ""
    (rec,) = parse_text("2025-10-20 15:00:00,000 [daemon] hello\n")
    assert rec.fmt == "dated" and rec.level == ""


# -- 4. UTF-16-LE without a byte order mark ------------------------------------------------
def test_encoding_of_tells_utf16le_without_a_bom() -> None:
    text = "2025-10-20 15:00:00,000 - root - INFO - x\r\n"
    assert encoding_of(text.encode("utf-16-le")) == "utf-16le"
    assert encoding_of(b"\0" * 512 + text.encode("utf-16-le")) == "utf-16le"  # a crash
    assert encoding_of(b"\xff\xfe" + text.encode("utf-16-le")) == "utf-16-le"
    # a short first line, then a crash's NULs, in the bytes looked at
    assert encoding_of("[08:08:22]\n0\0\0\0x".encode("utf-16-le")) == "utf-16le"
    # UTF-8, also after a crash's NULs at its start, or nothing but NULs yet
    for head in (text.encode(), b"\0" * 512 + text.encode(), b"\0" * 4096, b"", b"a\0"):
        assert encoding_of(head) == "utf-8", head[:20]


def _sample_text(n: int = 600) -> str:
    return "".join(SAMPLE_LINES[1 : n + 1]).replace("\n", "\r\n")


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_a_utf16_log_without_a_bom_gives_what_the_utf8_one_gives(
    tmp_path: Path, make_store: Any, encoding: str
) -> None:
    text = _sample_text()
    utf8, utf16 = tmp_path / "012-8.txt", tmp_path / "012-16.txt"
    utf8.write_text(text, encoding="utf-8", newline="")
    utf16.write_bytes(text[:5000].encode(encoding))
    store8, store16 = make_store(), make_store()
    mine_log(utf8, store8, checkpoint_path=tmp_path / "cp8.json")
    mine_log(utf16, store16, checkpoint_path=tmp_path / "cp16.json")  # resumes mid-file
    utf16.write_bytes(text.encode(encoding))
    report = mine_log(utf16, store16, checkpoint_path=tmp_path / "cp16.json")
    assert report.warnings == () and report.lines_total == 600
    assert store16.items and _seen(store16) == _seen(store8)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_the_minute_index_reads_a_utf16_log_without_a_bom_as_mining_does(
    tmp_path: Path, encoding: str
) -> None:
    text = _sample_text(900)
    utf8, utf16 = tmp_path / "012-8.txt", tmp_path / "012-16.txt"
    utf8.write_text(text, encoding="utf-8", newline="")
    utf16.write_bytes(text.encode(encoding))
    index = MinuteIndex()
    for moment in (Moment("15:00:00", "10-20"), Moment("15:05:00"), Moment("03:00:00")):
        expected = list(window_lines(utf8, moment))
        assert list(window_lines(utf16, moment)) == expected, moment
        assert index.window(utf16, moment) == expected, moment
    (first,) = index.window(utf16, Moment("15:00:00", "10-20"))
    assert first[0].startswith("2025-10-20 15:00:01")  # its first character kept


# -- 5. what a mine stopped by Ctrl-C records ----------------------------------------------
def _checkpoint(lines: int, miner: int) -> Checkpoint:
    return Checkpoint(
        path="/logs/012.txt",
        offset=lines * 100,
        fingerprint="sha256:ab:4096",
        lines_processed=lines,
        updated_at=f"2026-11-28T00:00:{lines % 60:02d}+00:00",
        miner=miner,
        earlier_lines=0,
    )


def test_a_stopped_remine_after_an_upgrade_records_every_line_it_counted() -> None:
    """A newer miner mines an older miner's log again from its first line (no --remine
    asked): stopped by Ctrl-C past the old count, it kept all the lines its checkpoint
    counts, not the difference with the older miner's count."""
    before = _checkpoint(100, miner=1)
    assert lines_kept(before, _checkpoint(150, miner=2), remine=False) == 150
    assert lines_kept(before, _checkpoint(40, miner=2), remine=False) == 40
    # the usual cases are unchanged: what the same miner added, and nothing yet
    assert lines_kept(_checkpoint(100, 2), _checkpoint(150, 2), remine=False) == 50
    assert lines_kept(before, _checkpoint(150, 0), remine=False) == 0
    # an older log kept (lines of rotated files): the run went on where it was
    assert lines_kept(before, _checkpoint(150, 1), remine=False) == 50
