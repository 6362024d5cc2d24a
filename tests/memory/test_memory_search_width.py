"""A small store is searched exactly; a big one with the HNSW width that keeps recall fast.

Chroma adds the patterns written since its last sync to the HNSW graph again each time a
process opens the store, and not the same way twice: with a narrow search, two processes
found slightly different far neighbours for one question. Up to ``EXACT_SEARCH_UP_TO``
patterns the writer has the store searched with ``EXACT_EF_SEARCH``; past it with
``HNSW_CONFIG``'s width. Real chromadb, embedded and through a real server.
"""

from __future__ import annotations

import pytest

from foundups_training.config import Settings
from foundups_training.memory import PatternMemory, open_memory
from foundups_training.memory import store as store_module
from foundups_training.memory.store import EXACT_EF_SEARCH, HNSW_CONFIG

from .helpers import make


def _ef_search(memory: PatternMemory) -> int:
    col = memory._col(create=False)
    assert col is not None
    hnsw = col.configuration["hnsw"]
    assert hnsw is not None
    return int(hnsw["ef_search"])


def test_widths_differ() -> None:
    assert EXACT_EF_SEARCH > HNSW_CONFIG["ef_search"]  # else the tests below prove nothing


def test_a_small_store_is_searched_exactly_and_a_big_one_narrower(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "EXACT_SEARCH_UP_TO", 4)
    writer = open_memory(settings)
    try:
        writer.upsert([make(1), make(2)])
        assert _ef_search(writer) == EXACT_EF_SEARCH
        writer.upsert([make(3), make(4)])  # 4 patterns: past the exact search's size
        assert _ef_search(writer) == HNSW_CONFIG["ef_search"]
        assert [r.pattern.id for r in writer.recall(make(3).context, n=1)] == [make(3).id]
    finally:
        writer.close()
    reader = open_memory(settings, read_only=True)
    try:
        assert _ef_search(reader) == HNSW_CONFIG["ef_search"]  # what the writer left
    finally:
        reader.close()


def test_an_older_stores_width_is_fitted_by_its_next_writer(settings: Settings) -> None:
    old = open_memory(settings)
    old.upsert([make(1)])
    col = old._col(create=False)
    assert col is not None
    col.modify(configuration={"hnsw": {"ef_search": HNSW_CONFIG["ef_search"]}})
    old.close()
    reader = open_memory(settings, read_only=True)
    try:
        assert _ef_search(reader) == HNSW_CONFIG["ef_search"]  # a reader changes nothing
    finally:
        reader.close()
    writer = open_memory(settings)
    try:
        writer.upsert([make(2)])
        assert _ef_search(writer) == EXACT_EF_SEARCH
    finally:
        writer.close()


def test_a_cleared_store_is_searched_exactly_again(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "EXACT_SEARCH_UP_TO", 2)
    memory = open_memory(settings)
    try:
        memory.upsert([make(1), make(2), make(3)])
        assert _ef_search(memory) == HNSW_CONFIG["ef_search"]
        memory.clear(confirm=True)
        assert _ef_search(memory) == EXACT_EF_SEARCH
        memory.upsert([make(4)])
        assert _ef_search(memory) == EXACT_EF_SEARCH
    finally:
        memory.close()


@pytest.mark.server
def test_a_server_stores_width_is_fitted_by_its_writer(
    server_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "EXACT_SEARCH_UP_TO", 3)
    writer = open_memory(server_settings)
    try:
        writer.upsert([make(1)])
        assert _ef_search(writer) == EXACT_EF_SEARCH
        writer.upsert([make(2), make(3)])
        assert _ef_search(writer) == HNSW_CONFIG["ef_search"]
    finally:
        writer.clear(confirm=True)
        writer.close()
