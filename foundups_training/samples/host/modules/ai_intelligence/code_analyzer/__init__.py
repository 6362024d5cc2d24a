"""code_analyzer module (sample host tree)."""
