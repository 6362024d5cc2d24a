"""social_media_orchestrator module (sample host tree)."""
