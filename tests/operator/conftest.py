"""Fakes for driving the menu and the observers without Chroma or a model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from foundups_training import signals
from foundups_training.config import Settings
from foundups_training.metrics import MetricsStore
from foundups_training.records import Answer, Pattern, Query, Recalled


class FakeMemory:
    """The part of PatternMemory the menu uses."""

    def __init__(self, patterns: list[Pattern] | None = None) -> None:
        self.patterns = list(patterns or [])
        self.cleared = 0

    def recall(self, query: str, n: int = 5) -> list[Recalled]:
        return [Recalled(p, 0.9 - i * 0.1) for i, p in enumerate(self.patterns[:n])]

    def stats(self) -> dict[str, Any]:
        by_kind: dict[str, int] = {}
        for p in self.patterns:
            by_kind[p.kind] = by_kind.get(p.kind, 0) + 1
        return {
            "total": len(self.patterns),
            "by_kind": by_kind,
            "by_source": {},
            "verified": sum(p.verified for p in self.patterns),
        }

    def kind_counts(self) -> dict[str, int]:
        return dict(self.stats()["by_kind"])

    def count(self) -> int:
        return len(self.patterns)

    def clear(self, confirm: bool = False) -> None:
        assert confirm
        self.patterns.clear()
        self.cleared += 1


@dataclass
class FakeMineReport:
    lines_processed: int
    patterns_stored: int
    patterns_total: int
    verified: int = 0
    duration_s: float = 0.01
    progress: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


class FakeTrainer:
    """A Trainer with a fake memory and router but the real metrics store and status."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.memory = FakeMemory(
            [
                Pattern.make(
                    "module_location",
                    "youtube authentication credential sets",
                    "modules/platform_integration/youtube_auth/",
                    module="modules.platform_integration.youtube_auth",
                    verified=True,
                ),
                Pattern.make("stream", "broadcastContent=live", "stream is live", outcome="ok"),
            ]
        )
        self.metrics = MetricsStore(settings.metrics_path)
        self.asked: list[Query] = []
        self.fail_ask = False

    def mine(self, log_path: Any, *, progress: Callable[[int, int], None] | None = None, **_: Any):
        for i in range(0, 101, 10):
            if progress:
                progress(i, 100)
        self.memory.patterns.append(Pattern.make("error_fix", "db locked", "retry"))
        signals.training_progress.send(
            "fake", done=100, total=100, patterns=len(self.memory.patterns)
        )
        return FakeMineReport(100, 1, len(self.memory.patterns))

    def index(self, host_root: Any, progress: Callable[[int, int], None] | None = None):
        return FakeMineReport(0, 0, len(self.memory.patterns))

    def ask(self, query: Query) -> Answer:
        if self.fail_ask:
            raise RuntimeError("router exploded")
        self.asked.append(query)
        return Answer(
            text="modules/platform_integration/youtube_auth/",
            tier="gemma",
            model="gemma-3-270m",
            confidence=0.82,
            latency_ms=123.0,
        )

    def memory_totals(self) -> dict[str, Any]:
        from foundups_training.metrics.observers import memory_totals

        return memory_totals(self.memory)  # type: ignore[arg-type]

    def status(self) -> dict[str, Any]:
        from foundups_training.status import collect_status

        return collect_status(self)  # type: ignore[arg-type]

    def clear(self) -> None:
        self.memory.clear(confirm=True)

    def close(self) -> None:
        self.metrics.close()


@pytest.fixture
def fake_trainer(settings: Settings) -> Iterator[FakeTrainer]:
    """A FakeTrainer on a private data directory, closed (observers detached) afterwards."""
    trainer = FakeTrainer(settings)
    yield trainer
    trainer.close()
