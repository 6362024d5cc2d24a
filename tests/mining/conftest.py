# ruff: noqa: E501  (real log lines are quoted whole)
"""Fixtures for the mining tests: real-format log text and a dict-backed pattern store."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from foundups_training.records import Pattern, merge_instances

REPO = Path(__file__).resolve().parents[2]


def _min_set(a: str, b: str) -> str:
    return min(a, b) if a and b else a or b


def _max_set(a: str, b: str) -> str:
    return max(a, b) if a and b else a or b


class DictStore:
    """The memory's upsert contract in a dict: same id -> seen adds up, first/last seen
    widen, a non-empty incoming outcome (and code_ref, timestamp) wins, context and decision
    are kept, verified stays true once true, the first few distinct instances are kept, with their tally."""

    def __init__(self) -> None:
        self.items: dict[str, Pattern] = {}
        self.fail_next = False
        self.calls = 0

    def upsert(self, patterns) -> int:  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk full (simulated)")
        new = 0
        for p in patterns:
            old = self.items.get(p.id)
            if old is None:
                self.items[p.id] = p
                new += 1
                continue
            variants, tally = merge_instances(old.variants, old.tally, p.variants, p.tally)
            self.items[p.id] = replace(
                old,
                seen=old.seen + p.seen,
                first_seen=_min_set(old.first_seen, p.first_seen),
                last_seen=_max_set(old.last_seen, p.last_seen),
                outcome=p.outcome or old.outcome,
                code_ref=p.code_ref or old.code_ref,
                timestamp=p.timestamp or old.timestamp,
                verified=old.verified or p.verified,
                variants=variants,
                tally=tally,
            )
        return new

    def count(self) -> int:
        return len(self.items)

    def ids(self, where: dict[str, str] | None = None) -> list[str]:
        where = where or {}
        return [
            pid
            for pid, p in self.items.items()
            if all(getattr(p, key) == value for key, value in where.items())
        ]

    def delete(self, ids) -> int:  # type: ignore[no-untyped-def]
        return sum(self.items.pop(pid, None) is not None for pid in set(ids))

    def replace_text(self, patterns) -> int:  # type: ignore[no-untyped-def]
        """The memory's ``replace_text``: merged as ``upsert`` merges, but the incoming
        context and decision taken (the last of an id's, within one call)."""
        batch = list(patterns)
        new = len({p.id for p in batch} - set(self.items))
        DictStore.upsert(self, batch)  # one write, not a subclass's counted upsert
        for p in batch:
            self.items[p.id] = replace(self.items[p.id], context=p.context, decision=p.decision)
        return new


@pytest.fixture
def store() -> DictStore:
    """A fresh dict-backed store."""
    return DictStore()


REAL_LINES = """\
2025-10-20 15:07:04,541 - modules.communication.livechat.src.qwen_youtube_integration - INFO - [BOT][AI] [QWEN-SCORE] [U+2744]\ufe0f Move2Japan [JAPAN]: 1.00
2025-10-20 15:07:04,601 - modules.communication.livechat.src.qwen_youtube_integration - INFO - [BOT][AI] [QWEN-SCORE] [U+1F9D8] UnDaoDu [MINDFUL]: 5.38
2025-10-20 15:07:04,702 - modules.communication.livechat.src.qwen_youtube_integration - INFO - [BOT][AI] [QWEN-DECISION] Final order selected based on heat levels and patterns
2025-10-20 15:07:05,000 - modules.platform_integration.stream_resolver.src.stream_resolver - INFO - [U+1F50D] Checking Move2Japan [JAPAN] for live stream
2025-10-20 15:07:06,605 - modules.platform_integration.stream_resolver.src.stream_resolver - INFO - [ERROR] No stream found on Move2Japan [JAPAN]
2025-10-20 15:07:32,843 - modules.platform_integration.youtube_auth.src.youtube_auth - INFO - [U+1F511] Attempting authentication with credential set 1
2025-09-30 16:07:40,185 - modules.infrastructure.database.src.db_manager - ERROR - Database transaction failed: UNIQUE constraint failed: modules_stream_resolver_stream_patterns.channel_id, modules_stream_resolver_stream_patterns.pattern_type
2025-09-30 16:07:41,185 - modules.infrastructure.database.src.db_manager - INFO - Retrying transaction with INSERT OR REPLACE
2025-09-30 16:07:41,285 - modules.infrastructure.database.src.db_manager - INFO - [OK] Transaction committed (3 rows)
2025-12-22 07:05:25,605 [ERROR] [DAEMON][DAE-ERROR] \\u274c FATAL ERROR: 'BrowserReplyExecutor' object has no attribute 'SELECTORS'
[08:08:22] [BOT][AI] [QWEN-DECISION] EXECUTE [PILL][OK] Health & WSP Compliance (confidence: 0.90) - triggered by query_contains_health, triggered by has_modules
"""


@pytest.fixture
def real_lines() -> str:
    """Real lines from HOST.md (plus a retry/outcome), one per format."""
    return REAL_LINES


@pytest.fixture
def make_store():  # type: ignore[no-untyped-def]
    """A factory of fresh dict-backed stores."""
    return DictStore
