"""How a question's moment is read, continued: a length of time written like a clock ("timeout
0:30", "a 1:30 delay") names no moment, and "3 o'clock", "15h20" and "at 15h" name one."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundups_training.routing.moments import LogMoments, Moment, named_moment

from .loglines import conflict, quiet


@pytest.mark.parametrize(
    "question",
    [
        "Why did the call fail with timeout 0:30?",
        "What caused a 1:30 delay before the retry?",
        "After waiting 2:00, did the bot reconnect?",
        "The backfill took 0:45. Which module ran it?",
        "Why did polling stop for 5:00?",
        "What did the watchdog log (0:30 elapsed)?",
        "Which request timed out after 0:30?",
        "What has timeout=0:30 set?",
        "Why does the upload take about 0:45?",
        "Which stream lasted 1:30:00?",
        "Why was there a delay of 1:30?",
        "The session ran 1:30 later than planned: why?",
        "Which job runs for up to 0:30?",
        "What gave up after 2:00 of waiting?",
        "Which poll waits 0:45 min between fetches?",
        "Why did it go quiet for 2:00, as before?",
        "Why does the poll run every 0:30?",
        "Which call says it will retry in 0:30?",
        "Which token expired in 0:30?",
        "What did the bot log 0:30 into the stream?",
        # the same, the French way
        "What took 1h20 to finish?",
        "Why was there a 1h30 delay?",
    ],
)
def test_a_length_of_time_names_no_moment(question: str) -> None:
    """Each named 00:30, 01:30, …: its question was answered from the log at that hour."""
    assert named_moment(question) is None


@pytest.mark.parametrize(
    ("question", "moment"),
    [
        ("What restarted at 0:30?", Moment("00:30:00")),
        ("What failed around 00:30 on 21 October?", Moment("00:30:00", "10-21", True)),
        ("What did the 0:30 restart log?", Moment("00:30:00")),
        ("What did the 15:20 long poll return?", Moment("15:20:00")),
        ("What did the chat say for the 15:05 round?", Moment("15:05:00")),
        ("What caused the 15:34 timeout on 20 October?", Moment("15:34:00", "10-20")),
        ("What did the stream scheduled for 15:00 do?", Moment("15:00:00")),
        ("Shortly after 15:04 on 20 October, which channel was checked?",
         Moment("15:04:00", "10-20")),
        # "for" and "a … delay" say a length unless a day follows the time
        ("For 15:34 on 20 October, how many rows did the retry write?",
         Moment("15:34:00", "10-20")),
        ("Was there a 15:34 timeout on 20 October?", Moment("15:34:00", "10-20")),
        # "at" before the time makes it a moment, whatever follows
        ("What had happened at 0:30 later on?", Moment("00:30:00")),
        # a length is passed over for the moment after it
        ("After waiting 2:00, what failed at 15:34 on 20 October?",
         Moment("15:34:00", "10-20")),
    ],
)  # fmt: skip
def test_a_moment_next_to_words_of_time_is_kept(question: str, moment: Moment) -> None:
    assert named_moment(question) == moment


@pytest.mark.parametrize(
    ("question", "moment"),
    [
        ("What failed at 3 o'clock?", Moment("03:00:00")),  # as "3:00" is read
        ("What failed at 3 o’clock pm?", Moment("15:00:00")),
        ("What failed at 11 oclock p.m. on 20 October?", Moment("23:00:00", "10-20")),
        ("What failed around 12 o'clock?", Moment("12:00:00", "", True)),
        ("What failed at 15h20 on 20 October?", Moment("15:20:00", "10-20")),
        ("What failed at 15H20?", Moment("15:20:00")),
        ("What failed vers 9h05?", Moment("09:05:00")),
        ("What failed at 15h?", Moment("15:00:00")),
        ("What failed at around 15h on 20 October?", Moment("15:00:00", "10-20", True)),
        ("What failed à 15h?", Moment("15:00:00")),
        # a clock time with minutes is read before an hour alone
        ("At 3 o'clock, or rather 15h04, what failed?", Moment("15:04:00")),
    ],
)
def test_oclock_and_the_french_way_name_a_time_of_day(question: str, moment: Moment) -> None:
    assert named_moment(question) == moment


@pytest.mark.parametrize(
    "question",
    [
        "What does the 7h2 build do?",
        "Which file has the sha256h digest?",
        "Which sha256h20 entry matched?",
        "Why did polling stop for 2h?",
        "Why is the cache TTL 24h?",
        "What did the 15h run log?",  # "15h" alone: most often a length
        "What happened about 2h in?",
        "Which step takes 1h20m?",
        "Which step takes 1h20min?",
        "Did the bot wait until 3 o'clock?",  # a time waited for
        "What happened at 25h?",
        "What happened at 24h00?",
    ],
)
def test_no_time_of_day_from_hours_in_words_or_lengths(question: str) -> None:
    assert named_moment(question) is None


def test_a_length_of_time_reads_no_stretch_and_a_french_time_does(tmp_path: Path) -> None:
    """The log has lines at 00:30, so "timed out after 0:30" read them; "15h34" read none."""
    log = tmp_path / "012.txt"
    lines = [*conflict("20", "00:30", 10), *conflict("20", "15:34", 40), *quiet("20", "15", 36)]
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    moments = LogMoments(log)
    assert moments("After a transaction timed out after 0:30, how many rows did it write?") == []
    found = moments("At 15h34 on 20 October the database hit a conflict. How many rows?")
    assert any("(40 rows)" in p.outcome for p in found)
    assert not any("(10 rows)" in p.outcome for p in found)
