"""whack_a_magat module (sample host tree)."""
