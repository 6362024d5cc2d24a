"""Banter engine: themed response generation for chat."""

class BanterEngine:
    """Picks a theme and writes a reply."""

    def respond(self, message, theme):
        """A reply in the given theme."""
        print("Banter response generated for")
