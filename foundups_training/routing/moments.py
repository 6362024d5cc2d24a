"""A question that names a moment of the log is answered from the log around that moment.

Mining keeps one pattern per recurring situation, with its first few instances. "At 15:34 on
20 October the database hit another duplicate-key conflict: how many rows did the retry
write?" asks about one occurrence that the store may not keep (the pattern says how one
retry ended, not that one). Such a question names its moment: a clock time, often a day. The log is
read at that moment instead: its lines from that minute (that second, when the question gives
one) to :data:`WINDOW_MINUTES` later are mined as they are, and the patterns of that stretch
are what the question's answer is picked from, each saying what followed it *then*.

The log is read in the encoding mining reads it in (the reader's :func:`encoding_of`): UTF-8,
or UTF-16 when it starts with a byte order mark (Windows PowerShell 5.1's ``>`` writes
UTF-16 LE with a BOM and CRLF line ends) or, without one, when its first characters are
ASCII with a NUL after each (UTF-16 LE as some Windows tools write it), and UTF-8 with a
byte order mark. A UTF-16 log gives exactly the lines its text gives in UTF-8. A byte order
mark is not text, so the first line does not start with it (it would hide that line's
timestamp). A line ends where mining's reader ends it, at a newline (less a CR before it):
a lone CR, as a progress bar writes, is part of the line, so a stretch holds the lines
mining sees (see :func:`_text`). A run of NULs with text before and after it ends a line
too, as mining's reader ends it there (a host that crashed while its log was extended
leaves its partial last line, NULs, and the restarted host's first line glued on): the new
boot's line is read at its own minute, by the timestamp after its NULs (NULs that start a
line hide no timestamp: mining's parser drops them), not inside the old boot's line. Nor
does a byte order mark that starts a line in the middle of the log (:data:`_LEAD`).

Nothing here raises: a question without a clock time, a log that is missing, unreadable or
silent at that moment gives no patterns, and the question is answered from the store.
"""

from __future__ import annotations

import calendar
import contextlib
import io
import itertools
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from foundups_training.logs import warn_failure
from foundups_training.mining.reader import (
    MAX_LINE_BYTES,
    MIN_NUL_RUN,
    NEWLINES,
    encoding_of,
    nul_pieces,
    read_open,
)
from foundups_training.records import Pattern

if TYPE_CHECKING:
    from foundups_training.config import Settings

log = logging.getLogger(__name__)

#: Minutes of log read from the moment a question names.
WINDOW_MINUTES = 3
#: Lines read at most from one stretch (a flood of chat lines must not make a question slow).
MAX_WINDOW_LINES = 2000

#: A clock time ("15:34", "9:05:12", in any script's digits: "１５:３４"), or one written the
#: French way ("15h20", "9H05"); the hour, minute and second are checked to be a time of
#: day by :func:`_clock` ("25:61" names none). Not glued to a word before it ("v1:20",
#: "bot1:20" are names; a "T" after a digit joins an ISO day's "2025-10-20T15:20"), nor after
#: a "+" or "−" (a zone's offset, "UTC+09:00"); what follows it is checked by
#: :data:`_AFTER_CLOCK` ("1h20m", "1h20min" are lengths of time, glued to their unit).
_CLOCK = re.compile(
    r"(?:(?<![\d:.+\u2212A-Za-z_])|(?<=\d[Tt]))"
    r"(?P<hour>\d\d?)(?::(?P<minute>\d\d)(?::(?P<second>\d\d))?|[hH](?P<hminute>\d\d))(?![\d:])"
)
#: Spaces a time and its "pm" may have between them: ICU, as copied from a macOS or
#: browser clock, writes a narrow no-break space ("3:34\u202fPM").
_SPACE = r"[\s\u00a0\u202f]"
#: "3:15 pm", "11:05 a.m.": a 12-hour clock's half of the day, after the time.
_MERIDIEM = re.compile(rf"{_SPACE}*([ap])\.?\s?m\b\.?", re.IGNORECASE | re.ASCII)
#: "3 o'clock in the afternoon", "9 at night", "10:30 tonight": a part of the day after the
#: time says its half of the day, as "pm" does (:func:`_day_part_hour`). Before the time it
#: is not read ("In the afternoon, what failed at 3:15?" is 03:15, as "pm, 3:15" would be).
_DAY_PART = re.compile(
    rf"{_SPACE}+(?:(?:in{_SPACE}+the|this){_SPACE}+(?P<part>morning|afternoon|evening)"
    rf"|(?:at|last){_SPACE}+(?P<night>night)|(?P<tonight>tonight))\b",
    re.IGNORECASE | re.ASCII,
)
#: Letters a clock time may be glued to: its half of the day ("3:15pm"), a zone ("15:20Z",
#: "15:20UTC"), an "h". Any other ("10:30ab", an id) makes it no time.
_AFTER_CLOCK = re.compile(
    r"(?![A-Za-z_])|[ap]\.?m\b|z\b|h(?:rs?)?\b|utc|gmt", re.IGNORECASE | re.ASCII
)
#: Characters before a time in which the words that make it a moment or not ("at", "until",
#: "UTC-") are looked for (:func:`_ends_before`): the longest ("vers approximately ",
#: "resetting at ") with room for spaces. Looking in the whole question before each time
#: took time quadratic in its length: 20,000 characters of "1 tonight" took 12 s.
_BEFORE_CHARS = 60
#: A zone's offset written with a "-" before the time read ("UTC-07:00 at 15:20"): the
#: "-" with the zone's name before it.
_ZONE_MINUS = re.compile(r"(?:utc|gmt)\s*-\s*$", re.IGNORECASE | re.ASCII)
#: An hour with its half of the day and no minutes: "3 pm", "3pm", "11 a.m.", "３ PM". Not
#: part of a number or a word before it ("1.3 pm", "2/3 pm", "v3 pm"), nor of a word after
#: it ("3 pmc", "3 PMs", "2 amps"). (Not ASCII: "3 pmé" goes on with a word, too.)
_HOUR = re.compile(rf"(?<![\w.,:/+\-\u2212])(\d\d?){_SPACE}?([aApP])\.?{_SPACE}?[mM]\b\.?")
#: "3 o'clock", "3 o’clock pm", "11 oclock": an hour, with or without its half of the day
#: after it (:data:`_MERIDIEM`, or a part of the day: :data:`_DAY_PART`); without one it is
#: read as written, on the log's 24-hour clock ("3 o'clock" is 03:00, as "3:00" is).
_OCLOCK = re.compile(
    rf"(?<![\w.,:/+\-\u2212])(\d\d?){_SPACE}?o{_SPACE}?['’‘`´ʼ]?{_SPACE}?clock\b", re.I
)
#: An hour the French way, with no minutes ("15h"), after "at" (or "à", "vers"): "2h" on
#: its own is far more often a length of time ("for 2h", "a 2h delay", "TTL 24h") than a
#: moment. Not in a word or an id ("sha256h", "7h2").
_HOUR_H = re.compile(r"(?<![\w.,:/+\-\u2212])(\d\d?)[hH](?![\w:])")
_AT_HOUR_H = re.compile(
    r"(?:\bat|(?<!\w)à|\bvers)\s+(?:(?:about|around|approximately|roughly|circa)\s+|~\s*)?$",
    re.IGNORECASE,
)
#: An hour alone with a part of the day after it ("3 in the afternoon", "9 at night"), after
#: "at" or "around" (:data:`_AT_BARE_HOUR`): without them a number before a part of the day
#: is more often a count or a score ("the 3 in the afternoon batch", "scored 7 in the evening
#: round") than an hour. Nor after "by" or "from", which come before counts too ("grew by 3
#: this morning", "went from 5 last night to 40").
_BARE_HOUR = re.compile(rf"(?<![\w.,:/+\-\u2212])(\d\d?)(?={_DAY_PART.pattern})", re.I | re.A)
_AT_BARE_HOUR = re.compile(
    r"(?:\b(?:at|around|about|approximately|roughly|circa|after|before|since)|~)"
    r"\s*(?:(?:about|around|approximately|roughly|circa)\s+|~\s*)?$",
    re.IGNORECASE,
)
#: "noon", "midday", "midnight", "12 noon": 12:00 and 00:00 (the day's first minute).
_NOON = re.compile(r"(?<![\w.,:/])(?:12\s?)?\b(noon|midday|midnight)\b", re.IGNORECASE)
#: Words before an hour or "midnight" that make it a time waited for, not a moment of the
#: log: the auth module logs "giving up until quota reset at midnight PT" (YouTube's quota
#: day), and a question quoting it named 00:00 of every day.
_WAITED_FOR = re.compile(r"\b(?:until|till|resets?|resetting|renews?)(?:\s+at)?\s*$", re.I)
#: Qualifiers a length of time may have before it ("took about 0:45", "for up to 5:00").
_HEDGE = (
    r"(?:(?:about|around|approximately|roughly|nearly|almost|over|under|only|just|another"
    r"|a\s+further|up\s+to|at\s+(?:least|most)|more\s+than|less\s+than)\s+|~\s*)?"
)
#: Words right before a clock time that make it a length of time, not a moment: "timeout
#: 0:30", "took 0:45", "lasted about 1:30", "after waiting 2:00", "timed out after 0:30",
#: "delay: 1:30", "every 0:30", "retry in 0:30", "for 5:00" (a question naming 00:30 read the
#: log at half past midnight).
#: "at", "around", "after" alone name a moment ("at 0:30", "shortly after 15:04"); after a
#: retry or back-off verb, "after" says how long it waited ("retry after 0:30", "backed off
#: after 00:45", "Retry-After 0:30") when the clock's hour is 0 (a wait written "1:30" is as
#: likely 01:30 of the night: "did the bot retry after 15:34?"), unless the retry is a
#: noun's (:data:`_THE_BEFORE`; "retries", the noun alone, too: "how many retries after
#: 15:20?").
_LENGTH_BEFORE = re.compile(
    r"\b(?:(?P<for>for)"
    r"|(?P<retry>(?:retr(?:y|ied|ying)|back(?:s|ed|ing)?\s+off)(?:\s+|-)after)"
    r"|took|takes?|taking|lasted|lasts?|lasting"
    r"|wait(?:s|ed|ing)?|timeout|time-?out|timed\s+out|delay(?:s|ed)?|elapsed|duration"
    r"|uptime|runtime|spent|backoff|back-off|cool-?down|slept|sleep(?:s|ing)?|paused?|every"
    r"|interval|(?:retry(?:ing)?|retries|expire[ds]?|expiring|resum(?:es?|ing))\s+in)"
    rf"(?:\s+(?:after|by|of|for))?\s*[:=]?\s*{_HEDGE}$",
    re.IGNORECASE,
)
#: A determiner before "retry ... after" that makes the retry one retry, and "after" the
#: moment it came after ("the retry after 15:34", "those retries after 15:34").
_THE_BEFORE = re.compile(r"\b(?:the|that|this|these|those)\s*$", re.IGNORECASE)
#: Words before "for" that make what follows a moment after all ("scheduled for 15:00",
#: "look for 15:20 in the log").
_FOR_A_MOMENT = re.compile(
    r"\b(?:scheduled|planned|set|booked|slated|due|timed|queued|reserved|look|looking"
    r"|search|searching|check|checking)\s*$",
    re.IGNORECASE,
)
#: Words right after a clock time that make it a length of time: "(0:30 elapsed)", "1:30
#: later", "0:30 into the stream", "0:45 min", "2:00 of waiting"; not after "at" ("at 0:30 …"
#: is a moment).
_LENGTH_AFTER = re.compile(
    rf"{_SPACE}*(?:elapsed|later|left|remaining|into|min(?:ute)?s?|sec(?:ond)?s?"
    r"|of\s+(?:waiting|wait|delay|uptime|downtime|runtime|silence|backoff|inactivity))\b",
    re.IGNORECASE,
)
#: "a 1:30 delay": a waiting noun after a clock time with "a" before it is a length of
#: time; with "the" it is the one at that time ("the 15:34 timeout", "the 0:30 restart").
_A_BEFORE = re.compile(r"\b(?:a|an|another)\s*$", re.IGNORECASE)
_WAIT_NOUN = re.compile(
    rf"(?:{_SPACE}|-)*(?:delay|timeout|time-?out|wait|pause|backoff|back-off|cool-?down|sleep"
    r"|gap|stall|hang|outage)\b",
    re.IGNORECASE,
)
_AT_BEFORE = re.compile(r"\bat\s*$", re.IGNORECASE)
_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        ("jan january", "feb february", "mar march", "apr april", "may", "jun june",
         "jul july", "aug august", "sep sept september", "oct october", "nov november",
         "dec december")
    )
    for m in names.split()
}  # fmt: skip
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
# ASCII: under IGNORECASE alone, "ſep" (a long s) matched "sep" and was no key of _MONTHS
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?(?: of)? ({_MONTH})\b\.?", re.I | re.A)
_MONTH_DAY = re.compile(rf"\b({_MONTH})\.? (\d{{1,2}})(?:st|nd|rd|th)?\b", re.I | re.A)
#: "2025-10-20", also glued to its time ("2025-10-20T15:20:00+09:00": there was no word
#: boundary before the "T", and the day was lost).
_ISO_DAY = re.compile(r"\b(\d{4})-(\d\d)-(\d\d)(?:(?=[Tt]\d)|\b)")
#: A day right after a clock time ("15:34 on 20 October", "15:34, Oct 20", "15:34 2025-10-20"):
#: it makes the time a moment after "for" or "a" ("For 15:34 on 20 October, how many rows
#: …?", "a 15:34 timeout on 20 October"), which alone make it a length of time.
_DAY_AFTER = re.compile(
    rf"[\s,]*(?:on\s+)?(?:the\s+)?(?:\d{{4}}-\d\d-\d\d"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?(?:\s+of)?\s+(?:{_MONTH})\b|(?:{_MONTH})\.?\s+\d{{1,2}}\b)",
    re.IGNORECASE | re.ASCII,
)
#: Days in each month; 29 February, as the log's year is not known.
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
#: The timestamp a host log line starts with.
_STAMP = re.compile(r"(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)", re.ASCII)
#: The same, for the index of a UTF-8 log: the day and the minute.
_STAMP_BYTES = re.compile(rb"(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d):\d\d")
#: NULs at most before a line's timestamp (see :func:`_stamp`): so many that the timestamp
#: ends within the reader's bound (:data:`MAX_LINE_BYTES`) in every encoding (UTF-16 after a
#: byte order mark), where the index reads it (a line past the bound is cut short there). A
#: line with more (8,172) has no timestamp here, and goes with the line before it, even in
#: UTF-8, where mining's parser still reads one behind up to 16 KiB of NULs.
_MAX_LEAD_NULS = (MAX_LINE_BYTES - 2) // 2 - len("2025-10-20 15:34:00")
#: What may stand before a line's timestamp and hides none, as mining's parser drops it
#: there: a crash's NULs (see :func:`_stamp`), and byte order marks (a tool that appends to
#: the log with one of its own, or logs joined by ``cat`` that each start with one, leave it
#: in the middle: mining read that line at its time, the index had it go with the line
#: before it).
_LEAD = "\ufeff\0"
#: The same in a UTF-8 log's bytes.
_LEAD_BYTES = re.compile(rb"(?:\xef\xbb\xbf|\0)+")
#: Bytes at the head of the log that tell one file from another (as the checkpoint does).
_HEAD_BYTES = 4096
#: The byte order mark a log in each encoding starts with (:func:`_encoding_of` tells the
#: encoding by it), skipped as it is not text.
_BOMS = {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff", "utf-8-sig": b"\xef\xbb\xbf"}


def _encoding_of(head: bytes) -> str:
    """The reader's :func:`encoding_of`, and ``utf-8-sig`` for UTF-8 that starts with a byte
    order mark (PowerShell 5.1's ``-Encoding UTF8``, Notepad): mining strips that mark from
    the first line, and so must the reading here, or it hides that line's timestamp."""
    return "utf-8-sig" if head.startswith(_BOMS["utf-8-sig"]) else encoding_of(head)


#: Words before a clock time that make it approximate: the stretch read starts a minute early.
_ABOUT = re.compile(r"\b(?:about|around|approximately|roughly|circa|near|nearly)\s*$|~\s*$", re.I)


@dataclass(frozen=True)
class Moment:
    """A moment a question names: a clock time, and the day when it says one."""

    time: str  # "15:34:00"
    day: str = ""  # "10-20" (month-day), "" when the question names none
    #: "around 15:35": the stretch read starts a minute before ``time``
    approximate: bool = False

    @property
    def start(self) -> str:
        """Where the stretch read starts."""
        if not self.approximate:
            return self.time
        at = datetime.strptime(self.time, "%H:%M:%S")
        early = at - timedelta(minutes=1)
        return early.strftime("%H:%M:%S") if early.date() == at.date() else "00:00:00"


def named_moment(question: str) -> Moment | None:
    """The moment ``question`` names ("at 15:34 on 20 October", "around 19:01", "3 pm",
    "3 o'clock in the afternoon", "noon"), if any. A time zone after the time ("15:20 UTC",
    "19:01 PT", "15:20+09:00") is not applied: the log's times are the host's local clock,
    and the log does not say which zone that is (mining keeps a line's time as logged, zone
    or not), so the time is read as the log's; only the zone's numbers must not be read as
    a time (see :data:`_CLOCK`)."""
    found = _clock(question)
    if found is None:
        return None
    time, at = found
    approximate = _ABOUT.search(question[max(0, at - 20) : at]) is not None
    return Moment(time, _iso_day(question) or _month_day(question), approximate)


def _clock(question: str) -> tuple[str, int] | None:
    """The time of day ``question`` names, as "HH:MM:SS" in ASCII digits, and where it
    starts: its first clock time ("15:34", "15h20") that is no length of time
    (:func:`_is_length`), else its first hour with "am"/"pm" ("3 pm") or "o'clock", or "at
    15h", or "at 3 in the afternoon", else "noon" or "midnight", none of them a time waited
    for (:data:`_WAITED_FOR`). After "am"/"pm", or a part of the day ("in the afternoon",
    "at night": :func:`_day_part_hour`), an hour from 1 to 12 is read on a 12-hour clock
    ("3:15 pm" is 15:15: the log's clock has 24 hours, and reading 03:15 answered from
    another time)."""
    for clock in _CLOCK.finditer(question):
        hour = int(clock.group("hour"))
        minute = int(clock.group("minute") or clock.group("hminute"))
        second = int(clock.group("second") or 0)
        if hour > 23 or minute > 59 or second > 59:
            continue  # "25:61" is no time of day; a leap second's :60 is read as none
        if not _AFTER_CLOCK.match(question, clock.end()):
            continue  # "10:30ab": an id
        if _ends_before(_ZONE_MINUS, question, clock.start()):
            continue  # "UTC-07:00": a zone's offset
        if _is_length(question, clock.start(), clock.end(), hour):
            continue  # "timeout 0:30", "a 1:30 delay"
        return f"{_half(question, clock.end(), hour):02d}:{minute:02d}:{second:02d}", clock.start()
    for at, hour in sorted(_hours(question)):
        if not _ends_before(_WAITED_FOR, question, at):
            return f"{hour:02d}:00:00", at
    for m in _NOON.finditer(question):
        if not _ends_before(_WAITED_FOR, question, m.start()):
            return ("00:00:00" if m.group(1).lower() == "midnight" else "12:00:00"), m.start()
    return None


def _hours(question: str) -> Iterator[tuple[int, int]]:
    """Where each hour without minutes in ``question`` starts, and the hour it names on the
    log's clock: "3 pm" (an hour from 1 to 12: "0 am" names none), "3 o'clock" (with its
    "pm", if any), and "15h" after "at" (:data:`_AT_HOUR_H`)."""
    for m in _HOUR.finditer(question):
        if 1 <= (hour := int(m.group(1))) <= 12:
            yield m.start(), hour % 12 + (12 if m.group(2) in "pP" else 0)
    for m in _OCLOCK.finditer(question):
        if (hour := int(m.group(1))) <= 23:
            yield m.start(), _half(question, m.end(), hour)
    for m in _HOUR_H.finditer(question):
        if int(m.group(1)) <= 23 and _ends_before(_AT_HOUR_H, question, m.start()):
            yield m.start(), int(m.group(1))
    for m in _BARE_HOUR.finditer(question):
        hour = int(m.group(1))
        if 1 <= hour <= 12 and _ends_before(_AT_BARE_HOUR, question, m.start()):
            yield m.start(), _half(question, m.end(), hour)


def _ends_before(pattern: re.Pattern[str], question: str, at: int) -> re.Match[str] | None:
    """A match of ``pattern`` (one that ends with ``$``) in the :data:`_BEFORE_CHARS`
    characters of ``question`` before ``at``, where a time starts: the words before a time
    are looked for there only, so that a question is read in time linear in its length.
    Unlike a slice, the search still sees the character before that stretch ("\\bat" is not
    the end of "that" cut short)."""
    return pattern.search(question, max(0, at - _BEFORE_CHARS), at)


def _half(question: str, end: int, hour: int) -> int:
    """``hour`` on the log's 24-hour clock, after the "am" or "pm" that follows it at
    ``end``, if any, else after the part of the day that follows it ("in the afternoon",
    :func:`_day_part_hour`); an hour from 1 to 12 only: "13:15 pm" and "15:20 in the
    afternoon" stay as written."""
    if not 1 <= hour <= 12:
        return hour
    if (half := _MERIDIEM.match(question, end)) is not None:
        return hour % 12 + (12 if half.group(1).lower() == "p" else 0)
    if (part := _DAY_PART.match(question, end)) is not None:
        return _day_part_hour(part, hour)
    return hour


def _day_part_hour(part: re.Match[str], hour: int) -> int:
    """``hour`` (1 to 12) on the log's 24-hour clock, in the part of the day that ``part``
    (a :data:`_DAY_PART` match) names, as English means it: "in the morning" is "am" (3:00;
    "12 in the morning", rare, is midnight, as "12 am" is); "in the afternoon" is "pm" ("12
    in the afternoon" is noon); "in the evening" is "pm" too, but 12 is midnight, the
    evening's end, not noon; "at night" and "last night" are "pm" from 6 ("9 at night" is
    21:00), the small hours before it ("2 at night" is 02:00), and 12 is midnight;
    "tonight" is "pm" from 4 ("5 tonight" is 17:00, the evening to come, as English means
    it), the small hours 1 to 3 as written ("3 tonight" is 03:00), and 12 is midnight.
    """
    name = (part.group("part") or "").lower()
    if name == "morning":
        return hour % 12
    if name == "afternoon":
        return hour % 12 + 12
    if hour == 12:
        return 0
    if name == "evening":
        return hour + 12
    small_hours = 4 if part.group("tonight") else 6  # the first hour that is "pm"
    return hour if hour < small_hours else hour + 12


def _is_length(question: str, start: int, end: int, hour: int) -> bool:
    """Whether the clock time at ``start:end`` of ``question`` (its hour ``hour``) is a
    length of time ("timeout 0:30", "took 0:45", "(0:30 elapsed)", "a 1:30 delay", "retry
    after 0:30"), not a moment: "0:30" after such words named half past midnight. "After" a
    retry verb is a sign only for an hour of 0 ("retry after 1:30" is as likely 01:30 of the
    night as a wait, and "did the bot retry after 15:34?" asks about 15:34). Of the weaker
    signs, "for" ("for 5:00"), "after" a retry verb ("retry after 0:30") and "a" before a
    waiting noun ("a 1:30 delay"), a day right after the time makes it a moment again ("for
    15:34 on 20 October", "retry after 0:30 on 20 October", "a 15:34 timeout on 20
    October"); so does a word of scheduling before "for" ("scheduled for 15:00"), and "the"
    before the retry ("the retry after 0:30" came after that moment)."""
    before = question[max(0, start - _BEFORE_CHARS) : start]
    length = _LENGTH_BEFORE.search(before)
    if length is not None and length.group("retry") is not None and hour > 0:
        length = None  # "retry after 1:30": a moment, as far as the words before it say
    if length is not None:
        if length.group("for") is None and length.group("retry") is None:
            return True
        moment_before = _FOR_A_MOMENT if length.group("for") is not None else _THE_BEFORE
        if not moment_before.search(before, 0, length.start()):
            return not _DAY_AFTER.match(question, end)
    if _AT_BEFORE.search(before):
        return False  # "at 0:30 …": a moment, whatever follows
    if _LENGTH_AFTER.match(question, end):
        return True
    noun = _WAIT_NOUN.match(question, end)
    return (
        noun is not None
        and _A_BEFORE.search(before) is not None
        and not _DAY_AFTER.match(question, noun.end())
    )


def _iso_day(question: str) -> str:
    """The first day ``question`` names as "2025-10-20" that is a day of the calendar, as
    "MM-DD" in ASCII digits, as the log's days are; "" when none ("2025-02-31" is none)."""
    for m in _ISO_DAY.finditer(question):
        year, month, day = (int(g) for g in m.groups())
        if 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year or 2000, month)[1]:
            return f"{month:02d}-{day:02d}"
    return ""


def _month_day(question: str) -> str:
    """The day of the year a question names by a month's name ("20 October", "Oct. 21st"),
    as "MM-DD"; "" when none. A lower-case "may" is the verb ("attempt 2 may have failed"
    named 2 May, a day the log was silent): the month is "May". A day the month does not
    have ("31 February", "Feb 30") is none: it named a day the log has no lines of, or,
    past the 31st, was a number of some other kind."""
    for regex, month_at, day_at in ((_DAY_MONTH, 2, 1), (_MONTH_DAY, 1, 2)):
        for m in regex.finditer(question):
            name = m.group(month_at)
            month = _MONTHS.get(name.lower())
            if month is None or name == "may":
                continue
            if day := _day(month, int(m.group(day_at))):
                return day
    return ""


def _day(month: int, day: int) -> str:
    """The day as "MM-DD" when ``month`` has it (29 February: the year is not known)."""
    return f"{month:02d}-{day:02d}" if 1 <= day <= _MONTH_DAYS[month - 1] else ""


def _end(time: str) -> str:
    """``time`` plus :data:`WINDOW_MINUTES`, at most the day's last second."""
    start = datetime.strptime(time, "%H:%M:%S")
    end = start + timedelta(minutes=WINDOW_MINUTES)
    return end.strftime("%H:%M:%S") if end.date() == start.date() else "23:59:60"


def _window(lines: Iterable[str], moment: Moment) -> Iterator[list[str]]:
    """Of ``lines`` (in file order, as :func:`_text` ends them), those from ``moment`` to
    :data:`WINDOW_MINUTES` later, one list per day as :func:`window_lines` gives them:
    without their line ends, as mining's reader gives them (LF, and one CR before it)."""
    start, end = moment.start, _end(moment.time)
    current: list[str] = []
    current_day = ""
    inside = False
    for line in lines:
        stamp = _STAMP.match(line)
        if stamp is None and line[:1] in _LEAD:
            stamp = _stamp(line)  # after a crash's NULs, a byte order mark
        if stamp is not None:
            day, time = stamp.group(1), stamp.group(2)
            inside = start <= time < end and (not moment.day or day.endswith(moment.day))
            if inside and day != current_day:
                if current:
                    yield current
                current, current_day = [], day
        if inside and len(current) < MAX_WINDOW_LINES:
            current.append(line.removesuffix("\n").removesuffix("\r"))
    if current:
        yield current


def _stamp(line: str) -> re.Match[str] | None:
    """The timestamp ``line`` starts with, after any NULs and byte order marks (:data:`_LEAD`,
    which mining's parser drops from a line's start), up to :data:`_MAX_LEAD_NULS` of them."""
    if line[:1] not in _LEAD:
        return _STAMP.match(line)
    text = line.lstrip(_LEAD)
    return _STAMP.match(text) if len(line) - len(text) <= _MAX_LEAD_NULS else None


def _stamp_bytes(piece: bytes) -> re.Match[bytes] | None:
    """:func:`_stamp` of a UTF-8 line's bytes: the timestamp after what :data:`_LEAD_BYTES`
    matches, counted in characters as :func:`_stamp` counts them."""
    lead = _LEAD_BYTES.match(piece)
    if lead is None:
        return _STAMP_BYTES.match(piece)
    chars = lead.end() - 2 * lead.group().count(b"\xef\xbb\xbf")  # a mark is 3 bytes
    return _STAMP_BYTES.match(piece, lead.end()) if chars <= _MAX_LEAD_NULS else None


def window_lines(path: Path, moment: Moment) -> Iterator[list[str]]:
    """The log's lines from ``moment`` to :data:`WINDOW_MINUTES` later, one list per day
    that has any (every day of the log when the moment names none). A line without a
    timestamp (a traceback's) belongs to the line before it. Reads the whole file: see
    :class:`MinuteIndex` for the reading a growing log gets. The file is decoded in the
    encoding its head says, past its byte order mark (see the module docstring)."""
    with path.open("rb") as fh:
        encoding = _encoding_of(fh.read(_HEAD_BYTES))
        bom = len(_BOMS.get(encoding, b""))
        fh.seek(bom)
        yield from _window(_text(fh, encoding, bom), moment)


def _text(fh: BinaryIO, encoding: str, lead: int = 0, *, ended: bool = True) -> Iterator[str]:
    """The text of ``fh`` from where it is (a line start, or a cut; ``lead``: bytes of the
    line before it, a byte order mark skipped; ``ended``: False when its bytes stop at a
    cut, not at a line's end or the file's, see :func:`_cuts`), as every reading here
    decodes it: bad bytes replaced, and a line ended where mining's reader ends it
    (:func:`~foundups_training.mining.reader.read_open`): at a newline only, whatever the
    encoding, so that a UTF-16 log's lines are its UTF-8 twin's, and before a crash's run
    of NULs (:func:`_cuts`). A lone CR (a progress bar redrawing its line, an old Mac's
    line end) is text: ending a line there, as a text file is read by default, would make
    lines, and timestamps, that mining never sees, and the minute index (whose lines end
    where the reader's do) disagree with a whole read. Each line keeps its line end (the
    pieces of a cut line but the last have none); :func:`_window` takes it off (and one CR
    before it, as the reader does) from the lines it keeps only.

    A UTF-8 log with NULs in it has its lines read as bytes, cut, then decoded (a line's
    bytes are what the reader's cut measures); a UTF-16 log's are decoded as they are read,
    and a line with NULs in it is encoded again to be cut (UTF-16 gives the bytes it was
    decoded from)."""
    if encoding in ("utf-8", "utf-8-sig"):
        if _has_nul(fh):
            return _utf8_pieces(fh, lead, ended)
        return io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="\n")
    return _utf16_pieces(fh, encoding, lead, ended)


def _utf8_pieces(fh: BinaryIO, lead: int, ended: bool = True) -> Iterator[str]:
    """:func:`_text` of a UTF-8 log with NULs in it."""
    for raw in fh:
        if b"\0\0" in raw:
            yield from _pieces(raw, "utf-8", lead, ended or raw.endswith(b"\n"))
        else:
            yield raw.decode("utf-8", "replace")
        lead = 0


def _utf16_pieces(fh: BinaryIO, encoding: str, lead: int, ended: bool = True) -> Iterator[str]:
    """:func:`_text` of a UTF-16 log."""
    for line in io.TextIOWrapper(fh, encoding=encoding, errors="replace", newline="\n"):
        if "\0\0" in line:
            yield from _pieces(line.encode(encoding), encoding, lead, ended or line.endswith("\n"))
        else:
            yield line
        lead = 0


def _has_nul(fh: BinaryIO) -> bool:
    """Whether ``fh`` has a NUL byte from where it is on (where it stays). A log has none
    unless a crash left them: reading it whole here, at C speed, spares its lines being
    looked at one by one for them."""
    here = fh.tell()
    try:
        while block := fh.read(1 << 20):
            if b"\0" in block:
                return True
        return False
    finally:
        fh.seek(here)


def _cuts(line: bytes, encoding: str, lead: int = 0, ended: bool = True) -> list[int]:
    """Where mining's reader cuts ``line`` (the bytes of one line in ``encoding``, a name
    :func:`_encoding_of` gives, with its line end if it has one; ``lead`` bytes of its line
    before it, a byte order mark): the offsets its pieces start at, ``[0]`` when it is not
    cut. The reader's own rule, reused (:func:`~foundups_training.mining.reader.nul_pieces`,
    what ``read_open(..., nul_breaks=True)`` applies): before each run of NULs with text
    before and after it, in a line no longer than the reader's bound (a longer one it cuts
    short, NULs and all).

    ``ended``: False when ``line`` is a line's head that stops where the reader cut it, before
    a crash's NULs (a minute's run of lines, read as a byte range, may end there). What
    follows it in the log, the NULs and the text after them, is put back to cut it: a CR it
    ends with is then text before NULs, as in the whole line, not the CR before a line's end
    (a run before that CR has no text after it, and the reader does not cut there). Cut
    alone, ``\\r NULs \\r`` was one piece where the whole line gives two."""
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    nl = NEWLINES[codec]
    unit = len(nl)
    body = line.removesuffix(nl)
    if b"\0\0" not in body or lead + len(body) > MAX_LINE_BYTES - MAX_LINE_BYTES % unit:
        return [0]
    if not ended:
        # what the reader cut it before (any text after the NULs does): its cuts are the
        # whole line's up to there
        rest = ("\0" * MIN_NUL_RUN + "-").encode(codec)
        pieces = nul_pieces(body + rest, 0, len(body) + len(rest), codec, unit)
        return [piece.start for piece in pieces if piece.start < len(body)]
    return [piece.start for piece in nul_pieces(body, 0, len(line), codec, unit)]


def _pieces(line: bytes, encoding: str, lead: int, ended: bool = True) -> Iterator[str]:
    """``line`` (as :func:`_cuts` takes it, ``ended`` too) decoded, in the pieces mining's
    reader cuts it into; the last keeps the line end."""
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    cuts = _cuts(line, encoding, lead, ended)
    for start, end in itertools.pairwise([*cuts, len(line)]):
        yield line[start:end].decode(codec, "replace")


def _minutes(moment: Moment) -> tuple[str, str]:
    """The first and last "HH:MM" a moment's stretch touches."""
    return moment.start[:5], _end(moment.time)[:5]


@dataclass
class _Indexed:
    """One file's index: where each minute's lines are (see :class:`MinuteIndex`)."""

    inode: int
    head: bytes
    size: int = 0  # bytes indexed: whole lines only
    #: "YYYY-MM-DD HH:MM" -> (start, end) byte ranges of the runs of lines stamped then
    runs: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    open_key: str = ""  # the run still open at ``size`` (the log may go on with it)
    open_start: int = 0
    #: the last bytes indexed (up to :data:`_HEAD_BYTES`): a log rewritten in place keeps
    #: its inode and may keep its head and grow, but not these
    tail: bytes = b""


class MinuteIndex:
    """Where in a log each minute's lines are, so that a question's moment reads only them.

    One pass over the file records, for every minute a timestamp names, the byte ranges of
    its runs: consecutive lines stamped in that minute, with the unstamped lines (a
    traceback's) that follow them. ``012.txt`` is not in time order (sessions pasted one
    after another), so a minute may have many runs. The index grows with the file (only the
    new bytes are read) and is made again when the file is rotated, truncated or replaced
    (another inode, a smaller size, other first bytes, or other bytes where the indexed
    ones ended: a log rewritten in place with its head kept, an operator's edit of
    ``012.txt``, left the index pointing at other lines). Reading the runs of a stretch's
    minutes in file order gives exactly what :func:`window_lines` gives (a test holds the
    two equal on generated logs), at a cost that does not grow with the log. The log's
    head says its encoding (as it does for mining, and for :func:`window_lines`); a UTF-16
    log's lines end where mining's reader ends them (:func:`_runs_from`).
    """

    def __init__(self) -> None:
        self._files: dict[str, _Indexed] = {}
        self._lock = threading.Lock()

    def window(self, path: Path, moment: Moment) -> list[list[str]]:
        """What :func:`window_lines` gives for ``path`` and ``moment``."""
        with self._lock:
            idx = self._update(path)
            first, last = _minutes(moment)
            ranges = [
                r
                for key, found in idx.runs.items()
                if first <= key[11:] <= last and (not moment.day or key[:10].endswith(moment.day))
                for r in found
            ]
            open_run = bool(idx.open_key) and first <= idx.open_key[11:] <= last
            if open_run:
                ranges.append((idx.open_start, -1))  # to the end, a last partial line too
            tail = idx.size if not open_run and idx.size < _size(path) else -1
            encoding = _encoding_of(idx.head)
        lines: Iterator[str] = _read_ranges(path, sorted(ranges), encoding)
        if tail >= 0:
            # what was written after the index: lines that go on with the open run (not
            # read, so outside the stretch) until the first one with a timestamp
            after = _read_ranges(path, [(tail, -1)], encoding)
            lines = itertools.chain(lines, _stamped_from(after))
        return list(_window(lines, moment))

    def _update(self, path: Path) -> _Indexed:
        with path.open("rb") as fh:
            st = os.fstat(fh.fileno())
            head = fh.read(_HEAD_BYTES)
            idx = self._files.get(str(path))
            if (
                idx is None
                or idx.inode != st.st_ino
                or st.st_size < idx.size
                or head[: len(idx.head)] != idx.head
                or _bytes_at(fh, idx.size - len(idx.tail), len(idx.tail)) != idx.tail
                # a head too short to tell UTF-16 without a byte order mark, grown: what
                # was indexed was read in another encoding
                or _encoding_of(head) != _encoding_of(idx.head)
            ):
                idx = self._files[str(path)] = _Indexed(inode=st.st_ino, head=head)
            elif len(idx.head) < _HEAD_BYTES:
                idx.head = head
            starts, idx.size = _runs_from(fh, idx.size, _encoding_of(head), idx.open_key)
            for start, key in starts:
                if idx.open_key:
                    idx.runs.setdefault(idx.open_key, []).append((idx.open_start, start))
                idx.open_key, idx.open_start = key, start
            keep = min(idx.size, _HEAD_BYTES)
            idx.tail = _bytes_at(fh, idx.size - keep, keep)
        return idx


def _bytes_at(fh: BinaryIO, start: int, n: int) -> bytes:
    """``n`` bytes of ``fh`` from ``start``."""
    fh.seek(start)
    return fh.read(n)


#: Where each run of a log's new lines starts and the minute it is stamped with, and where
#: its whole lines end (see :func:`_runs_from`).
_Runs = tuple[list[tuple[int, str]], int]


def _runs_from(fh: BinaryIO, start: int, encoding: str, minute: str) -> _Runs:
    """The runs that start in the whole lines of the open log from byte ``start`` (a line
    boundary, inside a run stamped ``minute``, "" when none): where each starts and its
    "YYYY-MM-DD HH:MM"; and where those lines end. A last line still being written is left
    out: it is indexed once it is whole.

    A UTF-16 log is read by mining's reader (:func:`_read_runs_from`). A UTF-8 one, the
    log the host writes, is read as bytes and not decoded (:func:`_utf8_runs_from`): its
    lines end at each newline byte, where that reader ends them (a test holds the two
    equal), and reading it takes a third of the time.
    """
    if encoding == "utf-8":
        return _utf8_runs_from(fh, start, minute)
    return _read_runs_from(fh, start, encoding, minute)


def _utf8_runs_from(fh: BinaryIO, start: int, minute: str) -> _Runs:
    """:func:`_runs_from` of a UTF-8 log (its timestamps matched as bytes)."""
    fh.seek(start)
    # (NULs come from a crash, found when the machine starts again: not in bytes appended
    # between this look and the reading below)
    if _has_nul(fh):
        return _utf8_nul_runs_from(fh, start, minute)
    runs: list[tuple[int, str]] = []
    for line in fh:
        if not line.endswith(b"\n"):
            break  # being written
        stamp = _STAMP_BYTES.match(line)
        if stamp is None and line[:1] == b"\xef":
            stamp = _stamp_bytes(line)  # after a byte order mark
        if stamp is not None:
            key = (stamp.group(1) + b" " + stamp.group(2)).decode("ascii")
            if key != minute:
                runs.append((start, key))
                minute = key
        start += len(line)
    return runs, start


def _utf8_nul_runs_from(fh: BinaryIO, start: int, minute: str) -> _Runs:
    """:func:`_utf8_runs_from` of a log with NULs in it: a line is cut before a crash's run
    of them (:func:`_cuts`), and a timestamp after NULs (or byte order marks) that start a
    piece counts."""
    runs: list[tuple[int, str]] = []
    for line in fh:
        if not line.endswith(b"\n"):
            break  # being written
        for cut in _cuts(line, "utf-8") if b"\0\0" in line else (0,):
            piece = line[cut:] if cut else line  # a crash's NULs cut the line (_cuts)
            stamp = _stamp_bytes(piece)  # also after NULs, a byte order mark (see _stamp)
            if stamp is not None:
                key = (stamp.group(1) + b" " + stamp.group(2)).decode("ascii")
                if key != minute:
                    runs.append((start + cut, key))
                    minute = key
        start += len(line)
    return runs, start


def _read_runs_from(fh: BinaryIO, start: int, encoding: str, minute: str) -> _Runs:
    """:func:`_runs_from` by mining's reader (:func:`read_open`), which knows where a
    UTF-16 log's lines end: at a newline code unit, not at a newline byte inside another
    one, nor lost when one is split between two reads; and cuts a line before a crash's
    NULs as mining has it cut (``nul_breaks``). The first line's byte order mark is
    skipped, as :func:`window_lines` skips it."""
    runs: list[tuple[int, str]] = []
    bom = len(_BOMS.get(encoding, b""))
    for raw in read_open(fh, start, nul_breaks=True):
        text = raw.text[1:] if raw.start < bom else raw.text
        stamp = _stamp(text)
        if stamp is not None:
            key = f"{stamp.group(1)} {stamp.group(2)[:5]}"
            if key != minute:
                runs.append((raw.start, key))
                minute = key
        start = raw.end
    return runs, start


def _stamped_from(lines: Iterator[str]) -> Iterator[str]:
    """``lines`` from the first one with a timestamp on."""
    return itertools.dropwhile(lambda line: _stamp(line) is None, lines)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _read_ranges(
    path: Path, ranges: Sequence[tuple[int, int]], encoding: str = "utf-8"
) -> Iterator[str]:
    """The lines of ``ranges`` (start, end; end -1: to the end of the file), in order,
    decoded as :func:`window_lines` decodes the file (in ``encoding``, past its byte order
    mark: ranges start and end at line boundaries, so a UTF-16 one is whole code units)."""
    skip = len(_BOMS.get(encoding, b""))
    with path.open("rb") as fh:
        for start, end in ranges:
            lead = skip if start < skip else 0
            start = max(start, skip)
            fh.seek(start)
            data = fh.read() if end < 0 else fh.read(end - start)
            # a range ends at a line's end, or at a cut before a crash's NULs (_cuts)
            yield from _text(io.BytesIO(data), encoding, lead, ended=end < 0)


def mined_log(settings: Settings) -> Path:
    """The log a question's moment is read from: the one mining last read (its checkpoint
    says which), else the configured ``log_path``."""
    from foundups_training.mining.checkpoint import load_checkpoint

    with contextlib.suppress(Exception):
        checkpoint, _ = load_checkpoint(settings.checkpoint_path)
        if checkpoint is not None and checkpoint.path:
            return Path(checkpoint.path)
    return Path(settings.log_path)


def _seconds(timestamp: str) -> int:
    """Seconds into the day of an ISO timestamp ("2025-10-20T15:34:31"), -1 if none."""
    clock = timestamp[11:19]
    try:
        h, m, sec = (int(x) for x in clock.split(":"))
    except ValueError:
        return -1
    return h * 3600 + m * 60 + sec


def nearest(
    patterns: Sequence[Pattern], moment: Moment, key: Callable[[Pattern], str]
) -> list[Pattern]:
    """Of the patterns that are one answer (the same ``key``: what they decided), the one
    first seen nearest ``moment``: two reconnects after two errors a minute apart are two
    patterns with one decision, and the question means the one at the time it names."""
    at = _seconds(f"0000-00-00T{moment.time}")
    best: dict[str, Pattern] = {}
    for p in patterns:
        k = key(p)
        held = best.get(k)
        if held is None or abs(_seconds(p.first_seen) - at) < abs(_seconds(held.first_seen) - at):
            best[k] = p
    return list(best.values())


class LogMoments:
    """The patterns of the log at the moment a question names (see the module docstring)."""

    def __init__(self, log_path: Path | Callable[[], Path]) -> None:
        #: the log, or how to find it when asked (mining may start after the router)
        self.log_path = log_path
        self.index = MinuteIndex()

    def __call__(self, question: str) -> list[Pattern]:
        moment = named_moment(question)
        if moment is None:
            return []
        from foundups_training.mining.miner import extract_patterns

        path = self.log_path if isinstance(self.log_path, Path) else self.log_path()
        try:
            found: list[Pattern] = []
            for lines in self.index.window(path, moment):
                found.extend(extract_patterns(lines))
            return found
        except OSError as exc:
            log.info("the log at %s cannot be read for %s: %s", path, moment, exc)
            return []
        except Exception as exc:  # noqa: BLE001 - a question is still answered from the store
            # one line a question (the traceback only at DEBUG), as every survived failure
            warn_failure(log, f"reading the log at {path} for {moment.time} failed", exc)
            return []
