"""agent_permissions module (sample host tree)."""
