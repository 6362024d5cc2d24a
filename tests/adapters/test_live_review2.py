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
  been stored (the exit then journaled decisions a healthy store would have taken);
- (f) a skipped decision leaves no trace: one that failed on its author or text had already
  added its outcome to the author's earlier patterns, and become the "last stream";
- (g) a confidence that is not one (NaN, infinite, outside 0..1) is left out of the stored
  text and said once, where it was stored as "(confidence nan)" or 300 digits;
- (h) byte strings in chat fields are decoded as UTF-8 text, where they were stored as
  ``"b'...'"``.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest
from foundups_training.hookspecs import hookimpl
from plugin_doubles import RecordingMemory as _Memory

from foundups_training import bridge, live, plugins, signals
from foundups_training.config import load_settings
from foundups_training.live import LiveLearner
from foundups_training.memory.writer import JOURNAL_NAME, pattern_from_json
from foundups_training.plugins import IsolatingPluginManager
from foundups_training.records import Decision, Pattern

#: The timeout given to a flush or drain that should return at once (never a timing
#: assertion: the tests look at what it returns).
WAIT_S = 3.0


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


# -- (f) a skipped decision leaves no trace ----------------------------------------------------
class _Unprintable:
    """A chat field that cannot become text (a host object whose ``__str__`` raises)."""

    def __str__(self) -> str:
        raise RuntimeError("cannot print this")


def _timeout(tid: str, subject: str, **context: Any) -> Decision:
    return Decision(
        id=tid,
        source="live_chat",
        action="timeout",
        subject=subject,
        context={"stage": "moderation", "moderator": "Mod", "duration_seconds": 60, **context},
    )


def test_a_skipped_message_adds_nothing_to_the_authors_moderations() -> None:
    """A message whose author cannot be printed was skipped, but only after it had added
    "later: returned and wrote ..." to the author's earlier timeout: that outcome was
    written (an outcome-only observation) for a message that was never stored."""
    trainer = _Trainer()
    learner = _learner(trainer)
    learner.write([_timeout("t1", "UC1")])
    before = list(trainer.memory.patterns)

    bad = _msg("m-bad", text="the skipped one", subject="UC1")
    bad = replace(bad, context={**bad.context, "author": _Unprintable()})
    learner.write([bad])

    assert trainer.memory.patterns == before  # nothing written for a skipped decision
    assert learner.stats()["invalid"] == 1
    learner.write([_msg("m-ok", text="back again", subject="UC1")])
    stored = {p.id: p for p in trainer.memory.patterns}
    assert stored["mode-t1"].outcome == 'executed; later: returned and wrote "back again"'


def test_a_skipped_moderation_adds_nothing_to_the_authors_messages() -> None:
    """A timeout whose deleted message cannot be printed was skipped, but only after it had
    added "later: timeout 60s by Mod" to the author's earlier messages."""
    trainer = _Trainer()
    learner = _learner(trainer)
    learner.write([_msg("m1", subject="UC1")])
    before = list(trainer.memory.patterns)

    learner.write([_timeout("t-bad", "UC1", text=_Unprintable())])

    assert trainer.memory.patterns == before
    assert learner.stats()["invalid"] == 1
    learner.write([_timeout("t2", "UC1")])
    stored = {p.id: p for p in trainer.memory.patterns}
    assert stored["chat-m1"].outcome == "later: timeout 60s by Mod"


def test_a_skipped_decision_does_not_become_the_last_stream() -> None:
    """The stream of a skipped decision became the "last stream" of every later decision
    without one of its own."""
    trainer = _Trainer()
    learner = _learner(trainer)
    bad = _msg("m-bad", stream="other stream")
    bad = replace(bad, context={**bad.context, "text": _Unprintable()})

    learner.write([_msg("m1", stream="the stream"), bad, _msg("m2")])

    stored = {p.id: p for p in trainer.memory.patterns}
    assert "stream: the stream" in stored["chat-m2"].context
    assert "chat-m-bad" not in stored


# -- (g) a confidence that is not one ----------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        -float("inf"),
        1e300,
        -0.5,
        1.5,
        pytest.param(10**400, id="10**400"),
    ],
)
def test_a_confidence_outside_0_1_is_left_out(value: float) -> None:
    """NaN, infinities and 1e300 were stored as "(confidence nan)", "(confidence inf)" or a
    number some 300 digits long; an int too large for a float made the decision invalid."""
    trainer = _Trainer()
    learner = _learner(trainer)

    learner.write([_msg("m1", confidence=value, reasoning="why")])

    (stored,) = trainer.memory.patterns
    assert stored.decision == "ignore — why"
    assert learner.stats()["invalid"] == 0


def test_a_confidence_in_0_1_is_kept() -> None:
    trainer = _Trainer()
    learner = _learner(trainer)

    learner.write(
        [_msg("m0", confidence=0), _msg("m1", confidence=0.874), _msg("m2", confidence=1)]
    )

    assert [p.decision for p in trainer.memory.patterns] == [
        "ignore (confidence 0.00)",
        "ignore (confidence 0.87)",
        "ignore (confidence 1.00)",
    ]


def test_confidences_left_out_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    trainer = _Trainer()
    learner = _learner(trainer)

    with caplog.at_level("WARNING", logger="foundups_training.live"):
        learner.write([_msg(f"m{i}", confidence=float("nan")) for i in range(5)])
        learner.write([_msg("m9", confidence=7.0)])

    told = [r for r in caplog.records if "confidence" in r.getMessage()]
    assert len(told) == 1
    assert "nan" in told[0].getMessage() and "'m0'" in told[0].getMessage()


# -- (h) byte strings are text -----------------------------------------------------------------
def test_byte_strings_in_chat_fields_are_stored_as_text() -> None:
    """A host handing bytes on (a message read from a socket) had them stored as "b'...'"."""
    trainer = _Trainer()
    learner = _learner(trainer)
    message = Decision(
        id="m1",
        source="live_chat",
        action="respond",
        reasoning=cast(str, b"a question"),
        subject=cast(str, b"UC1"),
        stream=cast(str, b"the stream"),
        context={"stage": "message", "author": b"Ann", "role": b"member",
                 "text": "caf\u00e9 \U0001f600 ".encode() + b"\xff end"},
    )  # fmt: skip
    answer = Decision(
        id="m1",
        source="live_chat",
        action="respond",
        context={"stage": "response", "response": bytearray(b"hi Ann")},
    )
    timeout = _timeout("t1", "UC1", author=b"Ann", duration_seconds=b"60", moderator=b"Mod")

    learner.write([message, answer, timeout])

    stored = {p.id: p for p in trainer.memory.patterns}
    chat, mode = stored["chat-m1"], stored["mode-t1"]
    everything = " ".join(f"{p.context} {p.decision} {p.outcome}" for p in stored.values())
    assert "b'" not in everything and 'b"' not in everything
    assert 'message: "caf\u00e9 \U0001f600 \ufffd end"' in chat.context
    assert "author: Ann (member)" in chat.context and "stream: the stream" in chat.context
    assert chat.decision == "respond — a question"
    assert chat.outcome == 'executed: responded "hi Ann"; later: timeout 60s by Mod'
    assert mode.decision == "timeout 60s by Mod — human moderator"
    assert "author: Ann" in mode.context


def test_clean_decodes_bytes_and_scans_only_a_head() -> None:
    """Bytes go through the same cleaning as text: control characters, the length bound and
    the redactor; a huge byte string is cut before it is decoded or scanned."""
    assert live.clean(b"a\x00b\ncaf\xc3\xa9") == "a b caf\u00e9"
    assert live.clean(b"") == ""
    out = live.clean(b"word " * 2_000_000)
    assert len(out) <= live.MAX_TEXT and out.startswith("word word")
