"""Host log lines for the moment tests: a duplicate-key error with its retry, quiet polling."""

from __future__ import annotations

DB = "modules.infrastructure.database.src.db_manager"
CHAT = "modules.communication.livechat.src.livechat_core"


def line(day: str, time: str, logger: str, level: str, message: str) -> str:
    """One dotted-logger line of 20–31 October 2025."""
    return f"2025-10-{day} {time},000 - {logger} - {level} - {message}"


def conflict(day: str, hh_mm: str, rows: int) -> list[str]:
    """A duplicate-key error, the retry, and how many rows the retry wrote."""
    return [
        line(day, f"{hh_mm}:10", DB, "ERROR",
             "Database transaction failed: UNIQUE constraint failed: stream_patterns.id"),
        line(day, f"{hh_mm}:11", DB, "INFO", "Retrying transaction with INSERT OR REPLACE"),
        line(day, f"{hh_mm}:12", DB, "INFO", f"[OK] Transaction committed ({rows} rows)"),
    ]  # fmt: skip


def quiet(day: str, hh: str, start: int) -> list[str]:
    """Twelve minutes of chat polling from ``hh:start``."""
    return [
        line(day, f"{hh}:{start + i:02d}:00", CHAT, "DEBUG", "Polling chat (interval 5.0s)")
        for i in range(12)
    ]


EMITTER = "modules.communication.livechat.src.qwen_youtube_integration"
RESOLVER = "modules.platform_integration.stream_resolver.src.stream_resolver"


def scoring_round(t: str, scores: dict[str, float]) -> list[str]:
    """One scoring round in the host's format, the decision line, and the first check."""
    lines = [
        f"2025-10-20 {t}:0{i},000 - {EMITTER} - INFO - [BOT][AI] [QWEN-SCORE] {c}: {s:.2f}"
        for i, (c, s) in enumerate(scores.items())
    ]
    first = min(scores, key=scores.__getitem__)
    return [
        *lines,
        f"2025-10-20 {t}:05,000 - {EMITTER} - INFO - [BOT][AI] [QWEN-DECISION] Final order "
        "selected based on heat levels and patterns",
        f"2025-10-20 {t}:07,000 - {RESOLVER} - INFO - [ERROR] No stream found on {first}",
    ]


def two_rounds() -> list[str]:
    """Two rounds (Move2Japan 3.82 / UnDaoDu 7.03, FoundUps 1.2 / UnDaoDu 4.5), then quiet."""
    lines = scoring_round("15:00", {"Move2Japan [JAPAN]": 3.82, "UnDaoDu [MINDFUL]": 7.03})
    lines += scoring_round("15:10", {"FoundUps [LOYALTY]": 1.2, "UnDaoDu [MINDFUL]": 4.5})
    return lines + [f"2025-10-20 15:20:{i:02d},000 - {RESOLVER} - INFO - idle" for i in range(30)]
