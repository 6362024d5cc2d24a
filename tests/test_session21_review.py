"""Session 21 review: bugs found reading this session's diff (each test failed before its fix)."""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any

import pytest

from foundups_training.config import Settings
from foundups_training.engine import Trainer
from foundups_training.records import Answer, Query
from foundups_training.routing.router import _since


def test_a_start_reading_too_large_for_a_float_is_ignored_not_raised() -> None:
    """``Router.answer`` never raises, and a host's stray ``started`` must not fail it: an
    int past a float's range made ``math.isfinite`` raise OverflowError outside its try."""
    now = time.perf_counter()
    assert _since(10**400, now) == now
    assert _since(-(10**400), now) == now


def test_the_trainers_ask_never_raises_for_a_stray_start_reading(settings: Settings) -> None:
    """``Trainer.ask`` never raises: when the router cannot be had (here: the Trainer is
    closed) its latency was ``perf_counter() - started`` with the caller's raw value, and a
    value that is no number raised TypeError out of it."""
    trainer = Trainer(settings)
    trainer.close()
    for started in ("soon", 10**400, float("nan")):
        answer = trainer.ask(Query("which module handles stream detection?"), started=started)  # type: ignore[arg-type]
        assert isinstance(answer, Answer)
        assert answer.error and answer.tier == "none"
        assert answer.latency_ms >= 0


def _reader_with_copy(settings: Settings) -> tuple[Any, Path]:
    """A read-only memory reading a store copy (made as ``StoreCopy.make`` makes one, its
    folder removed when the copy is freed); only the memory holds the copy."""
    from foundups_training.memory.readcopy import StoreCopy
    from foundups_training.memory.store import PatternMemory

    copy = StoreCopy(settings.data_dir / "chroma")
    folder = Path(tempfile.mkdtemp(prefix="foundups-training-store-"))
    copy._remover = weakref.finalize(copy, shutil.rmtree, folder, True)
    copy.path = folder
    (folder / "chroma.sqlite3").write_bytes(b"the parent reads this")
    memory = PatternMemory(None, settings=settings, read_only=True, store_copy=copy)
    return memory, folder


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX: fork")
def test_a_child_closing_an_inherited_reader_keeps_the_parents_store_copy(
    settings: Settings,
) -> None:
    """A forked child's ``close()`` only lets go of the store, the read-only copy being the
    parent's: but letting go of the copy freed it in the child, and its finalizer deleted the
    copy's folder under the parent, which was still reading it."""
    from forking import in_child

    memory, folder = _reader_with_copy(settings)
    try:

        def child() -> dict[str, Any]:
            memory.close()
            gc.collect()
            return {"closed": True}

        assert in_child(child) == {"closed": True}
        assert (folder / "chroma.sqlite3").is_file()
    finally:
        memory.close()
    assert not folder.exists()  # the parent's close removes it, as before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX: fork")
def test_a_child_dropping_an_inherited_reader_keeps_the_parents_store_copy(
    settings: Settings,
) -> None:
    """The plugin's fork handler forgets its read-only Trainer without closing it
    (``plugin._after_fork_in_child``): freed in the child, the reader's store copy ran its
    finalizer there and deleted the folder the parent was still reading."""
    from forking import in_child

    memory, folder = _reader_with_copy(settings)
    held = [memory]
    del memory
    try:

        def child() -> dict[str, Any]:
            held.clear()  # as the plugin's reset lets go of its reader
            gc.collect()
            return {"dropped": True}

        assert in_child(child) == {"dropped": True}
        assert (folder / "chroma.sqlite3").is_file()
    finally:
        held[0].close()
    assert not folder.exists()
