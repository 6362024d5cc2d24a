"""kill -9 during ``mine``, then resume: the store ends exactly as after one clean run.

Two kinds of kill, both with SIGKILL (no cleanup, no atexit, no flush):

* at exact points between writes (before/after a Chroma write, before/after the checkpoint
  is replaced), through ``killpoint.py`` -- the windows where a resumed run could count a
  line twice or lose one, which a random kill only hits by luck;
* at seeded random times into the real console script, wherever it happens to be
  (importing, embedding, inside chromadb's own writes).

Each chain of killed runs is followed by one run to the end, and the store is compared,
pattern by pattern (id, kind, seen, outcome, first/last seen, verified, text), with an
uninterrupted run of the same log.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rel_helpers import (
    KILLPOINT,
    REPO,
    Snapshot,
    checkpoint,
    child_env,
    cli_cmd,
    diff,
    mine_json,
    snapshot,
)

from foundups_training.mining.miner import pending_path

pytestmark = pytest.mark.slow

SEED = 20261126
#: Lines per killed run: several flushes and checkpoints over the 400-line log.
CHUNK = "70"


def _kill_at(point: str, n: int, log: Path, data: Path) -> int:
    """Run ``mine`` with a SIGKILL planted at the ``n``-th ``point``; its exit status."""
    done = subprocess.run(
        [sys.executable, str(KILLPOINT), point, str(n), "--", "mine", str(log),
         "--data-dir", str(data), "--json", "--max-lines", CHUNK],
        capture_output=True, text=True, timeout=300, env=child_env(), cwd=REPO,
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode


def _kill_after(delay: float, log: Path, data: Path) -> int:
    """Start the real ``mine`` and SIGKILL it ``delay`` seconds later (if still running)."""
    proc = subprocess.Popen(
        cli_cmd("mine", log, "--data-dir", data, "--json", "--max-lines", CHUNK),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=child_env(), cwd=REPO,
    )  # fmt: skip
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.stderr is not None
    assert b"Traceback" not in proc.stderr.read()
    proc.stderr.close()
    return proc.returncode


def _finish_and_compare(rel_log: Path, data: Path, baseline: Snapshot, kills: int) -> None:
    report = mine_json(rel_log, data)  # the resumed run, to the end of the log
    assert report["progress"] == 1.0
    assert not pending_path(data / "checkpoint.json").exists()
    assert checkpoint(data)["lines_processed"] == 400, "a line was counted twice or lost"
    problems = diff(baseline, snapshot(data))
    assert not problems, f"after {kills} kills: " + "\n".join(problems[:20])


def test_kill_at_every_write_boundary_then_resume(
    rel_log: Path, baseline: Snapshot, tmp_path: Path
) -> None:
    """Ten planted kills (seeded: point and occurrence) in one chain, then one full run."""
    rng = random.Random(SEED)
    points = ["before-chroma-write", "after-chroma-write", "before-checkpoint",
              "after-checkpoint"]  # fmt: skip
    plan = points + [rng.choice(points) for _ in range(6)]  # each point at least once
    data = tmp_path / "data"
    killed = 0
    for point in plan:
        rc = _kill_at(point, rng.randint(1, 2), rel_log, data)
        assert rc in (-signal.SIGKILL, 0), rc  # 0: the point was never reached (log done)
        killed += rc == -signal.SIGKILL
    assert killed >= 8, f"only {killed} of {len(plan)} planted kills fired"
    _finish_and_compare(rel_log, data, baseline, killed)


def test_kill_at_random_times_then_resume(
    rel_log: Path, baseline: Snapshot, tmp_path: Path
) -> None:
    """Eight seeded random-time SIGKILLs of the console script, then one full run."""
    rng = random.Random(SEED + 1)
    data = tmp_path / "data"
    # The first run measures how long one chunk takes here, so kill times land inside runs
    # whatever the machine's load (the test never asserts a duration).
    start = time.monotonic()
    mine_json(rel_log, data, "--max-lines", CHUNK)
    span = max(time.monotonic() - start, 1.0)
    killed = 0
    for _ in range(8):
        rc = _kill_after(rng.uniform(0.3, 1.2) * span, rel_log, data)
        assert rc in (-signal.SIGKILL, 0), rc
        killed += rc == -signal.SIGKILL
    _finish_and_compare(rel_log, data, baseline, killed)
