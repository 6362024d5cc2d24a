"""What an operator sees when a part fails: one readable log line at the default level (the
traceback only at DEBUG, ``-vv``), a telemetry writer that never raises, a metrics store
that can be read without being written, and failed runs kept apart from the last training.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import types
from pathlib import Path

import pytest

from foundups_training import signals, telemetry
from foundups_training.menu import format_metrics, format_progress
from foundups_training.metrics import MetricsStore
from foundups_training.metrics.records import TrainingRun
from foundups_training.records import Query

# -- one line at the default level, the traceback at DEBUG --------------------------------------


def _records(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger]


@pytest.mark.parametrize("level", [logging.WARNING, logging.DEBUG])
def test_telemetry_that_cannot_be_written_is_one_line_unless_debugging(
    level: int, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    writer = telemetry.TelemetryWriter(blocker / "telemetry")
    caplog.set_level(level, logger="foundups_training.telemetry")
    writer.write("training.report", "started")
    writer.write("training.report", "completed")  # logged once
    (record,) = _records(caplog, "foundups_training.telemetry")
    assert record.levelno == logging.WARNING
    assert "cannot write telemetry" in record.getMessage() and "a-file" in record.getMessage()
    assert (record.exc_info is not None) == (level == logging.DEBUG)
    assert writer.errors == 2


def test_a_failing_telemetry_receiver_is_one_line(caplog: pytest.LogCaptureFixture) -> None:
    def broken(sender: object, **_: object) -> None:
        raise RuntimeError("receiver exploded")

    signals.telemetry.connect(broken)
    try:
        caplog.set_level(logging.WARNING, logger="foundups_training.signals")
        signals.emit_telemetry("training.status", "started")
    finally:
        signals.telemetry.disconnect(broken)
    (record,) = _records(caplog, "foundups_training.signals")
    assert "RuntimeError: receiver exploded" in record.getMessage()
    assert record.exc_info is None


def test_routing_failure_is_one_line(caplog: pytest.LogCaptureFixture) -> None:
    from foundups_training.routing import Router

    class Odd:
        """A memory whose recall gives something that is not a recalled pattern."""

        def recall(self, *args: object, **kwargs: object) -> list[object]:
            return [types.SimpleNamespace(similarity=0.5)]

    caplog.set_level(logging.WARNING, logger="foundups_training.routing.router")
    answer = Router(memory=Odd(), gemma=None, qwen=None).answer(  # type: ignore[arg-type]
        Query(text="which module polls the chat?", tier="memory")
    )
    assert answer.error.startswith("AttributeError")
    (record,) = _records(caplog, "foundups_training.routing.router")
    assert record.getMessage().startswith("routing failed: AttributeError")
    assert record.exc_info is None


@pytest.mark.parametrize("level", [logging.WARNING, logging.DEBUG])
def test_a_store_that_refuses_live_patterns_is_one_line_unless_debugging(
    level: int, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The background writer meets a store failure (a full disk) and journals the batch: the
    host's log gets one line saying so, not a traceback, unless debugging."""
    from foundups_training.memory.writer import JOURNAL_NAME, BackgroundWriter
    from foundups_training.records import Pattern

    class Refusing:
        def upsert(self, patterns: object) -> None:
            raise RuntimeError("disk on fire")

    caplog.set_level(level, logger="foundups_training.memory.writer")
    writer = BackgroundWriter(Refusing(), tmp_path / "journal").start()  # type: ignore[arg-type]
    try:
        writer.submit(Pattern.make("error_fix", "quota exceeded", "switched credentials"))
        assert writer.flush(30.0)
    finally:
        writer.close()
    (record,) = [
        r for r in _records(caplog, "foundups_training.memory.writer") if "storing" in r.message
    ]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == (
        "storing 1 live patterns failed; journaling them: RuntimeError: disk on fire"
    )
    assert (record.exc_info is not None) == (level == logging.DEBUG)
    journal = (tmp_path / "journal" / JOURNAL_NAME).read_text(encoding="utf-8")
    assert len(journal.splitlines()) == 1  # nothing lost


# -- the telemetry writer never raises ----------------------------------------------------------


def test_telemetry_writer_takes_text_that_is_not_utf8(tmp_path: Path) -> None:
    """A question typed in a non-UTF-8 terminal holds lone surrogates: the event is still
    written (escaped), not raised into the sender."""
    writer = telemetry.TelemetryWriter(tmp_path / "telemetry")
    writer.write("training.route", "started", {"query": "\udcff\udcfe which module"})
    writer.write("training.route", "completed", {"answer": "ok"})
    events = list(telemetry.read_events(tmp_path / "telemetry"))
    assert [e["event"] for e in events] == ["started", "completed"]
    assert events[0]["payload"]["query"].endswith(" which module")
    assert writer.errors == 0


# -- read-only metrics --------------------------------------------------------------------------


def test_read_only_store_on_a_missing_file_is_an_empty_history(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "metrics.sqlite3"
    with MetricsStore(path, read_only=True) as store:
        assert store.summary()["training_runs"] == {}
        assert store.last_training() is None
    assert not path.parent.exists()  # reading created nothing


def test_read_only_store_reads_and_never_writes(tmp_path: Path) -> None:
    path = tmp_path / "metrics.sqlite3"
    with MetricsStore(path) as store:
        store.record_training(TrainingRun(ts=1.0, kind="batch", lines_processed=7))
    with MetricsStore(path, read_only=True) as store:
        assert store.lines_processed_total() == 7
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.record_training(TrainingRun(ts=2.0, kind="batch"))


def test_read_only_store_does_not_migrate_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "metrics.sqlite3"
    sqlite3.connect(path).execute("CREATE TABLE other(x)").connection.close()  # schema 0
    with MetricsStore(path, read_only=True) as store:
        assert store.summary()["answers"]["answers"] == 0
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["other"]
    conn.close()


# -- failed runs are not the last training -------------------------------------------------------


def test_failed_runs_are_kept_apart_from_the_last_training(tmp_path: Path) -> None:
    with MetricsStore(tmp_path / "metrics.sqlite3") as store:
        store.record_training(TrainingRun(ts=1.0, kind="batch", lines_processed=500))
        store.record_training(
            TrainingRun(ts=2.0, kind="batch", success=False, error="StoreLocked: held")
        )
        summary = store.summary()
        assert store.last_successful_training().ts == 1.0  # type: ignore[union-attr]
        assert store.last_failed_training().error == "StoreLocked: held"  # type: ignore[union-attr]
        store.record_training(TrainingRun(ts=3.0, kind="idle", lines_processed=20))
        assert store.last_failed_training() is None  # a success since
    assert summary["training_runs"] == {"batch": 1}
    assert summary["failed_runs"] == {"batch": 1}
    assert summary["last_training"]["ts"] == 1.0
    assert summary["last_failure"]["error"] == "StoreLocked: held"
    lines = "\n".join(format_metrics(summary))
    assert "Training runs  : batch 1 (failed, not counted: batch 1)" in lines
    assert "Last training  : 1970-01-01 00:00:01 UTC - batch, 500 lines" in lines
    assert "Last attempt   : 1970-01-01 00:00:02 UTC - batch FAILED: StoreLocked: held" in lines


def test_status_shows_the_failed_attempt_after_the_last_training(settings) -> None:  # type: ignore[no-untyped-def]
    from foundups_training.engine import Trainer

    now = time.time()
    settings.ensure_data_dir()
    with MetricsStore(settings.metrics_path) as store:
        store.record_training(TrainingRun(ts=now - 60, kind="batch", lines_processed=5))
        store.record_training(TrainingRun(ts=now, kind="batch", success=False, error="Boom"))
    with Trainer(settings, read_only=True) as trainer:
        status = trainer.status()
    assert status["last_training_run"]["ts"] == now - 60
    assert status["last_failure"]["error"] == "Boom"
    assert json.dumps(status)  # --json stays serialisable
    assert any(line.startswith("Last attempt   : ") for line in format_progress(status))
