"""move2japan module (sample host tree)."""
