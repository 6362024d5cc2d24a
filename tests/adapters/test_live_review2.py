"""Second review of the live path (decision -> live learner -> store): each test failed
before its fix.

- (a) a decision no pattern can be built from costs only itself: one whose attributes raise
  (not a ``Decision`` at all) failed its whole batch, and a stream that cannot be a key
  (a list) made every later decision without a stream of its own invalid too;
- (b) never slow the stream: a huge message id was scanned whole by the writer thread (a
  regex holding the GIL for seconds), as a huge message text was before;
- (c) ``submit`` never raises: a writer thread that cannot start (the interpreter ending,
  no threads left) made it raise, and the decision was lost;
- (d) nothing lost silently: ``close()`` and the writer thread taking the last decisions at
  the same moment raised ``IndexError``, and the batch the loser had taken was gone;
- (e) the exit is not held by a busy stream: ``LiveLearner.flush`` and ``bridge.drain``
  waited until nothing at all was waiting, so while the host kept sending they ran out
  their whole timeout and reported failure, though everything queued before the call had
  been stored (the exit then journaled decisions a healthy store would have taken).
"""

from __future__ import annotations

import re
import threading
from collections import deque
from pathlib import Path
from typing import Any, cast

import pytest
from foundups_training.hookspecs import hookimpl

from foundups_training import bridge, live, plugins, signals
from foundups_training.config import load_settings
from foundups_training.live import LiveLearner
from foundups_training.memory.writer import JOURNAL_NAME, pattern_from_json
from foundups_training.plugins import IsolatingPluginManager
from foundups_training.records import Decision, Pattern

#: The timeout given to a flush or drain that should return at once (never a timing
#: assertion: the tests look at what it returns).
WAIT_S = 3.0


class _Memory:
    """A memory that keeps what the live learner upserts."""

    def __init__(self) -> None:
        self.patterns: list[Pattern] = []

    def upsert(self, patterns: list[Pattern]) -> None:
        self.patterns.extend(patterns)


class _Trainer:
    def __init__(self, data: Path | None = None) -> None:
        self.memory = _Memory()
        if data is not None:
            self.settings = load_settings({"data_dir": data}, env={})


def _learner(trainer: _Trainer) -> LiveLearner:
    return LiveLearner(cast(Any, trainer))


def _msg(mid: str, text: str = "hello", **fields: Any) -> Decision:
    return Decision(
        id=mid,
        source="live_chat",
        action="ignore",
        context={"stage": "message", "author": "ann", "text": text},
        **fields,
    )


def _journaled(data: Path) -> list[str]:
    journal = data / "journal" / JOURNAL_NAME
    if not journal.exists():
        return []
    return [pattern_from_json(line).id for line in journal.read_text("utf-8").splitlines()]


# -- (a) a bad decision costs only itself ------------------------------------------------------
class _Exploding:
    """Not a Decision: every attribute read raises (a proxy whose target is gone)."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no attribute {name} here")


def test_a_decision_whose_attributes_raise_costs_only_itself() -> None:
    """Reporting the bad decision read its ``id`` and ``source`` with ``getattr(..., "?")``,
    which only absorbs AttributeError: the RuntimeError escaped ``write`` and the whole batch
    was counted failed, none of it stored or journaled."""
    trainer = _Trainer()
    learner = _learner(trainer)

    learner.write([cast(Decision, _Exploding()), _msg("ok")])

    assert [p.id for p in trainer.memory.patterns] == ["chat-ok"]
    stats = learner.stats()
    assert (stats["invalid"], stats["failed"]) == (1, 0)


def test_a_stream_that_cannot_be_a_key_does_not_poison_later_decisions() -> None:
    """The first decision's stream (a list) became the learner's "last stream" before the
    decision failed; every later decision without a stream of its own (a bot's response,
    a host with no stream title) used it as a dict key and was skipped as invalid too."""
    trainer = _Trainer()
    learner = _learner(trainer)

    learner.write([_msg("odd", stream=cast(str, ["s"]))])
    learner.write([_msg("later", text="a later message")])

    stored = {p.id: p for p in trainer.memory.patterns}
    assert "chat-later" in stored
    assert learner.stats()["invalid"] <= 1


def test_a_subject_that_is_not_a_string_keeps_linking_outcomes() -> None:
    """A numeric author id (an adapter passing the host's value on) is still the author's
    key, and nothing about it is lost."""
    trainer = _Trainer()
    learner = _learner(trainer)
    timeout = Decision(
        id="t1",
        source="live_chat",
        action="timeout",
        subject=cast(str, 42),
        context={"stage": "moderation", "moderator": "Mod", "duration_seconds": 60},
    )

    learner.write([_msg("m1", subject=cast(str, 42)), timeout])

    stored = {p.id: p for p in trainer.memory.patterns}
    assert stored["chat-m1"].outcome == "later: timeout 60s by Mod"
    assert learner.stats()["invalid"] == 0


# -- (b) never slow the stream -----------------------------------------------------------------
class _CountingPattern:
    """Stands in for the id-sanitising regex and records how much text it is given."""

    def __init__(self, real: re.Pattern[str]) -> None:
        self.real = real
        self.scanned: list[int] = []

    def sub(self, repl: str, text: str) -> str:
        self.scanned.append(len(text))
        return self.real.sub(repl, text)


def test_a_huge_message_id_is_not_scanned_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pattern id keeps 120 characters of the message id, but the whole id was run
    through the sanitising regex first, twice per decision: a 10 MB id held the GIL in the
    writer thread for seconds (measured: about 4 s per scan), stalling the host's threads."""
    counting = _CountingPattern(live._ID_SAFE)
    monkeypatch.setattr(live, "_ID_SAFE", counting)
    trainer = _Trainer()
    learner = _learner(trainer)

    learner.write([_msg("m " * 5_000_000)])

    assert counting.scanned and max(counting.scanned) <= 1_000  # of 10,000,000 characters
    assert [p.id for p in trainer.memory.patterns] == ["chat-" + "m_" * 60]


# -- (c) submit never raises -------------------------------------------------------------------
def test_submit_does_not_raise_when_no_thread_can_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``submit`` started the writer thread unguarded: ``RuntimeError: can't start new
    thread`` reached the caller (the training plugin, which then lost the decision; while
    the learner was being built, it lost every early decision). Now the decision is queued,
    and ``close()`` stores or journals it as it does for a writer thread that never ran."""
    trainer = _Trainer(tmp_path)
    learner = _learner(trainer)

    def no_thread(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", no_thread)
    learner.submit(_msg("m1"))
    monkeypatch.undo()

    assert learner.stats()["submitted"] == 1
    learner.close(timeout=0.1)
    stats = learner.stats()
    assert stats["processed"] == 1 and stats["failed"] == 0
    assert _journaled(tmp_path) == ["chat-m1"]


def test_a_thread_that_could_not_start_is_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once threads can start again, the next decision starts the writer thread and what
    was queued meanwhile is stored."""
    trainer = _Trainer(tmp_path)
    learner = _learner(trainer)

    def no_thread(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", no_thread)
    learner.submit(_msg("m1"))
    monkeypatch.undo()
    learner.submit(_msg("m2"))

    assert learner.flush(30)
    learner.close()
    assert sorted(p.id for p in trainer.memory.patterns) == ["chat-m1", "chat-m2"]


# -- (d) nothing lost silently -----------------------------------------------------------------
class _Raced(deque[Decision]):
    """A queue whose last decision another consumer takes between the check that the queue
    is not empty and the ``popleft`` (the writer thread finishing its write while ``close()``
    drains the queue, or the other way round)."""

    def __init__(self, rival: list[Decision]) -> None:
        super().__init__()
        self.rival = rival

    def popleft(self) -> Decision:
        if len(self) == 1 and not self.rival:
            self.rival.append(super().popleft())
        return super().popleft()


def test_close_and_the_writer_taking_the_last_decisions_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``_take`` checked that the queue was not empty, then popped: the other consumer could
    take the last decision in between, and ``popleft`` raised IndexError: out of ``close()``
    (the decisions it had taken were neither stored nor journaled), or out of the writer
    thread's loop (the thread ended and its batch was gone)."""
    trainer = _Trainer(tmp_path)
    learner = _learner(trainer)
    rival: list[Decision] = []
    learner._pending = _Raced(rival)
    # The writer thread is elsewhere (stuck in a store write): close() drains the queue.
    monkeypatch.setattr(learner, "_start", lambda: None)
    for i in range(3):
        learner.submit(_msg(f"m{i}"))

    learner.close(timeout=0.1)

    assert [d.id for d in rival] == ["m2"]  # the other consumer's, stored by it
    assert _journaled(tmp_path) == ["chat-m0", "chat-m1"]
    assert learner.stats()["processed"] == 2


# -- (e) a busy stream does not hold the exit ------------------------------------------------
class _Streaming(_Memory):
    """A store the host keeps sending decisions to while it writes: each write ends with one
    more decision queued behind it, as on a busy stream."""

    def __init__(self) -> None:
        super().__init__()
        self.learner: LiveLearner | None = None
        self.stop = threading.Event()
        self.sent = 0

    def upsert(self, patterns: list[Pattern]) -> None:
        super().upsert(patterns)
        if self.learner is not None and not self.stop.is_set():
            self.sent += 1
            self.learner.submit(_msg(f"s{self.sent}"))


def test_flush_waits_for_what_was_submitted_before_it_not_for_the_stream() -> None:
    trainer = _Trainer()
    memory = _Streaming()
    trainer.memory = memory
    learner = _learner(trainer)
    memory.learner = learner
    learner.submit(_msg("m1"))
    before = {"chat-m1"}

    flushed = learner.flush(WAIT_S)

    memory.stop.set()
    stored = {p.id for p in memory.patterns}
    learner.close()
    assert before <= stored
    assert flushed is True


def test_drain_waits_for_what_was_queued_before_it_not_for_the_stream() -> None:
    manager = IsolatingPluginManager()
    plugins.reset_plugin_manager(lambda: manager)
    bridge.connect()
    stop = threading.Event()
    seen: list[str] = []

    class Streaming:
        """Each delivery ends with the host's next decision queued behind it."""

        @hookimpl
        def on_decision(self, decision: Decision) -> None:
            seen.append(decision.id)
            if not stop.is_set():
                _send(f"s{len(seen)}")

    def _send(mid: str) -> None:
        signals.decision_made.send("host", decision=Decision(id=mid, source="x", action="a"))

    try:
        manager.register(Streaming(), name="streaming")
        _send("d1")

        drained = bridge.drain(WAIT_S)

        assert "d1" in seen
        assert drained is True
    finally:
        stop.set()
        bridge.drain(30)
        bridge.disconnect()
        plugins.reset_plugin_manager()
