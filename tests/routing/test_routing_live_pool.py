"""A real store full of chat patterns: log lookups still find what the log taught.

Live learning writes a pattern per chat message, so after a few streams the chat patterns
outnumber the mined log patterns by hundreds to one, and some of them share a log question's
words. The router searches them only for questions about chat.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from foundups_training.config import Settings
from foundups_training.memory import PatternMemory, open_memory
from foundups_training.records import Pattern, Query
from foundups_training.routing.router import Router

SUBJECTS = ("youtube", "the quota", "the stream", "the chat", "the bot", "Move2Japan", "the mod")
VERBS = ("exceeded again", "is broken", "keeps freezing", "is live now", "needs a fix", "rocks")
TAILS = ("lol", "!!", "bro", "pls", "omg", "today", "for real", "again?")


@pytest.fixture
def crowded(settings: Settings) -> Iterator[tuple[PatternMemory, Pattern, Pattern]]:
    rnd = random.Random(5)
    words = (SUBJECTS, VERBS, TAILS)
    texts = sorted(
        {" ".join(rnd.choice(w) for w in words) + f" #{rnd.randint(1, 9999)}" for _ in range(1500)}
    )
    chat = [
        Pattern.make(
            "chat_response",
            f'stream: Move2Japan [JAPAN]\nauthor: @viewer{i}\nmessage: "{text}"',
            "respond: banter",
            source="live_chat",
        )
        for i, text in enumerate(texts)
    ]
    fix = Pattern.make(
        "error_fix",
        "Error: ERROR youtube_auth: YouTube API 403 quotaExceeded for credential set 1",
        "tried: Rotating to credential set 2",
        module="modules/platform_integration/youtube_auth",
        source="log",
    )
    stream = Pattern.make(
        "stream",
        "Stream detection: INFO stream_resolver: Checking Move2Japan [JAPAN] for live stream",
        "stream check: Live stream found",
        source="log",
    )
    ban = Pattern.make(
        "moderation",
        'stream: Move2Japan [JAPAN]\nauthor: @troll\ndeleted message: "MAGA 2024 trump won"',
        "timeout 60s — human moderator",
        source="live_chat",
        verified=True,
    )
    mem = open_memory(settings)
    mem.upsert([fix, stream, ban, *chat])
    yield mem, fix, ban
    mem.close()


def test_chat_patterns_do_not_answer_a_log_question(crowded) -> None:  # type: ignore[no-untyped-def]
    mem, fix, _ = crowded
    question = "YouTube said the quota was exceeded. What was the recovery?"
    # The chat messages are the nearest neighbours of this question in the store...
    nearest = mem.recall(question, n=5)
    assert nearest and all(r.pattern.kind == "chat_response" for r in nearest)
    # ...and the router still answers from what the log taught.
    ans = Router(mem, None, None).answer(Query(question, tier="memory"))
    assert ans.text.startswith("tried: Rotating to credential set 2"), ans
    assert fix.id in ans.patterns
    assert not any(pid.startswith("chat-") for pid in ans.patterns)


def test_a_chat_question_reads_the_moderation_patterns(crowded) -> None:  # type: ignore[no-untyped-def]
    mem, _, ban = crowded
    ans = Router(mem, None, None).answer(
        Query("What did the moderators do when a troll wrote MAGA 2024?", tier="memory")
    )
    assert ans.text == "timeout 60s — human moderator", ans
    assert ans.patterns[0] == ban.id
