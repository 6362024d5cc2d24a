"""Live decisions arriving while an idle batch mines: every decision stored, the batch intact.

The real path end to end: decisions are sent on the ``decision_made`` blinker signal (what
the live-chat adapter does inside the host), the bridge turns them into ``on_decision`` hook
calls, the training plugin's LiveLearner writes them to the real embedded store -- while
another thread runs ``on_idle`` (through the bridge as well), mining the whole log into the
same store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rel_helpers import Snapshot, diff, snapshot_of

from foundups_training import bridge, plugins, signals
from foundups_training.config import load_settings
from foundups_training.engine import Trainer
from foundups_training.plugin import TrainingPlugin
from foundups_training.records import Decision, IdleBudget, IdleReport

MESSAGES = 240
MODERATIONS = 12


@pytest.fixture
def plugin(tmp_path: Path, rel_log: Path) -> Iterator[TrainingPlugin]:
    """The real training plugin, alone in a fresh plugin manager, behind the bridge."""
    settings = load_settings(
        {"data_dir": tmp_path / "data", "log_path": rel_log, "host_root": tmp_path / "none"},
        env={},
    )
    plugin = TrainingPlugin(Trainer(settings))

    plugins.use_only(plugin)
    bridge.connect()
    yield plugin
    bridge.disconnect()
    plugin.close()
    plugins.reset_plugin_manager()


def _message(i: int) -> Decision:
    return Decision(
        id=f"msg-{i}",
        source="live_chat",
        action="respond" if i % 3 == 0 else "skip",
        context={"text": f"viewer message number {i}", "author": f"viewer{i % 17}",
                 "author_id": f"UC{i % 17:04d}"},
        stream="stream-1",
        subject=f"UC{i % 17:04d}",
    )  # fmt: skip


def _moderation(i: int) -> Decision:
    return Decision(
        id=f"ban-{i}",
        source="live_chat",
        action="timeout",
        context={"stage": "moderation", "text": "spam spam", "author": f"troll{i}",
                 "author_id": f"UCT{i}", "duration_seconds": 60},
        stream="stream-1",
        subject=f"UCT{i}",
    )  # fmt: skip


@pytest.mark.slow
def test_every_live_decision_is_stored_while_an_idle_batch_runs(
    plugin: TrainingPlugin, baseline: Snapshot
) -> None:
    reports: list[IdleReport | None] = []
    idle = threading.Thread(
        target=lambda: reports.append(bridge.idle(IdleBudget(max_lines=None, max_seconds=None))),
        name="idle-batch",
    )
    idle.start()
    sent_during = 0
    for i in range(MESSAGES):
        signals.decision_made.send("test-host", decision=_message(i))
        if i % 20 == 0:
            signals.decision_made.send("test-host", decision=_moderation(i // 20))
        sent_during += idle.is_alive()
        time.sleep(0.01)  # a busy chat: ~100 messages a second
    idle.join(timeout=600)
    assert not idle.is_alive()
    assert sent_during > 0, "the idle batch ended before any decision arrived"
    [report] = reports
    assert report is not None and report.success, report
    assert bridge.drain(120)  # every decision handed to the plugin (off the host's thread)
    assert plugin.live.flush(timeout=120)
    stats: dict[str, Any] = plugin.live.stats()
    assert stats["submitted"] == MESSAGES + MODERATIONS
    assert stats["dropped"] == 0 and stats["failed"] == 0, stats
    memory = plugin.trainer.memory
    live = snapshot_of(memory, {"source": "live_chat"})
    assert sum(1 for v in live.values() if v[0] == "chat_response") == MESSAGES
    assert sum(1 for v in live.values() if v[0] == "moderation") == MODERATIONS
    # The idle batch was not disturbed: its patterns are exactly a clean run's.
    mined = {pid: v for pid, v in snapshot_of(memory).items() if pid not in live}
    assert not diff(baseline, mined)
