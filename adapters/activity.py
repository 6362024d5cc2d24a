"""What the live-chat wrappers observe and the idle trigger reads: chat activity and live streams.

Kept in one small object so the idle adapter can decide "idle ≥ N minutes since the last chat
activity, no live stream" without importing anything of the host's. Updating it is a few
attribute writes: cheap enough for the hot path.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any


def _running(session: Any) -> bool:
    """The host's own ``is_running`` flag of a session; False when reading it fails (a
    property that raises must not fail the idle check, which then falls back to the host)."""
    try:
        return bool(getattr(session, "is_running", False))
    except Exception:  # noqa: BLE001 - a host object's attribute
        return False


class Activity:
    """Last chat activity and the live-chat sessions currently running."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.last_chat: float | None = None  # time.monotonic() of the last message or event
        self._listening = 0  # LiveChatCore.start_listening calls in progress
        # Sessions seen; the host itself marks a live stream with ``is_running``.
        self._sessions: weakref.WeakSet[Any] = weakref.WeakSet()

    def touch(self) -> None:
        """A chat message or moderation event was just handled."""
        self.last_chat = time.monotonic()

    def stream_started(self, session: Any = None) -> None:
        """A live-chat session began listening."""
        with self._lock:
            self._listening += 1
            if session is not None:
                try:
                    self._sessions.add(session)
                except TypeError:  # not weak-referenceable: the counter still knows
                    pass
        self.touch()

    def stream_ended(self, session: Any = None) -> None:
        """A live-chat session stopped listening."""
        with self._lock:
            self._listening = max(0, self._listening - 1)
        self.touch()

    def stream_live(self) -> bool:
        """Whether any live-chat session is running now."""
        with self._lock:
            if self._listening > 0:
                return True
            sessions = list(self._sessions)
        return any(_running(s) for s in sessions)

    def idle_seconds(self, now: float | None = None) -> float | None:
        """Seconds since the last chat activity; None when none was seen in this process."""
        last = self.last_chat
        if last is None:
            return None
        return (time.monotonic() if now is None else now) - last

    def reset(self) -> None:
        """Forget everything (tests)."""
        with self._lock:
            self.last_chat = None
            self._listening = 0
            self._sessions = weakref.WeakSet()


#: The process-wide tracker the adapters share.
ACTIVITY = Activity()
