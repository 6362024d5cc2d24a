"""idle_automation module (sample host tree)."""
