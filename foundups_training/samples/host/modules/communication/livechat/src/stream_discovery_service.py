"""Stream discovery service: the second [QWEN-SCORE] emitter (priority scores per channel)."""

def score_channels(channels):
    """Log each channel's priority score; lower is checked first."""
    for name, score in channels:
        print(f"[QWEN-SCORE] {name}: Priority score {score:.2f}")
