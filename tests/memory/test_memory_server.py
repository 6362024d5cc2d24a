"""PatternMemory against a real Chroma server (``chroma run`` on a free loopback port)."""

from __future__ import annotations

import pytest

from foundups_training.config import Settings, with_overrides
from foundups_training.memory import open_memory

from .helpers import make

pytestmark = pytest.mark.server


def test_server_mode_round_trip(server_settings: Settings) -> None:
    mem = open_memory(server_settings)
    try:
        assert mem.location.startswith("http://127.0.0.1:")
        patterns = [make(i, kind="stream" if i % 2 else "priority") for i in range(8)]
        assert mem.upsert(patterns) == 8
        assert mem.upsert(patterns[:3]) == 0
        assert mem.get(patterns[0].id).seen == 2  # type: ignore[union-attr]
        hits = mem.recall("youtube api quota exceeded", n=2, where={"kind": "priority"})
        assert hits and hits[0].pattern.kind == "priority"
        assert mem.update_outcome(patterns[1].id, "went live")
        assert mem.stats()["by_kind"] == {"priority": 4, "stream": 4}
        mem.clear(confirm=True)
        assert mem.count() == 0
    finally:
        mem.close()


def test_server_mode_shares_one_store_between_clients(server_settings: Settings) -> None:
    # No writer lock against a server: it serialises writes itself.
    first = open_memory(server_settings)
    second = open_memory(server_settings)
    token_client = open_memory(with_overrides(server_settings, chroma_token="s3cret"))
    try:
        first.upsert([make(1)])
        second.upsert([make(2)])
        assert token_client.count() == 2
        assert token_client.get(make(1).id) == first.get(make(1).id)
        second.writer().submit(make(3))
        assert second.writer().flush(timeout=60)
        assert first.count() == 3
    finally:
        for mem in (first, second, token_client):
            mem.close()


def test_server_mode_replace_text_swaps_the_text_and_drops_a_vanished_key(
    server_settings: Settings,
) -> None:
    """``replace_text`` through a server: the new text and vector in one upsert, the counts
    added up, and a metadata key the new record lacks (an older layout's) removed by the
    ``None`` the swap sends for it, which the server must accept."""
    from dataclasses import replace

    mem = open_memory(server_settings)
    try:
        old = make(1, kind="module_location")
        mem.upsert([old])
        col = mem._col()
        meta = dict(col.get(ids=[old.id], include=["metadatas"])["metadatas"][0])  # type: ignore[index]
        col.update(ids=[old.id], metadatas=[{**meta, "retired_key": "x"}])
        new = replace(old, context="streaming the chat over gRPC now")
        assert mem.replace_text([new]) == 0
        got = mem.get(old.id)
        assert got is not None and got.context == new.context and got.seen == 2
        stored = col.get(ids=[old.id], include=["metadatas"])["metadatas"][0]  # type: ignore[index]
        assert "retired_key" not in stored
        assert mem.recall("chat over gRPC", n=1)[0].pattern.id == old.id
    finally:
        mem.close()
