"""The latency an answer reports is what the host waited for, from ``on_query`` on."""

from __future__ import annotations

import time
from typing import Any

import pytest

from foundups_training import plugin
from foundups_training.config import Settings
from foundups_training.engine import Trainer
from foundups_training.records import Query

#: How long the stand-in store takes to open; the answer's latency must include it.
OPEN_S = 0.3


def test_the_first_questions_latency_counts_opening_the_store(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first question opens the store and builds the router before the router's clock
    started, so its latency left out the wait the host had (the store's open, the models'
    folder, the router's rules)."""
    import foundups_training.memory as memory

    real_open = memory.open_memory

    def slow_open(*args: Any, **kwargs: Any) -> Any:
        time.sleep(OPEN_S)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(memory, "open_memory", slow_open)
    training = plugin.TrainingPlugin(Trainer(settings))
    try:  # the memory tier: no model is loaded
        answer = training.on_query(Query("which module handles stream detection?", tier="memory"))
    finally:
        training.close()
    assert answer is not None
    assert answer.latency_ms >= OPEN_S * 1000


def test_an_answer_the_trainer_cannot_give_still_says_how_long_it_took(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A router that fails to build is an answer with its error; its latency is the wait
    too, not 0."""
    import foundups_training.memory as memory

    def failing_open(*args: Any, **kwargs: Any) -> Any:
        time.sleep(OPEN_S)
        raise OSError("disk gone")

    monkeypatch.setattr(memory, "open_memory", failing_open)
    training = plugin.TrainingPlugin(Trainer(settings))
    try:
        answer = training.on_query(Query("which module handles stream detection?", tier="memory"))
    finally:
        training.close()
    assert answer is not None and "disk gone" in (answer.error or "")
    assert answer.latency_ms >= OPEN_S * 1000
