"""Stream resolver: is this channel live, and what is its live chat id?"""

class StreamResolver:
    """Resolves a channel to its current live stream, if any."""

    def check_channel(self, channel):
        """Check one channel; metadata alone is not proof of a live stream."""
        print("Checking")
        print("No stream found on")
        print("Live stream found on")

    def verify_live(self, video_id):
        """Confirm broadcastContent='live' with the video's actual live status."""
        print("Verifying live status via videos.list for")
        print("Stream confirmed live: activeLiveChatId=")
        print("False positive: broadcastContent='live' but no active live chat for")
