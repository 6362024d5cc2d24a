"""BackgroundWriter: never blocks, spills to the journal when full, replays on the next start."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import replace

from foundups_training.config import Settings
from foundups_training.memory import BackgroundWriter, PatternMemory, open_memory
from foundups_training.memory.writer import pattern_from_json, pattern_to_json

from .helpers import make


def test_submitted_patterns_are_written(memory: PatternMemory) -> None:
    writer = memory.writer()
    assert memory.writer() is writer  # one per memory
    assert writer.submit_many(make(i) for i in range(20)) == 20
    assert writer.flush(timeout=60)
    assert memory.count() == 20
    stats = writer.stats()
    assert (stats["submitted"], stats["written"], stats["spilled"], stats["lost"]) == (20, 20, 0, 0)


def test_full_queue_spills_to_journal_and_replays_on_start(
    memory: PatternMemory, settings: Settings
) -> None:
    # Not started: nothing drains the queue, so the third submit finds it full.
    writer = BackgroundWriter(memory, settings.journal_dir, maxsize=2)
    results = [writer.submit(make(i)) for i in range(5)]
    assert results == [True, True, False, False, False]
    assert writer.stats()["spilled"] == 3
    lines = writer.journal_path.read_text(encoding="utf-8").splitlines()
    assert [pattern_from_json(line) for line in lines] == [make(i) for i in range(2, 5)]
    writer.start()
    assert writer.flush(timeout=60)
    writer.close()
    assert memory.count() == 5
    stats = writer.stats()
    assert stats["replayed"] == 3 and stats["written"] == 2
    assert not writer.journal_path.exists()
    assert not list(settings.journal_dir.glob("*.jsonl"))


def test_failed_store_is_journaled_never_dropped(memory: PatternMemory, settings: Settings) -> None:
    memory.upsert([make(0)])
    reader = open_memory(settings, read_only=True)  # its upsert raises: a store that fails
    failing = BackgroundWriter(reader, settings.journal_dir).start()
    failing.submit(make(1))
    assert failing.flush(timeout=60)
    failing.close()
    reader.close()
    assert failing.stats()["spilled"] == 1 and failing.stats()["written"] == 0
    # The next writer with a working store replays it.
    writer = memory.writer()
    assert writer.flush(timeout=60)
    assert memory.get(make(1).id) is not None


def test_a_batch_that_fails_halfway_journals_only_what_was_not_stored(
    memory: PatternMemory, monkeypatch
) -> None:
    """The known pattern's update goes through, the new one's insert fails: replaying the
    whole batch would count the known pattern's observation twice."""
    memory.upsert([make(0)])
    col = memory._col()
    real_upsert = col.upsert
    calls = {"n": 0}

    def failing_upsert(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("disk full (simulated)")
        return real_upsert(*args, **kwargs)

    monkeypatch.setattr(col, "upsert", failing_upsert)
    writer = BackgroundWriter(memory, memory.settings.journal_dir).start()
    writer.submit_many([make(0), make(1)])
    assert writer.flush(timeout=60)
    writer.close()
    assert calls["n"] == 1
    stats = writer.stats()
    assert (stats["written"], stats["spilled"]) == (1, 1)
    lines = writer.journal_path.read_text(encoding="utf-8").splitlines()
    assert [pattern_from_json(line).id for line in lines] == [make(1).id]
    again = BackgroundWriter(memory, memory.settings.journal_dir).start()  # replays
    assert again.flush(timeout=60)
    again.close()
    assert memory.get(make(0).id).seen == 2 and memory.get(make(1).id).seen == 1


def test_close_stores_what_is_queued(settings: Settings) -> None:
    mem = open_memory(settings)
    writer = mem.writer()
    writer.submit_many(make(i) for i in range(50))
    mem.close()  # drains the writer before releasing the lock
    stats = writer.stats()
    assert stats["written"] + stats["spilled"] == 50 and stats["lost"] == 0
    mem = open_memory(settings)
    try:
        mem.writer().flush(timeout=60)
        assert mem.count() == 50
    finally:
        mem.close()


def test_journal_left_by_another_process_is_replayed(settings: Settings) -> None:
    script = textwrap.dedent(f"""
        from foundups_training.config import load_settings
        from foundups_training.memory import BackgroundWriter, open_memory
        from foundups_training.records import Pattern
        settings = load_settings({{"data_dir": {str(settings.data_dir)!r}}}, env={{}})
        mem = open_memory(settings)
        w = BackgroundWriter(mem, settings.journal_dir, maxsize=1)  # never started
        for i in range(4):
            w.submit(Pattern.make("stream", f"live stream check {{i}}", "live"))
        print(w.stats()["spilled"])
    """)
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, timeout=120, capture_output=True, text=True
    ).stdout
    assert out.strip() == "3"  # one was queued in memory and died with the process
    mem = open_memory(settings)
    try:
        assert mem.writer().flush(timeout=60)
        assert mem.writer().stats()["replayed"] == 3
        assert mem.count() == 3
    finally:
        mem.close()


def test_journal_lines_round_trip() -> None:
    pattern = make(3, outcome="multi\nline ✅", verified=True)
    assert pattern_from_json(pattern_to_json(pattern)) == pattern
    with_instances = replace(
        pattern, variants=(("set 1", "set 2", "ok"), ("set 2", "set 3", "")), tally=(2, 1)
    )
    assert pattern_from_json(pattern_to_json(with_instances)) == with_instances
    assert "\n" not in pattern_to_json(pattern)


def test_spills_are_replayed_while_idle(memory: PatternMemory, settings: Settings) -> None:
    writer = BackgroundWriter(memory, settings.journal_dir, maxsize=1, replay_every_s=0.1)
    for i in range(3):
        writer.submit(make(i))  # the first is queued, the others spill
    writer.start()
    assert writer.flush(timeout=60)
    import time

    deadline = time.monotonic() + 30
    while memory.count() < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    writer.close()
    assert memory.count() == 3


def test_submit_accepts_a_list(memory: PatternMemory) -> None:
    writer = memory.writer()
    assert writer.submit([make(1), make(2)]) is True
    assert writer.flush(timeout=60)
    assert memory.count() == 2 and writer.stats()["submitted"] == 2
