"""Questions the routing tables (``routing/rules.py``) still get wrong, each with its fix.

Each case is marked ``xfail(strict=True)``: it fails now and passes once its fix is made, and
then the mark must go (a strict xfail that passes fails the run) and the question moves to
``test_rules_table.py``, beside the entry that decides it. The gaps found with these tests
and fixed since (plurals, typographic apostrophes, "why" after a sentence or negated,
"happened", "error code", the kinds of program a logged line names, "banning", a plural noun
before its verb, and three calibration questions' shapes) are there now.
"""

from __future__ import annotations

import pytest

from foundups_training.routing import RoutingRules

M, L = "module_location", "lookup"

INTENT_GAPS = [
    pytest.param(
        "What crashed the daemon at noon?",
        L,
        marks=pytest.mark.xfail(
            strict=True,
            reason=(
                "MODULE_PATTERNS[2] lets any past tense through as a word before 'daemon': "
                "adding [a-z]+ed to its verbs fixes it but also drops 'Which automated tool …'"
            ),
        ),
    ),
]


@pytest.mark.parametrize(("text", "intent"), INTENT_GAPS)
def test_intent_gaps(text: str, intent: str) -> None:
    assert RoutingRules().intent(text) == intent


def test_a_module_question_with_a_past_participle_stays_one() -> None:
    """The reason the gap above is open: a fix must keep this one a module question."""
    assert RoutingRules().intent("Which automated tool posts the stream summary?") == M
