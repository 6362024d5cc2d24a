"""An operator's walkthrough of ``status`` and the menu header: three small inconsistencies.

Each test names what an operator saw before the fix.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from foundups_training.cli import main
from foundups_training.config import Settings
from foundups_training.menu import format_progress, run_menu
from foundups_training.metrics import MetricsStore
from foundups_training.metrics.records import TrainingRun

#: The time format of the text output (the metrics view, the demo's transcript).
_TEXT_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"
_TRAINED = datetime(2026, 11, 28, 15, 13, 28, tzinfo=UTC)
_FAILED = datetime(2026, 11, 28, 15, 20, 5, tzinfo=UTC)


def _menu(trainer: Any, *choices: str) -> str:
    out = io.StringIO()
    stdin = io.StringIO("".join(f"{c}\n" for c in choices))
    assert run_menu(trainer, stdin=stdin, stdout=out) == 0
    return out.getvalue()


def _line(text: str, label: str) -> str:
    """The first line of ``text`` that starts with ``label``."""
    found = [line for line in text.splitlines() if line.startswith(label)]
    assert found, f"no {label!r} line in:\n{text}"
    return found[0]


def _history(settings: Settings, trained: datetime = _TRAINED, failed: datetime = _FAILED) -> None:
    """A batch run that trained, then one that failed (the store was locked)."""
    settings.ensure_data_dir()
    with MetricsStore(settings.metrics_path) as store:
        store.record_training(TrainingRun(ts=trained.timestamp(), kind="batch", lines_processed=5))
        store.record_training(
            TrainingRun(
                ts=failed.timestamp(), kind="batch", success=False, error="StoreLocked: held"
            )
        )


class _Wrapped:
    """The CLI's ``Trainer`` replaced by the operator tests' FakeTrainer (no Chroma)."""

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer

    def __call__(self, settings: Settings, **_: Any) -> Any:
        return self

    def __enter__(self) -> Any:
        return self.trainer

    def __exit__(self, *exc: object) -> None:
        pass


# -- 1. one time format for "last training" and "last attempt" --------------------------------


def test_header_shows_last_training_and_last_attempt_in_one_format(fake_trainer) -> None:  # type: ignore[no-untyped-def]
    """The header said ``Last training   : 2026-11-28T15:13:28+00:00`` right above
    ``Last attempt    : 2026-11-28 15:20:05 UTC - batch FAILED``: one moment, two formats."""
    _history(fake_trainer.settings)
    out = _menu(fake_trainer, "2", "0")
    header = out.split("1. Start batch training")[0]
    assert _line(header, "Last training   : ") == "Last training   : 2026-11-28 15:13:28 UTC"
    assert _line(header, "Last attempt    : ").startswith(
        "Last attempt    : 2026-11-28 15:20:05 UTC - batch FAILED"
    )
    progress = "\n".join(format_progress(fake_trainer.status()))  # option 2 alike
    assert _line(progress, "Last training  : ") == "Last training  : 2026-11-28 15:13:28 UTC"
    assert re.match(rf"Last attempt   : {_TEXT_TIME} - batch", _line(progress, "Last attempt"))


def test_a_checkpoints_iso_time_is_shown_in_the_text_format(fake_trainer) -> None:  # type: ignore[no-untyped-def]
    """The checkpoint's ``updated_at`` (ISO, UTC) is what ``Last training`` shows after a
    batch run: it too is written as the rest of the text output writes times."""
    settings = fake_trainer.settings
    settings.ensure_data_dir()
    settings.checkpoint_path.write_text(
        json.dumps({"lines_processed": 3, "updated_at": "2026-11-28T17:13:28+02:00"}),
        encoding="utf-8",
    )
    header = _menu(fake_trainer, "0")
    assert _line(header, "Last training   : ") == "Last training   : 2026-11-28 15:13:28 UTC"


def test_status_text_uses_the_same_format_and_json_keeps_iso(
    fake_trainer,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``status`` and the menu name one moment the same way; ``--json`` stays ISO-8601."""
    _history(fake_trainer.settings)
    monkeypatch.setattr("foundups_training.engine.Trainer", _Wrapped(fake_trainer))
    data = str(fake_trainer.settings.data_dir)
    assert main(["status", "--data-dir", data]) == 0
    text = capsys.readouterr().out
    assert _line(text, "last training  : ") == "last training  : 2026-11-28 15:13:28 UTC"
    assert _line(text, "last attempt   : ").startswith(
        "last attempt   : 2026-11-28 15:20:05 UTC (batch) failed: StoreLocked: held"
    )
    assert main(["status", "--data-dir", data, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["last_training"] == "2026-11-28T15:13:28+00:00"
    assert status["last_failure"]["when"] == "2026-11-28T15:20:05+00:00"


# -- 2. a log that is not there ---------------------------------------------------------------


def test_status_says_the_log_is_not_found(
    fake_trainer,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``status`` printed only ``lines processed: 0 of 012.txt`` where the menu said
    ``(log not found: 012.txt)``."""
    missing = tmp_path / "nowhere" / "012.txt"
    fake_trainer.settings = replace(fake_trainer.settings, log_path=missing)
    fake_trainer.settings.ensure_data_dir()
    monkeypatch.setattr("foundups_training.engine.Trainer", _Wrapped(fake_trainer))
    data = str(fake_trainer.settings.data_dir)
    assert main(["status", "--data-dir", data]) == 0
    text = capsys.readouterr().out
    assert _line(text, "lines processed: ") == f"lines processed: 0 of {missing} (log not found)"
    assert main(["status", "--data-dir", data, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["log_found"] is False  # lines_total null also means "too big to count"
    assert status["lines_total"] is None
    assert f"(log not found: {missing})" in _menu(fake_trainer, "0")
    progress = "\n".join(format_progress(fake_trainer.status()))  # option 2 alike
    assert _line(progress, "Lines processed: ") == "Lines processed: 0 (log not found)"


def test_a_log_that_is_there_is_found(
    fake_trainer,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = tmp_path / "012.txt"
    log.write_text("one\ntwo\n", encoding="utf-8")
    fake_trainer.settings = replace(fake_trainer.settings, log_path=log)
    fake_trainer.settings.ensure_data_dir()
    monkeypatch.setattr("foundups_training.engine.Trainer", _Wrapped(fake_trainer))
    data = str(fake_trainer.settings.data_dir)
    assert main(["status", "--data-dir", data]) == 0
    text = capsys.readouterr().out
    assert _line(text, "lines processed: ") == f"lines processed: 0 of {log} (2 lines now)"
    assert main(["status", "--data-dir", data, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["log_found"] is True


def test_a_log_too_big_to_count_is_not_called_missing(
    fake_trainer,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The header said ``log not found`` of any log it did not count (over 512 MiB, or not
    readable): the file is there, and the next run mines it."""
    log = tmp_path / "012.txt"
    log.write_text("one\n", encoding="utf-8")
    fake_trainer.settings = replace(fake_trainer.settings, log_path=log)
    fake_trainer.settings.ensure_data_dir()
    monkeypatch.setattr("foundups_training.status.count_lines", lambda path: None)
    header = _menu(fake_trainer, "0")
    assert "log not found" not in header
    assert f"(the log could not be counted: {log})" in _line(header, "Log progress    : ")


# -- 3. clear forgets a failed attempt from before it -----------------------------------------


def test_clear_forgets_the_failed_attempt_before_it(
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """After a failed run, ``status`` kept saying ``last attempt … failed`` after a successful
    ``clear --yes``: the memory it warned about is gone, a fresh one has no failed attempt."""
    from foundups_training.engine import Trainer

    now = datetime.now(UTC)
    _history(settings, now - timedelta(minutes=2), now - timedelta(minutes=1))
    settings.checkpoint_path.write_text(
        json.dumps({"lines_processed": 500, "updated_at": now.isoformat()}),
        encoding="utf-8",
    )
    data = str(settings.data_dir)
    assert main(["status", "--data-dir", data, "--json"]) == 0
    assert "StoreLocked" in json.loads(capsys.readouterr().out)["last_failure"]["error"]

    assert main(["clear", "--yes", "--data-dir", data]) == 0
    capsys.readouterr()
    assert main(["status", "--data-dir", data, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert "last_failure" not in status
    assert status["patterns_total"] == 0 and status["lines_processed"] == 0
    assert main(["status", "--data-dir", data]) == 0
    assert "last attempt" not in capsys.readouterr().out
    with Trainer(settings) as trainer:
        header = _menu(trainer, "0")
    assert "Last attempt" not in header and "FAILED" not in header
    with MetricsStore(settings.metrics_path) as store:  # the history itself is kept
        assert store.last_failed_training() is not None
        cleared_at = store.snapshots(limit=1)[0]
    assert cleared_at.reason == "clear"

    # nor is the run before the clear the memory's last training: that memory is gone
    assert status["last_training"] is None and "last_training_run" not in status
    assert main(["status", "--data-dir", data]) == 0
    assert _line(capsys.readouterr().out, "last training  : ").endswith(": never")

    # a run that fails after the clear is news again
    with MetricsStore(settings.metrics_path) as store:
        store.record_training(
            TrainingRun(ts=cleared_at.ts + 1, kind="batch", success=False, error="Boom")
        )
    assert main(["status", "--data-dir", data]) == 0
    assert "(batch) failed: Boom" in _line(capsys.readouterr().out, "last attempt   : ")
