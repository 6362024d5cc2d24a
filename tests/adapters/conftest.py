"""Fixtures for the adapter tests: the stand-in host on sys.path, clean instrumentation.

Every test starts with no host module imported and no instrumentor active, and ends the same
way, so "imported before activation" and "imported after" are both real situations.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from foundups_training.adapters.activity import ACTIVITY
from foundups_training.adapters.base import instrumentors_in_place

from foundups_training import bridge, plugins, signals
from foundups_training.config import Settings, load_settings
from foundups_training.records import Decision

STANDIN = Path(__file__).resolve().parent.parent / "standin_host"


def _purge_host_modules() -> None:
    for name in list(sys.modules):
        if name == "main" or name == "modules" or name.startswith("modules."):
            del sys.modules[name]


def _reset_instrumentation() -> None:
    for inst in instrumentors_in_place():
        inst.uninstrument()
        inst.errors.clear()
    try:
        import foundups_training.auto as auto

        auto.ACTIVE.clear()
    except Exception:  # noqa: BLE001 - auto may not have been imported
        pass
    bridge.disconnect()
    ACTIVITY.reset()


@pytest.fixture(autouse=True)
def standin_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The stand-in host tree, importable as the host is (``modules.<domain>...``)."""
    _purge_host_modules()
    _reset_instrumentation()
    monkeypatch.syspath_prepend(str(STANDIN))
    yield STANDIN
    _reset_instrumentation()
    _purge_host_modules()
    plugins.reset_plugin_manager()


@pytest.fixture
def decisions() -> Iterator[list[Decision]]:
    """Every Decision sent on ``decision_made`` during the test."""
    seen: list[Decision] = []

    def receiver(sender: object, decision: Decision, **_: Any) -> None:
        seen.append(decision)

    signals.decision_made.connect(receiver, weak=False)
    yield seen
    signals.decision_made.disconnect(receiver)


@pytest.fixture
def host_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings through the environment (as the adapters read them): idle gates open."""
    monkeypatch.setenv("FOUNDUPS_TRAINING_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FOUNDUPS_TRAINING_IDLE_MINUTES", "0")
    monkeypatch.setenv("FOUNDUPS_TRAINING_IDLE_MAX_CPU", "100")
    monkeypatch.setenv("FOUNDUPS_TRAINING_HOST_ROOT", str(STANDIN))
    return load_settings()


@pytest.fixture
def training(host_settings: Settings) -> Iterator[Any]:
    """The real training plugin on a real (embedded Chroma) memory, as the only plugin."""
    from foundups_training.engine import Trainer
    from foundups_training.plugin import TrainingPlugin

    plugin = TrainingPlugin(Trainer(host_settings))

    plugins.use_only(plugin)
    bridge.connect()
    yield plugin
    plugin.close()
    plugins.reset_plugin_manager()
