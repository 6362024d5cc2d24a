"""``index`` replaces the text of a rewritten file, README or WSP document in one write.

A file's, a class's, a module summary's and a WSP document's patterns keep their id when
their text changes. The index used to delete a batch of the old patterns and then store the
new ones: an ``index`` killed (kill -9, power loss) between the two left that batch missing
until the next ``index``. The store now swaps the text of a known id in one Chroma write
(:meth:`PatternMemory.replace_text`), so a kill anywhere leaves each pattern its old text or
its new one. All through the real ChromaDB store, the kills through the real CLI.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from host_edits import LIVECHAT, rewrite_docs

from foundups_training.config import Settings, load_settings
from foundups_training.memory import PatternMemory, open_memory
from foundups_training.mining import index_host
from foundups_training.mining.host_index import collect_host_patterns
from foundups_training.records import Pattern, module_summary_id
from foundups_training.samples import sample_host

REPO = Path(__file__).resolve().parents[2]
#: The project's kill -9 injector (see tests/reliability/test_rel_kill.py).
KILLPOINT = REPO / "tests" / "reliability" / "killpoint.py"

Texts = dict[str, tuple[str, str]]


def _host(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    shutil.copytree(sample_host(), root)
    return root


def _settings(data: Path) -> Settings:
    return load_settings({"data_dir": data}, env={})


@pytest.fixture
def memory(settings: Settings) -> Iterator[PatternMemory]:
    """A fresh embedded memory in the test's own data directory."""
    mem = open_memory(settings)
    yield mem
    mem.close()


def _texts(patterns: Iterator[Pattern] | list[Pattern]) -> Texts:
    return {p.id: (p.context, p.decision) for p in patterns}


def _stored_code(data: Path) -> Texts:
    with open_memory(_settings(data), read_only=True) as memory:
        return _texts(memory.all_patterns(where={"source": "code"}))


def _child_env() -> dict[str, str]:
    """The test's environment (its home and models folder), no user settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if (not k.startswith("FOUNDUPS_TRAINING_") or k in _KEPT) and k != "PYTEST_CURRENT_TEST"
    }
    env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    return env


_KEPT = ("FOUNDUPS_TRAINING_MODELS_DIR", "FOUNDUPS_TRAINING_HOME")


def _index_killed_at(point: str, n: int, host: Path, data: Path) -> int:
    """``index HOST`` in a child process that kills itself (SIGKILL) at the ``n``-th
    ``point`` (a Chroma write about to run, or just returned); its exit status."""
    done = subprocess.run(
        [sys.executable, str(KILLPOINT), point, str(n), "--", "index", str(host),
         "--data-dir", str(data), "--json"],
        capture_output=True, text=True, timeout=300, env=_child_env(), cwd=REPO,
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode


def _check_old_or_new(stored: Texts, old: Texts, new: Texts, where: str) -> None:
    """Every pattern both trees yield is stored with its old or its new text; nothing but
    what one of the trees yields is stored."""
    assert set(stored) <= set(old) | set(new), where
    for pid in set(old) & set(new):
        assert pid in stored, f"{where}: {pid} is neither old nor new (missing)"
        assert stored[pid] in (old[pid], new[pid]), f"{where}: {pid} has a third text"


@pytest.mark.slow
def test_a_kill_at_any_write_of_a_reindex_leaves_the_old_or_the_new_text(
    tmp_path: Path,
) -> None:
    """SIGKILL the real ``index`` of a rewritten tree before and after each of its Chroma
    writes in turn: every pattern keeps its old or its new text (the kill between deleting
    the old patterns and storing the new ones lost the module's summary and the rewritten
    files), and one more ``index`` gives exactly what the tree yields."""
    host = _host(tmp_path, "host")
    base = tmp_path / "base"
    assert _index_killed_at("before-checkpoint", 1, host, base) == 0  # index never mines
    old = _stored_code(base)
    rewrite_docs(host)
    new = _texts(collect_host_patterns(host)[0])
    changed = {pid for pid in set(old) & set(new) if old[pid] != new[pid]}
    assert module_summary_id(LIVECHAT) in changed and len(changed) >= 4
    kills = 0
    saw_old = saw_new = False
    for point in ("before-chroma-write", "after-chroma-write"):
        for n in range(1, 20):
            data = tmp_path / f"{point}-{n}"
            shutil.copytree(base, data)
            rc = _index_killed_at(point, n, host, data)
            if rc == 0:  # fewer than n writes: every one of them was killed at
                break
            assert rc == -signal.SIGKILL, rc
            kills += 1
            stored = _stored_code(data)
            _check_old_or_new(stored, old, new, f"killed at {point} {n}")
            saw_old |= all(stored[pid] == old[pid] for pid in changed)
            saw_new |= all(stored[pid] == new[pid] for pid in changed)
        else:
            pytest.fail(f"the index never completed past {point}")
    assert kills >= 4 and saw_old and saw_new  # killed before and after the swap
    # the last kill's store, indexed to the end: the new text, the stale patterns gone
    assert _index_killed_at("before-checkpoint", 1, host, data) == 0
    assert _stored_code(data) == new


@pytest.mark.slow
def test_a_failing_swap_keeps_the_old_text_and_raises(
    tmp_path: Path, memory: PatternMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Chroma write of the new text of the module's summary (and of the other rewritten
    patterns with it) fails (a full disk): ``index`` raises that error,
    and every rewritten pattern still has its old text and count; the next ``index`` stores
    the new text."""
    from chromadb.api.models.Collection import Collection
    from chromadb.errors import InternalError

    host = _host(tmp_path, "host")
    index_host(host, memory)
    old = _texts(memory.all_patterns(where={"source": "code"}))
    total = memory.count()
    rewrite_docs(host)
    new = _texts(collect_host_patterns(host)[0])
    changed = {pid for pid in set(old) & set(new) if old[pid] != new[pid]}
    real_upsert = Collection.upsert

    def failing(self: Any, *args: Any, **kwargs: Any) -> Any:
        if module_summary_id(LIVECHAT) in (kwargs.get("ids") or ()):
            raise InternalError("database or disk is full (simulated)")
        return real_upsert(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "upsert", failing)
    with pytest.raises(InternalError):
        index_host(host, memory)
    stored = {p.id: p for p in memory.all_patterns(where={"source": "code"})}
    assert {pid: _texts([stored[pid]])[pid] for pid in changed} == {
        pid: old[pid] for pid in changed
    }
    assert {stored[pid].seen for pid in changed} == {1}
    _check_old_or_new(_texts(stored.values()), old, new, "after the failed write")
    assert memory.count() >= total
    monkeypatch.setattr(Collection, "upsert", real_upsert)
    index_host(host, memory)
    assert _texts(memory.all_patterns(where={"source": "code"})) == new


@pytest.mark.slow
def test_recall_answers_with_the_rewritten_text(tmp_path: Path, memory: PatternMemory) -> None:
    """After ``index`` of a rewritten README and docstring, recall finds the module's summary
    and the file by their new words, with the new text and the new text's vector, and their
    counts going on."""
    host = _host(tmp_path, "host")
    index_host(host, memory)
    rewrite_docs(host)
    index_host(host, memory)
    summary_id = module_summary_id(LIVECHAT)
    query = "which module reads a Twitch stream's chat?"
    found = memory.recall(query, n=3, where={"kind": "module_location"})
    assert found and found[0].pattern.id == summary_id
    summary = found[0].pattern
    assert "Twitch" in summary.context and "YouTube live stream's chat" not in summary.context
    assert summary.seen == 2
    # the stored vector is the new text's, not the old one's
    assert memory.similarity(query, [summary_id])[summary_id] == pytest.approx(
        memory.pattern_similarity(query, [summary])[0], abs=1e-4
    )
    core = f"{LIVECHAT}/src/livechat_core.py"
    hits = memory.recall("live chat core streams over gRPC", n=5, where={"source": "code"})
    files = [h.pattern for h in hits if h.pattern.code_ref.startswith(f"{core}:livechat_core")]
    assert files and "streams over gRPC" in files[0].context and files[0].seen == 2


def test_replace_text_swaps_text_and_vector_and_keeps_the_counts(
    memory: PatternMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A known id gets the new context, decision and vector, merged as ``upsert`` merges
    (seen adds up, first/last seen widen, an outcome stays), in one Chroma write and no
    delete; an unknown id is stored as new."""
    from chromadb.api.models.Collection import Collection

    first = Pattern.make(
        "module_location", "old text about polling the chat", "modules/a/b/", key="modules/a/b",
        module="modules/a/b", source="code", verified=True, outcome="worked", seen=3,
        first_seen="2026-01-02", last_seen="2026-01-05",
    )  # fmt: skip
    other = Pattern.make("module_location", "the auth module", "modules/a/c/", key="modules/a/c")
    memory.upsert([first, other])
    rewritten = replace(
        first, context="new text about streaming the chat over gRPC", outcome="", seen=1,
        first_seen="2026-01-04", last_seen="2026-02-01",
    )  # fmt: skip
    unknown = Pattern.make("module_location", "a module added since", "modules/a/d/", key="d")
    writes: list[str] = []
    for name in ("upsert", "update", "add", "delete"):
        real = getattr(Collection, name)

        def counted(self: Any, *args: Any, _name: str = name, _real: Any = real, **kw: Any) -> Any:
            writes.append(_name)
            return _real(self, *args, **kw)

        monkeypatch.setattr(Collection, name, counted)
    assert memory.replace_text([rewritten, unknown]) == 1
    assert writes == ["upsert"]
    got = memory.get(first.id)
    assert got is not None
    assert (got.context, got.decision) == (rewritten.context, first.decision)
    assert (got.seen, got.first_seen, got.last_seen, got.outcome) == (
        4, "2026-01-02", "2026-02-01", "worked",
    )  # fmt: skip
    assert memory.count() == 3 and memory.get(unknown.id) is not None
    hits = memory.recall("streaming the chat over gRPC", n=1)
    assert hits[0].pattern.id == first.id
    # the stored vector is the new text's, not the old one's
    query = "polling the chat"
    stored = memory.similarity(query, [first.id])[first.id]
    assert stored == pytest.approx(memory.pattern_similarity(query, [got])[0], abs=1e-4)
    assert stored < memory.pattern_similarity(query, [first])[0] - 0.05
