"""The live path at the host's exit, and with input it cannot use: nothing lost silently.

Decisions still queued when the host exits are stored, or appended to the journal on disk
(replayed when the store next opens); what neither took is counted and logged. A decision
no pattern can be built from costs only itself. Real processes, the real embedded store.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from rel_helpers import REPO, child_env, settings_for

from foundups_training.engine import Trainer
from foundups_training.live import LiveLearner
from foundups_training.memory import open_memory
from foundups_training.memory.writer import JOURNAL_NAME, pattern_from_json
from foundups_training.records import Decision

#: A host that activates the plugin with ``import foundups_training.auto``, has its first
#: messages stored, then gets its last ones and returns: they are written by the atexit
#: handler, where ``concurrent.futures`` refuses new work and the writer threads are daemons.
HOST = """
import sys
import foundups_training.auto
from foundups_training import signals
from foundups_training.plugins import get_plugin_manager
from foundups_training.records import Decision

def chat(i):
    signals.decision_made.send("host", decision=Decision(
        id=f"m{i}", source="live_chat", action="respond", subject=f"UC{i}", stream="s",
        context={"stage": "message", "text": f"last message number {i}", "author": f"u{i}"}))

first, last = int(sys.argv[1]), int(sys.argv[2])
for i in range(first):
    chat(i)
assert get_plugin_manager().get_plugin("training").live.flush(300), "warm-up not stored"
for i in range(first, first + last):
    chat(i)
print("host done", flush=True)
"""

#: The encoder asked for several vectors by an atexit handler (what the exit flush does).
ENCODE_AT_EXIT = """
import atexit
from foundups_training.memory.embedding import MiniLMEncoder

encoder = MiniLMEncoder(threads=2)
encoder.encode(["warm", "up"])

def at_exit():
    print("encoded at exit:", encoder.encode(["one", "two", "three"]).shape, flush=True)

atexit.register(at_exit)
"""


def _chat_ids(data: Path) -> tuple[set[str], list[str]]:
    """(chat pattern ids in the store, chat pattern ids in the journal, in order)."""
    with open_memory(settings_for(data), read_only=True) as memory:
        stored = {p.id for p in memory.all_patterns({"kind": "chat_response"})}
    journal = settings_for(data).journal_dir / JOURNAL_NAME
    lines = journal.read_text(encoding="utf-8").splitlines() if journal.exists() else []
    return stored, [pattern_from_json(line).id for line in lines]


@pytest.mark.slow
def test_decisions_queued_at_exit_are_stored_or_journaled(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = subprocess.run(
        [sys.executable, "-c", HOST, "3", "5"],
        capture_output=True, text=True, timeout=600, cwd=REPO,
        env=child_env(FOUNDUPS_TRAINING_HOME=str(data)),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "host done" in done.stdout
    stored, journaled = _chat_ids(data)
    # Before the fix: 3 stored, 0 journaled; the last 5 were counted "journaled" while they
    # sat in a queue in memory that died with the process.
    assert not stored & set(journaled), "a pattern both stored and journaled"
    assert len(journaled) == len(set(journaled))
    assert stored | set(journaled) == {f"chat-m{i}" for i in range(8)}


@pytest.mark.slow
def test_the_encoder_still_works_in_an_atexit_handler(tmp_path: Path) -> None:
    """At exit ``concurrent.futures`` refuses new work; the encoder then embeds on the
    calling thread (before: RuntimeError, and every write made at exit failed)."""
    done = subprocess.run(
        [sys.executable, "-c", ENCODE_AT_EXIT],
        capture_output=True, text=True, timeout=600, cwd=REPO, env=child_env(),
    )  # fmt: skip
    assert "encoded at exit: (3, 384)" in done.stdout, done.stderr[-3000:]


def _decision(i: int, **fields: object) -> Decision:
    base: dict[str, object] = {
        "id": f"m{i}",
        "source": "live_chat",
        "action": "respond",
        "subject": f"UC{i % 7}",
        "stream": "s",
        "context": {"stage": "message", "text": f"viewer line {i}", "author": f"u{i % 7}"},
    }
    base.update(fields)
    return Decision(**base)  # type: ignore[arg-type]


def test_close_journals_what_the_store_did_not_take(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The store is stuck (another write holds it) when the learner closes: what its thread
    had not taken is journaled by close() itself, the batch in flight is stored once the
    store moves again, and every decision ends up in exactly one of the two."""
    trainer = Trainer(settings_for(tmp_path / "data"))
    memory = trainer.memory
    live = LiveLearner(trainer)
    try:
        with memory._write_lock:  # a long write in progress: every upsert waits
            for i in range(600):  # three batches of the learner
                live.submit(_decision(i))
            with caplog.at_level(logging.WARNING, logger="foundups_training.live"):
                live.close(timeout=0.5)
        assert live._thread is not None
        live._thread.join(300)  # the batch in flight lands once the store is free
        stats = live.stats()
        assert stats["processed"] == stats["submitted"] == 600
        stored = {p.id for p in memory.all_patterns({"kind": "chat_response"})}
    finally:
        trainer.close()
    journal = settings_for(tmp_path / "data").journal_dir / JOURNAL_NAME
    journaled = [pattern_from_json(x).id for x in journal.read_text("utf-8").splitlines()]
    assert journaled, "nothing journaled: the queued decisions were left in memory"
    assert stats["journaled"] == len(journaled) and stats["failed"] == 0
    assert not stored & set(journaled) and len(journaled) == len(set(journaled))
    assert stored | set(journaled) == {f"chat-m{i}" for i in range(600)}
    assert "did not take every decision" in caplog.text


def test_a_malformed_decision_costs_only_itself(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Decision validates nothing and ``on_decision`` is a public hook: a timestamp in
    milliseconds, an id that is not a string or a confidence that is not a number used to
    fail the whole batch (up to 256 decisions), none stored or journaled."""
    trainer = Trainer(settings_for(tmp_path / "data"))
    live = LiveLearner(trainer)
    try:
        with caplog.at_level(logging.WARNING, logger="foundups_training.live"):
            for i in range(30):
                live.submit(_decision(i))
                if i == 10:
                    live.submit(_decision(900, id="x-ms", timestamp=1.7e12))
                    live.submit(_decision(901, id=901))
                    live.submit(_decision(902, id="x-conf", confidence="high"))
            assert live.flush(timeout=300)
        stats = live.stats()
        stored = {p.id for p in trainer.memory.all_patterns({"kind": "chat_response"})}
    finally:
        live.close()
        trainer.close()
    assert stored == {f"chat-m{i}" for i in range(30)}
    assert (stats["invalid"], stats["failed"], stats["journaled"]) == (3, 0, 0)
    for bad in ("'x-ms'", "901", "'x-conf'"):  # each bad one is named
        assert bad in caplog.text
    assert "failed to write" not in caplog.text
