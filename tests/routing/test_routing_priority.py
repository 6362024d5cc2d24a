"""Priority questions that give the scores: the mined rule is applied to the question's numbers."""

from __future__ import annotations

import pytest

from foundups_training.mining.miner import extract_patterns
from foundups_training.records import Pattern, Query, Recalled
from foundups_training.routing import Router, RoutingRules
from foundups_training.routing.priority import apply_priority_rule, recorded_round, scores_in

from .loglines import RESOLVER, scoring_round, two_rounds
from .scripted import ListMemory, ScriptedModel


@pytest.fixture(scope="module")
def mined() -> list[Pattern]:
    patterns = [p for p in extract_patterns(two_rounds()) if p.kind == "priority"]
    assert len(patterns) == 2, patterns
    return patterns


def _recalled(patterns: list[Pattern]) -> list[Recalled]:
    return [Recalled(p, 0.6 - i / 10) for i, p in enumerate(patterns)]


@pytest.mark.parametrize(
    ("question", "first", "order"),
    [
        (
            "Qwen gave Move2Japan 1.00 and UnDaoDu 5.38. Which channel gets checked first?",
            "Move2Japan [JAPAN]",
            "Move2Japan [JAPAN] -> UnDaoDu [MINDFUL]",
        ),
        (
            "UnDaoDu scored 0.4, FoundUps 2.4 and Move2Japan 6.1 in the last round; "
            "which one did the resolver check first?",
            "UnDaoDu [MINDFUL]",
            "UnDaoDu [MINDFUL] -> FoundUps [LOYALTY] -> Move2Japan [JAPAN]",
        ),
        (
            "if foundups is at 9 and undaodu at 3, which is looked at before the other?",
            "UnDaoDu [MINDFUL]",
            "UnDaoDu [MINDFUL] -> FoundUps [LOYALTY]",
        ),
    ],
)
def test_the_rule_orders_the_scores_the_question_gives(
    mined: list[Pattern], question: str, first: str, order: str
) -> None:
    rule = apply_priority_rule(question, _recalled(mined))
    assert rule is not None
    assert rule.text.startswith(f"check {first} first (lower score = checked first)")
    assert rule.text.endswith(f"order: {order}")
    assert set(rule.pattern_ids) == {p.id for p in mined}


@pytest.mark.parametrize(
    "question",
    [
        "Move2Japan and UnDaoDu tied at 6.41. Which was checked first?",  # a tie
        "Move2Japan scored 1.00. Which channel gets checked first?",  # one channel
        "Move2Japan 1.00 and UnDaoDu 5.38: which channel is checked last?",
        "Move2Japan 1.00 and UnDaoDu 5.38: which channel is checked second?",
        "UnDaoDu scored 1.08; which channel was checked after UnDaoDu came up empty first?",
        "Move2Japan 1.00 and UnDaoDu 5.38 -- how many streams were found?",  # not about order
        "Move2Japan 1.00, Move2Japan 3.00 and UnDaoDu 2.00: which goes first?",  # two scores
        "Move2Japan and UnDaoDu had scores, one of them 1.00 and later 5.38; which came first?",
    ],
)
def test_the_rule_is_not_applied_on_a_guess(mined: list[Pattern], question: str) -> None:
    assert apply_priority_rule(question, _recalled(mined)) is None


def test_no_rule_without_a_recalled_pattern_that_states_it(mined: list[Pattern]) -> None:
    from dataclasses import replace

    question = "Qwen gave Move2Japan 1.00 and UnDaoDu 5.38. Which channel gets checked first?"
    silent = [replace(p, decision=p.decision.replace("lower", "higher")) for p in mined]
    assert apply_priority_rule(question, _recalled(silent)) is None
    assert apply_priority_rule(question, []) is None


def test_a_score_must_follow_its_channel_closely() -> None:
    assert scores_in("Move2Japan 1.5 and UnDaoDu 2", ["move2japan", "undaodu"]) == {
        "move2japan": 1.5,
        "undaodu": 2.0,
    }
    far = "Move2Japan was the channel we all liked most of all, 1.5"
    assert scores_in(far, ["move2japan"]) is None
    assert scores_in("Move2Japan2 3.0", ["move2japan"]) == {}  # a longer name is not the channel


@pytest.mark.parametrize(
    ("question", "scores"),
    [
        ("Move2Japan -1.5 and UnDaoDu 0.5: which first?", {"move2japan": -1.5, "undaodu": 0.5}),
        ("Move2Japan 5x2 and UnDaoDu 0.5: which first?", None),  # not a score of its own
        ("Move2Japan 1.2.3 and UnDaoDu 0.5", None),
        ("Move2Japan 1.00. UnDaoDu 5.38.", {"move2japan": 1.0, "undaodu": 5.38}),
        # 50,000 digits with more joined on (read once: this took 20 s before)
        ("Move2Japan " + "1" * 50_000 + "x1 or UnDaoDu 3", None),
    ],
)
def test_what_counts_as_a_channels_score(question: str, scores: dict[str, float] | None) -> None:
    assert scores_in(question, ["move2japan", "undaodu"]) == scores


def test_router_answers_from_the_rule_without_a_model(mined: list[Pattern]) -> None:
    gemma = ScriptedModel("gemma-test", probs=[0.01, 0.98, 0.01])
    qwen = ScriptedModel("qwen-test", probs=[0.01, 0.98, 0.01])
    router = Router(ListMemory([(p, 0.6) for p in mined]), gemma, qwen, rules=RoutingRules())
    question = "Qwen gave Move2Japan 1.00 and UnDaoDu 5.38. Which channel gets checked first?"
    answer = router.answer(Query(question))
    assert answer.text.startswith("check Move2Japan [JAPAN] first"), answer
    assert answer.tier == "memory" and not answer.escalated and 0 < answer.confidence <= 1
    assert set(answer.patterns) >= {p.id for p in mined}
    assert not gemma.calls and not qwen.calls
    # A forced model tier sees the rule's answer as the first option among the rounds.
    forced = router.answer(Query(question, tier="gemma"))
    assert len(gemma.calls) == 1 and forced.tier == "gemma"
    option_a = next(line for line in gemma.calls[0][1].text.split("\n") if line.endswith("= A"))
    assert option_a.startswith("«Move2Japan [JAPAN]=1, UnDaoDu"), option_a
    # Without numbers the question is an ordinary lookup: a model picks.
    router.answer(Query("Which channel is checked first in a scoring round?"))
    assert len(gemma.calls) == 2


def _found(t: str, scores: dict[str, float], video: str) -> list[str]:
    """A round whose first channel was live, with the video found."""
    *lines, _ = scoring_round(t, scores)
    first = min(scores, key=scores.__getitem__)
    live = f"[OK] Live stream found on {first}: video_id={video}"
    return [*lines, f"2025-10-20 {t}:07,000 - {RESOLVER} - INFO - {live}"]


_IDLE = [f"2025-10-20 16:20:{i:02d},000 - {RESOLVER} - INFO - idle" for i in range(30)]


@pytest.fixture(scope="module")
def rounds() -> list[Pattern]:
    """Three rounds with one order: two found a video (one pattern), one found nothing."""
    lines = _found("15:00", {"Move2Japan [JAPAN]": 2.1, "UnDaoDu [MINDFUL]": 4.2}, "FL6Os4uMYXA")
    lines += _found("15:10", {"Move2Japan [JAPAN]": 3.58, "UnDaoDu [MINDFUL]": 3.65}, "I2XQWhX1ssr")
    lines += scoring_round("15:20", {"Move2Japan [JAPAN]": 1.26, "UnDaoDu [MINDFUL]": 1.28})
    patterns = [p for p in extract_patterns([*lines, *_IDLE]) if p.kind == "priority"]
    assert len(patterns) == 2, patterns
    return sorted(patterns, key=lambda p: -p.seen)


def test_a_round_is_kept_with_all_its_scores(rounds: list[Pattern]) -> None:
    found, empty = rounds
    assert found.seen == 2 and [v[0] for v in found.variants] == [
        "Move2Japan [JAPAN]=2.10, UnDaoDu [MINDFUL]=4.20",
        "Move2Japan [JAPAN]=3.58, UnDaoDu [MINDFUL]=3.65",
    ]
    assert "video_id=I2XQWhX1ssr" in found.variants[1][2]
    assert empty.variants[0][0] == "Move2Japan [JAPAN]=1.26, UnDaoDu [MINDFUL]=1.28"


@pytest.mark.parametrize(
    ("question", "said"),
    [
        (
            "In the round where Move2Japan got 3.58 and UnDaoDu 3.65, which video was found?",
            "I2XQWhX1ssr",
        ),
        (
            "Move2Japan scored 2.10 and UnDaoDu 4.2: which broadcast did the first check find?",
            "FL6Os4uMYXA",
        ),
        (
            "When Move2Japan was at 1.26 and UnDaoDu 1.28, which channel was looked at first, "
            "and was it on air?",
            "No stream found on Move2Japan",
        ),
    ],
)
def test_a_question_with_a_recorded_rounds_scores_is_about_that_round(
    rounds: list[Pattern], question: str, said: str
) -> None:
    answer = recorded_round(question, _recalled(rounds))
    assert answer is not None
    assert answer.text.startswith("check Move2Japan [JAPAN] first (lower score = checked first)")
    assert said in answer.text
    assert len(answer.pattern_ids) == 1


@pytest.mark.parametrize(
    "question",
    [
        "Move2Japan scored 3.58. Which video was found?",  # one score names no round
        "Move2Japan got 3.58 and UnDaoDu 3.66: which video was found?",  # no such round
        "Move2Japan got 3.58 and UnDaoDu: which video was found?",
    ],
)
def test_no_round_is_named_on_a_guess(rounds: list[Pattern], question: str) -> None:
    assert recorded_round(question, _recalled(rounds)) is None


def test_two_rounds_with_the_same_scores_and_different_endings_name_neither() -> None:
    scores = {"Move2Japan [JAPAN]": 2.5, "UnDaoDu [MINDFUL]": 4.0}
    lines = [*_found("15:00", scores, "FL6Os4uMYXA"), *_found("15:10", scores, "I2XQWhX1ssr")]
    patterns = [p for p in extract_patterns([*lines, *_IDLE]) if p.kind == "priority"]
    question = "Move2Japan got 2.5 and UnDaoDu 4.0: which video was found?"
    assert recorded_round(question, _recalled(patterns)) is None


def test_router_finds_the_named_round_beyond_the_questions_recall(rounds: list[Pattern]) -> None:
    from dataclasses import replace

    found, empty = rounds
    fillers = [
        (replace(empty, id=f"e{i}", kind="error_fix", variants=(), tally=()), 0.9)
        for i in range(15)
    ]
    memory = ListMemory([*fillers, (empty, 0.8), (found, 0.5)])
    gemma = ScriptedModel("gemma-test", probs=[0.98, 0.01, 0.01])
    router = Router(memory, gemma, None, rules=RoutingRules())
    question = "Move2Japan got 3.58 and UnDaoDu 3.65. Which channel was checked first?"
    answer = router.answer(Query(question))
    assert "video_id=I2XQWhX1ssr" in answer.text, answer
    assert answer.tier == "memory" and answer.patterns[0] == found.id
    assert not gemma.calls
    assert memory.calls[-1]["where"] == {"kind": "priority"}
    # without the search among all rounds, the rule answers: the order, not the video
    narrow = Router(ListMemory(memory.items), gemma, None, rules=RoutingRules(round_recall_n=0))
    assert "video_id" not in narrow.answer(Query(question)).text
