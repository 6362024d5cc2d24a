"""stream_resolver module (sample host tree)."""
