"""Plugins the bridge and exit tests register beside the ones they hold or stop."""

from __future__ import annotations

from foundups_training.hookspecs import hookimpl

from foundups_training.records import Decision, Pattern


class Recording:
    """A healthy plugin: records the ids of the decisions it is handed, in order."""

    def __init__(self) -> None:
        self.decisions: list[str] = []

    @hookimpl
    def on_decision(self, decision: Decision) -> None:
        self.decisions.append(decision.id)


class RecordingMemory:
    """A memory that keeps what the live learner upserts."""

    def __init__(self) -> None:
        self.patterns: list[Pattern] = []

    def upsert(self, patterns: list[Pattern]) -> None:
        self.patterns.extend(patterns)
