"""One writer per embedded store: an OS file lock next to the Chroma directory.

chromadb's ``PersistentClient`` is not safe when two processes write the same directory, so
the process that opens the store for writing holds an exclusive, non-blocking lock on
``<chroma dir>.lock``. The operating system drops the lock when the process ends, even on
``kill -9``, so there is never a stale lock to clean up (unlike a pid file).

POSIX uses ``fcntl.flock``; Windows uses ``msvcrt.locking`` on the file's first byte. The
holder's pid, host and start time are written after that byte, where the second process can
still read them (Windows blocks reads of a locked range only) to say who holds the store.

An flock belongs to the open file, which a fork shares with the child: a forked child
(``multiprocessing`` with ``fork``, ``os.fork``) closes its copies of the handles at the fork,
without unlocking, and holds none of its parent's locks (see :func:`_after_fork_in_child`).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
import weakref
from pathlib import Path
from typing import IO, Any

# The locked range on Windows; owner details are written after it.
_LOCK_BYTES = 1


class StoreLocked(RuntimeError):
    """Another process has the embedded pattern store open for writing."""

    def __init__(self, path: Path, owner: dict[str, Any] | None) -> None:
        self.path = path
        self.owner = owner or {}
        who = "another process"
        if self.owner.get("pid"):
            who = f"process {self.owner['pid']}"
            if self.owner.get("host"):
                who += f" on {self.owner['host']}"
            if self.owner.get("since"):
                who += f" (since {self.owner['since']})"
        #: Who holds the store, in words ("process 42 on box (since …)"), for a caller whose
        #: advice differs (the demo's store is only ever held by another demo).
        self.who = who
        super().__init__(
            f"the pattern store {_store_of(path)} is open for writing by {who}. Only one process "
            "may write the embedded store: stop that process, open it read-only "
            "(e.g. `foundups-training status`), or share the store through a Chroma server "
            "(set FOUNDUPS_TRAINING_CHROMA_URL)."
        )


def _store_of(lock_path: Path) -> Path:
    """The store a lock file guards (``<dir>.lock`` guards ``<dir>``)."""
    return lock_path.with_suffix("") if lock_path.suffix == ".lock" else lock_path


def _try_lock(fh: IO[bytes]) -> bool:
    if sys.platform == "win32":
        import msvcrt

        fh.seek(0)
        try:
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, _LOCK_BYTES)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _unlock(fh: IO[bytes]) -> None:
    if sys.platform == "win32":
        import msvcrt

        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, _LOCK_BYTES)
    else:
        import fcntl

        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def read_owner(path: Path) -> dict[str, Any] | None:
    """Who holds (or last held) the lock at ``path``, if it says."""
    try:
        with path.open("rb") as fh:
            fh.seek(_LOCK_BYTES)
            raw = fh.read(4096)
        owner = json.loads(raw.decode("utf-8").strip() or "null")
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


class WriterLock:
    """An exclusive, non-blocking, process-lifetime lock; ``release`` is idempotent.

    The process that took it holds it: a forked child does not (:func:`_after_fork_in_child`).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fh: IO[bytes] | None = None
        #: The process that took the lock on ``_fh``: the only one that may unlock it.
        self._pid: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now (never in a child forked from the holder)."""
        return self._fh is not None and self._pid == os.getpid()

    def acquire(self) -> WriterLock:
        """Take the lock or raise :class:`StoreLocked` at once (never waits)."""
        if self.held:
            return self
        self.forget()  # a handle of the parent's, in a forked child: it is not this process's
        _locks.add(self)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # "a+b" creates the file without truncating what the holder wrote. Kept on self at
        # once: a fork by another thread from here on closes the child's copy.
        self._fh = fh = self.path.open("a+b")
        if not _try_lock(fh):
            self._fh = None
            fh.close()
            raise StoreLocked(self.path, read_owner(self.path))
        self._pid = os.getpid()
        owner = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(b"\n" * _LOCK_BYTES + json.dumps(owner).encode("utf-8") + b"\n")
            fh.flush()
        except OSError:
            pass  # the details are a courtesy; the lock itself is what matters
        return self

    def release(self) -> None:
        """Drop the lock (the file stays: deleting it would race a process that opens it).

        In a forked child the handle is only closed: unlocking it there unlocked the parent's
        lock (the flock is the shared open file's), and another process then wrote the store
        beside the parent."""
        if self._pid != os.getpid():
            self.forget()
            return
        fh, self._fh = self._fh, None
        self._pid = None
        if fh is None:
            return
        try:
            _unlock(fh)
        except OSError:
            pass  # closing the handle releases the lock anyway
        finally:
            fh.close()

    def forget(self) -> None:
        """Close the handle without unlocking it, and hold nothing from now on: in a forked
        child, where the lock is the parent's (closing a copy of the open file leaves it to
        the parent's handle). Never raises."""
        fh, self._fh = self._fh, None
        self._pid = None
        if fh is not None:
            with contextlib.suppress(OSError):
                fh.close()

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


#: Every lock this process has taken (or is taking), for the fork handler below. Weak: a lock
#: dropped without ``release`` is freed with its handle, as before.
_locks: weakref.WeakSet[WriterLock] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """A forked child closes its copies of the lock handles, without unlocking them.

    Kept open, a copy held the lock after the parent died (the open file outlives its first
    handle): a worker forked while the store (or a mining run) was open kept every later
    writer out for as long as it ran, naming the dead parent. Unlocked, it freed the lock
    under the living parent. Closed, it leaves the lock to the parent's handle alone.
    """
    try:
        for lock in list(_locks):
            lock.forget()
    except Exception:  # noqa: BLE001 - a fork handler must not fail the host's fork
        pass


if hasattr(os, "register_at_fork"):  # not on Windows, where nothing forks
    os.register_at_fork(after_in_child=_after_fork_in_child)
