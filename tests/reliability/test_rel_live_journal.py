"""The live path's spill journal replayed with a kill -9 in the middle: nothing counted twice.

When the store refuses live patterns they are journaled, and the journal is replayed later.
Upserts add ``seen`` up, so a replay killed after its first batch landed must not store
that batch again. A child process replays a 600-pattern journal (two batches) and SIGKILLs
itself right after the first batch is written; a second child finishes the replay.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from rel_helpers import REPO, child_env, settings_for

from foundups_training.memory import open_memory
from foundups_training.memory.writer import JOURNAL_NAME, pattern_to_json
from foundups_training.records import Pattern

N = 600
DAY = "2026-01-01T00:00:00"

REPLAY = """
import os, signal, sys
from foundups_training.config import load_settings
from foundups_training.memory import PatternMemory, open_memory
from foundups_training.memory.writer import BackgroundWriter
# the replay under test is the one below, not the background one opening the store starts
PatternMemory.replay_journal = lambda self: False
settings = load_settings({"data_dir": sys.argv[1]}, env={})
memory = open_memory(settings)
kill_after = int(sys.argv[2])
real = memory.upsert
calls = [0]
def upsert(patterns):
    new = real(patterns)
    calls[0] += 1
    if calls[0] == kill_after:
        os.kill(os.getpid(), signal.SIGKILL)  # the batch landed; its progress is not saved
    return new
memory.upsert = upsert
print(BackgroundWriter(memory, settings.journal_dir).replay(), flush=True)
memory.close()
"""


def _patterns() -> list[Pattern]:
    return [
        Pattern.make("chat_response", f'message: "viewer line {i}"', "respond",
                     source="live_chat", first_seen=DAY, last_seen=DAY)
        for i in range(N)
    ]  # fmt: skip


def _replay(data: Path, kill_after: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", REPLAY, str(data), str(kill_after)],
        capture_output=True, text=True, timeout=600, env=child_env(), cwd=REPO,
    )  # fmt: skip


@pytest.mark.slow
def test_replay_killed_midway_counts_every_pattern_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = settings_for(data)
    settings.journal_dir.mkdir(parents=True)
    patterns = _patterns()
    (settings.journal_dir / JOURNAL_NAME).write_text(
        "".join(pattern_to_json(p) + "\n" for p in patterns), encoding="utf-8"
    )
    killed = _replay(data, kill_after=1)
    assert killed.returncode == -9, killed.stderr
    finished = _replay(data, kill_after=0)
    assert finished.returncode == 0, finished.stderr
    with open_memory(settings, read_only=True) as memory:
        seen = {p.id: p.seen for p in memory.all_patterns()}
    assert len(seen) == N
    twice = [pid for pid, n in seen.items() if n != 1]
    assert not twice, f"{len(twice)} patterns counted more than once"
    assert not list(settings.journal_dir.glob("replay-*")), "journal left behind"
