"""A question about what happens *most often* whose alternatives are several patterns, not
the instances of one: the close alternative seen most often answers. Scripted memory only."""

from __future__ import annotations

from dataclasses import replace

from foundups_training.records import Pattern, Query
from foundups_training.routing import Router, RoutingRules

from .scripted import ListMemory

ASKED = "Which set of YouTube credentials runs dry most often?"

#: the error after which nothing was tried: one instance, nothing to choose among
EXHAUSTED = Pattern.make(
    "error_fix",
    "Error: ERROR youtube_auth: All credential sets exhausted; giving up",
    "no retry logged",
    variants=(
        (
            "ERROR youtube_auth: All credential sets exhausted; giving up",
            "no retry logged",
            "",
        ),
    ),
    tally=(7,),
    seen=7,
)


def _rotation(seen: int, counts: tuple[int, ...], ending: str) -> Pattern:
    """The rotation after a quota error, once per ending: its instances name the set that
    ran out (set ``n`` is followed by set ``n % 3 + 1``)."""
    sets = (3, 1, 2)[: len(counts)]
    return Pattern.make(
        "error_fix",
        "Error: Quota exceeded for credential set <NUM> (HttpError 403 quotaExceeded)",
        "tried: Rotating to credential set <NUM>",
        key=ending,
        outcome=ending,
        variants=tuple(
            (
                f"Quota exceeded for credential set {n} (HttpError 403 quotaExceeded)",
                f"tried: Rotating to credential set {n % 3 + 1}",
                ending,
            )
            for n in sets
        ),
        tally=counts,
        seen=seen,
    )


GAVE_UP = _rotation(7, (2, 5), "ERROR youtube_auth: All credential sets exhausted")
LOGGED_IN = _rotation(18, (6, 8, 4), "INFO youtube_auth: [OK] Authenticated")
API_KEY = Pattern.make(
    "log_template",
    "Using API key [REDACTED] for credential set <NUM>",
    "logs: Using API key [REDACTED] for credential set <NUM>",
    variants=(
        (
            "Using API key [REDACTED] for credential set 1",
            "logs: Using API key [REDACTED] for credential set 1",
            "",
        ),
    ),
    tally=(40,),
    seen=40,
)


def _answer(question: str, items: list[tuple[Pattern, float]]) -> str:
    router = Router(ListMemory(items), None, None, rules=RoutingRules())
    return router.answer(Query(question, tier="memory")).text


def test_the_close_alternative_seen_most_often_answers() -> None:
    """The nearest option (the error after which nothing was tried, 7 times) holds no
    alternatives of its own; the rotation a little further (25 times in two patterns) does,
    and says which set ran out most often. It answered only questions that named a set."""
    items = [(EXHAUSTED, 0.529), (GAVE_UP, 0.490), (LOGGED_IN, 0.472)]
    text = _answer(ASKED, items)
    assert text.startswith("tried: Rotating to credential set 2")
    assert text.endswith("after: Quota exceeded for credential set 1 (HttpError 403 quotaExceeded)")
    # not asked what happens most often: the nearest answers
    assert _answer("What happens when all credential sets are exhausted?", items).startswith(
        "no retry logged after:"
    )


def test_an_unrelated_or_far_frequent_pattern_does_not_win() -> None:
    """Only close alternatives of the same kind compete: a routine line seen 40 times, or a
    rotation seen 25 times but far below the nearest, answers nothing here."""
    text = _answer(ASKED, [(EXHAUSTED, 0.529), (API_KEY, 0.520)])
    assert text.startswith("no retry logged after:")
    text = _answer(ASKED, [(EXHAUSTED, 0.529), (GAVE_UP, 0.460), (LOGGED_IN, 0.450)])
    assert text.startswith("no retry logged after:")


def test_a_nearest_option_with_counted_alternatives_of_its_own_answers() -> None:
    """The nearest pattern's own instances are the alternatives the question names ("which
    menu option"): a nearby line seen more often is another question's answer."""
    menu = Pattern.make(
        "log_template",
        "Menu option <NUM> selected",
        "logs: Menu option <NUM> selected",
        variants=tuple(
            (f"Menu option {n} selected", f"logs: Menu option {n} selected", "") for n in (1, 12)
        ),
        tally=(5, 7),
        seen=12,
    )
    idle = Pattern.make(
        "log_template",
        "[IDLE] Phase <NUM>: pattern training",
        "logs: [IDLE] Phase <NUM>: pattern training",
        seen=33,
    )
    text = _answer("Which menu option is picked most often?", [(menu, 0.30), (idle, 0.27)])
    assert text == "logs: Menu option 12 selected (7 of 12 times)"


def test_a_tie_decides_nothing_and_the_confidence_is_the_choices_own() -> None:
    """Seen as often as the nearest: the nearest stays. Chosen below the nearest: the
    confidence is the chosen option's share of the retrieval prior, not the nearest's."""
    even = replace(LOGGED_IN, seen=7, tally=(2, 4, 1))
    text = _answer(ASKED, [(EXHAUSTED, 0.529), (even, 0.490)])
    assert text.startswith("no retry logged after:")

    def raw(tier: str, value: float, coverage: float = 0.0, intent: str = "") -> float:
        return value

    router = Router(
        ListMemory([(EXHAUSTED, 0.529), (LOGGED_IN, 0.490)]),
        None,
        None,
        rules=RoutingRules(),
        calibration=raw,  # type: ignore[arg-type]
    )
    answer = router.answer(Query(ASKED, tier="memory"))
    assert answer.text.startswith("tried: Rotating")
    assert answer.confidence < 0.5  # the nearer option keeps the larger share


def test_an_options_instances_are_counted_across_its_patterns() -> None:
    """The rotation is two patterns (one per ending) with one decision: set 1 ran out 5
    times before the rotation that gave up and 8 before the one that logged in, 13 of 25 in
    all. The answer said "5 of 7 times" and the ending of the pattern that happened to be
    nearer; it now counts the option and shows the ending that instance had most often."""
    from foundups_training.routing.instances import concrete_text

    found = concrete_text(ASKED, [GAVE_UP, LOGGED_IN])
    assert found is not None
    assert found.text == (
        "tried: Rotating to credential set 2 (13 of 25 times)"
        " (then: INFO youtube_auth: [OK] Authenticated)"
    )
    assert found.situation == "Quota exceeded for credential set 1 (HttpError 403 quotaExceeded)"
    # one pattern whose count missed occurrences: the option cannot be counted, and the
    # nearest pattern that can be answers for itself, as before
    found = concrete_text(ASKED, [GAVE_UP, replace(LOGGED_IN, seen=30)])
    assert found is not None
    assert found.text.startswith("tried: Rotating to credential set 2 (5 of 7 times)")
