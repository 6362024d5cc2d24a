"""Meeting orchestration: intents, presence, and automatic handshakes."""

class MeetingOrchestrator:
    """Creates a meeting as soon as both participants are available."""

    def create_intent(self, requester, recipient, purpose):
        """Record that requester wants to meet recipient."""
