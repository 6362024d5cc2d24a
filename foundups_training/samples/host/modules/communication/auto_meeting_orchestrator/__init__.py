"""auto_meeting_orchestrator module (sample host tree)."""
