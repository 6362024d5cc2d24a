"""youtube_auth module (sample host tree)."""
