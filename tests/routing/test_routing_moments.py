"""A question that names a moment of the log is answered from the log around that moment."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundups_training.mining.miner import extract_patterns
from foundups_training.records import Pattern, Query
from foundups_training.routing import Router, RoutingRules
from foundups_training.routing.moments import (
    LogMoments,
    MinuteIndex,
    Moment,
    named_moment,
    window_lines,
)

from .loglines import CHAT as _CHAT
from .loglines import conflict as _conflict
from .loglines import line as _line
from .loglines import quiet as _quiet
from .scripted import ListMemory


@pytest.mark.parametrize(
    ("question", "moment"),
    [
        ("At 15:34 on 20 October the database hit a conflict. How many rows?",
         Moment("15:34:00", "10-20")),
        ("At 15:44:44 on 20 October polling failed", Moment("15:44:44", "10-20")),
        ("On 21 October at about 19:01 a LinkedIn request hung", Moment("19:01:00", "10-21", True)),
        ("Around 9:05 on Oct 3rd, what failed?", Moment("09:05:00", "10-03", True)),
        ("What happened on October 21 at 19:01?", Moment("19:01:00", "10-21")),
        ("What happened at 2025-10-20 15:31?", Moment("15:31:00", "10-20")),
        ("What did the bot do at 23:58?", Moment("23:58:00")),
    ],
)  # fmt: skip
def test_the_moment_a_question_names(question: str, moment: Moment) -> None:
    assert named_moment(question) == moment


@pytest.mark.parametrize(
    "question",
    [
        "How did the retry end?",
        "What did the follow-up warning say (attempt 2/3)?",
        "Which set ran out at 25:99?",  # not a clock time
        "Version 1.12:30 broke it",
    ],
)
def test_no_moment_is_read_into_a_question(question: str) -> None:
    assert named_moment(question) is None


@pytest.fixture()
def log(tmp_path: Path) -> Path:
    lines = [
        *_conflict("20", "15:20", 20),
        *_quiet("20", "15", 21),
        *_conflict("20", "15:34", 40),
        _line("20", "15:34:30", _CHAT, "ERROR", "Chat handler crashed"),
        "Traceback (most recent call last):",
        '  File "message_processor.py", line 412, in process_message',
        "TypeError: 'NoneType' object is not subscriptable",
        *_quiet("20", "15", 36),
        *_conflict("21", "15:34", 50),
        *_quiet("21", "15", 36),
    ]
    path = tmp_path / "012.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_log_is_read_from_the_moment_on(log: Path) -> None:
    (window,) = list(window_lines(log, Moment("15:34:00", "10-20")))
    assert window[0].startswith("2025-10-20 15:34:10") and "(40 rows)" in window[2]
    assert "Traceback (most recent call last):" in window  # a record's continuation lines
    assert all(not line.startswith("2025-10-20 15:37") for line in window)  # 3 minutes on
    # no day named: every day's stretch, one each
    assert [w[0][:10] for w in window_lines(log, Moment("15:34:00"))] == [
        "2025-10-20",
        "2025-10-21",
    ]
    # "around": a minute early
    (early,) = list(window_lines(log, Moment("15:35:00", "10-20", approximate=True)))
    assert early[0].startswith("2025-10-20 15:34:10")
    assert list(window_lines(log, Moment("03:00:00"))) == []  # the log is silent then


def test_a_missing_or_unreadable_log_gives_nothing(tmp_path: Path, log: Path) -> None:
    assert LogMoments(tmp_path / "absent.txt")("At 15:34 on 20 October, how many rows?") == []
    junk = tmp_path / "junk.txt"
    junk.write_bytes(b"\x00\xff\xfe" * 1000 + b"\n2025-10-20 15:34:10,000 \xff\xfe\n")
    assert LogMoments(junk)("At 15:34 on 20 October, how many rows?") == []
    assert LogMoments(lambda: log)("How many rows did the retry write?") == []  # no moment


class _Memory(ListMemory):
    """A memory whose similarity of a pattern not stored is scripted by its words."""

    def pattern_similarity(self, query: str, patterns: Sequence[Pattern]) -> list[float]:
        return [0.8 if "INSERT OR REPLACE" in p.decision else 0.3 for p in patterns]


def _router(log: Path, stored: list[Pattern]) -> Router:
    memory = _Memory([(p, 0.7) for p in stored])
    return Router(memory, None, None, rules=RoutingRules(), moments=LogMoments(log))


def test_the_moments_own_occurrence_answers(log: Path) -> None:
    stored = [p for p in extract_patterns(log.read_text().splitlines()) if p.kind == "error_fix"]
    retries = [p.outcome for p in stored if "INSERT" in p.decision]
    assert [o[-9:] for o in retries] == ["(50 rows)"]  # the store keeps the latest
    router = _router(log, stored)
    ask = "At 15:34 on 20 October the write hit a duplicate key. How many rows did the retry write?"
    answer = router.answer(Query(ask, tier="memory"))
    assert "(then: 15:34:12 INFO db_manager: [OK] Transaction committed (40 rows))" in answer.text
    answer = router.answer(Query(ask.replace("15:34", "15:20"), tier="memory"))
    assert "(20 rows)" in answer.text
    # no moment named: the store answers
    answer = router.answer(Query("The write hit a duplicate key. How many rows?", tier="memory"))
    assert "(50 rows)" in answer.text
    # a moment at which the log is silent: the store answers
    answer = router.answer(Query("At 03:00 a write hit a duplicate key. Rows?", tier="memory"))
    assert "(50 rows)" in answer.text


def test_of_two_occurrences_in_the_stretch_the_nearer_one_answers(tmp_path: Path) -> None:
    other = [
        line.replace("stream_patterns.id", "channels.id") for line in _conflict("20", "15:35", 60)
    ]
    lines = [*_conflict("20", "15:34", 40), *other, *_quiet("20", "15", 36)]
    log = tmp_path / "012.txt"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    stored = [p for p in extract_patterns(lines) if p.kind == "error_fix"]
    assert len(stored) == 2  # two errors, one decision: one option
    router = _router(log, stored)
    # around 15:35 reads from 15:34: both retries; the 15:35 one is nearer
    answer = router.answer(Query("Around 15:35 on 20 October a write failed. Rows?", tier="memory"))
    assert "(60 rows)" in answer.text
    answer = router.answer(Query("Around 15:34 on 20 October a write failed. Rows?", tier="memory"))
    assert "(40 rows)" in answer.text


def test_a_failing_moment_reader_never_stops_an_answer(log: Path) -> None:
    stored = [p for p in extract_patterns(log.read_text().splitlines()) if p.kind == "error_fix"]

    def broken(question: str) -> list[Pattern]:
        raise RuntimeError("disk gone")

    memory = _Memory([(p, 0.7) for p in stored])
    router = Router(memory, None, None, rules=RoutingRules(), moments=broken)
    answer = router.answer(Query("At 15:34 on 20 October a write failed. Rows?", tier="memory"))
    assert "(50 rows)" in answer.text and not answer.error


_DAYS = ("2025-10-20", "2025-10-21", "2025-09-30")
_piece = st.one_of(
    st.tuples(
        st.sampled_from(_DAYS),
        st.integers(min_value=58, max_value=66),  # minutes around 15:00-16:06, wrapping an hour
        st.integers(min_value=0, max_value=59),
        st.sampled_from(["\n", "\r\n"]),
    ).map(
        lambda t: (
            f"{t[0]} {15 + t[1] // 60:02d}:{t[1] % 60:02d}:{t[2]:02d},000 - m - INFO - x{t[2]}"
            + t[3]
        )
    ),
    st.sampled_from(["Traceback (most recent call last):\n", "  caf\u00e9 \u2603\n", "\n"]),
)
_moment = st.builds(
    Moment,
    st.sampled_from(["15:59:00", "16:01:30", "16:03:00", "15:58:59", "03:00:00"]),
    st.sampled_from(["", "10-20", "10-21", "09-30"]),
    st.booleans(),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(_piece, max_size=60),
    st.lists(_piece, max_size=30),
    st.sampled_from(["", "2025-10-21 16:0", "  at line"]),  # a last line still being written
    st.lists(_moment, min_size=1, max_size=3),
)
def test_the_minute_index_reads_what_a_whole_scan_reads(
    tmp_path_factory: pytest.TempPathFactory,
    first: list[str],
    more: list[str],
    partial: str,
    moments: list[Moment],
) -> None:
    """The log is not in time order (pasted sessions); it grows, a partial last line gets
    finished, then it is rotated: the index always gives what reading the whole file gives."""
    path = tmp_path_factory.mktemp("minutes") / "012.txt"
    index = MinuteIndex()

    def same() -> None:
        for moment in moments:
            assert index.window(path, moment) == list(window_lines(path, moment)), moment

    path.write_text("".join(first) + partial, encoding="utf-8", newline="")
    same()
    with path.open("a", encoding="utf-8", newline="") as fh:
        fh.write("".join(more) + ("\n" if partial else ""))
    same()
    path.write_text("".join(reversed(more)) + "".join(first), encoding="utf-8", newline="")
    same()  # rotated: other content under the same name
    rotated = path.with_name("new.txt")
    rotated.write_text("".join(more), encoding="utf-8", newline="")
    rotated.replace(path)
    same()


def test_the_index_grows_with_the_log_instead_of_reading_it_again(log: Path) -> None:
    index = MinuteIndex()
    moment = Moment("15:34:00", "10-20")
    first = index.window(log, moment)
    held = index._files[str(log)]
    indexed = held.size
    assert indexed == log.stat().st_size
    with log.open("a", encoding="utf-8") as fh:
        fh.write(_line("20", "15:35:00", _CHAT, "INFO", "[OK] Reconnected") + "\n")
    second = index.window(log, moment)
    assert second[0][: len(first[0])] == first[0] and second[0][-1].endswith("[OK] Reconnected")
    assert index._files[str(log)] is held and held.size == log.stat().st_size > indexed
    log.write_text(log.read_text()[:100], encoding="utf-8")  # truncated: made again
    assert index.window(log, moment) == list(window_lines(log, moment))
    assert index._files[str(log)] is not held


def test_the_index_edge_cases_a_whole_scan_decides(tmp_path: Path) -> None:
    path = tmp_path / "012.txt"
    index = MinuteIndex()
    at_four = Moment("16:00:00", "10-20")
    inside = _line("20", "16:00:05", _CHAT, "INFO", "inside")
    later = _line("20", "16:30:00", _CHAT, "INFO", "later")
    # a last line being written that goes on with a run outside the stretch
    path.write_text(f"{inside}\n{later}\n  File being written", encoding="utf-8")
    assert index.window(path, at_four) == [[inside]] == list(window_lines(path, at_four))
    # the same file rewritten in place (same inode), longer, other first bytes
    other = _line("20", "16:01:00", _CHAT, "INFO", "rewritten")
    with path.open("r+", encoding="utf-8") as fh:
        fh.write(f"{other}\n{later}\n{later}\n")
    assert index.window(path, at_four) == [[other]] == list(window_lines(path, at_four))
