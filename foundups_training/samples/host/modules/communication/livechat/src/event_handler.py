"""Event handler: announces human moderators' timeouts and bans in chat."""

class EventHandler:
    """Turns timeout/ban events into announcements with whack levels."""

    def handle_timeout_event(self, event):
        """Announce a timeout; the result carries level_up and stats."""
        print("Timeout event:")
        return {"type": "timeout_announcement"}

    def handle_ban_event(self, event):
        """Announce a ban."""
        return {"type": "ban_announcement"}
