"""Test data shaped like the host's: YouTube chat items, moderation events, 012.txt lines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def now_iso(seconds_ago: float = 0.0) -> str:
    """A YouTube-style ``publishedAt`` timestamp."""
    when = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return when.isoformat().replace("+00:00", "Z")


def message(
    mid: str,
    author: str,
    text: str,
    *,
    seconds_ago: float = 1.0,
    moderator: bool = False,
    superchat: bool = False,
) -> dict[str, Any]:
    """A chat message item."""
    snippet: dict[str, Any] = {
        "messageId": mid,
        "displayMessage": text,
        "publishedAt": now_iso(seconds_ago),
        "liveChatId": "chat-1",
    }
    if superchat:
        snippet["superChatDetails"] = {"amountMicros": 5_000_000, "amountDisplayString": "$5"}
    return {
        "id": mid,
        "snippet": snippet,
        "authorDetails": {
            "displayName": author,
            "channelId": f"UC-{author}",
            "isChatModerator": moderator,
            "isChatOwner": False,
            "isChatSponsor": False,
        },
    }


def timeout(
    target: str,
    *,
    moderator: str = "Mod1",
    seconds: int = 60,
    deleted: str = "",
    seconds_ago: float = 1.0,
) -> dict[str, Any]:
    """A human moderator's timeout event."""
    return {
        "type": "timeout_event",
        "target_name": target,
        "target_channel_id": f"UC-{target}",
        "moderator_name": moderator,
        "moderator_id": f"UC-{moderator}",
        "duration_seconds": seconds,
        "published_at": now_iso(seconds_ago),
        "is_live": True,
        "deleted_text": deleted,
    }


def ban(target: str, *, moderator: str = "Mod1", seconds_ago: float = 1.0) -> dict[str, Any]:
    """A human moderator's (permanent) ban event."""
    return {
        "type": "ban_event",
        "target_name": target,
        "target_channel_id": f"UC-{target}",
        "moderator_name": moderator,
        "moderator_id": f"UC-{moderator}",
        "published_at": now_iso(seconds_ago),
        "is_live": True,
        "is_permanent": True,
    }


CHANNELS = ("Move2Japan [JAPAN]", "UnDaoDu [MINDFUL]", "FoundUps [LOYAL]")


def write_log(path: Path, rounds: int) -> Path:
    """A log in 012.txt's format: QWEN-SCORE rounds, auth lines, errors and their retries."""
    lines = []
    for i in range(rounds):
        second = i % 60
        ts = f"2025-10-20 15:{(i // 60) % 60:02d}:{second:02d},{i % 1000:03d}"
        for rank, channel in enumerate(CHANNELS):
            lines.append(
                f"{ts} - modules.communication.livechat.src.qwen_youtube_integration - INFO - "
                f"[BOT][AI] [QWEN-SCORE] [U+2744] {channel}: {(rank + i % 3) / 3:.2f}"
            )
        lines.append(
            f"{ts} - modules.platform_integration.youtube_auth.src.youtube_auth - INFO - "
            f"[U+1F511] Attempting authentication with credential set {i % 2 + 1}"
        )
        lines.append(
            f"{ts} - modules.platform_integration.stream_resolver.src.stream_resolver - INFO - "
            f"[ERROR] No stream found on {CHANNELS[i % 3]}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
