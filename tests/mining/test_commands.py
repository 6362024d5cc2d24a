"""Telemetry JSONL → command patterns: counted once, chains kept, bad lines survived."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from foundups_training.mining.commands import command_patterns, mine_commands
from foundups_training.records import Pattern


class DictStore:
    """Just enough of PatternMemory's merge (seen adds up) to check exactly-once."""

    def __init__(self) -> None:
        self.patterns: dict[str, Pattern] = {}

    def upsert(self, patterns: list[Pattern]) -> int:
        new = 0
        for p in patterns:
            old = self.patterns.get(p.id)
            if old is None:
                new += 1
                self.patterns[p.id] = p
            else:
                self.patterns[p.id] = replace(old, seen=old.seen + p.seen)
        return new


def _event(command: str, event: str, **payload: Any) -> str:
    return json.dumps(
        {
            "timestamp": "2026-11-26T10:00:00+00:00",
            "daemon": "foundups_training",
            "command": command,
            "event": event,
            "payload": payload,
        }
    )


def test_finished_commands_and_chains_become_patterns() -> None:
    events = [
        json.loads(_event("training.batch", "started")),
        json.loads(_event("training.batch", "completed", lines_processed=300)),
        json.loads(_event("training.route", "failed", error="ModelNotFound: gemma")),
    ]
    patterns = command_patterns(events)
    contexts = [p.context for p in patterns]
    assert "command training.batch completed: lines_processed=300" in contexts
    assert "after training.batch, the next command was training.route" in contexts
    assert all(p.kind == "command" and p.source == "telemetry" for p in patterns)
    failed = next(p for p in patterns if p.decision == "training.route failed")
    assert "ModelNotFound" in failed.outcome


LAST = _event("training.status", "completed", exit_code=0)


def test_each_event_is_mined_once_and_partial_lines_wait(tmp_path: Path) -> None:
    folder = tmp_path / "telemetry"
    folder.mkdir()
    day = folder / "telemetry-20261126.jsonl"
    day.write_text(
        _event("training.status", "completed", exit_code=0)
        + "\n{not json\n"
        + _event("training.status", "completed", exit_code=0)
        + "\n"
        + LAST[:40],  # being written: no newline yet
        encoding="utf-8",
    )
    store = DictStore()
    cp = tmp_path / "cp.json"
    first = mine_commands(folder, store, cp)
    assert (first.events, first.bad_lines) == (2, 1)
    status = [p for p in store.patterns.values() if p.decision == "training.status completed"]
    assert len(status) == 1 and status[0].seen == 2
    assert mine_commands(folder, store, cp).events == 0  # nothing mined twice
    with day.open("a", encoding="utf-8") as fh:
        fh.write(LAST[40:] + "\n")  # the writer finishes the line
    assert mine_commands(folder, store, cp).events == 1
    assert store.patterns[status[0].id].seen == 3


def test_missing_folder_and_corrupt_checkpoint(tmp_path: Path) -> None:
    store = DictStore()
    assert mine_commands(tmp_path / "none", store, tmp_path / "cp.json").events == 0
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "telemetry-20261126.jsonl").write_text(_event("training.clear", "completed") + "\n")
    cp = tmp_path / "cp.json"
    cp.write_text("\x00garbage")
    assert mine_commands(folder, store, cp).events == 1
    size = (folder / "telemetry-20261126.jsonl").stat().st_size
    assert json.loads(cp.read_text()) == {"telemetry-20261126.jsonl": size}


def test_clear_forgets_where_the_telemetry_was_read_up_to(settings) -> None:  # type: ignore[no-untyped-def]
    """Cleared patterns come back from the telemetry on the next training, as the log's do."""
    from foundups_training.engine import Trainer

    settings.telemetry_dir.mkdir(parents=True, exist_ok=True)
    (settings.telemetry_dir / "telemetry-20261126.jsonl").write_text(
        _event("training.status", "completed", exit_code=0) + "\n", encoding="utf-8"
    )
    with Trainer(settings) as trainer:
        assert trainer.mine_commands() >= 1
        learned = trainer.memory.count()
        trainer.clear()
        assert trainer.memory.count() == 0
        assert trainer.mine_commands() >= 1
        assert trainer.memory.count() == learned
