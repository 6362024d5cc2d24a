"""Second review of the background writer and its journal: lines that are JSON but no
pattern, a journal file that cannot be read, flush and close racing the writer's thread and
the callers, and the counts of a replay the store cut short."""

from __future__ import annotations

import json
import queue
import threading
from typing import Any

import pytest

from foundups_training.config import Settings
from foundups_training.memory import BackgroundWriter, PatternMemory
from foundups_training.memory.writer import journal_pending, pattern_to_json
from foundups_training.records import Pattern

from .helpers import make


def _journal_bytes(patterns: list[Pattern]) -> bytes:
    return "".join(pattern_to_json(p) + "\n" for p in patterns).encode("utf-8")


def _foreign_lines() -> list[str]:
    """Journal lines that are valid JSON objects with a pattern's keys, yet no pattern this
    version can store: a hand edit, another tool, or a later version of the plugin."""
    base = json.loads(pattern_to_json(make(90)))
    lines = []
    for i, (key, value) in enumerate(
        [
            ("outcome", None),
            ("seen", "3"),
            ("id", 42),
            ("context", ["a", "list"]),
            ("variants", [{"set": 1}]),
            ("verified", "yes"),
        ]
    ):
        data = dict(base, id=f"foreign-{i}")
        data[key] = value
        lines.append(json.dumps(data))
    return lines


def test_a_line_that_is_json_but_no_pattern_costs_that_line_only(
    memory: PatternMemory, settings: Settings
) -> None:
    """A line such as ``{"outcome": null, ...}`` parsed into a Pattern, and the store then
    failed on the whole batch of 512 at every replay: that batch, and every journal file
    after it, were never stored, and the replay was retried every 30 s for ever."""
    good = [make(i) for i in range(8)]
    settings.journal_dir.mkdir(parents=True)
    lines = [pattern_to_json(p) for p in good[:3]] + _foreign_lines()
    lines += [pattern_to_json(p) for p in good[3:6]]
    (settings.journal_dir / "replay-1-aaaaaaaa.jsonl").write_text("\n".join(lines) + "\n")
    (settings.journal_dir / "pending.jsonl").write_bytes(_journal_bytes(good[6:]))
    writer = BackgroundWriter(memory, settings.journal_dir)
    assert writer.replay() == len(good)
    assert sorted(p.id for p in memory.all_patterns()) == sorted(p.id for p in good)
    assert writer.stats()["replayed"] == len(good)
    assert not journal_pending(settings.journal_dir)


def test_a_journal_file_that_cannot_be_read_does_not_hold_back_the_others(
    memory: PatternMemory, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A replay file that cannot be opened (left by another account with mode 0600, or a
    folder of that name) raised out of the replay before any later file was read: every
    later spill waited behind it for ever."""
    good = [make(i) for i in range(4)]
    settings.journal_dir.mkdir(parents=True)
    (settings.journal_dir / "replay-0-unreadab.jsonl").mkdir()  # sorts first
    (settings.journal_dir / "pending.jsonl").write_bytes(_journal_bytes(good))
    writer = BackgroundWriter(memory, settings.journal_dir)
    assert writer.replay() == len(good)
    assert sorted(p.id for p in memory.all_patterns()) == sorted(p.id for p in good)
    assert any("replay-0-unreadab.jsonl" in r.getMessage() for r in caplog.records)


class _PausingQueue(queue.Queue[Pattern]):
    """Holds the writer's thread right after it took an item, before it says so."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        self.taken = threading.Event()
        self.release = threading.Event()

    def get(self, block: bool = True, timeout: float | None = None) -> Pattern:
        item = super().get(block, timeout)
        if not self.taken.is_set():
            self.taken.set()
            self.release.wait(60)
        return item


def test_flush_waits_for_a_pattern_the_thread_took_but_has_not_stored(
    memory: PatternMemory, settings: Settings
) -> None:
    """Between the thread's ``get`` and its note of the pattern, the queue was empty and
    nothing was counted busy: ``flush`` said everything was stored while it was not."""
    writer = BackgroundWriter(memory, settings.journal_dir)
    paused = _PausingQueue(maxsize=16)
    writer._queue = paused
    writer.start()
    try:
        assert writer.flush(timeout=60)  # the start's replay of an empty journal
        writer.submit(make(1))
        assert paused.taken.wait(60)
        assert writer.flush(timeout=0.3) is False  # not stored yet
        assert memory.count() == 0
    finally:
        paused.release.set()
    assert writer.flush(timeout=60)
    assert memory.count() == 1
    writer.close()


class _CloseFirstQueue(queue.Queue[Pattern]):
    """``close`` runs to its end between ``submit``'s look at the stop flag and its put."""

    def __init__(self, maxsize: int, writer: BackgroundWriter) -> None:
        super().__init__(maxsize)
        self.writer = writer

    def put_nowait(self, item: Pattern) -> None:
        self.writer.close(timeout=30)
        super().put_nowait(item)


def test_a_submit_racing_close_is_journaled_not_stranded(
    memory: PatternMemory, settings: Settings
) -> None:
    """A pattern put on the queue after ``close`` drained it was taken by no one: counted
    submitted, never written, spilled or lost, and gone with the process."""
    writer = BackgroundWriter(memory, settings.journal_dir)
    writer._queue = _CloseFirstQueue(16, writer)
    writer.start()
    assert writer.flush(timeout=60)
    writer.submit(make(1))
    stats = writer.stats()
    assert stats["submitted"] == 1
    assert stats["written"] + stats["spilled"] + stats["lost"] == 1
    assert stats["queued"] == 0
    lines = writer.journal_path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == [make(1).id]


def test_a_replay_the_store_cut_short_counts_what_it_stored(
    memory: PatternMemory, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store refused the second 512-pattern batch of a replay: the first batch was
    stored but never counted ``replayed`` (the count came only at the file's end), and the
    retry counted only the rest: 588 of 1,100 journaled patterns were ever counted."""
    patterns = [make(i) for i in range(1100)]
    settings.journal_dir.mkdir(parents=True)
    (settings.journal_dir / "pending.jsonl").write_bytes(_journal_bytes(patterns))
    real_upsert = memory.upsert
    calls = {"n": 0}

    def refuse_the_second(batch: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("the store refused the write (simulated)")
        return real_upsert(batch)

    monkeypatch.setattr(memory, "upsert", refuse_the_second)
    writer = BackgroundWriter(memory, settings.journal_dir)
    with pytest.raises(OSError):
        writer.replay()
    assert writer.stats()["replayed"] == 512 == memory.count()
    assert writer.replay() == len(patterns) - 512
    assert writer.stats()["replayed"] == len(patterns)
    assert {p.seen for p in memory.all_patterns()} == {1} and memory.count() == len(patterns)
    assert not journal_pending(settings.journal_dir)


def test_a_line_another_process_appends_during_a_replay_is_kept(
    memory: PatternMemory, settings: Settings
) -> None:
    """Server mode: every process shares the journal, and the in-process journal lock covers
    this process only. Another process that opened ``pending.jsonl`` just before this replay
    renamed it aside wrote its line into the renamed file after the replay had read it: the
    replay then deleted the file, and that process's pattern, counted spilled there, with it."""
    from foundups_training import signals

    first = [make(i) for i in range(3)]
    late = make(50)
    settings.journal_dir.mkdir(parents=True)
    (settings.journal_dir / "pending.jsonl").write_bytes(_journal_bytes(first))
    other = (settings.journal_dir / "pending.jsonl").open("ab")  # the other process's append

    def write_late(_sender: object, **_kw: object) -> None:
        if not other.closed:  # while this replay stores what it read
            other.write((pattern_to_json(late) + "\n").encode("utf-8"))
            other.close()

    signals.pattern_stored.connect(write_late)
    try:
        writer = BackgroundWriter(memory, settings.journal_dir)
        assert writer.replay() == len(first)
    finally:
        signals.pattern_stored.disconnect(write_late)
        if not other.closed:
            other.close()
    assert writer.replay() == 1  # the late line waits in the journal, then is stored
    assert sorted(p.id for p in memory.all_patterns()) == sorted(p.id for p in [*first, late])
    assert not journal_pending(settings.journal_dir)
