"""The live-chat wrappers: what each host call turns into (one Decision, shaped right)."""

from __future__ import annotations

import asyncio
import importlib

import pytest
from foundups_training.adapters.activity import ACTIVITY
from foundups_training.adapters.livechat import PROCESSOR, LiveChatInstrumentor, classify
from standin_chat import ban, message, timeout

from foundups_training.records import Decision


@pytest.fixture
def processor(decisions: list[Decision]):
    LiveChatInstrumentor().instrument()
    mp = importlib.import_module(PROCESSOR)
    return mp.MessageProcessor(stream_title="Move2Japan live", bot_channel_id="UC-bot")


def test_message_becomes_a_decision_and_the_result_is_untouched(processor, decisions) -> None:
    result = processor.process_message(message("m1", "alice", "hello ✊✋🖐"))
    assert result["message_id"] == "m1" and result["has_trigger"]
    [d] = decisions
    assert d.id == "m1" and d.source == "live_chat" and d.subject == "UC-alice"
    assert d.action == "consciousness" and "has_trigger" in d.reasoning
    assert d.context["author"] == "alice" and d.context["text"] == "hello ✊✋🖐"
    assert d.context["stage"] == "message" and d.stream == "Move2Japan live"
    assert ACTIVITY.idle_seconds() is not None


def test_response_is_a_decision_about_the_same_message(processor, decisions) -> None:
    processed = processor.process_message(message("m2", "bob", "maga rules"))
    response = asyncio.run(processor.generate_response(processed))
    assert response == "Stay woke, not MAGA."
    assert [d.context["stage"] for d in decisions] == ["message", "response"]
    assert decisions[1].id == "m2" and decisions[1].action == "respond"
    assert decisions[1].context["response"] == response


def test_list_responses_and_silence(processor, decisions) -> None:
    sc = processor.process_message(message("m3", "carol", "love it", superchat=True))
    thanks = ["Thank you carol!", "Super Chat received"]
    assert asyncio.run(processor.generate_response(sc)) == thanks
    plain = processor.process_message(message("m4", "dan", "just watching"))
    assert asyncio.run(processor.generate_response(plain)) is None
    responses = [d for d in decisions if d.context["stage"] == "response"]
    assert responses[0].context["response"] == "Thank you carol!\nSuper Chat received"
    assert responses[1].action == "no_response"
    assert [d.action for d in decisions if d.context["stage"] == "message"] == [
        "superchat",
        "ignore",
    ]


def test_moderator_timeout_is_one_moderation_decision(processor, decisions) -> None:
    # The processor hands events to the EventHandler: both are wrapped, one decision comes out.
    result = processor.process_message(timeout("eve", seconds=300, deleted="spam spam"))
    assert result["type"] == "timeout_announcement"
    [d] = decisions
    assert d.action == "timeout" and d.subject == "UC-eve" and d.confidence == 1.0
    assert d.context["duration_seconds"] == 300 and d.context["text"] == "spam spam"
    assert d.context["moderator"] == "Mod1" and d.context["stage"] == "moderation"


def test_ban_through_the_event_handler_directly(decisions) -> None:
    LiveChatInstrumentor().instrument()
    eh = importlib.import_module("modules.communication.livechat.src.event_handler")
    result = eh.EventHandler().handle_ban_event(ban("mallory"))
    assert result["type"] == "ban_announcement"
    [d] = decisions
    assert d.action == "ban" and d.context["is_permanent"]


def test_skips_and_own_messages_make_no_decision(processor, decisions) -> None:
    assert processor.process_message(message("m5", "old", "hi", seconds_ago=900)) == {
        "skip": True,
        "reason": "old_buffered_event",
    }
    assert (
        processor.process_message(
            message("m6", "bot", "my own words")
            | {"authorDetails": {"displayName": "bot", "channelId": "UC-bot"}}
        )
        is None
    )
    assert processor.process_message(timeout("late", seconds_ago=900))["skip"]
    assert decisions == []


def test_listening_marks_the_stream_live() -> None:
    LiveChatInstrumentor().instrument()
    core_mod = importlib.import_module("modules.communication.livechat.src.livechat_core")
    dae_mod = importlib.import_module("modules.communication.livechat.src.auto_moderator_dae")
    seen: list[bool] = []

    class Feed(dae_mod.ScriptedYouTube):
        def poll(self):
            seen.append(ACTIVITY.stream_live())
            return super().poll()

    core = core_mod.LiveChatCore(Feed([[message("m7", "zed", "hi")]]), "vid")
    asyncio.run(core.start_listening())
    assert seen == [True, True]
    assert not ACTIVITY.stream_live()


def test_classify_priorities() -> None:
    assert classify({"has_maga": True, "has_trigger": True})[0] == "maga_response"
    assert classify({"has_trigger": True, "is_rate_limited": True})[0] == "rate_limited"
    assert classify({}) == ("ignore", [])
