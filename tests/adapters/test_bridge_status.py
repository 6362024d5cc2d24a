"""The training status seen from inside the host's process shows the decision queues.

The host's menu ("view training progress") runs in the host's process, where the bridge
hands the decisions to the plugins: its status carries the bridge's counters. The
``status`` command runs in a process of its own, with no bridge, and has no such key.
Real Trainer on a real (embedded Chroma) store, real bridge.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from plugin_doubles import Recording

from foundups_training import bridge, plugins, signals
from foundups_training.config import Settings
from foundups_training.engine import Trainer
from foundups_training.menu import format_progress
from foundups_training.plugins import IsolatingPluginManager
from foundups_training.records import Decision


@pytest.fixture
def trainer(host_settings: Settings) -> Iterator[Trainer]:
    built = Trainer(host_settings)
    yield built
    built.close()


def test_the_status_in_the_hosts_process_counts_the_decisions(trainer: Trainer) -> None:
    pm = IsolatingPluginManager()
    pm.register(Recording(), name="recording")
    plugins.reset_plugin_manager(lambda: pm)
    bridge.connect()
    before = bridge.stats()
    for n in range(3):
        signals.decision_made.send(
            "host", decision=Decision(id=f"d{n}", source="live_chat", action="a")
        )
    assert bridge.drain(30)
    status: dict[str, Any] = trainer.status()
    counts = status["decisions"]
    assert set(counts) == {"queued", "delivered", "dropped", "waiting"}
    assert counts["delivered"] - before["delivered"] == 3
    assert counts["waiting"] == 0 and counts["dropped"] == before["dropped"]
    # the host menu's "view training progress" shows them
    [line] = [line for line in format_progress(status) if line.startswith("Decisions")]
    assert f"{counts['delivered']:,} delivered to the plugins, 0 waiting" in line


def test_no_bridge_no_decision_counters(trainer: Trainer) -> None:
    bridge.disconnect()
    status = trainer.status()
    assert "decisions" not in status
    assert not [line for line in format_progress(status) if line.startswith("Decisions")]
