"""banter_engine module (sample host tree)."""
