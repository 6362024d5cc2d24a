"""Robustness of the router's answer-building helpers: questions and logs that made a helper
raise, hang, or read another moment or other numbers than the question names."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foundups_training.config import ConfigError
from foundups_training.mining.miner import extract_patterns
from foundups_training.records import MASKED, Pattern, Query, Recalled
from foundups_training.routing import Router, RoutingRules
from foundups_training.routing.instances import settle
from foundups_training.routing.moments import (
    LogMoments,
    MinuteIndex,
    Moment,
    named_moment,
    window_lines,
)
from foundups_training.routing.priority import apply_priority_rule, recorded_round, scores_in

from .loglines import conflict as _conflict
from .loglines import quiet as _quiet
from .loglines import two_rounds
from .scripted import ListMemory

# -- moments: the clock time and the day a question names -----------------------------------


@pytest.mark.parametrize(
    ("question", "moment"),
    [
        # under IGNORECASE alone a long s matched "s": KeyError 'ſeptember', the answer lost
        ("At 15:34 on 20 ſeptember, how many rows?", Moment("15:34:00")),
        ("At 15:34 in auguſt 3, how many rows?", Moment("15:34:00")),
        # a 12-hour clock: 3:34 pm is 15:34, not 03:34
        ("At 3:34 pm on 20 October, how many rows?", Moment("15:34:00", "10-20")),
        ("Around 3:35 p.m. on 20 October, rows?", Moment("15:35:00", "10-20", True)),
        ("At 12:05 a.m. the bot restarted", Moment("00:05:00")),
        ("At 12:30 PM the bot restarted", Moment("12:30:00")),
        ("At 9:15am the bot restarted", Moment("09:15:00")),
        # "may" the verb is no month
        ("Retry 2 may have failed at 15:34. How many rows?", Moment("15:34:00")),
        ("Attempt 2 may fail; at 15:34 on 20 October, rows?", Moment("15:34:00", "10-20")),
        # digits of another script are read as the log's
        ("At １５:３４ on 20 October, how many rows?", Moment("15:34:00", "10-20")),
        ("At 15:3٤ on 20 October, how many rows?", Moment("15:34:00", "10-20")),
        ("At 15:34 on ٢٠٢٥-١٠-٢٠, how many rows?", Moment("15:34:00", "10-20")),
    ],
)  # fmt: skip
def test_the_moment_an_odd_question_names(question: str, moment: Moment) -> None:
    assert named_moment(question) == moment


@pytest.mark.parametrize(
    ("question", "moment"),
    [
        ("At 15:34 pm the bot restarted", Moment("15:34:00")),  # a 24-hour time stays
        ("At 0:30 am the bot restarted", Moment("00:30:00")),
        ("At 10:15 a message came in", Moment("10:15:00")),  # "a m…" is no "am"
        ("On 2 May at 15:34, rows?", Moment("15:34:00", "05-02")),
        ("On May 2 at 15:34, rows?", Moment("15:34:00", "05-02")),
        ("At 15:34 on 2 MAY, rows?", Moment("15:34:00", "05-02")),
        ("Between 25:61 and 15:34, rows?", Moment("15:34:00")),  # the first time of day
    ],
)  # fmt: skip
def test_what_was_read_before_is_read_the_same(question: str, moment: Moment) -> None:
    assert named_moment(question) == moment


@pytest.mark.parametrize("question", ["At 23:59:60 the clock leapt", "At 24:00 it stopped"])
def test_no_time_of_day_no_moment(question: str) -> None:
    assert named_moment(question) is None


@pytest.fixture()
def log(tmp_path: Path) -> Path:
    lines = [
        *_conflict("20", "15:20", 20),
        *_quiet("20", "15", 21),
        *_conflict("20", "15:34", 40),
        *_quiet("20", "15", 36),
        *_conflict("21", "15:34", 50),
        *_quiet("21", "15", 36),
    ]
    path = tmp_path / "012.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class _Memory(ListMemory):
    def pattern_similarity(self, query: str, patterns: Sequence[Pattern]) -> list[float]:
        return [0.8 if "INSERT OR REPLACE" in p.decision else 0.3 for p in patterns]


def _router(log: Path) -> Router:
    lines = log.read_text().splitlines()
    stored = [p for p in extract_patterns(lines) if p.kind == "error_fix"]
    memory = _Memory([(p, 0.7) for p in stored])
    return Router(memory, None, None, rules=RoutingRules(), moments=LogMoments(log))


def test_a_long_s_in_a_month_loses_no_answer(log: Path) -> None:
    answer = _router(log).answer(
        Query("At 15:34 in auguſt 20 a write hit a duplicate key. Rows written?", tier="memory")
    )
    assert answer.tier == "memory" and not answer.error  # was tier none, KeyError: 'auguſt'
    assert "Transaction committed" in answer.text


def test_a_12_hour_clock_reads_the_afternoon(log: Path) -> None:
    ask = "At 3:34 pm on 20 October a write hit a duplicate key. How many rows did the retry write?"
    answer = _router(log).answer(Query(ask, tier="memory"))
    # 03:34 is silent: the store's latest retry (50 rows) answered instead
    assert "(then: 15:34:12 INFO db_manager: [OK] Transaction committed (40 rows))" in answer.text


def test_may_the_verb_does_not_name_a_silent_day(log: Path) -> None:
    ask = "Retry 2 may have hit a duplicate key at 15:20. How many rows did it write?"
    answer = _router(log).answer(Query(ask, tier="memory"))
    assert "(20 rows)" in answer.text  # 2 May is silent: the store's 50 rows answered


def test_a_log_rewritten_in_place_with_its_head_kept_is_indexed_again(tmp_path: Path) -> None:
    head = [
        line for hh in ("12", "13", "14") for m in (0, 12, 24, 36) for line in _quiet("20", hh, m)
    ]
    later = _quiet("21", "16", 0)
    log = tmp_path / "012.txt"
    log.write_text("\n".join([*head, *later]) + "\n", encoding="utf-8")
    assert log.stat().st_size > 2 * 4096  # the edit below keeps the first 4 KB
    index = MinuteIndex()
    moment = Moment("15:34:00", "10-21")
    assert index.window(log, moment) == []
    # an operator's edit in place (the same inode, the same head), longer than before: the
    # 21st's retry pasted in ahead of its later lines
    with log.open("r+", encoding="utf-8") as fh:
        fh.write("\n".join([*head, *_conflict("21", "15:34", 70), *later]) + "\n")
    got = index.window(log, moment)
    assert got == list(window_lines(log, moment))  # was []: the old offsets, 16:00's lines
    assert "(70 rows)" in " ".join(got[0])


# -- priority: the scores a question gives ---------------------------------------------------


@pytest.fixture(scope="module")
def rounds() -> list[Recalled]:
    patterns = [p for p in extract_patterns(two_rounds()) if p.kind == "priority"]
    assert len(patterns) == 2
    return [Recalled(p, 0.6 - i / 10) for i, p in enumerate(patterns)]


@pytest.mark.parametrize(
    "question",
    [
        "Qwen gave Move2Japan 1,000 and UnDaoDu 5.38. Which channel is checked first?",
        "Qwen gave Move2Japan 1\u00a0000 and UnDaoDu 5.38. Which channel is checked first?",
        "Qwen gave Move2Japan 1 000 and UnDaoDu 5.38. Which channel is checked first?",
        "Qwen gave Move2Japan 1,000,000 and UnDaoDu 5.38. Which channel is checked first?",
        "Qwen gave Move2Japan 1.000,5 and UnDaoDu 5.38. Which channel is checked first?",
    ],
)
def test_grouped_digits_are_not_read_as_their_first_group(
    question: str, rounds: list[Recalled]
) -> None:
    # "1,000" read as 1 had Move2Japan checked first, ahead of UnDaoDu's 5.38
    assert apply_priority_rule(question, rounds) is None


def test_a_decimal_comma_is_read_as_a_decimal(rounds: list[Recalled]) -> None:
    names = ["move2japan", "undaodu"]
    question = "Qwen gave Move2Japan 3,82 and UnDaoDu 7,03. Which channel is checked first?"
    assert scores_in(question, names) == {"move2japan": 3.82, "undaodu": 7.03}
    found = recorded_round(question, rounds)  # the round the log recorded with those scores
    assert found is not None and "No stream found on Move2Japan [JAPAN]" in found.text
    rule = apply_priority_rule("Move2Japan 12,5 and UnDaoDu 5,38: which goes first?", rounds)
    assert rule is not None and rule.text.startswith("check UnDaoDu [MINDFUL] first")
    assert "UnDaoDu [MINDFUL]=5.38, Move2Japan [JAPAN]=12.5" in rule.evidence


@pytest.mark.parametrize(
    ("question", "scores"),
    [
        ("UnDaoDu scored 0.4, Move2Japan 6.1; which first?", {"undaodu": 0.4, "move2japan": 6.1}),
        ("Move2Japan 1, UnDaoDu 2, which first?", {"move2japan": 1.0, "undaodu": 2.0}),
        ("Move2Japan 5 1000 UnDaoDu 2", {"move2japan": 5.0, "undaodu": 2.0}),
        ("Move2Japan 3.82. UnDaoDu 7.03.", {"move2japan": 3.82, "undaodu": 7.03}),
    ],
)
def test_plain_scores_read_as_before(question: str, scores: dict[str, float]) -> None:
    assert scores_in(question, ["move2japan", "undaodu"]) == scores


# -- instances: a template filled in from its instances ---------------------------------------

_HANG = textwrap.dedent(
    """
    from foundups_training.mining.miner import extract_patterns
    from foundups_training.routing.instances import concrete_text

    def line(t, first):
        ids = ", ".join(str(n) for n in [first, *range(2, 40)])
        return f"2025-10-20 15:{t:02d}:00,000 - modules.x.src.poller - INFO - Queue ids: {ids}"

    (pattern,) = [p for p in extract_patterns([line(1, 1), line(2, 7)]) if p.variants]
    assert pattern.decision.endswith("<*>"), pattern.decision  # cut at 200 characters
    print(concrete_text("what did the poller log?", [pattern]))
    """
)


def test_a_long_logged_list_does_not_hang_a_lookup() -> None:
    # The template's literals were matched by a backtracking regex: a logged list of 40 ids,
    # its template cut where its instance is not, tried every split (minutes, holding the
    # interpreter lock). The bound only keeps a regression from hanging the suite.
    done = subprocess.run(
        [sys.executable, "-c", _HANG], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"


def _regex_settle(template: str, decisions: list[str]) -> str | None:
    """The former reading: a regex with a lazy group per placeholder (small inputs only)."""
    literals, slots = MASKED.split(template), MASKED.findall(template)
    if not slots or "" in literals[1:-1]:
        return None
    shape = re.compile("(.+?)".join(re.escape(p) for p in literals), re.DOTALL)
    filled: list[set[str]] = [set() for _ in slots]
    for decision in decisions:
        match = shape.fullmatch(decision)
        if match is None:
            return None
        for seen, value in zip(filled, match.groups(), strict=True):
            seen.add(value)
    if all(len(seen) > 1 for seen in filled):
        return None
    out = [literals[0]]
    for slot, seen, literal in zip(slots, filled, literals[1:], strict=True):
        out.append(next(iter(seen)) if len(seen) == 1 else slot)
        out.append(literal)
    return "".join(out)


_bit = st.text(alphabet="ab, <", max_size=3)


@settings(max_examples=400, deadline=None)
@given(
    literals=st.lists(_bit, min_size=2, max_size=4),
    slot=st.sampled_from(["<NUM>", "<ID>"]),
    decisions=st.lists(st.text(alphabet="ab, <1", max_size=10), min_size=1, max_size=3),
)
def test_settle_reads_a_decision_as_the_regex_did(
    literals: list[str], slot: str, decisions: list[str]
) -> None:
    template = slot.join(literals)
    assert settle(template, decisions) == _regex_settle(template, decisions)


def test_settle_fills_what_every_instance_agrees_on() -> None:
    template = "logs: a <NUM>, b <NUM>, c <NUM>"
    assert settle(template, ["logs: a 1, b 2, c 3", "logs: a 1, b 5, c 3"]) == (
        "logs: a 1, b <NUM>, c 3"
    )
    assert settle(template, ["logs: a 1, b 2", "logs: a 1, b 5, c 3"]) is None


def test_a_failing_moment_read_logs_one_line(
    log: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import foundups_training.mining.miner as miner

    def broken(lines: object) -> list[Pattern]:
        raise ValueError("bad line")

    monkeypatch.setattr(miner, "extract_patterns", broken)
    caplog.set_level(logging.INFO, logger="foundups_training.routing.moments")
    assert LogMoments(log)("At 15:34 on 20 October, how many rows?") == []
    (record,) = caplog.records
    assert "ValueError: bad line" in record.getMessage()
    assert record.exc_info is None  # was a traceback at ERROR, on every such question


# -- rules: odd values in the routing table ----------------------------------------------------


@pytest.mark.parametrize("value", [0, 0.0, "0"])
def test_no_options_at_all_is_refused(value: object) -> None:
    # max_options = 0 passed the check, then every lookup answered "" ("no patterns recalled")
    with pytest.raises(ConfigError, match=r"'max_options'.*at least 1"):
        RoutingRules().updated({"max_options": value})
    with pytest.raises(ConfigError, match="'max_options'"):
        RoutingRules(max_options=0)
    assert RoutingRules().updated({"max_options": 1}).max_options == 1
