"""The log rotated, truncated, replaced or grown between runs and during a run.

Mined in-process through the Trainer into a real embedded Chroma store. After every change
the next run must say what it saw (a warning) and read the new content from its first line:
never resume a different file at an old offset, never skip or double-read its lines.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rel_helpers import sample_lines, settings_for, write_log

from foundups_training.engine import Trainer
from foundups_training.mining import miner, reader


@pytest.fixture
def trainer(tmp_path: Path) -> Iterator[Trainer]:
    """A Trainer over a fresh data directory (real Chroma store)."""
    with Trainer(settings_for(tmp_path / "data")) as t:
        yield t


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n")


def test_rotated_between_runs(trainer: Trainer, tmp_path: Path) -> None:
    log = write_log(tmp_path / "012.txt", 120)
    assert trainer.mine(log).lines_processed == 120
    log.rename(tmp_path / "012.txt.1")  # logrotate's default: rename, then a new file
    write_log(log, 150, start=500)
    report = trainer.mine(log)
    assert any("rotated" in w for w in report.warnings), report.warnings
    assert report.lines_processed == 150 and report.progress == 1.0
    assert report.lines_total == 270


def test_truncated_between_runs(trainer: Trainer, tmp_path: Path) -> None:
    log = write_log(tmp_path / "012.txt", 200)
    trainer.mine(log)
    with log.open("r+b") as fh:  # copytruncate: same inode, emptied, then written again
        fh.truncate(0)
    write_log(log, 40, start=900)
    report = trainer.mine(log)
    assert any("truncated" in w for w in report.warnings), report.warnings
    assert report.lines_processed == 40


def test_replaced_with_same_size_between_runs(trainer: Trainer, tmp_path: Path) -> None:
    log = write_log(tmp_path / "012.txt", 100)
    trainer.mine(log)
    data = bytearray(log.read_bytes())
    data[:4] = b"2024"  # same size, same inode, different content: only the hash can tell
    log.write_bytes(bytes(data))
    report = trainer.mine(log)
    assert any("replaced" in w or "rotated" in w for w in report.warnings), report.warnings
    assert report.lines_processed == 100


def test_grown_between_runs_reads_only_the_new_lines(trainer: Trainer, tmp_path: Path) -> None:
    log = write_log(tmp_path / "012.txt", 100)
    trainer.mine(log)
    with log.open("a", encoding="utf-8") as fh:
        fh.write("".join(sample_lines(60, start=100)))
    report = trainer.mine(log)
    assert report.warnings == () and report.lines_processed == 60


def test_half_written_last_line_waits_for_its_newline(trainer: Trainer, tmp_path: Path) -> None:
    log = write_log(tmp_path / "012.txt", 50)
    tail = sample_lines(1, start=50)[0]
    with log.open("a", encoding="utf-8") as fh:
        fh.write(tail[:30])  # the host is in the middle of writing this line
    assert trainer.mine(log).lines_processed == 50
    with log.open("a", encoding="utf-8") as fh:
        fh.write(tail[30:])
    report = trainer.mine(log)
    assert report.lines_processed == 1 and report.warnings == ()


def _during_run(
    trainer: Trainer, log: Path, change: Callable[[], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mine ``log`` and apply ``change`` once, from the progress callback, mid-run."""
    monkeypatch.setattr(miner, "TICK", 64)  # progress every 64 records: a 300-line log has 4
    fired: list[bool] = []

    def progress(done: int, total: int) -> None:
        if not fired and done < total:
            fired.append(True)
            change()

    trainer.mine(log, progress=progress)
    assert fired


def test_rotated_during_a_run(
    trainer: Trainer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Renamed mid-run and a BIGGER new file created: the run finishes the old file (it holds
    it open); the next run must mine the new file from line 1, not from the old offset."""
    log = write_log(tmp_path / "012.txt", 300)

    def rotate() -> None:
        log.rename(tmp_path / "012.txt.1")
        write_log(log, 600, start=1000)

    _during_run(trainer, log, rotate, monkeypatch)
    report = trainer.mine(log)
    assert report.warnings, "the next run did not notice the rotation"
    assert report.lines_processed == 600, "the new file was not read from its first line"


def test_truncated_and_rewritten_during_a_run(
    trainer: Trainer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """copytruncate mid-run, then the host writes more than before: the run stops reading
    (it would read the new lines from the middle, and the next run again from the first),
    and the next run starts the rewritten file from line 1."""
    # Small reads, so the run is still reading the file when it is rewritten.
    monkeypatch.setattr(miner, "read_open", functools.partial(reader.read_open, block=2048))
    log = write_log(tmp_path / "012.txt", 300)
    rewritten_from = sample_lines(1, start=1200)[0][:19].replace(" ", "T")  # its first time

    def copytruncate() -> None:
        new = "".join(sample_lines(600, start=1200)).encode("utf-8")
        fd = os.open(log, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, new)
        finally:
            os.close(fd)

    _during_run(trainer, log, copytruncate, monkeypatch)
    newest = max(p.last_seen for p in trainer.memory.all_patterns())
    assert newest < rewritten_from, "the run read lines of the rewritten file"
    report = trainer.mine(log)
    assert report.warnings, "the next run did not notice the rewrite"
    assert report.lines_processed == _lines(log) == 600


def test_deleted_log_is_a_clear_error(trainer: Trainer, tmp_path: Path) -> None:
    log = write_log(tmp_path / "012.txt", 20)
    trainer.mine(log)
    log.unlink()
    with pytest.raises(FileNotFoundError, match="not found"):
        trainer.mine(log)
    report = trainer.idle(__import__("foundups_training.records").records.IdleBudget())
    assert report.success is False and report.error  # the idle hook reports, never raises
