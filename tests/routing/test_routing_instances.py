"""A masked answer made concrete: the recorded instance the question names by its numbers or
by the words that tell the instances apart."""

from __future__ import annotations

from dataclasses import replace

from foundups_training.records import MAX_VARIANTS, Pattern, Query
from foundups_training.routing import Router, RoutingRules
from foundups_training.routing.instances import concrete_text, instance_for, named_outcome

from .scripted import ListMemory, ScriptedModel

ROTATION = Pattern.make(
    "error_fix",
    "Error: ERROR youtube_auth: Quota exceeded for credential set 1 (HttpError 403)",
    "tried: Rotating to credential set <NUM>",
    outcome="15:36:58 INFO youtube_auth: [OK] Authenticated with credential set 3",
    variants=(
        ("Quota exceeded for credential set 1 (HttpError 403 quotaExceeded)",
         "tried: Rotating to credential set 2", "15:13:09 INFO youtube_auth: [OK] set 2"),
        ("Quota exceeded for credential set 2 (HttpError 403 quotaExceeded)",
         "tried: Rotating to credential set 3", ""),
        ("Quota exceeded for credential set 3 (HttpError 403 quotaExceeded)",
         "tried: Rotating to credential set 1", "15:07:52 INFO youtube_auth: [OK] set 1"),
    ),
)  # fmt: skip


def test_the_instance_the_question_names_answers() -> None:
    q = "Credential set 1 ran out of YouTube API quota. Which set did the auth module switch to?"
    assert concrete_text(q, [ROTATION]) == (
        "tried: Rotating to credential set 2 (then: 15:13:09 INFO youtube_auth: [OK] set 2)",
        "Quota exceeded for credential set 1 (HttpError 403 quotaExceeded)",
    )
    q = "When credential set 2 hit its YouTube quota, which set did it move on to?"
    assert concrete_text(q, [ROTATION]) == (
        "tried: Rotating to credential set 3",
        "Quota exceeded for credential set 2 (HttpError 403 quotaExceeded)",
    )


def test_a_number_every_instance_has_decides_nothing() -> None:
    for q in ("YouTube answered 403 quotaExceeded. What is the recovery?", "what is the fix?"):
        assert instance_for(q, ROTATION) is None
        assert concrete_text(q, [ROTATION]) is None  # instances disagree: the template stays


def test_instances_that_all_say_the_same_make_the_template_concrete() -> None:
    one = ("Circuit breaker: 3 consecutive failures", "warning: Circuit breaker: 3 failures", "")
    breaker = replace(ROTATION, decision="warning: Circuit breaker: <NUM> failures", outcome="",
                      variants=(one,))  # fmt: skip
    q = "After how many failures does the circuit breaker fire?"
    # no single instance was named: no situation of its own
    assert concrete_text(q, [breaker]) == ("warning: Circuit breaker: 3 failures", "")
    # ... unless instances were left out (the cap): a later one may have said otherwise
    full = replace(breaker, variants=tuple((f"s {i}", one[1], "") for i in range(MAX_VARIANTS)))
    assert concrete_text(q, [full]) is None
    assert concrete_text(q, [replace(breaker, variants=())]) is None


def test_tied_instances_that_disagree_are_not_guessed() -> None:
    both = replace(
        ROTATION,
        variants=(("set 1 failed", "tried: set 2", ""), ("set 1 failed again", "tried: set 3", "")),
    )
    assert concrete_text("set 1 failed: what next?", [both]) is None


def test_the_instance_is_looked_for_in_every_pattern_of_the_option() -> None:
    """The same rotation once ended in a login, once in giving up: two patterns, one option.
    The best one never saw set 2 run out; the other did."""
    gave_up = replace(
        ROTATION,
        outcome="19:14:13 ERROR youtube_auth: All credential sets exhausted",
        variants=(ROTATION.variants[0], ROTATION.variants[2]),
    )
    q = "After credential set 2 was used up, did the login with the new set go through?"
    found = concrete_text(q, [gave_up, ROTATION])
    assert found is not None and found.text == "tried: Rotating to credential set 3"
    assert concrete_text(q, [gave_up]) is None
    assert concrete_text(q, []) is None


def test_router_options_name_the_instance() -> None:
    gemma = ScriptedModel("gemma-test", probs=[0.98, 0.01])
    router = Router(ListMemory([(ROTATION, 0.7)]), gemma, None, rules=RoutingRules())
    q = "Credential set 3 hit its YouTube quota. Which set did the auth module switch to?"
    answer = router.answer(Query(q, tier="memory"))
    assert answer.text.startswith("tried: Rotating to credential set 1"), answer
    # ... after the error that instance logged, not the one the pattern was first seen with
    assert answer.text.endswith("; after: Quota exceeded for credential set 3 (HttpError 403 "
                                "quotaExceeded)"), answer  # fmt: skip
    answer = router.answer(Query("YouTube answered 403. What is the recovery?", tier="memory"))
    assert answer.text.startswith("tried: Rotating to credential set <NUM>"), answer
    assert answer.text.endswith(
        "; after: ERROR youtube_auth: Quota exceeded for credential set 1 (HttpError 403)"
    ), answer


MODLOG = Pattern.make(
    "wsp_compliance",
    "WSP compliance: WARNING code_analyzer: [WSP-GUARDIAN] WSP 22 violation: ModLog.md not"
    " updated for change in <PATH>/",
    "[WSP-GUARDIAN] WSP 22 violation: ModLog.md not updated for change in <PATH>/",
    variants=tuple(
        (f"[WSP-GUARDIAN] WSP 22 violation: ModLog.md not updated for change in {path}/",
         f"[WSP-GUARDIAN] WSP 22 violation: ModLog.md not updated for change in {path}/",
         f"INFO code_analyzer: [OK] ModLog.md updated for {path}")
        for path in ("modules/infrastructure/idle_automation",
                     "modules/platform_integration/youtube_auth")
    ),
)  # fmt: skip


def test_the_instance_the_question_names_by_its_words() -> None:
    q = "The guardian found the idle automation module's change history out of date. The fix?"
    assert (concrete_text(q, [MODLOG]) or ("", ""))[0] == (
        "[WSP-GUARDIAN] WSP 22 violation: ModLog.md not updated for change in modules/"
        "infrastructure/idle_automation/ (then: INFO code_analyzer: [OK] ModLog.md updated for"
        " modules/infrastructure/idle_automation)"
    )
    assert "youtube_auth/ (then" in (concrete_text("and for youtube_auth?", [MODLOG]) or ("",))[0]
    # words every instance says ("ModLog", "guardian", "WSP") tell none apart
    assert instance_for("The guardian says WSP 22: ModLog.md not updated. Fix?", MODLOG) is None
    # one instance is told apart from nothing: a word it says does not name it
    one = replace(MODLOG, variants=MODLOG.variants[:1])
    assert instance_for("what about idle automation?", one) is None


def test_an_option_without_a_logged_ending_says_what_usually_followed() -> None:
    """The nearest retry was the one after which nothing was logged in the window; what
    followed the same decision most often is the option's ending."""
    retry = Pattern.make(
        "error_fix",
        "Error: ERROR db_manager: UNIQUE constraint failed: stream_patterns.id",
        "tried: Retrying transaction with INSERT OR REPLACE",
    )
    committed = replace(
        retry,
        id="erro-2",
        outcome="15:43:55 INFO db_manager: [OK] Transaction committed (30 rows)",
        seen=9,
    )
    rolled_back = replace(retry, id="erro-3", outcome="ERROR db_manager: rolled back", seen=2)
    memory = ListMemory([(retry, 0.70), (rolled_back, 0.66), (committed, 0.60)])
    router = Router(memory, None, None, rules=RoutingRules())
    answer = router.answer(Query("A write hit a duplicate key. How did it end?", tier="memory"))
    assert answer.text == (
        "tried: Retrying transaction with INSERT OR REPLACE"
        " (then: 15:43:55 INFO db_manager: [OK] Transaction committed (30 rows))"
        "; after: ERROR db_manager: UNIQUE constraint failed: stream_patterns.id"
    )
    # the nearest occurrence's own ending wins when it has one
    memory = ListMemory([(rolled_back, 0.70), (committed, 0.60)])
    answer = Router(memory, None, None, rules=RoutingRules()).answer(
        Query("A write hit a duplicate key. How did it end?", tier="memory")
    )
    assert "(then: ERROR db_manager: rolled back); after: " in answer.text
    # ... unless the question names another ending by the words that tell them apart
    answer = Router(memory, None, None, rules=RoutingRules()).answer(
        Query("A write hit a duplicate key. Was the transaction committed?", tier="memory")
    )
    assert "(then: 15:43:55 INFO db_manager: [OK] Transaction committed (30 rows))" in answer.text


def test_the_ending_the_question_names() -> None:
    gave_up = "19:02:34 ERROR livechat_core: Max retries reached; giving up on live chat"
    back = "23:55:10 INFO livechat_core: [OK] Reconnected to live chat Cg0KCaYX"
    endings = [back, gave_up]
    assert named_outcome("Polling kept failing until the retries ran out. Then?", endings) == (
        gave_up
    )
    assert named_outcome("Did the bot get reconnected?", endings) == back
    # a word both endings say, or the level and logger they were logged with, names neither
    assert named_outcome("What happened to the live chat?", endings) == ""
    assert named_outcome("Which error did livechat_core log?", endings) == ""
    assert named_outcome("The retries: was it reconnected?", endings) == ""  # a tie
    assert named_outcome("Did the retries run out?", [gave_up, gave_up]) == ""  # one ending


def test_a_placeholder_every_instance_fills_alike_is_filled_in() -> None:
    phases = tuple(
        (f"[IDLE] Phase {n}: pattern training: 500 lines processed",
         f"logs: [IDLE] Phase {n}: pattern training: 500 lines processed", "")
        for n in (0, 1, 3)
    )  # fmt: skip
    training = Pattern.make(
        "log_template",
        "idle_automation_dae: [IDLE] Phase <NUM>: pattern training: <NUM> lines processed",
        "logs: [IDLE] Phase <NUM>: pattern training: <NUM> lines processed",
        variants=phases,
    )
    q = "How many lines does each pattern-training pass report?"
    assert concrete_text(q, [training]) == (
        "logs: [IDLE] Phase <NUM>: pattern training: 500 lines processed",
        "",
    )
    # a pass that handled another number unsettles it; a decision of another shape, all
    mixed = (
        *phases,
        ("Phase 2 ...", "logs: [IDLE] Phase 2: pattern training: 20 lines processed", ""),
    )
    assert concrete_text(q, [replace(training, variants=mixed)]) is None
    odd = (*phases, ("Phase 2 ...", "logs: [IDLE] Phase 2 skipped", ""))
    assert concrete_text(q, [replace(training, variants=odd)]) is None
    # two placeholders side by side split more than one way: nothing is claimed
    from foundups_training.routing.instances import settle

    assert settle("logs: id <ID><NUM> done", ["logs: id 12ab done", "logs: id 13ab done"]) is None
    assert settle("logs: id <ID> <NUM> done", ["logs: id 1 ab done", "logs: id 1 cd done"]) == (
        "logs: id 1 <NUM> done"
    )
    # ... and nothing is claimed once instances were left out
    assert concrete_text(q, [replace(training, variants=phases * 3)]) is None


MENU = Pattern.make(
    "log_template",
    "main_menu: Menu option <NUM> selected",
    "logs: Menu option <NUM> selected",
    variants=tuple((f"Menu option {n} selected", f"logs: Menu option {n} selected", "")
                   for n in (1, 12, 11)),
    tally=(5, 7, 1),
    seen=13,
)  # fmt: skip


def test_a_question_about_what_happens_most_often_gets_the_most_counted_instance() -> None:
    for q in (
        "Which numbered choice do operators make most often at the startup prompt?",
        "What menu option do people usually pick?",
        "Which menu option is the most common?",
    ):
        assert concrete_text(q, [MENU]) == (
            "logs: Menu option 12 selected (7 of 13 times)",
            "Menu option 12 selected",
        ), q
    # not asked: the instances disagree, so the template stays
    assert concrete_text("Which menu option was selected?", [MENU]) is None
    q = "Which option is picked most often?"
    # a tie, or a count that missed occurrences (or a store from before tallies), decides
    # nothing
    assert concrete_text(q, [replace(MENU, tally=(7, 5, 1))]) is not None
    assert concrete_text(q, [replace(MENU, tally=(7, 7, 1), seen=15)]) is None
    assert concrete_text(q, [replace(MENU, seen=20)]) is None
    assert concrete_text(q, [replace(MENU, tally=())]) is None


def test_an_unmasked_decision_names_the_occurrence_the_question_does() -> None:
    """Every episode keeps its instances: "tried: Reconnecting in 2s" masks nothing, but
    the HttpError 500 occurrence and the 503 one ended differently."""
    from foundups_training.mining.miner import extract_patterns

    chat = "modules.communication.livechat.src.livechat_core"

    def episode(t: str, code: int, ending: str) -> list[str]:
        return [
            f"2025-10-20 15:{t}:01,000 - {chat} - ERROR - Failed to poll chat messages: "
            f"HttpError {code}",
            f"2025-10-20 15:{t}:02,000 - {chat} - WARNING - Reconnecting in 2s (attempt 1/3)",
            f"2025-10-20 15:{t}:04,000 - {chat} - INFO - [OK] Reconnected to live chat {ending}",
        ]

    idle = [f"2025-10-20 16:00:{i:02d},000 - {chat} - DEBUG - Polling chat" for i in range(30)]
    lines = [*episode("10", 500, "Cg0KCaaaa1111"), *episode("20", 503, "Cg0KCbbbb2222"), *idle]
    (retry,) = [p for p in extract_patterns(lines) if p.kind == "error_fix"]
    assert retry.decision == "tried: Reconnecting in 2s (attempt 1/3)"
    assert [v[0] for v in retry.variants] == [
        "Failed to poll chat messages: HttpError 500",
        "Failed to poll chat messages: HttpError 503",
    ]
    named = concrete_text("Polling failed with HttpError 500. How did it end?", [retry])
    assert named is not None and "Cg0KCaaaa1111" in named.text
    assert named.situation.endswith("HttpError 500")
    # nothing named: the decision says itself what was decided (no count, no template)
    assert concrete_text("Polling failed. What did the bot do most often?", [retry]) is None
