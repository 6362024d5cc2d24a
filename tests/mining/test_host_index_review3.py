"""Third review of the host index: a store that fails while ``index`` replaces the text of
rewritten files. A file's, a class's, a module summary's and a WSP document's patterns keep
their id when their text changes, and ``upsert`` keeps the text of an id it knows. The old
pattern used to be deleted and the new one stored: a failure between the two left neither,
the module's summary and its files missing from the memory until the next ``index``. The
memory's ``replace_text`` now swaps them in one write (the real store's:
``tests/mining/test_index_swap.py``)."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from host_edits import rewrite_docs

from foundups_training.mining import host_index, index_host
from foundups_training.mining.host_index import collect_host_patterns
from foundups_training.records import Pattern, module_summary_id
from foundups_training.samples import sample_host

LIVECHAT = "modules/communication/livechat"


class StoreFailure(OSError):
    """The failure a test injects (Chroma's InternalError, a full disk)."""


@pytest.fixture
def flaky_store(make_store: Any) -> Any:
    """The dict store that lists what it holds, and fails one chosen write: the ``fail_at``-th
    call of ``upsert``, ``replace_text`` or ``delete`` (1 = the first) applies only the first
    half of what it was given, then raises, as a store that fails part-way through a batch
    does."""

    class FlakyStore(make_store):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.fail_at = 0
            self.writes = 0
            self.ops: list[str] = []

        def _failing(self, op: str) -> bool:
            self.writes += 1
            self.ops.append(op)
            return self.writes == self.fail_at

        def upsert(self, patterns: Iterable[Pattern]) -> int:
            batch = list(patterns)
            if self._failing("upsert"):
                super().upsert(batch[: len(batch) // 2])
                raise StoreFailure("upsert failed (simulated)")
            return int(super().upsert(batch))

        def replace_text(self, patterns: Iterable[Pattern]) -> int:
            batch = list(patterns)
            if self._failing("replace_text"):
                super().replace_text(batch[: len(batch) // 2])
                raise StoreFailure("replace_text failed (simulated)")
            return int(super().replace_text(batch))

        def delete(self, ids: Iterable[str]) -> int:
            wanted = list(dict.fromkeys(ids))
            if self._failing("delete"):
                super().delete(wanted[: len(wanted) // 2])
                raise StoreFailure("delete failed (simulated)")
            return int(super().delete(wanted))

        def all_patterns(self, where: Mapping[str, Any] | None = None) -> Iterator[Pattern]:
            where = where or {}
            for p in list(self.items.values()):
                if all(getattr(p, key) == value for key, value in where.items()):
                    yield p

    return FlakyStore


def _host(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    shutil.copytree(sample_host(), root)
    return root


def _rewrite(host: Path) -> None:
    """A docstring, a README and a WSP document rewritten; a module moved (WSP 3); a file
    deleted."""
    rewrite_docs(host)
    shutil.move(
        host / "modules/infrastructure/database", host / "modules/platform_integration/database"
    )
    gone = sorted((host / "modules/platform_integration/youtube_auth").rglob("*.py"))[0]
    gone.unlink()


def _code(store: Any) -> dict[str, Pattern]:
    return {pid: p for pid, p in store.items.items() if p.source == "code"}


def _texts(patterns: Iterable[Pattern]) -> dict[str, tuple[str, str]]:
    return {p.id: (p.context, p.decision) for p in patterns}


def _check_nothing_lost(
    stored: dict[str, Pattern], old: dict[str, tuple[str, str]], new: dict[str, tuple[str, str]]
) -> None:
    """Every pattern both trees yield is stored with its old or its new text; nothing else
    but what one of the trees yields is stored."""
    assert set(stored) <= set(old) | set(new)
    for pid in set(old) & set(new):
        assert pid in stored, f"{pid} lost"
        assert _texts([stored[pid]])[pid] in (old[pid], new[pid])


def test_a_store_failing_while_the_text_is_replaced_loses_nothing(
    tmp_path: Path, flaky_store: Any
) -> None:
    """The write replacing the rewritten patterns' text fails part-way: the module summary
    and the rewritten file keep their old or new text, and the next ``index`` converges."""
    host = _host(tmp_path, "host")
    store = flaky_store()
    index_host(host, store)
    old = _texts(_code(store).values())
    _rewrite(host)
    new = _texts(collect_host_patterns(host)[0])
    changed = {pid for pid in set(old) & set(new) if old[pid] != new[pid]}
    assert module_summary_id(LIVECHAT) in changed
    store.ops.clear()
    store.writes, store.fail_at = 0, 0
    index_host(host, store)  # a dry run, to learn the order of its writes
    assert "delete" not in store.ops[: store.ops.index("replace_text")]
    first_replace = store.ops.index("replace_text") + 1
    # the same again, failing there
    store = flaky_store()
    index_host(_host(tmp_path, "again"), store)
    store.writes, store.fail_at = 0, first_replace
    with pytest.raises(StoreFailure):
        index_host(host, store)
    _check_nothing_lost(_code(store), old, new)
    summary = store.items[module_summary_id(LIVECHAT)]
    assert _texts([summary])[summary.id] in (old[summary.id], new[summary.id])
    # the next index converges: the new text, the stale patterns gone, no duplicate
    again = index_host(host, store)
    assert _texts(_code(store).values()) == new
    assert again.patterns_total == store.count() == len(new)
    assert "Twitch" in store.items[module_summary_id(LIVECHAT)].context


def test_a_failure_at_any_write_of_an_index_leaves_the_old_or_the_new_text(
    tmp_path: Path, flaky_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fail each write of the index in turn (upserts and deletes, each part-way, in small
    batches): every pattern both trees yield keeps its old or its new text, a moved module's
    or deleted file's pattern is only ever removed after what replaces it was stored, and
    indexing again gives exactly what the tree yields, the counts going on."""
    monkeypatch.setattr(host_index, "INDEX_BATCH", 16)
    original = _host(tmp_path, "original")
    rewritten = _host(tmp_path, "rewritten")
    _rewrite(rewritten)
    base = flaky_store()
    index_host(original, base)
    old = _texts(_code(base).values())
    new = _texts(collect_host_patterns(rewritten)[0])
    failed = 0
    for fail_at in range(1, 200):
        store = flaky_store()
        store.items = dict(base.items)
        store.fail_at = fail_at
        try:
            index_host(rewritten, store)
        except StoreFailure:
            failed += 1
        else:
            assert store.writes < fail_at  # every write was failed in turn
            break
        _check_nothing_lost(_code(store), old, new)
        store.fail_at = 0
        again = index_host(rewritten, store)
        assert _texts(_code(store).values()) == new, f"write {fail_at}"
        assert again.patterns_total == store.count() == len(new)
        assert store.items[module_summary_id(LIVECHAT)].seen >= 2
    else:
        pytest.fail("the index never completed")
    assert failed > 4
