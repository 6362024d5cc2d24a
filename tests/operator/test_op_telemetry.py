"""Telemetry JSONL in the shape of the host's Holo Command Interface draft."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from foundups_training import signals, telemetry
from foundups_training.cli import main


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "telemetry"
    telemetry.attach_writer(path)
    yield path
    telemetry.detach_writer(path)


def test_event_shape_is_exactly_the_drafts_five_fields(folder) -> None:
    signals.emit_telemetry("training.batch", "started", {"source": "012.txt"})
    (path,) = telemetry.telemetry_files(folder)
    assert path.name.startswith("telemetry-") and path.suffix == ".jsonl"
    (line,) = path.read_text(encoding="utf-8").splitlines()
    event = json.loads(line)
    assert list(event) == ["timestamp", "daemon", "command", "event", "payload"]
    assert event["daemon"] == "foundups_training"
    assert event["command"] == "training.batch" and event["event"] == "started"
    assert event["payload"] == {"source": "012.txt"}
    assert datetime.fromisoformat(event["timestamp"]).tzinfo is not None


def test_command_wraps_a_verb_with_started_and_completed(folder) -> None:
    with telemetry.command("training.recall", {"query": "q"}) as result:
        result["hits"] = 3
    events = list(telemetry.read_events(folder))
    assert [(e["command"], e["event"]) for e in events] == [
        ("training.recall", "started"),
        ("training.recall", "completed"),
    ]
    done = events[1]["payload"]
    assert done["query"] == "q" and done["hits"] == 3 and done["duration_ms"] >= 0


def test_a_failing_verb_emits_failed_and_still_raises(folder) -> None:
    with pytest.raises(ValueError), telemetry.command("training.route"):
        raise ValueError("no model")
    last = list(telemetry.read_events(folder))[-1]
    assert last["event"] == "failed" and "ValueError: no model" in last["payload"]["error"]


@pytest.mark.parametrize(
    ("exc", "error"),
    [
        (KeyboardInterrupt(), "stopped (Ctrl-C): what it had done before is kept"),
        (TimeoutError(), "TimeoutError"),  # no message: the type alone, not "TimeoutError: "
    ],
)
def test_a_verb_stopped_early_says_how(folder, exc: BaseException, error: str) -> None:
    with pytest.raises(type(exc)), telemetry.command("training.mine"):
        raise exc
    assert list(telemetry.read_events(folder))[-1]["payload"]["error"] == error


def test_attaching_twice_writes_once(folder) -> None:
    telemetry.attach_writer(folder)
    telemetry.emit("training.status", "completed")
    assert len(list(telemetry.read_events(folder))) == 1


def test_detached_writer_writes_nothing(tmp_path) -> None:
    path = tmp_path / "t"
    telemetry.attach_writer(path)
    telemetry.detach_writer(path)
    telemetry.emit("training.status", "completed")
    assert telemetry.telemetry_files(path) == []


def test_unserialisable_payloads_and_unicode_survive(folder) -> None:
    telemetry.emit("training.route", "completed", {"path": folder, "text": "ライブ [U+1F511]"})
    (event,) = telemetry.read_events(folder)
    assert event["payload"]["path"] == str(folder)
    assert event["payload"]["text"] == "ライブ [U+1F511]"


def test_a_cut_line_is_skipped_when_reading(folder) -> None:
    telemetry.emit("training.status", "completed")
    (path,) = telemetry.telemetry_files(folder)
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"timestamp": "2026-')  # a crash mid-write
    telemetry.emit("training.status", "completed")
    # Only the cut event is lost; the next one starts on a line of its own.
    assert len(list(telemetry.read_events(folder))) == 2


def test_an_unwritable_folder_never_raises_into_the_sender(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    writer = telemetry.attach_writer(blocker / "telemetry")
    try:
        telemetry.emit("training.status", "completed")
        assert writer.errors == 1
    finally:
        telemetry.detach_writer(blocker / "telemetry")


def test_the_report_verb_emits_training_report(settings, tmp_path) -> None:
    out = tmp_path / "dash"
    settings.data_dir.mkdir()  # report never creates it (a missing one is a typo)
    assert main(["--data-dir", str(settings.data_dir), "report", "--out", str(out)]) == 0
    events = list(telemetry.read_events(settings.telemetry_dir))
    assert ("training.report", "completed") in {(e["command"], e["event"]) for e in events}
    telemetry.detach_writer(settings.telemetry_dir)
