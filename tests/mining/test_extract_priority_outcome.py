# ruff: noqa: E501  (real log lines are quoted whole)
"""A priority round's outcome is a result for the channel the round picked.

Before, a round took the first stream result logged after it that named any of its
channels, or any stream result at all: "No stream found on UnDaoDu" closed a round that
picked Move2Japan, and "Live stream found on FoundUps1934 [TEST]" (a channel not in the
round) or a result naming no channel closed any round. The lines are shaped like the
sample log's (``foundups_training/samples/012_sample.txt``).
"""

from __future__ import annotations

from foundups_training.mining import extract_patterns
from foundups_training.mining.extractors import OUTCOME_RECORDS
from foundups_training.records import Pattern

QW = "modules.communication.livechat.src.qwen_youtube_integration"
SD = "modules.communication.livechat.src.stream_discovery_service"
SR = "modules.platform_integration.stream_resolver.src.stream_resolver"
LC = "modules.communication.livechat.src.livechat_core"
MP = "modules.communication.livechat.src.message_processor"
CALM = [f"2025-10-20 16:00:{i:02d},000 - root - INFO - tick" for i in range(25)]

M2J, UDD, FUP = "Move2Japan [JAPAN]", "UnDaoDu [MINDFUL]", "FoundUps [LOYALTY]"
EMOJI = {M2J: "[U+2744]", UDD: "[U+1F9D8]", FUP: "[U+1F415]"}


def _line(t: str, logger: str, message: str) -> str:
    return f"2025-10-20 15:{t},000 - {logger} - INFO - {message}"


def _round(*scores: tuple[str, str]) -> list[str]:
    """A ``qwen_youtube_integration`` round as the sample logs it, with its decision line."""
    lines = [
        _line(f"00:{20 + i:02d}", QW, f"[BOT][AI] [QWEN-SCORE] {EMOJI.get(c, '')} {c}: {s}")
        for i, (c, s) in enumerate(scores)
    ]
    decision = "[BOT][AI] [QWEN-DECISION] Final order selected based on heat levels and patterns"
    return [*lines, _line("00:27", QW, decision)]


def _priority(lines: list[str]) -> Pattern:
    (prio,) = [p for p in extract_patterns([*lines, *CALM]) if p.kind == "priority"]
    return prio


def test_another_channels_result_does_not_close_the_round() -> None:
    """The round picked Move2Japan; UnDaoDu's result, logged first, is not what followed
    the pick, Move2Japan's is."""
    prio = _priority(
        [
            *_round((M2J, "3.82"), (UDD, "7.03"), (FUP, "8.52")),
            _line("00:29", SR, f"[ERROR] No stream found on {UDD}"),
            _line("00:30", SR, f"[U+1F50D] Checking {M2J} for live stream"),
            _line("00:32", SR, f"[OK] Live stream found on {M2J}: video_id=kCzJr4i0B3J"),
        ]
    )
    assert prio.decision.startswith(f"check {M2J} first")
    assert prio.outcome.endswith(f"Live stream found on {M2J}: video_id=kCzJr4i0B3J"), prio.outcome
    assert UDD not in prio.outcome


def test_the_discovery_services_round_too() -> None:
    prio = _priority(
        [
            _line("01:22", SD, f"[QWEN-SCORE] {FUP}: Priority score 4.57"),
            _line("01:23", SD, f"[QWEN-SCORE] {UDD}: Priority score 7.99"),
            _line("01:28", SR, f"[ERROR] No stream found on {UDD}"),
            _line("01:29", SR, f"[ERROR] No stream found on {FUP}"),
        ]
    )
    assert prio.outcome.endswith(f"No stream found on {FUP}"), prio.outcome


def test_a_channel_outside_the_round_gives_no_outcome() -> None:
    """``FoundUps1934 [TEST]`` is not in the round (nor is it ``FoundUps``): with no result
    for the pick within the window, the round has no outcome."""
    prio = _priority(
        [
            *_round((FUP, "2.94"), (M2J, "4.69")),
            _line(
                "02:38", SR, "[OK] Live stream found on FoundUps1934 [TEST]: video_id=V4qBkdfQ1y3"
            ),
            _line(
                "02:39",
                LC,
                "[U+1F3AC] Connected to live chat Cg0KCsMpSscDlkrCaqx9vJu12 for FoundUps1934 [TEST]",
            ),
        ]
    )
    assert prio.outcome == "", prio.outcome
    assert "\nThen:" not in prio.context


def test_a_result_naming_no_channel_is_not_the_picks() -> None:
    """ "No active stream found" and "Stream confirmed live: activeLiveChatId=…" do not say
    which channel: they may be any check's."""
    prio = _priority(
        [
            *_round((UDD, "3.02"), (FUP, "3.25")),
            _line("03:40", SR, "[IDLE] No active stream found, next check in 30s"),
            _line(
                "03:41",
                SR,
                "[OK] Stream confirmed live: activeLiveChatId=Cg0KCGIZEG8pSH4487q7J5812",
            ),
        ]
    )
    assert prio.outcome == "", prio.outcome


def test_the_picks_result_after_another_is_kept_with_a_nan_in_the_round() -> None:
    """With a ``nan`` the host checks the channels in the order it logged them: the first
    logged is the pick."""
    prio = _priority(
        [
            *_round((UDD, "nan"), (FUP, "1.00"), (M2J, "3.00")),
            _line("05:20", SR, f"[OK] Live stream found on {FUP}: video_id=FqaDZeV7G5I"),
            _line("05:22", SR, f"[ERROR] No stream found on {UDD}"),
        ]
    )
    assert prio.decision.startswith(f"check {UDD} first")
    assert prio.outcome.endswith(f"No stream found on {UDD}"), prio.outcome


def test_a_round_that_names_channels_by_id_takes_its_picks_result() -> None:
    """A round that scores channels by their ids: the result naming the picked id."""
    picked, other = "UCklMTNnu5POwRmQsg5JJumA", "UCSNTUXjAgpd4sgWYP0xoJgQ"
    prio = _priority(
        [
            *_round((picked, "1.20"), (other, "2.40")),
            _line("06:10", SR, f"[ERROR] No stream found on channel {other}"),
            _line("06:12", SR, f"[OK] Live stream found on channel {picked}: video_id=Hbn88HxjSI6"),
        ]
    )
    assert prio.outcome.endswith(f"channel {picked}: video_id=Hbn88HxjSI6"), prio.outcome


def test_the_picks_result_after_the_window_is_not_the_outcome() -> None:
    """The window is the one the extractor always used: a result for the pick after
    ``OUTCOME_RECORDS`` other records is not this round's (and nothing is raised)."""
    chatter = [
        _line(f"07:{i:02d}", MP, f"[U+1F4AC] Processing message from @KenjiFan: hi {i}")
        for i in range(OUTCOME_RECORDS + 1)
    ]
    prio = _priority(
        [
            *_round((M2J, "2.45"), (UDD, "5.87")),
            _line("06:59", SR, f"[ERROR] No stream found on {UDD}"),
            *chatter,
            _line("08:00", SR, f"[OK] Live stream found on {M2J}: video_id=kCzJr4i0B3J"),
        ]
    )
    assert prio.outcome == "", prio.outcome


def test_a_result_naming_the_pick_among_others_is_its_result() -> None:
    """The resolver's "No stream on X, checking Y" is X's result, as for a stream check."""
    prio = _priority(
        [
            *_round((M2J, "3.58"), (UDD, "3.65")),
            _line("05:30", SR, f"[IDLE] No stream on {M2J}, checking {UDD} in 5.0s..."),
        ]
    )
    assert prio.outcome.endswith(f"checking {UDD} in 5.0s..."), prio.outcome
