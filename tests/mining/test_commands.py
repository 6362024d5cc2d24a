"""Telemetry JSONL → command patterns: counted once, chains kept, bad lines survived."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from foundups_training.mining.commands import (
    COMMAND_MINER_VERSION,
    command_patterns,
    mine_commands,
)
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

    def ids(self, where: dict[str, Any] | None = None) -> list[str]:
        return [
            i
            for i, p in self.patterns.items()
            if not where or all(getattr(p, k) == v for k, v in where.items())
        ]

    def delete(self, ids: list[str]) -> int:
        return sum(self.patterns.pop(i, None) is not None for i in ids)

    def seen_counts(self, ids: list[str]) -> dict[str, int]:
        return {i: self.patterns[i].seen for i in ids if i in self.patterns}


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
    saved = json.loads(cp.read_text())
    assert saved["offsets"] == {"telemetry-20261126.jsonl": size}
    assert (saved["miner"], saved["previous"]) == (COMMAND_MINER_VERSION, "training.clear")


def test_clear_forgets_where_the_telemetry_was_read_up_to(settings) -> None:  # type: ignore[no-untyped-def]
    """Cleared patterns come back from the telemetry on the next training, as the log's do."""
    from foundups_training.engine import Trainer

    settings.telemetry_dir.mkdir(parents=True, exist_ok=True)
    (settings.telemetry_dir / "telemetry-20261126.jsonl").write_text(
        _event("training.status", "completed", exit_code=0) + "\n", encoding="utf-8"
    )
    with Trainer(settings) as trainer:
        assert _stored(trainer.mine_commands()) >= 1
        learned = trainer.memory.count()
        trainer.clear()
        assert trainer.memory.count() == 0
        assert _stored(trainer.mine_commands()) >= 1
        assert trainer.memory.count() == learned


def _stored(report: Any) -> int:
    assert report is not None, "mining the telemetry failed"
    return int(report.patterns_stored)


def _day(folder: Path, name: str, *commands: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"telemetry-{name}.jsonl"
    with path.open("a", encoding="utf-8") as fh:
        for command in commands:
            fh.write(_event(command, "completed") + "\n")
    return path


def _chains(store: DictStore) -> dict[str, int]:
    return {p.decision: p.seen for p in store.patterns.values() if "->" in p.decision}


def test_the_chain_goes_on_across_runs(tmp_path: Path) -> None:
    """The first command of a run follows the last one of the run before: mined in two
    runs or in one, the telemetry gives the same patterns."""
    folder, cp, store = tmp_path / "t", tmp_path / "cp.json", DictStore()
    _day(folder, "20261126", "training.batch", "training.route")
    mine_commands(folder, store, cp)
    _day(folder, "20261126", "training.status")
    _day(folder, "20261127", "training.batch")
    assert mine_commands(folder, store, cp).events == 2
    whole = DictStore()
    mine_commands(folder, whole, tmp_path / "whole.json")
    assert (
        _chains(store)
        == _chains(whole)
        == {
            "training.batch -> training.route": 1,
            "training.route -> training.status": 1,
            "training.status -> training.batch": 1,
        }
    )
    assert {i: p.seen for i, p in store.patterns.items()} == {
        i: p.seen for i, p in whole.patterns.items()
    }


def _older_store(tmp_path: Path) -> tuple[Path, Path, DictStore]:
    """A store mined by the miner before versions: its checkpoint holds offsets alone, and
    its chain lacks the link between its two runs."""
    folder, cp, store = tmp_path / "t", tmp_path / "cp.json", DictStore()
    first = _day(folder, "20261126", "training.batch", "training.route")
    store.upsert(command_patterns([json.loads(line) for line in first.read_text().splitlines()]))
    second = _day(folder, "20261127", "training.status")
    store.upsert(command_patterns([json.loads(second.read_text())]))
    cp.write_text(
        json.dumps({first.name: first.stat().st_size, second.name: second.stat().st_size})
    )
    # a live-chat pattern and a log pattern share the store: a re-mine leaves them alone
    for source in ("log", "live"):
        store.upsert([Pattern.make("error_fix", f"{source} situation", "fix", source=source)])
    return folder, cp, store


def test_an_older_miners_patterns_are_replaced_when_every_day_file_is_there(
    tmp_path: Path, caplog: Any
) -> None:
    folder, cp, store = _older_store(tmp_path)
    before = {i: p.seen for i, p in store.patterns.items()}
    report = mine_commands(folder, store, cp)
    assert report.patterns_removed == 4  # 3 commands + 1 link
    assert "mining the telemetry again" in report.warning and report.warning in caplog.text
    assert _chains(store) == {
        "training.batch -> training.route": 1,
        "training.route -> training.status": 1,  # the link the older runs lacked
    }
    # counted once: every other pattern is as it was, none doubled
    assert all(store.patterns[i].seen == seen for i, seen in before.items() if i in store.patterns)
    assert {p.source for p in store.patterns.values()} == {"telemetry", "log", "live"}
    assert json.loads(cp.read_text())["miner"] == COMMAND_MINER_VERSION
    again = mine_commands(folder, store, cp)
    assert (again.events, again.patterns_removed, again.warning) == (0, 0, "")


def test_an_older_miners_patterns_stay_when_a_day_file_is_gone(tmp_path: Path) -> None:
    folder, cp, store = _older_store(tmp_path)
    (folder / "telemetry-20261126.jsonl").unlink()  # the operator deleted an old day
    _day(folder, "20261127", "training.clear")
    count = len(store.patterns)
    report = mine_commands(folder, store, cp)
    assert report.patterns_removed == 0 and "--remine" in report.warning
    assert "1 of the day files" in report.warning
    assert report.events == 1 and len(store.patterns) == count + 1  # the new day's command
    assert json.loads(cp.read_text())["miner"] == 0  # still older patterns in the store
    forced = mine_commands(folder, store, cp, remine=True)
    assert forced.patterns_removed == 5 and forced.events == 2
    assert _chains(store) == {"training.status -> training.clear": 1}
    assert json.loads(cp.read_text())["miner"] == COMMAND_MINER_VERSION


def test_a_remine_killed_after_the_delete_starts_again(tmp_path: Path) -> None:
    folder, cp, store = _older_store(tmp_path)

    class Killed(Exception):
        pass

    def killed(patterns: list[Pattern]) -> int:
        raise Killed

    store.upsert, upsert = killed, store.upsert  # type: ignore[method-assign]
    try:
        mine_commands(folder, store, cp)
    except Killed:
        pass
    store.upsert = upsert  # type: ignore[method-assign]
    assert not [p for p in store.patterns.values() if p.source == "telemetry"]
    # Before the next run the operator deletes the older day. The interrupted write was
    # recorded before it was tried (patterns and checkpoint): the next run finishes it, so
    # even the deleted day's commands are back, each counted once.
    (folder / "telemetry-20261126.jsonl").unlink()
    report = mine_commands(folder, store, cp)
    assert "finished an interrupted write" in report.warning
    assert report.events == 0
    assert _chains(store) == {
        "training.batch -> training.route": 1,
        "training.route -> training.status": 1,
    }
    assert json.loads(cp.read_text())["miner"] == COMMAND_MINER_VERSION


def test_mine_passes_remine_to_the_telemetry_and_reports_its_warning(settings: Any) -> None:
    from foundups_training.engine import Trainer

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log = settings.data_dir / "012.txt"
    log.write_text("2026-11-26 10:00:00 INFO main: started\n", encoding="utf-8")
    _day(settings.telemetry_dir, "20261126", "training.batch", "training.route")
    with Trainer(settings) as trainer:
        trainer.mine(log)
        chains = trainer.memory.ids(where={"source": "telemetry"})
        assert len(chains) == 3  # two commands and their link
        assert trainer.status()["telemetry_miner"] == COMMAND_MINER_VERSION
        # as an older miner left it: offsets alone
        offsets = json.loads(settings.commands_checkpoint_path.read_text())["offsets"]
        settings.commands_checkpoint_path.write_text(json.dumps(offsets))
        status = trainer.status()
        assert (status["telemetry_miner"], status["telemetry_miner_current"]) == (0, 1)
        from foundups_training.cli.status import _text
        from foundups_training.menu import format_progress

        assert "made by telemetry miner version 0" in _text(status)
        assert any("(telemetry miner 0;" in line for line in format_progress(status))
        report = trainer.mine(log, remine=True)
        assert any("telemetry again" in w for w in report.warnings)
        assert sorted(trainer.memory.ids(where={"source": "telemetry"})) == sorted(chains)


def test_a_kill_between_the_write_and_the_checkpoint_counts_nothing_twice(
    tmp_path: Path, monkeypatch: Any
) -> None:
    from foundups_training.mining import commands

    folder, cp, store = tmp_path / "t", tmp_path / "cp.json", DictStore()
    _day(folder, "20261126", "training.batch", "training.route", "training.status")
    real_save = commands._save

    class Killed(Exception):
        pass

    def killed(path: Path, checkpoint: Any) -> None:
        raise Killed  # the patterns landed; the checkpoint did not move

    monkeypatch.setattr(commands, "_save", killed)
    try:
        mine_commands(folder, store, cp)
    except Killed:
        pass
    monkeypatch.setattr(commands, "_save", real_save)
    once = {i: p.seen for i, p in store.patterns.items()}
    report = mine_commands(folder, store, cp)
    assert "finished an interrupted write" in report.warning
    assert {i: p.seen for i, p in store.patterns.items()} == once
    assert mine_commands(folder, store, cp).events == 0


def test_clear_deletes_an_interrupted_writes_record(settings: Any) -> None:
    """Left behind, it would put its checkpoint back on the next training."""
    from foundups_training.engine import Trainer
    from foundups_training.mining.writeahead import pending_path

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    records = [
        pending_path(settings.checkpoint_path),
        pending_path(settings.commands_checkpoint_path),
    ]
    for record in records:
        record.write_text("{}")
    with Trainer(settings) as trainer:
        trainer.clear()
    assert not [r for r in records if r.exists()]


def test_only_a_bounded_head_of_a_huge_payload_is_redacted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from foundups_training.mining import commands

    seen: list[int] = []
    real = commands.redact

    def measured(text: str) -> str:
        seen.append(len(text))
        return real(text)

    monkeypatch.setattr(commands, "redact", measured)
    payload = {key: "key=" * 2_000 for key in commands.SUMMARY_KEYS}
    payload[commands.SUMMARY_KEYS[0]] = "token=s3cr3tValue123 " + "x" * 10_000
    summary = commands._summary(payload)
    assert seen and max(seen) <= commands.SUMMARY_SCAN
    assert len(summary) <= 400 and "s3cr3tValue123" not in summary


def test_an_over_long_line_is_a_bad_line_and_the_lines_after_it_are_mined(
    tmp_path: Path,
) -> None:
    """A day file written before telemetry capped its lines may hold a 100 KB event: the
    miner took it for a line still being written and mined nothing after it, ever."""
    folder = tmp_path / "telemetry"
    folder.mkdir()
    day = folder / "telemetry-20261126.jsonl"
    huge = _event("training.ask", "completed", question="x" * 100_000)
    day.write_text(
        huge + "\n" + _event("training.status", "completed", exit_code=0) + "\n" + huge[:70_000],
        encoding="utf-8",
    )
    store = DictStore()
    cp = tmp_path / "cp.json"
    first = mine_commands(folder, store, cp)
    assert (first.events, first.bad_lines) == (1, 1)
    assert [p.decision for p in store.patterns.values()] == ["training.status completed"]
    with day.open("a", encoding="utf-8") as fh:  # the over-long last line gets its end
        fh.write(huge[70_000:] + "\n" + _event("training.status", "completed", exit_code=0) + "\n")
    second = mine_commands(folder, store, cp)
    assert (second.events, second.bad_lines) == (1, 1)


def test_a_pass_while_another_holds_the_telemetry_reads_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes mining one data folder's telemetry read from the same offsets and
    stored each command twice: a pass holds the miner's run lock beside its checkpoint."""
    from foundups_training.memory.lock import WriterLock
    from foundups_training.mining import miner

    folder = tmp_path / "telemetry"
    folder.mkdir()
    (folder / "telemetry-20261126.jsonl").write_text(
        _event("training.status", "completed", exit_code=0) + "\n", encoding="utf-8"
    )
    store, cp = DictStore(), tmp_path / "cp.json"
    monkeypatch.setattr(miner, "LOCK_WAIT_S", 0.0)
    held = WriterLock(miner.run_lock_path(cp)).acquire()  # another pass, mid-way
    try:
        skipped = mine_commands(folder, store, cp)
    finally:
        held.release()
    assert skipped.events == 0 and not store.patterns
    assert "is mining the telemetry" in skipped.warning
    assert mine_commands(folder, store, cp).events == 1  # the lock let go: read once
