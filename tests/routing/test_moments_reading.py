"""How a question's moment is read: an hour with its "pm", noon and midnight, a time zone
(not applied: the log's clock is local and unnamed), days the calendar lacks, and the
numbers of ordinary questions that are no time of day."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundups_training.routing.moments import LogMoments, Moment, named_moment, window_lines

from .loglines import conflict, quiet


@pytest.mark.parametrize(
    ("question", "moment"),
    [
        ("What failed at 3 pm on 20 October?", Moment("15:00:00", "10-20")),
        ("What failed at 3pm?", Moment("15:00:00")),
        ("What failed at 3 p.m.?", Moment("15:00:00")),
        ("What failed at 3 PM?", Moment("15:00:00")),
        ("What failed around 11 a.m. on Oct 21?", Moment("11:00:00", "10-21", True)),
        ("What failed at 12 am?", Moment("00:00:00")),
        ("What failed at 12 pm?", Moment("12:00:00")),
        ("What failed at ３ pm?", Moment("15:00:00")),
        ("What failed at 3\u202fPM?", Moment("15:00:00")),  # as ICU writes a clock
        ("What failed at 3:34\u202fPM?", Moment("15:34:00")),
        ("What failed at noon on 20 October?", Moment("12:00:00", "10-20")),
        ("What failed at 12 noon?", Moment("12:00:00")),
        ("What failed around midnight?", Moment("00:00:00", "", True)),
        ("What failed at Midnight on 21 October?", Moment("00:00:00", "10-21")),
        # a clock time says its minutes: it is read before an hour or a word
        ("At 3 pm, or rather 15:04, what failed?", Moment("15:04:00")),
    ],
)  # fmt: skip
def test_an_hour_with_its_half_of_the_day_noon_and_midnight(question: str, moment: Moment) -> None:
    assert named_moment(question) == moment


@pytest.mark.parametrize(
    "question",
    [
        "Which of the 3 pmc tests failed?",
        "Did the bot send 3 PMs?",
        "Were 2 amps drawn?",
        "Was attempt 2/3 pm the last?",
        "Did Qwen 1.5 pm help?",
        "What did item v3 pm say?",
        "What happened at 0 am?",  # no such hour
        "What happened at 15 pm?",
        "What happened in the afternoon?",  # "noon" inside a word
        "Did the noonday run fail?",
        # a time waited for, as the auth module's message says it
        "After 'giving up until quota reset at midnight PT', what did the bot do?",
        "Did the bot wait until midnight?",
        "Does the quota reset at 12 am?",
    ],
)
def test_no_hour_is_read_from_other_words(question: str) -> None:
    assert named_moment(question) is None


@pytest.mark.parametrize(
    ("question", "moment"),
    [
        ("At 15:20 UTC on 20 October, what failed?", Moment("15:20:00", "10-20")),
        ("At 19:01 PT, what failed?", Moment("19:01:00")),
        ("At 15:20+09:00, what failed?", Moment("15:20:00")),
        ("At 15:20Z, what failed?", Moment("15:20:00")),
        ("At 15:20UTC, what failed?", Moment("15:20:00")),
        # the zone's offset before the time is no time
        ("In UTC+09:00, at 15:20, what failed?", Moment("15:20:00")),
        ("In UTC−09:00, at 15:20, what failed?", Moment("15:20:00")),
        ("In GMT-07:00, at 15:20, what failed?", Moment("15:20:00")),
        # an ISO timestamp with a zone: its day was lost (no word boundary before the "T")
        ("What failed at 2025-10-20T15:20:00+09:00?", Moment("15:20:00", "10-20")),
    ],
)  # fmt: skip
def test_a_time_zone_is_read_as_the_logs_clock_never_as_a_time(
    question: str, moment: Moment
) -> None:
    assert named_moment(question) == moment


@pytest.mark.parametrize(
    ("question", "day"),
    [
        ("At 15:20 on 31 February, what failed?", ""),
        ("On 30 Feb at 15:20, what failed?", ""),
        ("On Feb 30 at 15:20, what failed?", ""),
        ("At 15:20 on 31 April, what failed?", ""),
        ("At 15:20 on 32 October, what failed?", ""),
        ("At 2025-02-31 15:20, what failed?", ""),
        ("At 2025-13-01 15:20, what failed?", ""),
        ("At 2025-02-29 15:20, what failed?", ""),  # 2025 is no leap year
        ("At 2024-02-29 15:20, what failed?", "02-29"),
        ("At 15:20 on 29 February, what failed?", "02-29"),  # the year is not known
        ("At 15:20 on 30 April, what failed?", "04-30"),
        # a day that does not exist is passed over for one that does
        ("At 15:20 on 31 Feb (no: Oct 20), what failed?", "10-20"),
    ],
)
def test_a_day_the_calendar_lacks_names_no_day(question: str, day: str) -> None:
    moment = named_moment(question)
    assert moment is not None and moment.day == day


def test_a_question_naming_a_missing_day_reads_every_day(tmp_path: Path) -> None:
    """ "31 February" named a day the log has no lines of, and the question no stretch."""
    log = tmp_path / "012.txt"
    lines = [*conflict("20", "15:34", 40), *quiet("20", "15", 36), *conflict("21", "15:34", 50)]
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    moment = named_moment("At 15:34 on 31 February the database hit a conflict. Rows?")
    assert moment is not None
    assert [w[0][:10] for w in window_lines(log, moment)] == ["2025-10-20", "2025-10-21"]
    assert LogMoments(log)("At 15:34 on 30 Feb the database hit a conflict. Rows?") != []


@pytest.mark.parametrize(
    "question",
    [
        "What did release v1:20 change?",  # a name glued to a letter
        "What did bot1:20 say?",
        "Which chat is id 10:30ab?",
        "What does the offset UTC+09:00 mean?",
        "What does the offset GMT-07:00 mean?",
        # no time of day today either (held)
        "What did the follow-up warning say (attempt 2/3)?",
        "Which ratio, 1/3 or 1/2, was used?",
        "Did version 1.5 fix it?",
        "Which channel scored 6.41?",
        "Why did polling wait 2s?",
        "What follows HttpError 503?",
        "Which 7B model answered?",
        "Which server listened on 127.0.0.1:8080?",
        "Which line of message_processor.py:412:10 failed?",
        "What is the 16:9 layout?",
    ],
)
def test_numbers_of_ordinary_questions_are_no_time_of_day(question: str) -> None:
    assert named_moment(question) is None


def test_a_clock_time_glued_to_a_word_is_passed_over_for_the_next() -> None:
    assert named_moment("Did build1:20 fail at 15:34?") == Moment("15:34:00")
    assert named_moment("Did id 10:30ab fail at 3 pm?") == Moment("15:00:00")
