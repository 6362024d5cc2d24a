"""A whole simulated stream through the stand-in AutoModeratorDAE, into the REAL memory.

Messages and human moderators' timeouts/bans become patterns; later events about the same
author fill the outcomes of the earlier patterns; the decisions are recallable; and when the
stream ends, the host's idle automation asks for training, which the idle trigger declines
because the chat was active a moment ago.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

from foundups_training.adapters.idle import IdleInstrumentor
from foundups_training.adapters.livechat import LiveChatInstrumentor
from standin_chat import ban, message, timeout

from foundups_training import bridge

DAE = "modules.communication.livechat.src.auto_moderator_dae"


def _play(batches: list[list[dict[str, Any]]]) -> Any:
    mod = importlib.import_module(DAE)
    dae = mod.AutoModeratorDAE()
    dae.service = mod.ScriptedYouTube(batches, stream_title="Move2Japan live")
    asyncio.run(dae.run())
    return dae


def test_a_stream_becomes_patterns_with_outcomes(training: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("FOUNDUPS_TRAINING_IDLE_MINUTES", "5")  # the seed's default
    LiveChatInstrumentor().instrument()
    IdleInstrumentor().instrument()
    dae = _play(
        [
            [
                message("s1", "alice", "hello everyone ✊✋🖐"),
                message("s2", "troll99", "MAGA forever, this stream is trash"),
                message("s3", "carol", "just vibing", superchat=True),
            ],
            [
                timeout("troll99", moderator="ModKat", seconds=300, deleted="MAGA forever"),
                message("s4", "troll99", "you can't silence me, my key is sk-abcdefghijklmnop1234"),
                ban("spambot", moderator="ModKat"),
            ],
        ]
    )
    live = training.live
    assert bridge.drain(30), bridge.stats()  # decisions reach the plugin off the host's thread
    assert live.flush(30), live.stats()
    stats = live.stats()
    assert stats["dropped"] == 0 and stats["failed"] == 0, stats
    memory = training.trainer.memory

    alice = memory.get("chat-s1")
    assert alice is not None and alice.kind == "chat_response" and alice.source == "live_chat"
    assert 'message: "hello everyone ✊✋🖐"' in alice.context and "author: alice" in alice.context
    assert alice.decision.startswith("consciousness")
    assert alice.outcome == 'executed: responded "@alice consciousness level rising"'

    # The troll's message: answered, then timed out by a human a moment later.
    troll = memory.get("chat-s2")
    assert troll is not None and "recent: alice: hello everyone" in troll.context
    assert troll.outcome.startswith('executed: responded "Stay woke, not MAGA."')
    assert "later: timeout 300s by ModKat" in troll.outcome
    assert troll.seen == 1 and troll.first_seen  # outcome updates are not new sightings

    # The moderator's timeout: a verified moderation pattern, whose outcome the troll's
    # return to chat filled.
    [mod] = [p for p in memory.all_patterns() if p.kind == "moderation" and "troll99" in p.context]
    assert mod.verified and mod.decision.startswith("timeout 300s by ModKat")
    assert 'deleted message: "MAGA forever"' in mod.context
    assert "later: returned and wrote" in mod.outcome
    assert "[REDACTED]" in mod.outcome and "sk-abcdefghijklmnop1234" not in mod.outcome

    # The returning troll's message is remembered with the secret redacted.
    back = memory.get("chat-s4")
    assert back is not None and "sk-abcdefghijklmnop1234" not in back.context

    bans = [p for p in memory.all_patterns() if p.decision.startswith("ban (permanent)")]
    assert len(bans) == 1 and "spambot" in bans[0].context

    # Recallable by meaning.
    hits = memory.recall("a moderator timed out a MAGA troll", n=3, where={"kind": "moderation"})
    assert hits and hits[0].pattern.kind == "moderation"

    # The stream ended; the host's idle automation asked for training: chat was just active.
    [training_task] = [
        t for t in dae.last_idle_result["tasks_executed"] if t["task"] == "pattern_training"
    ]
    assert training_task["skipped_reason"] == "chat_active"
    assert training_task["success"] is False


def test_a_decision_is_recallable_soon_after_the_host_call(training: Any) -> None:
    LiveChatInstrumentor().instrument()
    mp = importlib.import_module("modules.communication.livechat.src.message_processor")
    mp.MessageProcessor(stream_title="s").process_message(message("r1", "zoe", "first!"))
    assert bridge.drain(30)
    assert training.live.flush(30)
    assert training.trainer.memory.get("chat-r1") is not None
