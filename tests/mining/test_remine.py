"""A log mined by an older miner: mined again when nothing is lost, else the operator is told.

The installed miner's version is raised with ``monkeypatch`` (what a package upgrade does);
the store is the dict-backed one of ``conftest.py``, which keeps the memory's contract.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from foundups_training.mining import mine_log
from foundups_training.mining import miner as miner_mod
from foundups_training.records import Pattern
from foundups_training.samples import sample_log

LINES = sample_log().read_text(encoding="utf-8").splitlines(keepends=True)
PART = "".join(LINES[:600])


def _learned_elsewhere() -> list[Pattern]:
    """What the store holds besides the log's patterns: a code pattern, a live one."""
    return [
        Pattern(id="modu-code", kind="module_location", context="c", decision="d", source="code"),
        Pattern(
            id="chat-live", kind="chat_response", context="c", decision="d", source="live_chat"
        ),
    ]


def _log_items(items: dict[str, Pattern]) -> dict[str, Pattern]:
    return {pid: p for pid, p in items.items() if p.source == "log"}


def _one_pass(log: Path, tmp_path: Path, make_store):  # type: ignore[no-untyped-def]
    reference = make_store()
    mine_log(log, reference, checkpoint_path=tmp_path / "reference.json")
    return reference


def _upgrade(monkeypatch: pytest.MonkeyPatch, version: int) -> None:
    monkeypatch.setattr(miner_mod, "MINER_VERSION", version)


def test_an_older_miners_patterns_are_replaced_when_the_log_still_holds_their_lines(
    tmp_path: Path, make_store, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "012.txt"
    log.write_text(PART, encoding="utf-8")
    cp = tmp_path / "cp.json"
    store = make_store()
    store.upsert(_learned_elsewhere())
    first = mine_log(log, store, checkpoint_path=cp)
    assert first.warnings == () and json.loads(cp.read_text())["miner"] == miner_mod.MINER_VERSION
    mined_before = len(_log_items(store.items))
    # what the older miner made that the newer one does not
    store.upsert(
        [Pattern(id="erro-old", kind="error_fix", context="c", decision="d", source="log")]
    )

    _upgrade(monkeypatch, miner_mod.MINER_VERSION + 1)
    r = mine_log(log, store, checkpoint_path=cp)

    assert r.patterns_removed == mined_before + 1 and r.lines_processed == 600
    assert not r.older_patterns_kept
    assert any("again from the beginning" in w for w in r.warnings), r.warnings
    assert "erro-old" not in store.items
    assert {"modu-code", "chat-live"} <= set(store.items)  # the code's and chat's stay
    # the log's patterns are what one pass of the new miner makes: nothing counted twice
    assert _log_items(store.items) == _log_items(_one_pass(log, tmp_path, make_store).items)
    saved = json.loads(cp.read_text())
    assert saved["miner"] == miner_mod.MINER_VERSION and saved["earlier_lines"] == 0
    assert saved["lines_processed"] == 600
    # done once: the next run resumes as usual
    assert mine_log(log, store, checkpoint_path=cp).patterns_removed == 0


def test_patterns_of_a_rotated_log_are_kept_until_the_operator_asks(
    tmp_path: Path, make_store, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "012.txt"
    cp = tmp_path / "cp.json"
    store = make_store()
    store.upsert(_learned_elsewhere())
    log.write_text(PART, encoding="utf-8")
    mine_log(log, store, checkpoint_path=cp)
    other = tmp_path / "new.txt"
    other.write_text("".join(LINES[1200:1500]), encoding="utf-8")
    os.replace(other, log)  # rotated: the first 600 lines are gone
    mine_log(log, store, checkpoint_path=cp)
    assert json.loads(cp.read_text())["earlier_lines"] == 600
    kept = dict(store.items)

    old = miner_mod.MINER_VERSION
    _upgrade(monkeypatch, old + 1)
    r = mine_log(log, store, checkpoint_path=cp)
    warning = " ".join(r.warnings)
    assert r.patterns_removed == 0 and store.items == kept and r.older_patterns_kept
    assert "600 of the lines mined came from log files that are gone" in warning
    assert f"mine --remine {log}" in warning
    # the kept patterns are still the older miner's: the checkpoint does not say otherwise
    assert json.loads(cp.read_text())["miner"] == old

    asked = mine_log(log, store, checkpoint_path=cp, remine=True)
    assert asked.patterns_removed == len(_log_items(kept)) and asked.lines_processed == 300
    assert "as asked" in " ".join(asked.warnings) and not asked.older_patterns_kept
    assert {"modu-code", "chat-live"} <= set(store.items)
    assert _log_items(store.items) == _log_items(_one_pass(log, tmp_path, make_store).items)
    saved = json.loads(cp.read_text())
    assert saved["miner"] == old + 1 and saved["earlier_lines"] == 0


def test_a_checkpoint_from_before_versions_asks_for_remine(tmp_path: Path, store) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "012.txt"
    log.write_text(PART, encoding="utf-8")
    cp = tmp_path / "cp.json"
    mine_log(log, store, checkpoint_path=cp)
    data = json.loads(cp.read_text())
    del data["miner"], data["earlier_lines"]  # what the first releases wrote
    cp.write_text(json.dumps(data))
    before = dict(store.items)
    r = mine_log(log, store, checkpoint_path=cp)
    warning = " ".join(r.warnings)
    assert "a miner from before version 1" in warning and "--remine" in warning
    assert "may hold patterns of log files that are gone" in warning
    assert store.items == before and r.patterns_removed == 0
    assert json.loads(cp.read_text())["miner"] == 0


def test_a_remine_killed_midway_starts_again_on_the_next_run(tmp_path: Path, make_store) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "012.txt"
    log.write_text(PART, encoding="utf-8")
    cp = tmp_path / "cp.json"
    store = make_store()
    mine_log(log, store, checkpoint_path=cp)

    def broken_delete(ids) -> int:  # type: ignore[no-untyped-def]
        for pid in list(ids)[:5]:  # some landed, then the process died
            store.items.pop(pid, None)
        raise OSError("killed (simulated)")

    store.delete = broken_delete
    with pytest.raises(OSError):
        mine_log(log, store, checkpoint_path=cp, remine=True)
    del store.delete  # the next process
    # the checkpoint no longer claims the lines whose patterns are (partly) gone
    marked = json.loads(cp.read_text())
    assert marked["miner"] == 0 and marked["earlier_lines"] == 0
    r = mine_log(log, store, checkpoint_path=cp)
    assert r.lines_processed == 600 and r.patterns_removed > 0
    assert _log_items(store.items) == _log_items(_one_pass(log, tmp_path, make_store).items)


@pytest.mark.parametrize("bad", ["x", -1, True, 1.5])
def test_a_mistyped_miner_version_is_a_corrupt_checkpoint(tmp_path: Path, store, bad) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "012.txt"
    log.write_text(PART, encoding="utf-8")
    cp = tmp_path / "cp.json"
    mine_log(log, store, checkpoint_path=cp)
    for field in ("miner", "earlier_lines"):
        data = json.loads(cp.read_text())
        data[field] = bad
        cp.write_text(json.dumps(data))
        r = mine_log(log, store, checkpoint_path=cp)
        assert any("corrupt" in w for w in r.warnings), (field, r.warnings)
