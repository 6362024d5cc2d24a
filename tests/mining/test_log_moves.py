"""The log moving, rotating, changing encoding, or the store changing under the miner:
every line is counted once, and what a rotated file still held is mined."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
from pathlib import Path
from typing import Any

import pytest

from foundups_training.mining import miner
from foundups_training.mining.miner import mine_log
from foundups_training.mining.reader import read_lines, read_open
from foundups_training.samples import sample_log

SAMPLE_LINES = sample_log().read_text(encoding="utf-8").splitlines(keepends=True)


def _seen(store: Any) -> dict[str, int]:
    return {pid: p.seen for pid, p in store.items.items()}


def _one_pass(tmp_path: Path, text: str, make_store: Any) -> dict[str, int]:
    """What mining ``text`` in one run, from one file, stores."""
    log = tmp_path / "one-pass" / "012.txt"
    log.parent.mkdir()
    log.write_text(text, encoding="utf-8")
    store = make_store()
    mine_log(log, store, checkpoint_path=log.parent / "cp.json")
    return _seen(store)


def test_a_log_renamed_away_mid_run_is_read_to_its_end(
    tmp_path: Path, store: Any, make_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rotation by rename with no new file yet (Python's WatchedFileHandler makes one at the
    host's next line): the run goes on reading the file it opened, and checkpoints it."""
    monkeypatch.setattr(miner, "TICK", 64)
    log, cp = tmp_path / "012.txt", tmp_path / "cp.json"
    log.write_text("".join(SAMPLE_LINES[:900]), encoding="utf-8")
    renamed = tmp_path / "012.txt.1"

    def rotate(done: int, size: int) -> None:
        if log.exists():
            os.replace(log, renamed)

    report = mine_log(log, store, checkpoint_path=cp, progress=rotate)
    assert not log.exists() and report.lines_processed == 900
    assert _seen(store) == _one_pass(tmp_path, "".join(SAMPLE_LINES[:900]), make_store)
    log.write_text("".join(SAMPLE_LINES[900:1000]), encoding="utf-8")  # the host's next lines
    report = mine_log(log, store, checkpoint_path=cp)
    assert report.lines_processed == 100 and report.lines_total == 1000
    assert any("rotated" in w for w in report.warnings), report.warnings


def test_the_same_file_at_another_path_is_resumed_not_mined_again(
    tmp_path: Path, store: Any
) -> None:
    log, cp = tmp_path / "logs" / "012.txt", tmp_path / "cp.json"
    log.parent.mkdir()
    log.write_text("".join(SAMPLE_LINES[:500]), encoding="utf-8")
    mine_log(log, store, checkpoint_path=cp)
    before = _seen(store)
    moved = tmp_path / "archive" / "012.txt"
    moved.parent.mkdir()
    os.replace(log, moved)
    log.symlink_to(moved)  # the old path leads to the same file
    report = mine_log(log, store, checkpoint_path=cp)
    assert (report.lines_processed, report.warnings) == (0, ())
    with moved.open("a", encoding="utf-8") as fh:
        fh.write("".join(SAMPLE_LINES[500:520]))
    report = mine_log(moved, store, checkpoint_path=cp)  # named by its new path
    assert (report.lines_processed, report.lines_total, report.warnings) == (20, 520, ())
    assert sum(_seen(store).values()) > sum(before.values())


def test_a_rotated_log_is_finished_before_the_new_one(
    tmp_path: Path, store: Any, make_store: Any
) -> None:
    """A budgeted run left the end of the log unread and an error waiting for its outcome;
    the log is then rotated. The next run mines the rest of the rotated file, its last line
    without a newline and the waiting episode included, then the new file from line 1."""
    old = "".join(SAMPLE_LINES[:700]).rstrip("\n")  # the host died mid-line
    log, cp = tmp_path / "012.txt", tmp_path / "cp.json"
    log.write_text(old, encoding="utf-8")
    first = mine_log(log, store, checkpoint_path=cp, max_lines=400)
    assert first.lines_processed == 400
    os.replace(log, tmp_path / "012.txt.1")
    log.write_text("".join(SAMPLE_LINES[700:800]), encoding="utf-8")
    report = mine_log(log, store, checkpoint_path=cp)
    assert report.lines_processed == 300 + 100
    assert report.lines_total == 800
    assert any("finished the rotated log" in w for w in report.warnings), report.warnings
    # every line of both files once; the rotated file's open episodes emitted as they were
    whole = make_store()
    for text, name in ((old + "\n", "a.txt"), ("".join(SAMPLE_LINES[700:800]), "b.txt")):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        mine_log(path, whole, checkpoint_path=tmp_path / f"{name}.cp")
    lines = {pid: p.seen for pid, p in store.items.items() if p.kind == "log_template"}
    expected = {pid: p.seen for pid, p in whole.items.items() if p.kind == "log_template"}
    assert lines == expected
    assert mine_log(log, store, checkpoint_path=cp).lines_processed == 0  # nothing twice


def test_a_rotated_logs_waiting_episode_is_stored(tmp_path: Path, store: Any) -> None:
    log, cp = tmp_path / "012.txt", tmp_path / "cp.json"
    error = next(i for i, line in enumerate(SAMPLE_LINES) if " - ERROR - " in line)
    log.write_text("".join(SAMPLE_LINES[: error + 1]), encoding="utf-8")
    first = mine_log(log, store, checkpoint_path=cp)
    assert first.episodes_pending >= 1  # the error waits for what follows it
    fixes_before = sum(p.kind == "error_fix" for p in store.items.values())
    os.replace(log, tmp_path / "012.txt.2026-11-27")
    log.write_text("".join(SAMPLE_LINES[2000:2010]), encoding="utf-8")
    report = mine_log(log, store, checkpoint_path=cp)
    assert "episodes that waited" in " ".join(report.warnings)
    assert sum(p.kind == "error_fix" for p in store.items.values()) > fixes_before


COMPRESSORS = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}


def _compress_away(log: Path, suffix: str) -> Path:
    """logrotate with ``compress`` and no ``delaycompress``: the log becomes ``012.txt.1.gz``."""
    rotated = log.with_name(f"{log.name}.1{suffix}")
    rotated.write_bytes(COMPRESSORS[suffix](log.read_bytes()))
    log.unlink()
    return rotated


@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
def test_a_compressed_rotated_log_is_finished_before_the_new_one(
    tmp_path: Path, store: Any, make_store: Any, suffix: str
) -> None:
    old = "".join(SAMPLE_LINES[:700]).rstrip("\n")
    log, cp = tmp_path / "012.txt", tmp_path / "data" / "cp.json"
    log.write_text(old, encoding="utf-8")
    assert mine_log(log, store, checkpoint_path=cp, max_lines=400).lines_processed == 400
    rotated = _compress_away(log, suffix)
    new = "".join(SAMPLE_LINES[700:800])
    log.write_text(new, encoding="utf-8")
    # a budget that ends inside the compressed file: the next run resumes it, from the archive
    first = mine_log(log, store, checkpoint_path=cp, max_lines=100)
    assert first.lines_processed == 100 and first.log_path == str(rotated)
    assert any("began finishing the rotated log" in w for w in first.warnings), first.warnings
    report = mine_log(log, store, checkpoint_path=cp)
    assert report.lines_processed == 200 + 100 and report.lines_total == 800
    assert any(f"finished the rotated log {rotated}" in w for w in report.warnings)
    assert mine_log(log, store, checkpoint_path=cp).lines_processed == 0  # nothing twice
    # no copy left behind (the run lock's file stays, as chroma.lock does)
    assert sorted(p.name for p in cp.parent.iterdir()) == ["cp.json", "cp.json.bak", "cp.json.lock"]
    # every line of both files once (as the uncompressed rotation's test)
    whole = make_store()
    for text, name in ((old + "\n", "a.txt"), (new, "b.txt")):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        mine_log(path, whole, checkpoint_path=tmp_path / f"{name}.cp")
    lines = {pid: p.seen for pid, p in store.items.items() if p.kind == "log_template"}
    assert lines == {pid: p.seen for pid, p in whole.items.items() if p.kind == "log_template"}


def test_a_damaged_compressed_rotation_is_reported_and_the_new_log_mined(
    tmp_path: Path, store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    log, cp = tmp_path / "012.txt", tmp_path / "cp.json"
    log.write_text("".join(SAMPLE_LINES[:700]), encoding="utf-8")
    mine_log(log, store, checkpoint_path=cp, max_lines=400)
    rotated = _compress_away(log, ".gz")
    rotated.write_bytes(rotated.read_bytes()[: len(rotated.read_bytes()) // 2])  # cut short
    (tmp_path / "012.txt.2.gz").write_bytes(gzip.compress(b"another log\n" * 10))
    log.write_text("".join(SAMPLE_LINES[700:750]), encoding="utf-8")
    report = mine_log(log, store, checkpoint_path=cp)
    assert report.lines_processed == 50 and report.log_path == str(log)
    assert any("rotated" in w and "restarted" in w for w in report.warnings), report.warnings
    assert f"rotated log {rotated} could not be read" in caplog.text
    assert "012.txt.2.gz" not in caplog.text  # another file: told apart by its first bytes


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be"])
def test_a_utf16_log_gives_what_the_utf8_one_gives(
    tmp_path: Path, store: Any, make_store: Any, codec: str
) -> None:
    """Windows PowerShell 5.1's ``>`` writes UTF-16 with a byte order mark."""
    text = "".join(SAMPLE_LINES[:600]).replace("\n", "\r\n")
    log, cp = tmp_path / "012.txt", tmp_path / "cp.json"
    bom = b"\xfe\xff" if codec == "utf-16-be" else b""
    log.write_bytes(bom + text[:5000].encode(codec))
    mine_log(log, store, checkpoint_path=cp)  # a first part: resumes at a UTF-16 offset
    log.write_bytes(bom + text.encode(codec))
    report = mine_log(log, store, checkpoint_path=cp)
    assert report.warnings == () and report.lines_total == 600
    assert _seen(store) == _one_pass(tmp_path, text, make_store)


def test_utf16_lines_split_only_at_their_own_newlines(tmp_path: Path) -> None:
    """U+0A41 is the bytes 41 0A in UTF-16-LE: a newline byte that is not a newline."""
    path = tmp_path / "log.txt"
    text = "a\u0a41b\r\n" + "x" * 300 + "\nlast"
    path.write_bytes(text.encode("utf-16"))
    assert [line.text for line in read_lines(path)] == ["\ufeffa\u0a41b", "x" * 300]
    cut = list(read_lines(path, max_line=101, block=7))
    assert [line.text for line in cut] == ["\ufeffa\u0a41b", "x" * 50]
    assert cut[1].truncated
    with path.open("rb") as fh:  # a rotated file: its last line is read without a newline
        assert [line.text for line in read_open(fh, to_end=True)][-1] == "last"


def test_a_new_store_is_mined_from_the_beginning(tmp_path: Path, make_store: Any) -> None:
    """The data folder's checkpoint with a new store (a Chroma server, an emptied chroma
    folder): resuming would leave the store without the log's patterns."""
    log, cp = tmp_path / "012.txt", tmp_path / "cp.json"
    log.write_text("".join(SAMPLE_LINES[:300]), encoding="utf-8")
    mine_log(log, make_store(), checkpoint_path=cp)
    fresh = make_store()
    report = mine_log(log, fresh, checkpoint_path=cp)
    assert report.lines_processed == 300
    assert any("a new or emptied store" in w for w in report.warnings), report.warnings
    assert _seen(fresh) == _one_pass(tmp_path, "".join(SAMPLE_LINES[:300]), make_store)
    again = mine_log(log, fresh, checkpoint_path=cp)
    assert (again.lines_processed, again.warnings) == (0, ())


def test_an_interrupted_run_keeps_what_it_read(
    tmp_path: Path, store: Any, make_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or a kill) loses at most FLUSH_SECONDS of reading: the checkpoint moves on
    during the run, and the next run counts nothing twice."""
    monkeypatch.setattr(miner, "TICK", 64)
    monkeypatch.setattr(miner, "FLUSH_SECONDS", 0.0)
    log, cp = tmp_path / "012.txt", tmp_path / "cp.json"
    log.write_text("".join(SAMPLE_LINES[:1000]), encoding="utf-8")
    ticks = 0

    def interrupt(done: int, size: int) -> None:
        nonlocal ticks
        ticks += 1
        if ticks == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mine_log(log, store, checkpoint_path=cp, progress=interrupt)
    kept = json.loads(cp.read_text())["lines_processed"]
    assert 0 < kept < 1000
    report = mine_log(log, store, checkpoint_path=cp)
    assert report.lines_processed == 1000 - kept
    assert _seen(store) == _one_pass(tmp_path, "".join(SAMPLE_LINES[:1000]), make_store)


def test_a_checkpoint_of_nested_brackets_is_corrupt_not_a_crash(tmp_path: Path, store: Any) -> None:
    log, cp = tmp_path / "012.txt", tmp_path / "cp.json"
    log.write_text("".join(SAMPLE_LINES[:50]), encoding="utf-8")
    cp.write_text("[" * 100_000)
    report = mine_log(log, store, checkpoint_path=cp)
    assert report.lines_processed == 50
    assert any("corrupt" in w for w in report.warnings)
