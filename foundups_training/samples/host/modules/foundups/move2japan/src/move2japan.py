"""Move2Japan FoundUp: channel-specific content helpers."""

def channel_info():
    """The channel's handle and theme."""
    return {"handle": "Move2Japan", "theme": "JAPAN"}
