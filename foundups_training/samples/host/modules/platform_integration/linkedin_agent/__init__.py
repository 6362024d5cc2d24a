"""linkedin_agent module (sample host tree)."""
