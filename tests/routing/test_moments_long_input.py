"""A long question is read in time linear in its length: the words that make a time a moment
or not ("at 15h", "until 3 pm", "UTC-07:00") are looked for just before it, not in the whole
question before it. Looking in the whole question made 20,000 characters of "1 tonight"
take 12 s, and 100,000 characters 165 s.

The tests do not time anything (times vary with the machine): they count the characters the
module's patterns are given to search (a search tries a match at each of them), and hold the
total under a bound linear in the question's length, while the question still gets its
moment."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator

import pytest

from foundups_training.routing import moments
from foundups_training.routing.moments import Moment, named_moment

#: Characters the patterns may be given per character of the question: each of a dozen
#: patterns may look at every character once, and at a bounded stretch before each time.
_SCANS_PER_CHAR = 200
#: How long the long questions are.
_LENGTH = 20_000


class _Budget:
    """Characters the patterns have been given to search, up to a limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.spent = 0

    def spend(self, chars: int) -> None:
        """Count ``chars``; over the limit, fail at once (before the search is made: the
        quadratic reading took minutes for the longest questions)."""
        self.spent += max(0, chars)
        if self.spent > self.limit:
            raise AssertionError(f"the patterns searched over {self.limit} characters")


class _Counting:
    """A compiled pattern whose searches count the characters they may try a match at
    (from ``pos`` to ``endpos``). A ``match`` tries one position only and is not counted."""

    def __init__(self, pattern: re.Pattern[str], budget: _Budget) -> None:
        self._pattern = pattern
        self._budget = budget

    def search(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        self._budget.spend(min(endpos, len(string)) - pos)
        return self._pattern.search(string, pos, endpos)

    def finditer(
        self, string: str, pos: int = 0, endpos: int = sys.maxsize
    ) -> Iterator[re.Match[str]]:
        self._budget.spend(min(endpos, len(string)) - pos)
        return self._pattern.finditer(string, pos, endpos)

    def __getattr__(self, name: str) -> object:
        return getattr(self._pattern, name)


@pytest.fixture
def budget(monkeypatch: pytest.MonkeyPatch) -> _Budget:
    """Every compiled pattern of the module counted against one budget (for a question of
    :data:`_LENGTH` characters, or a little more)."""
    counted = _Budget(_SCANS_PER_CHAR * (_LENGTH + 100))
    for name, value in vars(moments).items():
        if isinstance(value, re.Pattern):
            monkeypatch.setattr(moments, name, _Counting(value, counted))
    return counted


def _long(piece: str, end: str = "") -> str:
    """``piece`` repeated to :data:`_LENGTH` characters, then ``end``."""
    return (piece * (_LENGTH // len(piece) + 1))[:_LENGTH] + end


@pytest.mark.parametrize(
    ("question", "moment"),
    [
        # an hour with a part of the day and no "at" before it: none is a moment
        (_long("1 tonight "), None),
        (_long("1 tonight ", "What failed at 9 tonight?"), Moment("21:00:00")),
        # "15h" without "at"
        (_long("15h "), None),
        (_long("15h ", "What failed at 15h?"), Moment("15:00:00")),
        # clock times that are lengths (each checked for a zone's "UTC-" before it)
        (_long("took 0:30 "), None),
        (_long("took 0:30 ", "What failed at 15:34?"), Moment("15:34:00")),
        (_long("retry after 0:30 "), None),
        (_long("retry after 0:30 ", "What failed at 15:34?"), Moment("15:34:00")),
        # hours and midnights waited for
        (_long("waited until 3 pm "), None),
        (_long("waited until 3 pm ", "What failed at 4 pm?"), Moment("16:00:00")),
        (_long("until midnight "), None),
        (_long("until midnight ", "What failed at noon?"), Moment("12:00:00")),
    ],
)  # fmt: skip
def test_a_long_question_is_read_in_linear_time(
    budget: _Budget, question: str, moment: Moment | None
) -> None:
    """Each searched the whole question before each of its times: over the budget at once."""
    assert named_moment(question) == moment
    assert budget.spent >= len(question)  # the counting patterns were the ones used


def test_the_word_before_a_time_is_still_read_whole_at_the_stretchs_edge() -> None:
    """The stretch before a time that is searched starts inside "that"; "at" must not be
    read there as a word of its own (the search still sees the letter before the stretch)."""
    spaces = " " * (moments._BEFORE_CHARS - len("at"))
    assert named_moment(f"What failed at{spaces}15h?") == Moment("15:00:00")
    assert named_moment(f"What failed that{spaces}15h?") is None
