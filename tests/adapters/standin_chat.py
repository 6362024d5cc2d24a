"""Chat items shaped like YouTube's ``liveChatMessages`` and the host's moderation events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


def now_iso(seconds_ago: float = 0.0) -> str:
    """A YouTube-style ``publishedAt`` timestamp."""
    when = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return when.isoformat().replace("+00:00", "Z")


def message(mid: str, author: str, text: str, *, seconds_ago: float = 1.0,
            moderator: bool = False, superchat: bool = False) -> dict[str, Any]:
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


def timeout(target: str, *, moderator: str = "Mod1", seconds: int = 60,
            deleted: str = "", seconds_ago: float = 1.0) -> dict[str, Any]:
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
