# ruff: noqa: E501  (real log lines are quoted whole)
"""Second review of the episode extractors: an episode must not take an unrelated line.

Each test failed before its fix: a module's name found inside a longer word
("livechat" in "activeLiveChatId") made another module's line the fix of its error; a WSP
correction naming the module ("… modules/communication/livechat is WSP 49 compliant") was
taken as the fix of a chat polling error; two errors of one kind in a row, each for its own
message, both took the first message's "Skipping …" as their outcome; and two scoring rounds
logged back to back were learned as one round that scored each channel twice.
"""

from __future__ import annotations

from foundups_training.mining import extract_patterns
from foundups_training.records import Pattern

LC = "modules.communication.livechat.src.livechat_core"
MP = "modules.communication.livechat.src.message_processor"
SR = "modules.platform_integration.stream_resolver.src.stream_resolver"
CA = "modules.ai_intelligence.code_analyzer.src.code_analyzer"
QW = "modules.communication.livechat.src.qwen_youtube_integration"
CALM = [f"2025-10-20 16:00:{i:02d},000 - root - INFO - tick" for i in range(25)]


def _of(kind: str, patterns: list[Pattern]) -> list[Pattern]:
    return [p for p in patterns if p.kind == kind]


def test_a_module_name_inside_a_longer_word_does_not_name_the_module() -> None:
    """ "livechat" is in "activeLiveChatId", but the stream resolver's line does not name the
    live chat module: it is not the answer to live chat's error."""
    lines = [
        f"2025-10-20 15:02:22,000 - {LC} - ERROR - Max retries reached; giving up on live chat, returning to stream search",
        f"2025-10-20 15:02:30,000 - {SR} - INFO - [OK] Stream confirmed live: activeLiveChatId=Cg0KCBd0Kh8oOOL8dKLzdoc12",
        *CALM,
    ]
    (err,) = _of("error_fix", extract_patterns(lines))
    assert err.outcome == ""


def test_a_name_between_separators_still_names_the_module() -> None:
    """The word-start rule keeps what the docs promise: the folder's name as a word, in a
    path or before a separator."""
    agent = "modules.platform_integration.linkedin_agent.src.linkedin_agent"
    orchestrator = "modules.platform_integration.social_media_orchestrator.src.x"
    lines = [
        f"2025-10-20 15:02:01,922 - {agent} - ERROR - Connection failed to LinkedIn API: read timeout after 10s",
        f"2025-10-20 15:02:09,115 - {orchestrator} - ERROR - Circuit breaker OPEN for linkedin; aborting posts for this session",
        *CALM,
    ]
    errors = _of("error_fix", extract_patterns(lines))
    (err,) = [p for p in errors if "API" in p.context.split("\n", 1)[0]]
    assert err.outcome.endswith(
        "Circuit breaker OPEN for linkedin; aborting posts for this session"
    )


def test_a_wsp_correction_is_not_the_fix_of_a_runtime_error() -> None:
    """The analyzer moving a test file says nothing about why chat polling failed; live
    chat's own reconnect, after it, is the outcome."""
    lines = [
        f"2025-10-20 15:17:00,000 - {LC} - ERROR - Failed to poll chat messages: HttpError 503",
        f"2025-10-20 15:17:05,486 - {CA} - INFO - [OK] Moved test_message_flow.py; modules/communication/livechat is WSP 49 compliant",
        f"2025-10-20 15:17:06,000 - {CA} - INFO - [OK] ModLog.md updated for modules/communication/livechat (WSP 22)",
        f"2025-10-20 15:17:08,000 - {LC} - WARNING - Reconnecting in 2s (attempt 1/3)",
        f"2025-10-20 15:17:10,000 - {LC} - INFO - [OK] Reconnected to live chat Cg0KCWbgi2lIuDvDGa3HWqx12",
        *CALM,
    ]
    (err,) = _of("error_fix", extract_patterns(lines))
    assert err.decision == "tried: Reconnecting in 2s (attempt 1/3)"
    assert err.outcome.endswith("[OK] Reconnected to live chat Cg0KCWbgi2lIuDvDGa3HWqx12")


def test_a_wsp_error_still_takes_its_wsp_correction() -> None:
    """An error about WSP itself is answered by the WSP correction."""
    lines = [
        f"2025-10-20 15:17:00,000 - {LC} - ERROR - WSP 49 check failed: test_message_flow.py outside tests/",
        f"2025-10-20 15:17:05,486 - {CA} - INFO - [OK] Moved test_message_flow.py; modules/communication/livechat is WSP 49 compliant",
        *CALM,
    ]
    patterns = extract_patterns(lines)
    anchored = [p for p in patterns if "check failed" in p.context.split("\n", 1)[0]]
    assert anchored and all("WSP 49 compliant" in p.outcome for p in anchored)


def test_interleaved_errors_each_take_the_line_about_their_own_message() -> None:
    """Two messages fail one after the other; each "Skipping …" line answers the error of
    the message it names, not the first error still open."""
    lines = [
        f"2025-10-20 15:43:12,573 - {MP} - ERROR - Unhandled exception while processing message 6PkZqpUy1oV",
        f"2025-10-20 15:43:12,900 - {MP} - ERROR - Unhandled exception while processing message H4y8wjZCl2J",
        f"2025-10-20 15:43:14,712 - {MP} - INFO - Skipping malformed message 6PkZqpUy1oV (bot's own message has no authorDetails)",
        f"2025-10-20 15:43:15,100 - {MP} - INFO - Skipping malformed message H4y8wjZCl2J (bot's own message has no authorDetails)",
        *CALM,
    ]
    (err,) = _of("error_fix", extract_patterns(lines))
    assert err.seen == 2
    pairs = {v[0].rsplit(" ", 1)[-1]: v[2] for v in err.variants}
    assert set(pairs) == {"6PkZqpUy1oV", "H4y8wjZCl2J"}, err.variants
    for message_id, outcome in pairs.items():
        assert message_id in outcome, (message_id, outcome)


def test_an_error_without_ids_still_takes_a_line_that_names_one() -> None:
    """The id rule compares ids only when both lines name one: "Reconnected to live chat
    <id>" still answers "Failed to poll chat messages"."""
    lines = [
        f"2025-10-20 15:17:00,000 - {LC} - ERROR - Failed to poll chat messages: HttpError 429",
        f"2025-10-20 15:17:10,000 - {LC} - INFO - [OK] Reconnected to live chat Cg0KCWbgi2lIuDvDGa3HWqx12",
        *CALM,
    ]
    (err,) = _of("error_fix", extract_patterns(lines))
    assert "Reconnected" in err.outcome


def _score(t: str, channel: str, score: float) -> str:
    return f"2025-10-20 15:07:{t} - {QW} - INFO - [BOT][AI] [QWEN-SCORE] {channel}: {score:.2f}"


def test_two_rounds_back_to_back_are_two_rounds() -> None:
    """A channel scored again starts the next round: one round never scores a channel
    twice, and each round's order is its own."""
    lines = [
        _score("04,000", "Move2Japan [JAPAN]", 1.00),
        _score("04,100", "UnDaoDu [MINDFUL]", 3.00),
        _score("05,000", "Move2Japan [JAPAN]", 5.00),
        _score("05,100", "UnDaoDu [MINDFUL]", 2.00),
        *CALM,
    ]
    rounds = _of("priority", extract_patterns(lines))
    orders = sorted(p.decision.split("order: ", 1)[1] for p in rounds)
    assert orders == [
        "Move2Japan [JAPAN] -> UnDaoDu [MINDFUL]",
        "UnDaoDu [MINDFUL] -> Move2Japan [JAPAN]",
    ], orders


def _listed(p: Pattern) -> int:
    """How many scores a round's instance lists."""
    return sum(v[0].count("=") for v in p.variants)


def test_back_to_back_rounds_lose_no_score_and_count_none_twice() -> None:
    """Where the rounds split, the round that ends and the one that starts agree: three
    rounds of three give three rounds of three; a run too long for the history (twelve
    channels twice) stays one round, as before, rather than losing the second."""
    names = [f"Chan{chr(65 + i)}" for i in range(12)]
    three = [_score(f"{i:02d},000", names[i % 3], float(i % 5)) for i in range(9)]
    rounds = _of("priority", extract_patterns([*three, *CALM]))
    assert sum(p.seen for p in rounds) == 3
    assert sum(_listed(p) for p in rounds) == 9
    long = [_score(f"{i:02d},000", names[i % 12], float(i % 7)) for i in range(24)]
    rounds = _of("priority", extract_patterns([*long, *CALM]))
    assert sum(_listed(p) for p in rounds) == 24
