"""livechat module (sample host tree)."""
