"""BackgroundWriter: never blocks, spills to the journal when full, replays on the next start."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace

import pytest

from foundups_training import signals
from foundups_training.config import Settings
from foundups_training.memory import BackgroundWriter, PatternMemory, open_memory
from foundups_training.memory.writer import pattern_from_json, pattern_to_json

from .helpers import make

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]


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


def test_clear_deletes_what_the_journal_holds_too(settings: Settings) -> None:
    """A store opened with a journal replays it in the background; clearing it then must
    not let that replay put the journaled patterns back, now or at the next open."""
    settings.journal_dir.mkdir(parents=True, exist_ok=True)
    lines = [pattern_to_json(make(i)) for i in range(1200)]
    (settings.journal_dir / "pending.jsonl").write_text("\n".join(lines) + "\n")
    mem = open_memory(settings)  # starts replaying (in 512-pattern batches)
    try:
        mem.clear(confirm=True)
        assert mem.count() == 0
        time.sleep(0.5)  # a replay still running would store a batch meanwhile
        assert mem.count() == 0
    finally:
        mem.close()
    assert not list(settings.journal_dir.glob("*.jsonl*"))
    mem = open_memory(settings)
    try:
        assert mem.count() == 0
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


# -- the journal under faults: torn lines, a full disk, lone surrogates, replay at open ------


def _journal_bytes(patterns: list) -> bytes:  # type: ignore[type-arg]
    return "".join(pattern_to_json(p) + "\n" for p in patterns).encode("utf-8")


def test_a_line_torn_inside_a_character_costs_that_line_only(
    memory: PatternMemory, settings: Settings
) -> None:
    """A crash or a full disk cut a journal line inside "…" (3 bytes in UTF-8). Decoding the
    file as text raised before any line was stored, at every start, for ever."""
    good = [make(i, outcome="ok … done") for i in range(5)]
    torn = pattern_to_json(make(99, outcome="cut … here")).encode("utf-8")
    cut = torn.index("…".encode()) + 1
    settings.journal_dir.mkdir(parents=True)
    # An earlier replay's leftover (torn), then the current journal: both must be replayed.
    (settings.journal_dir / "replay-1-aaaaaaaa.jsonl").write_bytes(
        _journal_bytes(good[:3]) + torn[:cut]
    )
    (settings.journal_dir / "pending.jsonl").write_bytes(_journal_bytes(good[3:]))
    writer = BackgroundWriter(memory, settings.journal_dir).start()
    assert writer.flush(timeout=120)
    writer.close()
    assert sorted(p.id for p in memory.all_patterns()) == sorted(p.id for p in good)
    assert writer.stats()["replayed"] == 5
    assert not list(settings.journal_dir.glob("*.jsonl")), "a torn journal stayed on disk"


def test_an_append_after_a_torn_last_line_starts_on_a_new_line(
    memory: PatternMemory, settings: Settings
) -> None:
    """A kill in the middle of an append leaves a last line with no newline: the next
    append must not be glued onto it (the good pattern would be an "unreadable line")."""
    settings.journal_dir.mkdir(parents=True)
    torn = pattern_to_json(make(99))[:40].encode("utf-8")
    (settings.journal_dir / "pending.jsonl").write_bytes(_journal_bytes([make(0)]) + torn)
    writer = BackgroundWriter(memory, settings.journal_dir)
    writer._spill([make(1), make(2)])  # what _store and a full queue do
    assert writer.stats()["spilled"] == 2
    writer.start()
    assert writer.flush(timeout=120)
    writer.close()
    assert sorted(p.id for p in memory.all_patterns()) == sorted(make(i).id for i in range(3))


@pytest.mark.skipif(resource is None, reason="RLIMIT_FSIZE is POSIX")
def test_a_spill_cut_by_a_full_disk_keeps_and_counts_its_complete_lines(
    memory: PatternMemory, settings: Settings
) -> None:
    """The disk fills (the kernel's file-size limit) in the middle of the 4th of 4 lines:
    the 3 complete ones are journaled and counted so, the torn rest is cut off, and the
    4th is counted lost (before: all 4 counted lost, and the torn line blocked the replay)."""
    assert resource is not None
    batch = [make(i, outcome="ça va … " * 30) for i in range(4)]
    data = _journal_bytes(batch)
    writer = BackgroundWriter(memory, settings.journal_dir)
    settings.journal_dir.mkdir(parents=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (data.rindex("…".encode()) + 1, hard))
    try:
        writer._spill(batch)  # what _store and a full queue do
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    stats = writer.stats()
    assert (stats["spilled"], stats["lost"]) == (3, 1)
    assert writer.journal_path.read_bytes() == _journal_bytes(batch[:3])
    writer.start()
    assert writer.flush(timeout=120)
    writer.close()
    assert sorted(p.id for p in memory.all_patterns()) == sorted(p.id for p in batch[:3])


def test_a_lone_surrogate_is_journaled_and_the_thread_lives_on(
    memory: PatternMemory, settings: Settings
) -> None:
    """Chat text json-decoded from "\\ud83d" cannot be encoded as UTF-8. When the store
    refuses the batch, journaling it raised UnicodeEncodeError and killed the thread: the
    batch was neither journaled nor counted, later submits piled up in its queue."""
    half_emoji = json.loads('"gg \\ud83d"')
    reader = open_memory(settings, read_only=True)  # its upsert raises: a refusing store
    try:
        failing = BackgroundWriter(reader, settings.journal_dir).start()
        failing.submit([make(i) for i in range(10)] + [make(10, outcome=half_emoji)])
        assert failing.flush(timeout=60)
        failing.submit([make(i) for i in range(11, 20)])
        assert failing.flush(timeout=60)
        assert failing.running, "the writer thread died"
        stats = failing.stats()
        failing.close()
    finally:
        reader.close()
    assert (stats["spilled"], stats["lost"], stats["queued"]) == (20, 0, 0)
    lines = failing.journal_path.read_bytes().decode("utf-8").splitlines()
    journaled = {p.id: p for p in map(pattern_from_json, lines)}
    assert journaled[make(10).id].outcome == half_emoji  # round-trips exactly
    writer = memory.writer()
    assert writer.flush(timeout=120)
    assert memory.count() == 20
    assert memory.get(make(10).id) is not None


def test_a_journal_is_replayed_in_the_background_when_the_store_opens(
    settings: Settings,
) -> None:
    """What an earlier run journaled is stored soon after the store opens for writing, by
    the writer's thread -- before, only the next *failed* write started the replay."""
    patterns = [make(i) for i in range(12)]
    settings.journal_dir.mkdir(parents=True)
    (settings.journal_dir / "pending.jsonl").write_bytes(_journal_bytes(patterns))
    threads: set[str] = set()

    def on_stored(_sender: object, **_kw: object) -> None:
        threads.add(threading.current_thread().name)

    signals.pattern_stored.connect(on_stored)
    mem = open_memory(settings)  # nothing else is called on it but reads
    try:
        deadline = time.monotonic() + 120
        while mem.count() < len(patterns) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mem.count() == len(patterns)
        assert mem.writer().flush(timeout=60)  # the writer open started: its replay is done
        assert threads == {"foundups-training-writer"}  # never the opener's thread
        assert not list(settings.journal_dir.glob("*.jsonl"))
    finally:
        signals.pattern_stored.disconnect(on_stored)
        mem.close()


def test_close_pauses_a_replay_and_the_next_open_finishes_it(settings: Settings) -> None:
    """Closing the store (the host exits) does not wait for a long replay: it stops at the
    next batch, and the next open stores the rest, each pattern once."""
    patterns = [make(i) for i in range(1100)]  # three replay batches of 512
    mem = open_memory(settings)
    settings.journal_dir.mkdir(parents=True)
    (settings.journal_dir / "pending.jsonl").write_bytes(_journal_bytes(patterns))
    writer = BackgroundWriter(mem, settings.journal_dir)

    def closing(_sender: object, **_kw: object) -> None:
        writer._closing.set()  # what close() sets, right after the first batch landed

    signals.pattern_stored.connect(closing)
    try:
        writer.start()
        assert writer.flush(timeout=300)
    finally:
        signals.pattern_stored.disconnect(closing)
    writer.close()
    assert mem.count() == 512 and writer.stats()["replayed"] == 512
    mem.close()
    mem = open_memory(settings)  # replays the rest in the background
    try:
        assert mem.writer().flush(timeout=300)
        seen = {p.id: p.seen for p in mem.all_patterns()}
    finally:
        mem.close()
    assert len(seen) == len(patterns) and set(seen.values()) == {1}
    # Only the replay lock is left (a lock file stays: see writer.REPLAY_LOCK_NAME).
    assert [p.name for p in settings.journal_dir.glob("*")] == ["replay.lock"]
