"""Review fixes of the background writer: one journal replay at a time across processes,
and a store that failed with an internal error is not written again."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from foundups_training.config import Settings
from foundups_training.memory import BackgroundWriter, PatternMemory
from foundups_training.memory import writer as writer_mod
from foundups_training.memory.writer import (
    append_journal,
    is_store_failure,
    journal_pending,
    pattern_from_json,
)

from .helpers import hold_replay_lock, make


def test_a_replay_is_skipped_while_another_process_replays(
    memory: PatternMemory, settings: Settings
) -> None:
    """In server mode every process of a user shares one journal; two replays of the same
    file counted ``seen`` twice (476 of 1,500 patterns) or aborted on the other's progress
    file. The process that finds the replay lock taken leaves the journal to its holder."""
    patterns = [make(i) for i in range(6)]
    assert append_journal(settings.journal_dir, patterns) == 6
    writer = BackgroundWriter(memory, settings.journal_dir)  # not started: replay by hand
    child = hold_replay_lock(settings.journal_dir)
    try:
        assert writer.replay() == 0
        assert memory.count() == 0 and journal_pending(settings.journal_dir)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=60)
    assert writer.replay() == 6  # the lock is free again: this process replays
    assert {p.id: p.seen for p in memory.all_patterns()} == {p.id: 1 for p in patterns}
    assert not journal_pending(settings.journal_dir)


def test_the_progress_temp_file_is_this_process_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two replays wrote one ``<file>.progress.tmp``: one renamed it away under the other,
    whose rename then failed with FileNotFoundError and aborted its replay."""
    renamed: list[str] = []
    real_replace = os.replace

    def spy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        renamed.append(Path(src).name)
        real_replace(src, dst)

    monkeypatch.setattr(writer_mod.os, "replace", spy)
    progress = tmp_path / "replay-1-ab.jsonl.progress"
    BackgroundWriter._save_progress(progress, {"done": 512})
    assert renamed and str(os.getpid()) in renamed[0]
    assert BackgroundWriter._replay_progress(progress) == (512, None)
    assert list(tmp_path.iterdir()) == [progress]


def test_after_a_store_failure_the_writer_journals_and_never_calls_the_store_again(
    memory: PatternMemory,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After chromadb failed its storage (a full disk), a later chromadb call froze the whole
    process with the GIL held; the writer kept calling it every batch and every replay."""
    from chromadb.errors import InternalError

    calls: list[int] = []

    def full_disk(patterns: list[object]) -> None:
        calls.append(len(patterns))
        raise InternalError(
            "Failed to apply logs to the metadata segment: database or disk is full"
        )

    monkeypatch.setattr(memory, "upsert", full_disk)
    writer = BackgroundWriter(memory, settings.journal_dir, replay_every_s=0.05).start()
    try:
        writer.submit(make(0))
        assert writer.flush(timeout=60)
        writer.submit(make(1))
        assert writer.flush(timeout=60)
        time.sleep(0.8)  # long enough for idle replays of the journal
        writer.submit(make(2))
    finally:
        writer.close()
    assert calls == [1]
    stats = writer.stats()
    assert (stats["written"], stats["spilled"], stats["lost"]) == (0, 3, 0)
    journaled = writer.journal_path.read_text(encoding="utf-8").splitlines()
    assert [pattern_from_json(line) for line in journaled] == [make(i) for i in range(3)]
    said = [r for r in caplog.records if "stops writing to the store" in r.getMessage()]
    assert len(said) == 1 and "\n" not in said[0].getMessage()


def test_store_failures_are_told_from_other_errors() -> None:
    from chromadb.errors import InternalError

    assert is_store_failure(InternalError("anything"))
    assert is_store_failure(RuntimeError("sqlite3.OperationalError: disk I/O error"))
    try:
        try:
            raise OSError(28, "database or disk is full")
        except OSError as inner:
            raise RuntimeError("write failed") from inner
    except RuntimeError as outer:
        assert is_store_failure(outer)
    assert not is_store_failure(ValueError("bad pattern"))
