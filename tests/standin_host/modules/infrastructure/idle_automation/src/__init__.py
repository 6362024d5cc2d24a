"""Stand-in host package (see tests/standin_host/README.md)."""
