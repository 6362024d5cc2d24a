"""AutoModeratorDAE: the live-chat daemon; after a stream ends it starts idle automation."""

class AutoModeratorDAE:
    """Finds a live stream, runs LiveChatCore on it, and moderates until it ends."""

    def __init__(self, enable_ai_monitoring=False):
        self.enable_ai_monitoring = enable_ai_monitoring

    async def run(self):
        """Monitor chat forever; run idle automation between streams."""
        print("AutoModeratorDAE heartbeat:")

    async def monitor_chat(self):
        """Build a LiveChatCore for the current stream."""
