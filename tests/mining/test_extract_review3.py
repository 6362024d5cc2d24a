# ruff: noqa: E501  (real log lines are quoted whole)
"""Third review of the episode extractors and the masking: what was mined must say what the
host did.

Each test failed before its fix: a scoring round dropped a channel whose score was not a
number (``nan``), and a round that logged it first was recorded with another pick; tied
scores were ordered by name rather than as the host logged (and checked) them; a stream
check for one channel took another channel's result as its outcome; and a name with two
digits (``MagaMike77``, ``FoundUps1934``) was masked as an id.
"""

from __future__ import annotations

import pytest

from foundups_training.mining import extract_patterns
from foundups_training.mining.templates import item_ids, mask
from foundups_training.records import Pattern

QW = "modules.communication.livechat.src.qwen_youtube_integration"
SD = "modules.communication.livechat.src.stream_discovery_service"
SR = "modules.platform_integration.stream_resolver.src.stream_resolver"
NQ = "modules.platform_integration.stream_resolver.src.no_quota_stream_checker"
CALM = [f"2025-10-20 16:00:{i:02d},000 - root - INFO - tick" for i in range(25)]


def _of(kind: str, patterns: list[Pattern]) -> list[Pattern]:
    return [p for p in patterns if p.kind == kind]


def _score(t: int, channel: str, score: str) -> str:
    return f"2025-10-20 15:07:{t:02d},000 - {QW} - INFO - [BOT][AI] [QWEN-SCORE] [U+2744] {channel}: {score}"


def _decision(t: int) -> str:
    return f"2025-10-20 15:07:{t:02d},500 - {QW} - INFO - [BOT][AI] [QWEN-DECISION] Final order selected based on heat levels and patterns"


def _round(*scores: tuple[str, str]) -> Pattern:
    lines = [_score(i, c, s) for i, (c, s) in enumerate(scores)]
    patterns = extract_patterns([*lines, _decision(len(lines)), *CALM])
    (prio,) = _of("priority", patterns)
    return prio


M2J, UDD, FUP = "Move2Japan [JAPAN]", "UnDaoDu [MINDFUL]", "FoundUps [LOYALTY]"


def test_a_channel_scored_nan_stays_in_its_round() -> None:
    """The host logs ``{score:.2f}``, which writes ``nan`` for a score that is not a number;
    the round is still the round of three channels, and says which one had no number."""
    prio = _round((M2J, "1.00"), (UDD, "nan"), (FUP, "2.00"))
    assert prio.decision.startswith(f"check {M2J} first")
    assert f"order: {M2J} -> {UDD} -> {FUP}." in prio.decision
    assert "not a number" in prio.decision and UDD in prio.decision.split("order:", 1)[1]
    assert f"{UDD}=nan" in prio.context
    (variant,) = prio.variants
    assert f"{UDD}=nan" in variant[0]


def test_a_nan_line_gets_no_routine_template_of_its_own() -> None:
    """Before, the ``nan`` line was no score: it became a routine line's template."""
    lines = [_score(0, M2J, "1.00"), _score(1, UDD, "nan"), _decision(2), *CALM]
    templates = _of("log_template", extract_patterns(lines))
    assert not any("QWEN-SCORE" in p.decision for p in templates), templates


@pytest.mark.parametrize(
    ("logged", "first"),
    [
        # Python's sort leaves a nan where comparisons put it: the log is the only record
        # of the order the host then checked the channels in
        (((UDD, "nan"), (FUP, "1.00"), (M2J, "3.00")), UDD),
        (((M2J, "3.00"), (UDD, "nan"), (FUP, "1.00")), M2J),
        (((UDD, "NaN"), (M2J, "2.00")), UDD),
        # a value that is no number at all is said the same way
        (((M2J, "1.00"), (UDD, "None"), (FUP, "0.50")), M2J),
    ],
)
def test_a_round_with_a_nan_records_the_hosts_pick(
    logged: tuple[tuple[str, str], ...], first: str
) -> None:
    prio = _round(*logged)
    assert prio.decision.startswith(f"check {first} first"), prio.decision
    order = " -> ".join(c for c, _ in logged)
    assert f"order: {order}." in prio.decision


def test_an_infinite_score_is_a_score() -> None:
    prio = _round((M2J, "1.00"), (UDD, "inf"))
    assert f"order: {M2J} -> {UDD}" in prio.decision
    assert f"{UDD}=inf" in prio.context


def test_a_tie_keeps_the_order_the_host_logged() -> None:
    """The host sorts by score alone (a stable sort) and logs the round in that order:
    of two channels with the same score, the one logged first is checked first, whatever
    their names."""
    prio = _round((UDD, "1.00"), (FUP, "1.00"), (M2J, "2.00"))
    assert prio.decision.startswith(f"check {UDD} first"), prio.decision
    assert f"order: {UDD} -> {FUP} -> {M2J}" in prio.decision
    assert prio.context.startswith(
        f"Priority scoring round by qwen_youtube_integration: {UDD}=1.00, {FUP}=1.00"
    )


def test_a_tie_in_the_discovery_services_format_too() -> None:
    lines = [
        f"2025-10-20 15:00:00,000 - {SD} - INFO - [QWEN-SCORE] {UDD}: Priority score 2.10",
        f"2025-10-20 15:00:00,100 - {SD} - INFO - [QWEN-SCORE] {FUP}: Priority score 2.10",
        *CALM,
    ]
    (prio,) = _of("priority", extract_patterns(lines))
    assert prio.decision.startswith(f"check {UDD} first"), prio.decision


def test_a_round_not_logged_in_order_is_still_sorted_by_score_ties_as_logged() -> None:
    """A round whose numbers are out of order (not the host's emitters) is ordered by the
    rule, lowest first; ties keep their logged order."""
    prio = _round((M2J, "5.00"), (UDD, "2.00"), (FUP, "2.00"))
    assert f"order: {UDD} -> {FUP} -> {M2J}" in prio.decision


def _stream(t: str, logger: str, message: str) -> str:
    return f"2025-10-20 15:{t},000 - {logger} - INFO - {message}"


def test_a_stream_check_takes_the_result_of_its_own_channel() -> None:
    """Another channel's result, logged in between, is not what the check of Move2Japan
    found."""
    lines = [
        _stream("00:30", SR, f"[U+1F50D] Checking {M2J} for live stream"),
        _stream("00:31", SR, f"[OK] Live stream found on {UDD}: video_id=kCzJr4i0B3J"),
        _stream("00:32", SR, f"[ERROR] No stream found on {M2J}"),
        *CALM,
    ]
    (stream,) = _of("stream", extract_patterns(lines))
    assert stream.outcome.endswith(f"No stream found on {M2J}"), stream.outcome


def test_a_stream_check_takes_the_result_of_its_own_video() -> None:
    lines = [
        _stream("00:35", SR, "[U+1F4E1] Video IxNKu8iS2G8 metadata: broadcastContent='live'"),
        _stream(
            "00:36",
            SR,
            "Stream Qm7TzW1pXc4 is upcoming, not live yet (scheduledStartTime in 42 min)",
        ),
        _stream(
            "00:37",
            SR,
            "[U+26A0] False positive: broadcastContent='live' but no active live chat for IxNKu8iS2G8",
        ),
        *CALM,
    ]
    (stream,) = _of("stream", extract_patterns(lines))
    assert "IxNKu8iS2G8" in stream.outcome and "upcoming" not in stream.outcome


def test_a_result_that_names_no_channel_still_answers_a_check() -> None:
    """ "Stream confirmed live: activeLiveChatId=…" names a chat, not a channel or a video:
    it answers the check before it, as before."""
    lines = [
        _stream(
            "00:03",
            NQ,
            f"[U+1F310] NO-QUOTA scraping {M2J} page: is_live marker present for Pde0IgxLd6G",
        ),
        _stream(
            "00:05", SR, "[OK] Stream confirmed live: activeLiveChatId=Cg0KCBd0Kh8oOOL8dKLzdoc12"
        ),
        *CALM,
    ]
    (stream,) = _of("stream", extract_patterns(lines))
    assert "Stream confirmed live" in stream.outcome


def test_a_result_naming_its_channel_among_others_answers_the_check() -> None:
    """The resolver's "No stream on X, checking Y" is X's result."""
    lines = [
        _stream("00:30", SR, f"[U+1F50D] Checking {M2J} for live stream"),
        _stream("00:31", SR, f"[IDLE] No stream on {M2J}, checking {UDD} in 5.0s..."),
        *CALM,
    ]
    (stream,) = _of("stream", extract_patterns(lines))
    assert stream.outcome.endswith(f"checking {UDD} in 5.0s...")


@pytest.mark.parametrize(
    ("message", "template"),
    [
        # a chat user's or a channel's name is not an id, digits or not
        ("[MOD] Timed out MagaMike77 for 300s", "[MOD] Timed out MagaMike77 for <NUM>"),
        (
            "Checking FoundUps1934 [TEST] for live stream",
            "Checking FoundUps1934 [TEST] for live stream",
        ),
        ("user mike2024: hello", "user mike2024: hello"),
        # real ids and numbers are still masked
        ("Stream IxNKu8iS2G8 is upcoming", "Stream <ID> is upcoming"),
        ("Reconnected to live chat Cg0KCBd0Kh8oOOL8dKLzdoc12", "Reconnected to live chat <ID>"),
        ("channel UCklMTNnu5POwRmQsg5JJumA resolved", "channel <ID> resolved"),
        ("session 3f2b8c1e-9d4a-4e6b-8f1a-2c3d4e5f6a7b", "session <ID>"),
        ("blob deadbeef12 stored", "blob <HEX> stored"),
        ("video abcdefgHI12 seen", "video <ID> seen"),
        ("user MagaMike123456 joined", "user <ID> joined"),
        ("took 1234ms for 87 requests", "took <NUM> for <NUM> requests"),
    ],
)
def test_names_with_digits_are_kept_ids_masked(message: str, template: str) -> None:
    assert mask(message) == template


def test_a_name_with_digits_is_not_an_item_id() -> None:
    """:func:`item_ids` tells two lines apart by the item each names; a user is not one."""
    assert item_ids("Timed out MagaMike77 for message 6PkZqpUy1oV") == {"6PkZqpUy1oV"}
