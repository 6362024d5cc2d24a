"""How a question's moment is read, continued: a part of the day after an hour ("3 o'clock in
the afternoon", "at 9 at night") says its half of the day as "pm" does, and "after" following
a retry or back-off verb introduces a length of time, not a moment, when the clock's hour is 0
("retry after 0:30")."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundups_training.routing.moments import LogMoments, Moment, named_moment

from .loglines import conflict, quiet


@pytest.mark.parametrize(
    ("question", "moment"),
    [
        ("What failed at 3 o'clock in the afternoon?", Moment("15:00:00")),
        ("What failed at 3 in the afternoon?", Moment("15:00:00")),
        ("What failed at 3 this afternoon?", Moment("15:00:00")),
        ("What failed at 7 in the evening on 20 October?", Moment("19:00:00", "10-20")),
        ("What failed at 9 at night?", Moment("21:00:00")),
        ("What failed at 10 o'clock tonight?", Moment("22:00:00")),
        ("What happened at 5 tonight?", Moment("17:00:00")),
        ("What happened at 4 tonight?", Moment("16:00:00")),
        ("What failed at 11 last night?", Moment("23:00:00")),
        ("What failed around 7 in the evening?", Moment("19:00:00", "", True)),
        ("What failed at 3:15 in the afternoon?", Moment("15:15:00")),
        ("What failed at 3h20 in the afternoon?", Moment("15:20:00")),
        ("What failed at 10:30 tonight?", Moment("22:30:00")),
        ("What failed at 3\u202fo'clock in\u00a0the afternoon?", Moment("15:00:00")),
        ("What failed at 3 o'clock In The Afternoon?", Moment("15:00:00")),
        # the morning keeps the hour as written
        ("What failed at 3 in the morning?", Moment("03:00:00")),
        ("What failed at 3 o'clock in the morning?", Moment("03:00:00")),
        ("What failed at 11:05 this morning?", Moment("11:05:00")),
        # twelve: noon in the afternoon, midnight in the morning and at night (as "12 am")
        ("What failed at 12 in the afternoon?", Moment("12:00:00")),
        ("What failed at 12 o'clock in the morning?", Moment("00:00:00")),
        ("What failed at 12 at night?", Moment("00:00:00")),
        ("What failed at 12:30 at night?", Moment("00:30:00")),
        ("What failed at 12 tonight?", Moment("00:00:00")),
        ("What failed at 12 in the evening?", Moment("00:00:00")),
        # the small hours of the night are as written
        ("What failed at 2 at night?", Moment("02:00:00")),
        ("What failed at 5 o'clock at night?", Moment("05:00:00")),
        ("What failed at 6 o'clock at night?", Moment("18:00:00")),
        ("What failed at 5 last night?", Moment("05:00:00")),
        ("What failed at 3 tonight?", Moment("03:00:00")),
        # after the words of a moment other than "at"
        ("What failed after 9 at night?", Moment("21:00:00")),
        ("What failed since 3 this afternoon?", Moment("15:00:00")),
        ("What failed before 7 in the evening?", Moment("19:00:00")),
    ],
)  # fmt: skip
def test_a_part_of_the_day_after_an_hour_says_its_half_of_the_day(
    question: str, moment: Moment
) -> None:
    """Each was read as the morning's hour (03:00 for "3 o'clock in the afternoon"), or, an
    hour without "o'clock" or minutes, as no time at all."""
    assert named_moment(question) == moment


@pytest.mark.parametrize(
    ("question", "moment"),
    [
        ("What failed at 3 o'clock?", Moment("03:00:00")),  # as "3:00" is read
        ("What failed at 3 pm in the afternoon?", Moment("15:00:00")),
        ("What failed at 3 o'clock pm in the afternoon?", Moment("15:00:00")),
        ("What failed at 3 am in the afternoon?", Moment("03:00:00")),  # "am" is read first
        ("What failed at 15:20 in the afternoon?", Moment("15:20:00")),
        ("What failed at 15 o'clock in the afternoon?", Moment("15:00:00")),
        ("What failed at 21:00 at night?", Moment("21:00:00")),
        ("What failed at 0:30 in the morning?", Moment("00:30:00")),
        ("What happened after 15:20?", Moment("15:20:00")),
        ("What happened shortly after 0:30?", Moment("00:30:00")),
        # a part of the day before the time is not read as its half
        ("In the afternoon, what failed at 3:15?", Moment("03:15:00")),
        # a clock time with minutes is read before an hour alone
        ("At 3 in the afternoon, or rather 15:04, what failed?", Moment("15:04:00")),
    ],
)  # fmt: skip
def test_near_misses_keep_their_reading(question: str, moment: Moment) -> None:
    assert named_moment(question) == moment


@pytest.mark.parametrize(
    "question",
    [
        "What failed in the afternoon?",
        "What failed this evening?",
        "What failed at night?",
        "What failed tonight?",
        # a number that is no hour: a count, or a number without "at" before it
        "Which of the 3 in the afternoon batch failed?",
        "Which chat scored 7 in the evening round?",
        "What failed at 15 in the afternoon?",  # no hour of a 12-hour clock
        "What failed at 0 in the morning?",
        "What failed at 13 at night?",
        "Did the bot wait until 9 at night?",  # a time waited for
        # "by" and "from" come before counts
        "The queue grew by 3 this morning: why?",
        "Errors went from 5 last night to 40 today",
    ],
)
def test_a_part_of_the_day_without_an_hour_names_no_time(question: str) -> None:
    assert named_moment(question) is None


@pytest.mark.parametrize(
    "question",
    [
        "Which call says it will retry after 0:30?",
        "Why did the upload retry after about 0:30?",
        "Which request was retried after 0:45?",
        "Which request was retried after 00:45?",
        "Why does the bot keep retrying after 0:30?",
        "What sets Retry-After 0:30?",
        "Why did the poller back off after 0:20?",
        "Which client backed off after 00:30?",
        # held: these were lengths already
        "Why did the poller wait after 0:30?",
        "Which worker slept after 0:30?",
        "What did the backoff after 0:30 do?",
    ],
)
def test_after_a_retry_verb_a_clock_with_hour_0_is_a_length_of_time(question: str) -> None:
    """Each named 00:30, 00:45, …: its question was answered from the log at that hour."""
    assert named_moment(question) is None


@pytest.mark.parametrize(
    ("question", "moment"),
    [
        # "the retry" is one retry: "after" says when it came, as "shortly after 15:04" does
        ("How many rows did the retry after 15:34 write?", Moment("15:34:00")),
        ("What did those retries after 15:34 log?", Moment("15:34:00")),
        # "retries" is the noun alone: the retries that came after that moment
        ("How many retries after 15:20?", Moment("15:20:00")),
        ("Were there retries after 0:30?", Moment("00:30:00")),
        # a day after the time makes it a moment, as "for 15:34 on 20 October" does
        ("Did the bot retry after 15:34 on 20 October?", Moment("15:34:00", "10-20")),
        ("Did the bot retry at 15:34?", Moment("15:34:00")),
        # a length is passed over for the moment after it
        ("After a retry after 0:30, what failed at 15:34?", Moment("15:34:00")),
        # an hour of 1 or more after a retry verb is as likely a moment as a wait
        ("Did the bot retry after 15:34?", Moment("15:34:00")),
        ("The bot retried after 15:34, what happened?", Moment("15:34:00")),
        ("A retry after 15:34 failed?", Moment("15:34:00")),
        ("The first retry after 15:34 failed?", Moment("15:34:00")),
        ("Which client backed off after 2:00?", Moment("02:00:00")),
        ("Why did the upload retry after 1:30?", Moment("01:30:00")),
        ("Why did the upload retry after about 1:30?", Moment("01:30:00", "", True)),
        ("Why did the bot retry after 1h30?", Moment("01:30:00")),
        # "the retry" is one retry: "after" says when it came, whatever the hour
        ("What did the retry after 0:30 write?", Moment("00:30:00")),
    ],
)  # fmt: skip
def test_a_retry_at_a_moment_keeps_the_moment(question: str, moment: Moment) -> None:
    assert named_moment(question) == moment


def test_an_afternoon_hour_reads_the_afternoons_stretch(tmp_path: Path) -> None:
    """The log has lines at 03:34 and 15:34: "3:34 in the afternoon" read the night's."""
    log = tmp_path / "012.txt"
    lines = [*conflict("20", "03:34", 10), *conflict("20", "15:34", 40), *quiet("20", "15", 36)]
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = LogMoments(log)("At 3:34 in the afternoon the database hit a conflict. Rows?")
    assert any("(40 rows)" in p.outcome for p in found)
    assert not any("(10 rows)" in p.outcome for p in found)


def test_a_retry_after_a_length_reads_no_stretch(tmp_path: Path) -> None:
    """The log has lines at 00:30, so "retry after 0:30" read them."""
    log = tmp_path / "012.txt"
    log.write_text("\n".join(conflict("20", "00:30", 10)) + "\n", encoding="utf-8")
    assert LogMoments(log)("The transaction said it would retry after 0:30. Rows?") == []
