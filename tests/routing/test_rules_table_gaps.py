"""Questions the routing tables (``routing/rules.py``) still get wrong, each with its fix.

Each case is marked ``xfail(strict=True)``: it fails now and passes once its fix is made, and
then the mark must go (a strict xfail that passes fails the run) and the question moves to
``test_rules_table.py``, beside the entry that decides it. The gaps found with these tests
and fixed since (plurals, typographic apostrophes, "why" after a sentence or negated,
"happened", "error code", the kinds of program a logged line names, "banning", a plural noun
before its verb, three calibration questions' shapes, and a past tense before "the daemon",
regular or irregular: "What crashed the daemon at noon?", "What broke the server at noon?",
"What sent the server offline?", "What hit the server at noon?", and a cause asked with
"made": "What made the daemon crash?") are there now.

A new gap goes into ``INTENT_GAPS`` as ``pytest.param(question, intent,
marks=pytest.mark.xfail(strict=True, reason=...))``, the reason naming the entry at fault and
what a fix must keep; with none open, its test is skipped.
"""

from __future__ import annotations

import pytest

from foundups_training.routing import RoutingRules

M, L = "module_location", "lookup"

INTENT_GAPS: list[object] = []


@pytest.mark.parametrize(
    ("text", "intent"),
    INTENT_GAPS or [pytest.param("", "", marks=pytest.mark.skip(reason="no gap is open"))],
)
def test_intent_gaps(text: str, intent: str) -> None:
    assert RoutingRules().intent(text) == intent


def test_a_module_question_with_an_irregular_participle_stays_one() -> None:
    """What the fix of the last gap had to keep: a past participle before the program
    describes it, as "Which automated tool …" does (``test_rules_table.py``,
    module_patterns[2]); "broken" is no past tense, so no list of them may hold it."""
    assert RoutingRules().intent("Which broken tool posts the stream summary?") == M
