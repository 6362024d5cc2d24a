"""More gaps of the routing tables (``routing/rules.py``): past tenses they did not know.

A question of the shape "What <past tense> the <program> …?" asks what was done to the
program, a logged event, as "What crashed the daemon?" and "What wrote the service's lock
file?" do (``test_rules_table.py``, module_patterns[2]). "held", "found", "built" and other
irregular past tenses were not in ``IRREGULAR_PAST``, nor "through", "into" … among the
words that may follow the past tense, so "What held the daemon's lock?" or "What tore
through the server's memory?" were read as module questions. A question about what a part of
the system does ("Which part builds the report?", "Which parts handle the retries?") was read
as a log question: only "part of the code / system …" named one.

What must stay: a past tense right after "which module" or a kind of program ("Which module
held the lock?", "Which tool found the stream at 3 pm?") leaves a module question, as "Which
module sent the alert?" does; a present tense after a plural ("Which jobs read the config?")
too; "built-in", "held-out" before the program describe it; a past tense before a thing that
is no program ("Which channel held the top score?") is a log question.
"""

from __future__ import annotations

import pytest

from foundups_training.routing import RoutingRules

M, L = "module_location", "lookup"

#: a past tense, then "the", "our" …, then the program: what was done to it, a logged event
PAST_BEFORE_A_PROGRAM = [
    ("What held the daemon's lock?", L),
    ("What held the server's port at noon?", L),
    ("What found the dashboard's stale cache?", L),
    ("What built the dashboard at noon?", L),
    ("Which job built the dashboard at noon?", L),
    ("Which jobs held the daemon's lock?", L),
    ("What bound the server's port at noon?", L),
    ("What told the daemon to stop?", L),
    ("What bit the service at noon?", L),
    ("What spent the service's quota?", L),
    ("What rebuilt the dashboard at noon?", L),
    ("What rewrote the service's config?", L),
    ("What overran the daemon's budget?", L),
    ("What overtook the daemon's queue?", L),
    ("What swept the server's cache?", L),
    ("What drew the dashboard's chart twice?", L),
    ("What hid the dashboard's quota panel?", L),
    ("What shrank the service's cache?", L),
    ("What undid the server's config change?", L),
    ("What forgot the daemon's token?", L),
    # past tenses that are present tenses after a plural: past only right after "what"
    ("What read the server's config at noon?", L),
    ("What split the service in two?", L),
    ("What quit the app at noon?", L),
    ("What spread the daemon's load?", L),
]

#: the past tense and "the" with a word between: "tore through the …", "ate into the …"
PAST_AND_PARTICLE = [
    ("What tore through the server's memory?", L),
    ("What ran through the daemon's quota?", L),
    ("What ate into the server's memory?", L),
    ("What got into the daemon at noon?", L),
    ("What broke into the dashboard?", L),
    ("What dug into the daemon's logs?", L),
    ("What crashed in the daemon at noon?", L),
    ("What failed on the server at noon?", L),
    ("What cut through the service's quota?", L),
]

#: what a part of the system does: a module question
PART_THAT_DOES = [
    ("Which part builds the report?", M),
    ("Which part handles the retries?", M),
    ("What piece finds the stream?", M),
    ("Which part reads the chat during a broadcast?", M),
    ("Which parts handle the retries?", M),
    ("Which pieces build the report?", M),
]

#: questions these fixes must leave as they were
KEPT = [
    ("Which module builds the report?", M),
    ("Where is the code that finds the stream?", M),
    ("Which module held the lock?", M),  # as "Which module sent the alert?"
    ("Which tool found the stream at 3 pm?", M),
    ("Which part of the code builds the report?", M),
    ("Which built-in tool checks the answers?", M),
    ("Which held-out tool checks the answers?", M),
    ("Which found-files tool lists the strays?", M),
    ("Which jobs build the dashboard?", M),
    ("Which jobs read the server's config?", M),  # present after a plural
    ("What jobs read the server's config?", M),
    ("Which jobs split the service's logs?", M),
    ("What tools plug into the dashboard?", M),
    ("What made the dashboard?", M),  # "made" stays out (test_rules_table.py)
    ("What tore through the quota yesterday?", L),
    ("What found the stream?", L),
    ("What found the stream at 3 pm?", L),
    ("Which channel held the top score?", L),
    ("What held the lock?", L),
    ("Which part built the report?", L),  # a past tense: a logged event
    ("What part of the message was missing?", L),
    ("Which part was missing from the report?", L),
    ("What part numbers does the log show?", L),
    ("Which bits sets the flag?", L),  # no verb after a plural in "-s"
    ("Which part says the quota ran out?", L),  # what a logged line holds
    ("Which parts say the quota ran out?", L),
    ("Which part is the slowest?", L),
    ("Which parts of the report are missing?", L),
    ("Which parts in the log mention the quota?", L),
    ("What part contains the error code?", L),
]


@pytest.mark.parametrize(
    ("text", "intent"), PAST_BEFORE_A_PROGRAM + PAST_AND_PARTICLE + PART_THAT_DOES + KEPT
)
def test_intent(text: str, intent: str) -> None:
    assert RoutingRules().intent(text) == intent


#: "Which part …" is a lead-in as "Which module …" is; "Which parts …", as "Which modules …",
#: is none
SINGULAR_PARTS = [c for c in PART_THAT_DOES if c[0].split(" ")[1] in ("part", "piece")]


@pytest.mark.parametrize(("text", "intent"), SINGULAR_PARTS)
def test_a_part_question_is_searched_without_its_lead_in(text: str, intent: str) -> None:
    """As "What part of the system compiles …" is searched as "compiles …": the same words
    as the question asked with "module" instead."""
    rules = RoutingRules()
    kind = text.split(" ")[1]
    assert rules.module_search_text(text) == rules.module_search_text(
        text.replace(kind, "module", 1)
    )
    assert rules.module_search_text(text) != text
