"""A second look at the twentieth session's changes: what they broke, pinned.

Each test names the promise the change had to keep and fails on the code before its fix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from foundups_training.config import load_settings
from foundups_training.engine import Trainer
from foundups_training.memory.lock import WriterLock
from foundups_training.mining import miner

SAMPLE_LOG = (
    Path(__file__).resolve().parents[1] / "foundups_training" / "samples" / "012_sample.txt"
)


def _event(command: str, event: str) -> str:
    return json.dumps(
        {
            "ts": "2026-11-26T10:00:00+00:00",
            "daemon": "foundups-training",
            "command": command,
            "event": event,
            "payload": {"exit_code": 0},
        }
    )


def test_a_budgeted_mine_waits_for_the_telemetry_lock_no_longer_than_its_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle cycle waits for another process's run at most its ``max_seconds`` (the time
    the host gave it, :func:`miner.mine_log`'s promise). The telemetry's pass after the log
    took the same run lock with the full :data:`miner.LOCK_WAIT_S` whatever the budget: a
    cycle given one second held the host's idle slot for thirty while a ``mine`` in another
    process was mining the telemetry."""
    settings = load_settings({"data_dir": tmp_path / "data"}, env={})
    log = tmp_path / "012.txt"
    log.write_text(
        "".join(SAMPLE_LOG.read_text(encoding="utf-8").splitlines(keepends=True)[:40]),
        encoding="utf-8",
    )
    settings.telemetry_dir.mkdir(parents=True, exist_ok=True)
    (settings.telemetry_dir / "telemetry-20261126.jsonl").write_text(
        _event("training.status", "completed") + "\n", encoding="utf-8"
    )
    real = miner.take_run_lock
    waits: dict[str, float] = {}

    def spy(path: Path, wait_s: float) -> Any:
        waits[Path(path).name] = wait_s
        return real(path, 0.0)  # not waited for here: only what was asked is looked at

    monkeypatch.setattr(miner, "take_run_lock", spy)
    # another process's pass over the telemetry, mid-way
    held = WriterLock(miner.run_lock_path(settings.commands_checkpoint_path)).acquire()
    try:
        with Trainer(settings) as trainer:
            report = trainer.mine(log, max_seconds=1.0)
    finally:
        held.release()
    assert report.lines_processed == 40  # the log's lock was free: mined
    commands_lock = miner.run_lock_path(settings.commands_checkpoint_path).name
    assert commands_lock in waits, waits
    assert all(wait <= 1.0 for wait in waits.values()), waits
    assert any("is mining the telemetry" in w for w in report.warnings), report.warnings
