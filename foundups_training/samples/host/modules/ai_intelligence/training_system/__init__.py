"""training_system module (sample host tree)."""
