"""Timeout announcer: whack announcements and moderator levels."""

class TimeoutAnnouncer:
    """Announces whacks and level-ups."""

    def announce(self, moderator, target):
        """The chat line for a timeout."""
        print("Whack announced:")
