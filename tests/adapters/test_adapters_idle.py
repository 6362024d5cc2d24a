"""Idle training: the host's phase 3 is served by on_idle, gated by the seed's triggers."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import Any

import pytest
from foundups_training.adapters import idle as idle_adapter
from foundups_training.adapters.activity import ACTIVITY
from foundups_training.adapters.idle import IDLE_DAE, IdleInstrumentor, cpu_percent
from standin_chat import write_log

from foundups_training.config import load_settings


def _dae() -> Any:
    return importlib.import_module(IDLE_DAE).IdleAutomationDAE()


def _train(dae: Any) -> dict[str, Any]:
    return asyncio.run(dae._execute_pattern_training())


@pytest.fixture
def log_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = write_log(tmp_path / "012.txt", rounds=120)  # 600 lines
    monkeypatch.setenv("FOUNDUPS_TRAINING_LOG", str(path))
    monkeypatch.setenv("FOUNDUPS_TRAINING_IDLE_MAX_LINES", "250")
    return path


def test_each_idle_cycle_mines_the_next_chunk(log_file: Path, training: Any) -> None:
    IdleInstrumentor().instrument()
    dae = _dae()
    first = _train(dae)
    assert first["task"] == "pattern_training" and first["success"] is True, first
    assert 0 < first["lines_processed"] <= 250 and first["patterns_stored"] > 0
    second = _train(dae)
    assert second["success"] is True and second["lines_processed"] > 0
    assert second["progress"] > first["progress"]  # resumed from the checkpoint, not line 0
    third = _train(dae)
    assert first["lines_processed"] + second["lines_processed"] + third["lines_processed"] == 600
    assert third["progress"] == pytest.approx(1.0)
    assert dae.idle_state["patterns_trained_total"] == sum(
        r["patterns_stored"] for r in (first, second, third)
    )
    assert training.trainer.memory.count() > 0
    assert set(first) <= {
        "task",
        "success",
        "patterns_stored",
        "lines_processed",
        "duration",
        "progress",
        "error",
        "skipped_reason",
    }


def test_the_hosts_idle_cycle_runs_plugin_training(log_file: Path, training: Any) -> None:
    IdleInstrumentor().instrument()
    mod = importlib.import_module(IDLE_DAE)
    result = asyncio.run(mod.run_idle_automation())
    [task] = [t for t in result["tasks_executed"] if t["task"] == "pattern_training"]
    assert task["success"] and task["lines_processed"] > 0


def test_trigger_chat_active(log_file: Path, training: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("FOUNDUPS_TRAINING_IDLE_MINUTES", "5")
    IdleInstrumentor().instrument()
    ACTIVITY.touch()
    result = _train(_dae())
    assert result["skipped_reason"] == "chat_active" and result["lines_processed"] == 0
    assert result["success"] is False and "idle needs 5 min" in result["error"]


def test_trigger_stream_live(log_file: Path, training: Any) -> None:
    IdleInstrumentor().instrument()
    ACTIVITY.stream_started()
    try:
        assert _train(_dae())["skipped_reason"] == "stream_live"
    finally:
        ACTIVITY.stream_ended()
    assert _train(_dae())["success"] is True


def test_trigger_cpu_busy(log_file: Path, training: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("FOUNDUPS_TRAINING_IDLE_MAX_CPU", "30")
    inst = IdleInstrumentor()
    inst.instrument()
    monkeypatch.setattr(inst, "cpu", lambda: 85.0)
    result = _train(_dae())
    assert result["skipped_reason"] == "cpu_busy" and "85%" in result["error"]
    monkeypatch.setattr(inst, "cpu", lambda: 5.0)
    assert _train(_dae())["success"] is True


def test_hosts_off_switch_is_honoured(log_file: Path, training: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("AUTO_PATTERN_TRAINING", "false")
    IdleInstrumentor().instrument()
    result = _train(_dae())
    assert result["error"] == "Pattern training disabled" and result["lines_processed"] == 0


def test_without_instrumentation_the_host_does_its_own_thing() -> None:
    result = _train(_dae())
    assert result["error"] == "012.txt not found"  # the hard-coded O:/ path


def test_trigger_settings_come_from_configuration(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("FOUNDUPS_TRAINING_IDLE_MINUTES", "0.5")
    monkeypatch.setenv("FOUNDUPS_TRAINING_IDLE_MAX_CPU", "50")
    settings = load_settings()
    ACTIVITY.touch()
    assert idle_adapter.trigger_blocker(settings, cpu=lambda: 10.0)[0] == "chat_active"
    ACTIVITY.last_chat = (ACTIVITY.last_chat or 0.0) - 31.0
    assert idle_adapter.trigger_blocker(settings, cpu=lambda: 10.0) == ("", "")
    assert idle_adapter.trigger_blocker(settings, cpu=lambda: 50.0)[0] == "cpu_busy"
    assert idle_adapter.budget_from(settings).max_lines == settings.idle_max_lines


def test_cpu_percent_is_measurable_here() -> None:
    value = cpu_percent(0.05)
    assert value is None or 0.0 <= value <= 100.0 * 64
