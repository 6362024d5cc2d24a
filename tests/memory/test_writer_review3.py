"""Third review of the background writer and its journal: lines a later version wrote, the
replay lock and the journal lock across a fork, a line another process is still writing
while a replay reads the journal, and a replay cut short after another process's line."""

from __future__ import annotations

import json
import logging
import os
import select
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
from forking import CHILD_S, collect, fork, in_child

from foundups_training.memory import BackgroundWriter
from foundups_training.memory import writer as writer_mod
from foundups_training.memory.writer import (
    JournalBusy,
    append_journal,
    discard_journal,
    journal_discarded,
    journal_pending,
    pattern_to_json,
)
from foundups_training.records import Pattern

from .helpers import make

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX: fork and flock")


class _Memory:
    """What a replay needs of the store: ``upsert`` adds ``seen`` up, as the store does."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def upsert(self, patterns: Sequence[Pattern]) -> int:
        for p in patterns:
            self.seen[p.id] = self.seen.get(p.id, 0) + p.seen
        return len(patterns)

    def seen_counts(self, ids: Iterable[str]) -> dict[str, int]:
        return {i: self.seen[i] for i in ids if i in self.seen}


def _lines(patterns: Sequence[Pattern]) -> bytes:
    return "".join(pattern_to_json(p) + "\n" for p in patterns).encode("utf-8")


def _writer(journal_dir: Path, memory: _Memory) -> BackgroundWriter:
    return BackgroundWriter(memory, journal_dir)  # type: ignore[arg-type]


def test_lines_this_version_cannot_read_are_set_aside_never_deleted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A line a later version of the plugin wrote (a field this version does not know, a
    type it does not expect), and one torn by a crash, were skipped and deleted with their
    journal file: another version's patterns were lost. A line with an unknown field was
    even stored without that field."""
    good = [make(i) for i in range(4)]
    later = json.dumps(dict(json.loads(pattern_to_json(make(50))), mood="calm"))
    typed = json.dumps(dict(json.loads(pattern_to_json(make(51))), seen="3"))
    torn = pattern_to_json(make(52))[:30]
    kept = [later, typed, torn]
    journal = tmp_path / "journal"
    journal.mkdir()
    body = [pattern_to_json(good[0]), later, pattern_to_json(good[1]), typed, torn]
    body += [pattern_to_json(p) for p in good[2:]]
    (journal / "pending.jsonl").write_text("\n".join(body) + "\n", encoding="utf-8")
    memory = _Memory()
    writer = _writer(journal, memory)
    with caplog.at_level(logging.WARNING, logger=writer_mod.log.name):
        assert writer.replay() == len(good)
    assert sorted(memory.seen) == sorted(p.id for p in good)  # the later one is not cut down
    aside = journal / writer_mod.UNREADABLE_NAME
    assert aside.read_text(encoding="utf-8").splitlines() == kept
    assert any(str(aside) in r.getMessage() for r in caplog.records)
    assert not journal_pending(journal)
    assert writer.replay() == 0  # set aside once, not again at every replay
    assert aside.read_text(encoding="utf-8").splitlines() == kept


def test_a_child_forked_in_a_clear_does_not_release_the_parent_lock(tmp_path: Path) -> None:
    """flock locks belong to the open file, which a fork shares: a child that left the
    ``with`` block the fork happened in unlocked the parent's replay lock, and another
    process's replay then ran beside the parent's clear (or replay)."""
    journal = tmp_path / "journal"
    journal.mkdir()
    held = journal_discarded(journal)
    held.__enter__()
    try:

        def leave_the_block() -> dict[str, Any]:
            held.__exit__(None, None, None)
            return {"left": True}

        assert in_child(leave_the_block) == {"left": True}
        with pytest.raises(JournalBusy):  # the parent still holds it
            discard_journal(journal, wait_s=0)
    finally:
        held.__exit__(None, None, None)
    assert discard_journal(journal, wait_s=0) == 0


def test_a_child_forked_during_a_replay_does_not_keep_the_lock_after_the_parent(
    tmp_path: Path,
) -> None:
    """A worker forked (``multiprocessing``, ``os.fork``) while the writer's thread held the
    replay lock inherited the locked file: after the parent was killed the worker held the
    lock for as long as it ran, every replay was skipped and ``clear`` raised JournalBusy
    naming the dead parent."""
    journal = tmp_path / "journal"
    journal.mkdir()
    hold_r, hold_w = os.pipe()
    parent = os.fork()
    if parent == 0:  # the parent process: takes the lock, forks a worker, dies holding it
        code = 3
        try:
            held = journal_discarded(journal)  # kept: collecting it would release the lock
            held.__enter__()
            if os.fork() == 0:  # the worker: lives until the test lets it go
                os.close(hold_w)
                select.select([hold_r], [], [], CHILD_S)
                os._exit(0)
            code = 0
        finally:
            os._exit(code)  # killed: the lock is never released
    try:
        os.close(hold_r)
        assert os.waitpid(parent, 0)[1] == 0
        assert discard_journal(journal, wait_s=0) == 0  # before: JournalBusy
    finally:
        os.close(hold_w)  # the worker ends


def test_a_child_forked_during_an_append_can_append(tmp_path: Path) -> None:
    """The in-process journal lock, held by another thread of the parent at the fork (an
    append in flight), stayed held for ever in the child, where that thread does not exist:
    the child's first spill hung, and with it the caller's submit."""
    journal = tmp_path / "journal"
    taken, release = threading.Event(), threading.Event()

    def append_in_flight() -> None:
        with writer_mod._journal_lock:
            taken.set()
            release.wait(CHILD_S)

    thread = threading.Thread(target=append_in_flight, daemon=True)
    thread.start()
    assert taken.wait(CHILD_S)

    def spill() -> dict[str, Any]:
        box: list[int] = []
        worker = threading.Thread(target=lambda: box.append(append_journal(journal, [make(1)])))
        worker.daemon = True
        worker.start()
        worker.join(5.0)
        return {"journaled": box}

    try:
        assert in_child(spill) == {"journaled": [1]}
    finally:
        release.set()
        thread.join()


def test_a_line_another_process_is_writing_during_a_replay_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Server mode: another process had opened ``pending.jsonl`` before this replay renamed it
    aside, and had written half of its line when the replay read the file. The replay skipped
    the half line as unreadable and deleted the file; the rest of the line went into the
    deleted file: the pattern, counted spilled in that process, was lost."""
    journal = tmp_path / "journal"
    journal.mkdir()
    first, late = [make(i) for i in range(3)], make(50)
    (journal / "pending.jsonl").write_bytes(_lines(first))
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()

    class _HalfWrite:
        """The other process's journal file: its first write stops halfway until told."""

        def __init__(self, fh: Any) -> None:
            self._fh, self._first = fh, True

        def write(self, data: bytes) -> int:
            if not self._first:
                return int(self._fh.write(data))
            self._first = False
            n = int(self._fh.write(data[: len(data) // 2]))
            os.write(ready_w, b"1")
            select.select([go_r], [], [], CHILD_S)
            return n

        def __getattr__(self, name: str) -> Any:
            return getattr(self._fh, name)

        def __enter__(self) -> _HalfWrite:
            return self

        def __exit__(self, *exc: object) -> None:
            self._fh.close()

    def other_process() -> dict[str, Any]:
        real_open = open
        writer_mod.open = lambda *a, **k: _HalfWrite(real_open(*a, **k))  # type: ignore[attr-defined]
        return {"journaled": append_journal(journal, [late])}

    monkeypatch.setattr(writer_mod, "APPEND_WAIT_S", 0.2)
    memory = _Memory()
    writer = _writer(journal, memory)
    child = fork(other_process)
    try:
        assert select.select([ready_r], [], [], CHILD_S)[0], "the other process wrote nothing"
        writer.replay()  # reads the journal while the line is half written
    finally:
        os.write(go_w, b"1")
        said = collect(*child)
        for fd in (ready_r, ready_w, go_r, go_w):
            os.close(fd)
    assert said == {"journaled": 1}
    writer.replay()
    assert memory.seen == {p.id: 1 for p in [*first, late]}
    assert writer.stats()["replayed"] == len(first) + 1
    assert not journal_pending(journal)


class _Killed(BaseException):
    """A kill, simulated: nothing after it runs."""


def test_a_replay_cut_short_keeps_a_line_added_to_its_file_afterwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The progress file said 512 lines were stored after a batch of 3: a line another
    process appended to the renamed file (its handle opened before the rename) was then
    counted stored by the next replay, which deleted the file with it."""
    journal = tmp_path / "journal"
    journal.mkdir()
    first, late = [make(i) for i in range(3)], make(50)
    (journal / "pending.jsonl").write_bytes(_lines(first))
    other = (journal / "pending.jsonl").open("ab")  # the other process's handle
    real_save = BackgroundWriter._save_progress

    def save_then_die(path: Path, data: dict[str, Any]) -> None:
        real_save(path, data)
        if "before" not in data:  # the batch is stored and its progress saved
            raise _Killed

    monkeypatch.setattr(BackgroundWriter, "_save_progress", staticmethod(save_then_die))
    memory = _Memory()
    with pytest.raises(_Killed):
        _writer(journal, memory).replay()
    monkeypatch.undo()
    with other:
        other.write(_lines([late]))
    writer = _writer(journal, memory)
    assert writer.replay() == 1
    assert memory.seen == {p.id: 1 for p in [*first, late]}
    assert not journal_pending(journal)


def test_a_line_added_during_a_replay_survives_a_journal_that_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line another process (one without the journal's file lock: an earlier version)
    wrote into the renamed file during the replay was copied back into the journal; when
    that append failed (a full disk), it was logged lost and deleted with the file."""
    journal = tmp_path / "journal"
    journal.mkdir()
    first, late = [make(i) for i in range(3)], make(50)
    (journal / "pending.jsonl").write_bytes(_lines(first))
    other = (journal / "pending.jsonl").open("ab")  # the other process's handle

    class _LateMemory(_Memory):
        def upsert(self, patterns: Sequence[Pattern]) -> int:
            if not other.closed:  # while this replay stores what it read
                other.write(_lines([late]))
                other.close()
            return super().upsert(patterns)

    def disk_full(_path: Path, _lines: list[bytes]) -> tuple[int, Exception | None]:
        return 0, OSError(28, "No space left on device")

    memory = _LateMemory()
    writer = _writer(journal, memory)
    monkeypatch.setattr(writer_mod, "_append_lines", disk_full)
    try:
        assert writer.replay() == len(first)
    finally:
        other.close()
    monkeypatch.undo()
    assert writer.replay() == 1
    assert memory.seen == {p.id: 1 for p in [*first, late]}
    assert not journal_pending(journal)
