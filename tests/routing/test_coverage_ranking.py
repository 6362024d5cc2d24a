"""Module options ranked by their similarity plus a light weight of their word coverage.

Of two modules retrieval finds about as near, the one whose patterns say what the question
says comes first; lookups keep the plain order. Weighed at ``COVERAGE_WEIGHT`` (0.1 for a
full coverage), so it breaks near-ties and never lifts a far option; each option keeps its
own similarity (the fast path and the memory's confidence read it)."""

from __future__ import annotations

from foundups_training.records import Pattern, Query
from foundups_training.routing import Router, RoutingRules
from foundups_training.routing.router import COVERAGE_WEIGHT

from .scripted import ListMemory, ScriptedModel, module_pattern

QUESTION = "Which module keeps a JSON state file under memory?"
STATE = module_pattern(
    "modules/infrastructure/idle_automation", "writes a JSON state file under memory/"
)
SHORTS = module_pattern("modules/communication/youtube_shorts", "generates short videos from clips")


def _router(memory: ListMemory) -> Router:
    return Router(
        memory, ScriptedModel("g", probs=[0.98, 0.01]), ScriptedModel("q"), rules=RoutingRules()
    )


def test_of_two_near_modules_the_one_saying_the_questions_words_comes_first() -> None:
    memory = ListMemory([(SHORTS, 0.62), (STATE, 0.60)])
    ans = _router(memory).answer(Query(QUESTION, tier="memory"))
    assert ans.text == "modules/infrastructure/idle_automation"


def test_a_far_option_is_not_lifted_by_its_words() -> None:
    gap = COVERAGE_WEIGHT + 0.05  # more than a full coverage is worth
    memory = ListMemory([(SHORTS, 0.60 + gap), (STATE, 0.60)])
    ans = _router(memory).answer(Query(QUESTION, tier="memory"))
    assert ans.text == "modules/communication/youtube_shorts"


def test_a_lookup_keeps_the_plain_order() -> None:
    """A routine line repeating the question's nouns does not pass the error the question
    describes in other words: lookups are not reranked by their words."""
    exhausted = Pattern.make(
        "error_fix", "Error: All credential sets exhausted; giving up", "no retry logged",
        source="log",
    )  # fmt: skip
    routine = Pattern.make(
        "log_template", "Using API key for credential set <NUM>",
        "logs: Using API key for credential set <NUM>", source="log",
    )  # fmt: skip
    memory = ListMemory([(exhausted, 0.529), (routine, 0.520)])
    question = "What happens when the credential set runs dry?"
    ans = _router(memory).answer(Query(question, tier="memory"))
    assert ans.text.startswith("no retry logged")
