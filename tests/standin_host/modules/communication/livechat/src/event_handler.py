"""Stand-in of the host's EventHandler: human moderators' timeouts and bans → announcements."""

import time
from datetime import datetime, timezone
from typing import Any, Dict


def _age_seconds(published_at: str) -> float:
    try:
        then = datetime.fromisoformat(published_at.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (datetime.now(timezone.utc) - then).total_seconds()


class EventHandler:
    """Turns timeout/ban events into announcement dicts, like the host's."""

    def __init__(self, memory_dir: str = "memory"):
        self.memory_dir = memory_dir
        self.points: Dict[str, int] = {}
        self.last_announcement_time = 0.0

    def handle_timeout_event(self, event: Dict[str, Any]) -> Dict[str, Any]:
        """Handle a timeout event and generate announcement."""
        target_name = event.get("target_name", "MAGAT")
        published_at = event.get("published_at", "")
        if published_at and _age_seconds(published_at) > 300:
            return {"skip": True, "reason": "old_buffered_timeout"}
        mod_name = event.get("moderator_name", "Move2Japan")
        mod_id = event.get("moderator_id", "owner")
        duration = int(event.get("duration_seconds", 10))
        self.points[mod_id] = self.points.get(mod_id, 0) + 10
        self.last_announcement_time = time.time()
        return {
            "type": "timeout_announcement",
            "announcement": f"[TARGET] {mod_name} whacked {target_name}! ({duration}s)",
            "level_up": None,
            "stats": {"points": self.points[mod_id], "combo_multiplier": 1},
            "skip": False,
        }

    def handle_ban_event(self, event: Dict[str, Any]) -> Dict[str, Any]:
        """Handle a ban event and generate announcement."""
        target_name = event.get("target_name", "MAGAT")
        published_at = event.get("published_at", "")
        if published_at and _age_seconds(published_at) > 300:
            return {"skip": True, "reason": "old_buffered_ban"}
        mod_name = event.get("moderator_name", "Move2Japan")
        return {
            "type": "ban_announcement",
            "announcement": f"[HAMMER] {mod_name} banned {target_name}!",
            "level_up": None,
            "stats": {"points": 50},
            "skip": False,
        }
