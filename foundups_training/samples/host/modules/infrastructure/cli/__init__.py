"""cli module (sample host tree)."""
