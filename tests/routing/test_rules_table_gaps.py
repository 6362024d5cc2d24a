"""Questions the routing tables (``routing/rules.py``) still get wrong, each with its fix.

Each case is marked ``xfail(strict=True)``: it fails now and passes once its fix is made, and
then the mark must go (a strict xfail that passes fails the run) and the question moves to
``test_rules_table.py``, beside the entry that decides it. The gaps found with these tests
and fixed since (plurals, typographic apostrophes, "why" after a sentence or negated,
"happened", "error code", the kinds of program a logged line names, "banning", a plural noun
before its verb, three calibration questions' shapes, and a past tense before "the daemon":
"What crashed the daemon at noon?") are there now.
"""

from __future__ import annotations

import pytest

from foundups_training.routing import RoutingRules

M, L = "module_location", "lookup"

INTENT_GAPS = [
    pytest.param(
        "What broke the server at noon?",
        L,
        marks=pytest.mark.xfail(
            strict=True,
            reason=(
                "MODULE_PATTERNS[2] tells a verb's past tense before 'the <program>' by its "
                "'-ed' ending; an irregular one ('broke', 'took down', 'shut') needs a list of "
                "them, and each must not also be a present tense or an adjective there"
            ),
        ),
    ),
]


@pytest.mark.parametrize(("text", "intent"), INTENT_GAPS)
def test_intent_gaps(text: str, intent: str) -> None:
    assert RoutingRules().intent(text) == intent


def test_a_module_question_with_an_irregular_participle_stays_one() -> None:
    """What a fix of the gap above must keep: a past participle before the program describes
    it, as "Which automated tool …" does (``test_rules_table.py``, module_patterns[2])."""
    assert RoutingRules().intent("Which broken tool posts the stream summary?") == M
