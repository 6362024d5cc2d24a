"""The telemetry's checkpoint keeps a copy too (``telemetry_checkpoint.json.bak``), as the
log's does: a corrupt or unreadable checkpoint resumes from the copy with a warning and
counts no command twice; only both unusable start again from every day file's first line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from test_commands import DictStore

from foundups_training.mining.checkpoint import backup_path
from foundups_training.mining.commands import (
    COMMAND_MINER_VERSION,
    checkpoint_miner,
    mine_commands,
)

GARBAGE = b"\x00\xff{not json"
DAY = "telemetry-20261126.jsonl"


class SeenStore(DictStore):
    """The telemetry tests' store (``seen`` adds up), read back as counts."""

    def seen(self) -> dict[str, int]:
        return {i: p.seen for i, p in self.patterns.items()}


def _append(folder: Path, *commands: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / DAY).open("a", encoding="utf-8") as fh:
        for command in commands:
            event = {"timestamp": "2026-11-26T10:00:00+00:00", "command": command}
            fh.write(json.dumps({**event, "event": "completed", "payload": {}}) + "\n")


FIRST = ("training.batch", "training.route", "training.status")
LATER = ("training.batch", "training.status")


def _one_pass(tmp_path: Path) -> dict[str, int]:
    """What mining every event in one pass stores."""
    folder, store = tmp_path / "one-pass", SeenStore()
    _append(folder, *FIRST, *LATER)
    mine_commands(folder, store, tmp_path / "one-pass.json")
    return store.seen()


def _mined_then_grown(tmp_path: Path, store: SeenStore) -> tuple[Path, Path]:
    """Three commands mined, then two more written: the telemetry folder and checkpoint."""
    folder, cp = tmp_path / "telemetry", tmp_path / "data" / "telemetry_checkpoint.json"
    _append(folder, *FIRST)
    assert mine_commands(folder, store, cp).events == len(FIRST)
    _append(folder, *LATER)
    return folder, cp


def test_a_corrupt_telemetry_checkpoint_resumes_from_its_backup(tmp_path: Path) -> None:
    store = SeenStore()
    folder, cp = _mined_then_grown(tmp_path, store)
    cp.write_bytes(GARBAGE)
    report = mine_commands(folder, store, cp)
    assert "corrupt" in report.warning and "backup" in report.warning, report.warning
    assert report.events == len(LATER)  # not every event again
    assert store.seen() == _one_pass(tmp_path)  # nothing counted twice, the chain kept
    assert json.loads(cp.read_text())["miner"] == COMMAND_MINER_VERSION  # rewritten whole
    assert mine_commands(folder, store, cp).events == 0


def test_a_corrupt_checkpoint_is_made_good_when_nothing_new_was_written(tmp_path: Path) -> None:
    """No event since: the checkpoint is rewritten anyway, so the warning is said once."""
    store = SeenStore()
    folder, cp = _mined_then_grown(tmp_path, store)
    assert mine_commands(folder, store, cp).events == len(LATER)
    cp.write_bytes(GARBAGE)
    report = mine_commands(folder, store, cp)
    assert report.events == 0 and "resumed from its backup" in report.warning
    assert mine_commands(folder, store, cp).warning == ""
    assert store.seen() == _one_pass(tmp_path)


def test_an_unreadable_telemetry_checkpoint_falls_back_too(tmp_path: Path) -> None:
    """A disk error reading it (here: a directory in its place, which reading refuses)."""
    from foundups_training.mining.commands import _load

    store = SeenStore()
    _, cp = _mined_then_grown(tmp_path, store)
    good, warning = _load(cp)
    assert good is not None and not warning
    cp.unlink()
    cp.mkdir()
    loaded, warning = _load(cp)
    assert loaded == good and "unreadable" in warning and "backup" in warning
    assert checkpoint_miner(cp) == COMMAND_MINER_VERSION  # `status` reads the copy as well


def test_both_unusable_start_from_the_beginning_with_a_warning(tmp_path: Path) -> None:
    store = SeenStore()
    folder, cp = _mined_then_grown(tmp_path, store)
    cp.write_bytes(GARBAGE)
    backup_path(cp).write_bytes(b"[]")
    report = mine_commands(folder, store, cp)
    assert "corrupt" in report.warning and "starting from the beginning" in report.warning
    assert report.events == len(FIRST) + len(LATER)  # as before the copy existed


def test_a_deleted_telemetry_checkpoint_is_not_brought_back(tmp_path: Path) -> None:
    """Deleting the checkpoint means "start again": its copy is not used."""
    store = SeenStore()
    folder, cp = _mined_then_grown(tmp_path, store)
    cp.unlink()
    report = mine_commands(folder, store, cp)
    assert report.events == len(FIRST) + len(LATER) and not report.warning


def test_a_good_telemetry_checkpoint_wins_over_its_backup(tmp_path: Path) -> None:
    store = SeenStore()
    folder, cp = _mined_then_grown(tmp_path, store)
    backup_path(cp).write_bytes(GARBAGE)  # the copy alone damaged: nothing to say
    report = mine_commands(folder, store, cp)
    assert report.events == len(LATER) and not report.warning
    assert backup_path(cp).read_text() == cp.read_text()  # and made good again


def test_a_kill_between_the_backup_and_the_checkpoint_counts_once(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """The copy holds the new offsets, the checkpoint the old ones (then damaged): the
    write's journal says the patterns landed, so nothing is written or read twice."""
    from foundups_training.mining import checkpoint as module

    store = SeenStore()
    folder, cp = _mined_then_grown(tmp_path, store)
    real = module.write_atomically

    def backup_only(path: Path, data: str) -> None:
        if path == cp:
            raise KeyboardInterrupt  # the kill, right after the copy landed
        real(path, data)

    monkeypatch.setattr(module, "write_atomically", backup_only)
    try:
        mine_commands(folder, store, cp)
    except KeyboardInterrupt:
        pass
    monkeypatch.setattr(module, "write_atomically", real)
    cp.write_bytes(GARBAGE)
    report = mine_commands(folder, store, cp)
    assert report.events == 0 and "backup" in report.warning
    assert store.seen() == _one_pass(tmp_path)


def test_the_warning_reaches_the_mine_report_and_clear_deletes_the_copy(settings: Any) -> None:
    from foundups_training.engine import Trainer

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log = settings.data_dir / "012.txt"
    log.write_text("2026-11-26 10:00:00 INFO main: started\n", encoding="utf-8")
    _append(settings.telemetry_dir, *FIRST)
    checkpoint = settings.commands_checkpoint_path
    with Trainer(settings) as trainer:
        trainer.mine(log)
        assert backup_path(checkpoint).is_file()
        checkpoint.write_bytes(GARBAGE)
        report = trainer.mine(log)
        assert any("corrupt" in w and "resumed from its backup" in w for w in report.warnings), (
            report.warnings
        )
        trainer.clear()
        assert not checkpoint.exists() and not backup_path(checkpoint).exists()
