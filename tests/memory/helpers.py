"""Helpers shared by the memory tests."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

from foundups_training.memory.writer import REPLAY_LOCK_NAME
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


def run_bounded(fn: Any, wait: float) -> BaseException | object:
    """What ``fn()`` raised (or returned), run in a daemon thread; fails the test if it is
    still running after ``wait`` s (a hang must fail the test, not hold the run)."""
    box: list[BaseException | object] = []

    def run() -> None:
        try:
            box.append(fn())
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(wait)
    assert not thread.is_alive(), f"still blocked after {wait} s"
    return box[0]


def hold_replay_lock(journal_dir: Path) -> subprocess.Popen[str]:
    """Another process that holds the replay lock, as its replay of the journal does, until
    its stdin closes; returns once it holds it."""
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from foundups_training.memory.lock import WriterLock
        lock = WriterLock(Path({str(journal_dir / REPLAY_LOCK_NAME)!r})).acquire()
        print("held", flush=True)
        sys.stdin.read()
        lock.release()
    """)
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child
