"""Helpers shared by the memory tests."""

from __future__ import annotations

from foundups_training.records import Pattern

TOPICS = (
    "youtube api quota exceeded",
    "stream went live on channel",
    "module import failed",
    "chat message flagged as spam",
    "priority score computed for channel",
)


def make(i: int, kind: str = "error_fix", **fields: object) -> Pattern:
    """A small pattern with a distinct context."""
    context = f"{TOPICS[i % len(TOPICS)]} (case {i})"
    fields.setdefault("timestamp", f"2025-01-{i % 28 + 1:02d}T00:00:00")
    return Pattern.make(kind, context, f"decision {i % 3}", **fields)  # type: ignore[arg-type]
