"""LiveLearner on its own: never blocks, links outcomes, counts everything (a fake memory)."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from foundups_training.config import load_settings
from foundups_training.live import LiveLearner, clean
from foundups_training.memory.store import merge
from foundups_training.memory.writer import JOURNAL_NAME, pattern_from_json
from foundups_training.records import Decision, Pattern


class FakeMemory:
    """Records upserts and outcome updates; can be made to block or fail."""

    def __init__(self) -> None:
        self.patterns: dict[str, Pattern] = {}
        self.updates: list[tuple[str, str]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail = False
        self.journal: list[Pattern] = []

    def upsert(self, patterns: list[Pattern]) -> int:
        self.gate.wait(10)
        if self.fail:
            raise OSError("disk full")
        new = 0
        for p in patterns:  # the real store's merge: known ids fold, new ids are added
            held = self.patterns.get(p.id)
            self.patterns[p.id] = p if held is None else merge(held, p)
            new += held is None
        return new

    def update_outcome(self, pattern_id: str, outcome: str) -> bool:
        if pattern_id not in self.patterns:
            return False
        self.updates.append((pattern_id, outcome))
        self.patterns[pattern_id] = self.patterns[pattern_id].with_outcome(outcome)
        return True

    def writer(self) -> Any:
        memory = self

        class Writer:
            def submit(self, patterns: list[Pattern]) -> None:
                memory.journal.extend(patterns)

        return Writer()


class FakeTrainer:
    def __init__(self) -> None:
        self.memory = FakeMemory()


def _msg(mid: str, author: str, text: str, **ctx: Any) -> Decision:
    return Decision(
        id=mid,
        source="live_chat",
        action="trigger",
        subject=f"UC-{author}",
        stream="s",
        reasoning="has_trigger",
        context={"stage": "message", "author": author, "text": text, **ctx},
    )


def _resp(mid: str, author: str, response: str) -> Decision:
    return Decision(
        id=mid,
        source="live_chat",
        action="respond" if response else "no_response",
        subject=f"UC-{author}",
        context={"stage": "response", "author": author, "response": response},
    )


def _timeout(author: str, seconds: int = 60) -> Decision:
    return Decision(
        id=f"timeout:UC-{author}:t",
        source="live_chat",
        action="timeout",
        subject=f"UC-{author}",
        confidence=1.0,
        context={
            "stage": "moderation",
            "author": author,
            "moderator": "Mod",
            "duration_seconds": seconds,
            "text": "bad",
        },
    )


def test_outcomes_are_linked_across_batches() -> None:
    trainer = FakeTrainer()
    live = LiveLearner(trainer)  # type: ignore[arg-type]
    live.submit(_msg("a1", "ann", "hi"))
    assert live.flush(5)
    live.submit(_resp("a1", "ann", "hello ann"))
    assert live.flush(5)
    live.submit(_timeout("ann"))
    live.submit(_msg("a2", "ann", "back again"))
    assert live.flush(5)
    memory = trainer.memory
    assert memory.patterns["chat-a1"].outcome == (
        'executed: responded "hello ann"; later: timeout 60s by Mod'
    )
    mod = memory.patterns["mode-timeout:UC-ann:t"]
    assert mod.kind == "moderation" and mod.verified and mod.decision.startswith("timeout 60s")
    assert 'later: returned and wrote "back again"' in mod.outcome
    assert "recent: ann: hi" in memory.patterns["chat-a2"].context
    assert memory.patterns["chat-a1"].seen == 1  # outcome updates are not new sightings
    assert memory.patterns["chat-a1"].first_seen
    stats = live.stats()
    assert stats["submitted"] == stats["processed"] == 4 and stats["outcomes_updated"] >= 2
    live.close()


def test_submit_never_blocks_and_counts_drops() -> None:
    trainer = FakeTrainer()
    trainer.memory.gate.clear()  # the store hangs
    live = LiveLearner(trainer, queue_size=2)  # type: ignore[arg-type]
    for i in range(50):
        live.submit(_msg(f"d{i}", "dan", "spam"))
    # Every submit returned while the store was still hung: nothing waited for it.
    assert not trainer.memory.gate.is_set()
    assert live.stats()["dropped"] > 0
    trainer.memory.gate.set()
    assert live.flush(5)
    live.close()
    live.submit(_msg("late", "dan", "after close"))
    assert live.stats()["dropped"] >= 1
    live.close()  # idempotent


def test_a_failing_store_spills_to_the_journal(tmp_path: Path) -> None:
    """Counted as journaled only once on disk (a queue in memory dies with the process)."""
    trainer = FakeTrainer()
    trainer.settings = load_settings({"data_dir": tmp_path}, env={})  # type: ignore[attr-defined]
    trainer.memory.fail = True
    live = LiveLearner(trainer)  # type: ignore[arg-type]
    live.submit(_msg("j1", "jo", "hi"))
    assert live.flush(5)
    journal = (tmp_path / "journal" / JOURNAL_NAME).read_text(encoding="utf-8").splitlines()
    assert [pattern_from_json(line).id for line in journal] == ["chat-j1"]
    assert live.stats()["journaled"] == 1 and "disk full" in live.stats()["last_error"]
    live.close()


def test_a_response_without_its_message_still_becomes_a_pattern() -> None:
    trainer = FakeTrainer()
    live = LiveLearner(trainer)  # type: ignore[arg-type]
    live.submit(_resp("x1", "xi", ""))
    assert live.flush(5)
    assert trainer.memory.patterns["chat-x1"].outcome == "executed: no response"
    live.close()


def test_clean_sanitises_truncates_and_redacts() -> None:
    assert clean("a\x00b\n\tc") == "a b c"
    assert len(clean("x" * 1000)) == 300
    assert "ya29.a0AfH6SMB" not in clean("token ya29.a0AfH6SMBxyzxyzxyz here")
    assert clean(None) == ""


def test_many_host_threads_submitting_at_once() -> None:
    trainer = FakeTrainer()
    live = LiveLearner(trainer)  # type: ignore[arg-type]

    def chat(thread: int) -> None:
        for i in range(200):
            live.submit(_msg(f"t{thread}-{i}", f"user{thread}", f"message {i}"))

    threads = [threading.Thread(target=chat, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert live.flush(10)
    stats = live.stats()
    assert stats["submitted"] == stats["processed"] == 800 and stats["dropped"] == 0
    assert len(trainer.memory.patterns) == 800
    live.close()


def test_the_role_and_the_action_are_stored_as_clean_chat_fields() -> None:
    """A host's decision fields are untrusted like chat: the role and the action reach the
    pattern one line, bounded and redacted, as the author and the text do."""
    secret = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
    trainer = FakeTrainer()
    live = LiveLearner(trainer)  # type: ignore[arg-type]
    decision = _msg("r1", "ri", "hello", role=f"MOD\nERATOR {secret} " + "x" * 5000)
    live.submit(replace(decision, action=f"trigger\n{secret} " + "y" * 5000))
    assert live.flush(5)
    live.close()
    stored = trainer.memory.patterns["chat-r1"]
    for field in (stored.context, stored.decision):
        assert secret not in field
    assert "(MOD ERATOR [REDACTED] " in stored.context
    assert len(stored.context.split("\n")[1]) < 150
    assert "\n" not in stored.decision and len(stored.decision) < 150
    assert stored.decision.startswith("trigger [REDACTED] ")
