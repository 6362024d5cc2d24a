"""The one-writer locks across a fork (``multiprocessing`` with ``fork``, ``os.fork``).

An flock belongs to the open file, which a fork shares: whatever the child does with the
parent's handle (unlock it, keep it open) it does to the parent's lock. Real forks
(:mod:`forking`), real flocks: a second handle of this process is refused by a lock another
handle holds, as another process's would be.
"""

from __future__ import annotations

import os
import select
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from forking import CHILD_S, in_child

from foundups_training.config import Settings
from foundups_training.memory import StoreLocked, open_memory
from foundups_training.memory.lock import WriterLock
from foundups_training.mining.miner import run_lock_path, take_run_lock

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX: fork and flock")


def _taken(path: Path) -> bool:
    """Whether some handle holds the lock at ``path`` (this call takes none for good)."""
    try:
        WriterLock(path).acquire().release()
    except StoreLocked:
        return True
    return False


def test_a_child_that_releases_the_lock_leaves_it_to_the_parent(tmp_path: Path) -> None:
    """A child's ``release`` (a ``with`` block it leaves, a close at its exit) unlocked the
    parent's lock: a second process then opened the store for writing beside the parent."""
    path = tmp_path / "chroma.lock"
    lock = WriterLock(path).acquire()
    try:

        def child() -> dict[str, Any]:
            held = lock.held
            lock.release()
            return {"held": held}

        assert in_child(child) == {"held": False}
        assert lock.held and _taken(path)
    finally:
        lock.release()
    assert not _taken(path)


def test_a_child_cannot_take_the_parent_lock_as_its_own(tmp_path: Path) -> None:
    """``acquire`` on the inherited object returned at once in the child, which then wrote
    the store beside its parent."""
    path = tmp_path / "chroma.lock"
    lock = WriterLock(path).acquire()
    try:

        def child() -> dict[str, Any]:
            try:
                lock.acquire()
            except StoreLocked as exc:
                return {"refused": exc.owner.get("pid") == os.getppid(), "held": lock.held}
            return {"refused": False, "held": lock.held}

        assert in_child(child) == {"refused": True, "held": False}
        assert lock.held and _taken(path)
    finally:
        lock.release()


def test_a_child_that_just_exits_leaves_the_parent_lock_held(tmp_path: Path) -> None:
    """What the child closes at the fork (or its exit) it closes without unlocking."""
    path = tmp_path / "chroma.lock"
    with WriterLock(path):
        assert in_child(lambda: {"ran": True}) == {"ran": True}
        assert _taken(path)
    assert not _taken(path)


def test_a_child_that_releases_the_store_lock_leaves_it_to_the_parent(
    settings: Settings,
) -> None:
    """A worker forked after the store was opened, whose copy of the store's lock was
    released (the end of ``close()``, a finalizer, an ``atexit``), freed the parent's
    ``chroma.lock``: a second writer could open the embedded store beside the first.

    The lock is released directly: ``close()`` in a forked child does not get there, it
    hangs in chromadb's Rust client (reported apart)."""
    memory = open_memory(settings)
    try:
        lock = memory._lock
        assert lock is not None

        def child() -> dict[str, Any]:
            lock.release()
            return {"released": True}

        assert in_child(child) == {"released": True}
        try:
            second = open_memory(settings)
        except StoreLocked:
            second = None
        if second is not None:
            second.close()
        assert second is None, "a second writer opened the store beside the first"
    finally:
        memory.close()
    open_memory(settings).close()


def _parent_dies_holding(take: Callable[[], Any]) -> int:
    """Fork a process that takes a lock (``take``), forks a worker and dies holding it; the
    worker lives until the returned pipe end is closed. Returns once the worker runs."""
    ready_r, ready_w = os.pipe()
    hold_r, hold_w = os.pipe()
    parent = os.fork()
    if parent == 0:  # the parent process: always leaves through os._exit
        code = 3
        try:
            os.close(ready_r)
            os.close(hold_w)
            held = take()  # kept: collecting it would close the handle
            if os.fork() == 0:  # the worker: says it runs, lives until the test lets it go
                os.write(ready_w, b"1")
                select.select([hold_r], [], [], CHILD_S)
                os._exit(0)
            code = 0 if held is not None else 4
        finally:
            os._exit(code)  # killed: the lock is never released
    os.close(ready_w)
    os.close(hold_r)
    try:
        assert os.waitpid(parent, 0)[1] == 0
        assert select.select([ready_r], [], [], CHILD_S)[0], "the worker never ran"
    except BaseException:
        os.close(hold_w)
        raise
    finally:
        os.close(ready_r)
    return hold_w


def test_a_child_does_not_keep_the_store_lock_after_its_parent(tmp_path: Path) -> None:
    """A worker forked while its parent held the lock inherited the locked file: the parent
    killed, the worker held the store for as long as it ran, and every later writer was
    refused, naming the dead parent."""
    path = tmp_path / "chroma.lock"
    hold = _parent_dies_holding(lambda: WriterLock(path).acquire())
    try:
        assert not _taken(path)
    finally:
        os.close(hold)  # the worker ends


def test_the_run_lock_across_a_fork(tmp_path: Path) -> None:
    """The miner's run lock (``checkpoint.json.lock``) is the same lock: a child's release
    let a second run mine the same lines beside the parent's, and a worker that outlived
    its parent skipped every later run."""
    path = run_lock_path(tmp_path / "checkpoint.json")
    lock, _ = take_run_lock(path, 0.0)
    assert lock is not None
    try:
        assert in_child(lambda: {"released": lock.release() is None}) == {"released": True}
        other, who = take_run_lock(path, 0.0)
        assert other is None and f"process {os.getpid()}" in who
    finally:
        lock.release()

    hold = _parent_dies_holding(lambda: take_run_lock(path, 0.0)[0])
    try:
        again, who = take_run_lock(path, 0.0)
        assert again is not None, f"skipped: {who}"
        again.release()
    finally:
        os.close(hold)


def test_a_child_that_closes_the_inherited_store_lets_go_of_it_only(
    settings: Settings,
) -> None:
    """A worker closing the store it inherited (at its exit, say) hung for ever in chromadb's
    client close, would have journaled the parent's queued patterns again, and removed the
    parent's read-only copy; it now only lets go: the parent keeps writing and holds the lock."""
    memory = open_memory(settings)
    try:

        def child() -> dict[str, Any]:
            memory.close()
            return {"closed": True}

        assert in_child(child) == {"closed": True}
        with pytest.raises(StoreLocked):
            open_memory(settings)
        assert memory.count() >= 0  # the parent's client still answers
    finally:
        memory.close()
    open_memory(settings).close()
