"""database module (sample host tree)."""
