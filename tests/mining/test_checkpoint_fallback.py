"""A corrupt checkpoint (a bad sector, a hand edit, a backup tool's partial copy) falls back
to the copy of the last good one kept beside it: mining resumes where it stopped and counts
nothing twice. Only when both are unusable does it start again from line 1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from foundups_training.mining.checkpoint import backup_path, load_checkpoint
from foundups_training.mining.miner import mine_log
from foundups_training.samples import sample_log

SAMPLE_LINES = sample_log().read_text(encoding="utf-8").splitlines(keepends=True)
GARBAGE = b"\x00\xff{not json"


def _seen(store: Any) -> dict[str, int]:
    return {pid: p.seen for pid, p in store.items.items()}


def _one_pass(tmp_path: Path, lines: int, make_store: Any) -> dict[str, int]:
    """What mining the first ``lines`` lines in one run stores."""
    log = tmp_path / "one-pass" / "012.txt"
    log.parent.mkdir()
    log.write_text("".join(SAMPLE_LINES[:lines]), encoding="utf-8")
    store = make_store()
    mine_log(log, store, checkpoint_path=log.parent / "cp.json")
    return _seen(store)


def _mined_then_grown(tmp_path: Path, store: Any) -> tuple[Path, Path]:
    """A log of 300 lines mined, then grown to 600: the log and its checkpoint."""
    log, cp = tmp_path / "012.txt", tmp_path / "data" / "checkpoint.json"
    log.write_text("".join(SAMPLE_LINES[:300]), encoding="utf-8")
    assert mine_log(log, store, checkpoint_path=cp).lines_processed == 300
    with log.open("a", encoding="utf-8") as fh:
        fh.write("".join(SAMPLE_LINES[300:600]))
    return log, cp


def test_a_corrupt_checkpoint_resumes_from_the_last_good_one(
    tmp_path: Path, store: Any, make_store: Any
) -> None:
    log, cp = _mined_then_grown(tmp_path, store)
    cp.write_bytes(GARBAGE)
    report = mine_log(log, store, checkpoint_path=cp)
    assert any("corrupt" in w and "backup" in w for w in report.warnings), report.warnings
    assert report.lines_processed == 300 and report.lines_total == 600  # not from line 1
    assert _seen(store) == _one_pass(tmp_path, 600, make_store)  # nothing counted twice
    again, warning = load_checkpoint(cp)  # rewritten whole
    assert again is not None and not warning and again.lines_processed == 600


def test_an_unreadable_checkpoint_falls_back_too(tmp_path: Path, store: Any) -> None:
    """A disk error reading it (here: a directory in its place, which reading refuses)."""
    _, cp = _mined_then_grown(tmp_path, store)
    good, _ = load_checkpoint(cp)
    cp.unlink()
    cp.mkdir()
    loaded, warning = load_checkpoint(cp)
    assert loaded == good and "unreadable" in warning and "backup" in warning


def test_both_corrupt_restart_from_line_1_with_the_warning(tmp_path: Path, store: Any) -> None:
    log, cp = _mined_then_grown(tmp_path, store)
    cp.write_bytes(GARBAGE)
    backup_path(cp).write_bytes(b"[]")
    report = mine_log(log, store, checkpoint_path=cp)
    assert any("corrupt" in w and "starting from the beginning" in w for w in report.warnings)
    assert report.lines_processed == 600  # as before the backup existed


def test_a_deleted_checkpoint_is_not_brought_back(tmp_path: Path, store: Any) -> None:
    """Deleting the checkpoint (``clear`` does) means "start again": its backup is not used."""
    log, cp = _mined_then_grown(tmp_path, store)
    cp.unlink()
    assert load_checkpoint(cp) == (None, "")
    assert mine_log(log, store, checkpoint_path=cp).lines_processed == 600


def test_a_good_checkpoint_wins_over_its_backup(tmp_path: Path, store: Any) -> None:
    log, cp = _mined_then_grown(tmp_path, store)
    backup_path(cp).write_bytes(GARBAGE)  # the backup alone damaged: nothing to say
    report = mine_log(log, store, checkpoint_path=cp)
    assert report.lines_processed == 300 and not report.warnings
    assert load_checkpoint(backup_path(cp)) == load_checkpoint(cp)  # and made good again


class _JournaledStore:
    """A dict store that says its ``seen`` counts, so each flush is journaled."""

    def __init__(self, make_store: Any) -> None:
        self.inner = make_store()
        self.items = self.inner.items

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def seen_counts(self, ids: list[str]) -> dict[str, int]:
        return {pid: self.items[pid].seen for pid in ids if pid in self.items}


def test_a_failed_write_then_a_corrupt_checkpoint_counts_once(
    tmp_path: Path, make_store: Any
) -> None:
    """The store refused a flush (its journal kept), then the checkpoint was damaged: the
    journal is finished from the backup, and the warning says the checkpoint was corrupt."""
    store = _JournaledStore(make_store)
    log, cp = _mined_then_grown(tmp_path, store)
    store.inner.fail_next = True
    try:
        mine_log(log, store, checkpoint_path=cp)
    except OSError:
        pass
    cp.write_bytes(GARBAGE)
    report = mine_log(log, store, checkpoint_path=cp)
    assert any("corrupt" in w and "interrupted write" in w for w in report.warnings), report
    assert report.lines_total == 600
    assert _seen(store) == _one_pass(tmp_path, 600, make_store)


def test_a_kill_between_the_backup_and_the_checkpoint_counts_once(
    tmp_path: Path, make_store: Any, monkeypatch: Any
) -> None:
    """The backup holds the new position, the checkpoint the old one (then damaged): the
    flush's journal says the write landed, so nothing is written or read twice."""
    from foundups_training.mining import checkpoint as module

    store = _JournaledStore(make_store)
    log, cp = _mined_then_grown(tmp_path, store)
    real = module.write_atomically

    def backup_only(path: Path, data: str) -> None:
        if path == cp:
            raise KeyboardInterrupt  # the kill, right after the backup landed
        real(path, data)

    monkeypatch.setattr(module, "write_atomically", backup_only)
    try:
        mine_log(log, store, checkpoint_path=cp)
    except KeyboardInterrupt:
        pass
    monkeypatch.setattr(module, "write_atomically", real)
    cp.write_bytes(GARBAGE)
    report = mine_log(log, store, checkpoint_path=cp)
    assert report.lines_total == 600 and report.lines_processed == 0
    assert _seen(store) == _one_pass(tmp_path, 600, make_store)


def test_clear_deletes_the_checkpoints_backup_too(tmp_path: Path) -> None:
    """``clear`` means "learn everything again": the backup of the log's checkpoint goes with
    the checkpoint (a missing checkpoint is never rebuilt from it, but a stale copy left
    beside a fresh start would be kept for nothing)."""
    from foundups_training.config import load_settings
    from foundups_training.engine import Trainer

    log = tmp_path / "012.txt"
    log.write_text("".join(SAMPLE_LINES[:50]), encoding="utf-8")
    trainer = Trainer(load_settings({"data_dir": tmp_path / "data"}, env={}))
    try:
        trainer.mine(log)
        checkpoint = trainer.settings.checkpoint_path
        assert backup_path(checkpoint).is_file()
        trainer.clear()
        assert not checkpoint.exists() and not backup_path(checkpoint).exists()
    finally:
        trainer.close()
