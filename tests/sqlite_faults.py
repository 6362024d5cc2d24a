"""SQLite faults the tests stage without changing permissions (they run as root here)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest


def refuse_read_only_in_place(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """Make ``mode=ro`` on ``path`` fail as it does in a read-only folder (its ``-shm``
    cannot be created there); other files open as usual."""
    real_connect = sqlite3.connect
    refused = f"{path.resolve().as_uri()}?mode=ro"

    def connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        if str(database) == refused:
            raise sqlite3.OperationalError("unable to open database file")
        return real_connect(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)
