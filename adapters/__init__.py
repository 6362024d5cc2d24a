"""Adapters: instrumentors that attach the plugin to the host's DAEs without editing them.

Installed as ``foundups_training.adapters``.
"""
