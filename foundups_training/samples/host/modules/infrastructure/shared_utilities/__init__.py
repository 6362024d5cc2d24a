"""shared_utilities module (sample host tree)."""
