"""The one-writer lock on the embedded store, within a process and across processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from foundups_training.config import Settings
from foundups_training.memory import StoreLocked, open_memory
from foundups_training.memory.lock import WriterLock, read_owner


def _holder_script(settings: Settings) -> str:
    return textwrap.dedent(f"""
        import sys, time
        from foundups_training.config import load_settings
        from foundups_training.memory import open_memory
        mem = open_memory(load_settings({{"data_dir": {str(settings.data_dir)!r}}}, env={{}}))
        print("locked", flush=True)
        time.sleep(120)
    """)


def test_second_writer_in_process_is_refused_with_a_clear_message(settings: Settings) -> None:
    first = open_memory(settings)
    try:
        with pytest.raises(StoreLocked) as info:
            open_memory(settings)
        message = str(info.value)
        assert f"process {os.getpid()}" in message
        assert str(settings.chroma_dir) in message
        assert "read-only" in message and "Chroma server" in message
        # Readers never take the lock.
        reader = open_memory(settings, read_only=True)
        reader.close()
    finally:
        first.close()
    again = open_memory(settings)  # released by close()
    again.close()


def test_lock_held_by_another_process_and_freed_when_it_dies(settings: Settings) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _holder_script(settings)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(StoreLocked) as info:
            open_memory(settings)
        assert info.value.owner.get("pid") == proc.pid
        assert f"process {proc.pid}" in str(info.value)
    finally:
        # A hard kill: the OS must drop the lock, leaving nothing stale behind.
        proc.send_signal(signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)
        proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while True:
        try:
            mem = open_memory(settings)
            break
        except StoreLocked:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    mem.close()


def test_writer_lock_object(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "store.lock"
    lock = WriterLock(path).acquire()
    assert lock.held and read_owner(path)["pid"] == os.getpid()  # type: ignore[index]
    with pytest.raises(StoreLocked):
        WriterLock(path).acquire()
    lock.release()
    lock.release()  # idempotent
    with WriterLock(path) as again:
        assert again.held
    assert not again.held


class _FakeMsvcrt:
    """``msvcrt.locking``'s contract, for running the Windows branch here: it locks
    ``nbytes`` from the file's *current position*, refuses a range another handle holds
    (``OSError``, as ``LK_NBLCK`` does), and unlocking a range this handle does not hold
    fails."""

    LK_UNLCK, LK_NBLCK = 0, 2

    def __init__(self) -> None:
        self.held: dict[tuple[int, int, int], int] = {}
        self.calls: list[tuple[str, int]] = []

    def locking(self, fd: int, mode: int, nbytes: int) -> None:
        pos = os.lseek(fd, 0, os.SEEK_CUR)
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino, pos)
        self.calls.append(("lock" if mode == self.LK_NBLCK else "unlock", pos))
        if mode == self.LK_NBLCK:
            if self.held.get(key, fd) != fd:
                raise OSError(13, "Permission denied")
            self.held[key] = fd
        elif self.held.get(key) == fd:
            del self.held[key]
        else:
            raise OSError(13, "Permission denied")


def test_windows_branch_locks_the_first_byte_and_says_who_holds_it(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _FakeMsvcrt()
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    path = tmp_path / "chroma.lock"
    path.write_bytes(b"\n" + b'{"pid": 1, "host": "old"}' + b"\n" * 50)  # a previous holder's

    first = WriterLock(path).acquire()
    # the file is opened for appending (its position is at the end): the lock must still be
    # taken on byte 0, where every process looks for it
    assert fake.calls == [("lock", 0)]
    owner = read_owner(path)
    assert owner is not None and owner["pid"] == os.getpid() and owner["host"] != "old"
    with pytest.raises(StoreLocked) as info:
        WriterLock(path).acquire()
    assert info.value.owner["pid"] == os.getpid()  # read after the locked byte
    first.release()
    assert fake.calls[-1] == ("unlock", 0) and fake.held == {}
    first.release()  # idempotent
    with WriterLock(path) as again:
        assert again.held
    assert fake.held == {}
