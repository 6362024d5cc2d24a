"""What a pattern's vector is made of, and the migration of stores embedded the old way."""

from __future__ import annotations

import numpy as np
import pytest

from foundups_training.config import Settings
from foundups_training.memory import open_memory
from foundups_training.memory.store import LAYOUT_VERSION, document_of, embedded_text
from foundups_training.records import Pattern

from .helpers import make

MINED = Pattern.make(
    kind="error_fix",
    context=(
        "Error: ERROR youtube_auth: 403 quotaExceeded for credential set 1\n"
        "Tried: rotating to credential set 2\n"
        "Before:\n"
        "INFO linkedin_agent: post scheduled for the stream announcement\n"
        "INFO stream_resolver: checking Move2Japan for a live stream"
    ),
    decision="tried: Rotating to credential set 2",
)


def _similarity(memory, text: str, pid: str) -> float:
    return memory.similarity(text, [pid])[pid]


def _as_layout_1(memory) -> None:
    """Make the store what an earlier version wrote: MINED's whole context embedded."""
    col = memory._col()
    assert col is not None
    col.update(ids=[MINED.id], embeddings=memory.encoder.encode([document_of(MINED)]))
    col.modify(metadata={"foundups_training_layout": 1})


def _assert_migrated(writer) -> None:
    # As in a real run: the process reads first (recall, seen counts), then writes.
    writer.recall("quota exceeded", n=1)
    writer.upsert([make(9)])
    col = writer._col()
    assert col is not None and col.metadata["foundups_training_layout"] == LAYOUT_VERSION
    assert _similarity(writer, embedded_text(MINED), MINED.id) == pytest.approx(1.0, abs=1e-3)


def test_a_mined_pattern_is_embedded_without_the_lines_before_it(settings: Settings) -> None:
    assert "linkedin" not in embedded_text(MINED) and "Before:" not in embedded_text(MINED)
    assert embedded_text(make(1)) == document_of(make(1))  # nothing to leave out
    memory = open_memory(settings)
    try:
        memory.upsert([MINED])
        assert memory.get(MINED.id).context == MINED.context  # type: ignore[union-attr]
        assert _similarity(memory, embedded_text(MINED), MINED.id) == pytest.approx(1.0, abs=1e-3)
        assert _similarity(memory, document_of(MINED), MINED.id) < 0.98
    finally:
        memory.close()


def test_a_store_of_the_old_layout_is_re_embedded_by_its_next_writer(settings: Settings) -> None:
    memory = open_memory(settings)
    plain = make(1)
    memory.upsert([MINED, plain])
    _as_layout_1(memory)
    col = memory._col()
    assert col is not None
    before_plain = np.asarray(col.get(ids=[plain.id], include=["embeddings"])["embeddings"][0])
    memory.close()

    reader = open_memory(settings, read_only=True)
    try:  # a reader searches what is there and changes nothing
        assert _similarity(reader, document_of(MINED), MINED.id) == pytest.approx(1.0, abs=1e-3)
    finally:
        reader.close()

    writer = open_memory(settings)
    try:
        _assert_migrated(writer)
        col = writer._col()
        assert col is not None
        after_plain = np.asarray(col.get(ids=[plain.id], include=["embeddings"])["embeddings"][0])
        assert np.allclose(before_plain, after_plain)  # only mined contexts change
        got = writer.get(MINED.id)  # the text and the support stay as they were
        assert got is not None and (got.context, got.seen) == (MINED.context, MINED.seen)
    finally:
        writer.close()


@pytest.mark.server
def test_a_server_store_of_the_old_layout_is_migrated_too(server_settings: Settings) -> None:
    memory = open_memory(server_settings)
    try:
        memory.upsert([MINED])
        _as_layout_1(memory)
    finally:
        memory.close()
    writer = open_memory(server_settings)
    try:
        _assert_migrated(writer)
    finally:
        writer.close()
