"""mine_log: checkpoints, rotation, failures, and chunked runs equal to one pass."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundups_training.mining import MineReport, mine_log
from foundups_training.samples import sample_host, sample_log

SAMPLE_LINES = sample_log().read_text(encoding="utf-8").splitlines(keepends=True)
# 700 lines of the sample: cut mid-stream, so some episodes are still open at the end
PART = "".join(SAMPLE_LINES[:700])


def _mine_all(
    log: Path, store, cp: Path, chunks: list[int] | None = None, **kw
) -> list[MineReport]:  # type: ignore[no-untyped-def]
    """Mine until nothing is left, with the given --max-lines per run (cycled)."""
    reports = []
    i = 0
    while True:
        max_lines = chunks[i % len(chunks)] if chunks else None
        r = mine_log(log, store, checkpoint_path=cp, max_lines=max_lines, **kw)
        reports.append(r)
        i += 1
        if (
            r.lines_processed == 0
            or (chunks is None)
            or (r.progress >= 1.0 and r.lines_processed == 0)
        ):
            break
        assert i < 5000
    return reports


def test_one_pass_report_and_checkpoint(tmp_path: Path, store) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "012.txt"
    log.write_text(PART, encoding="utf-8")
    cp = tmp_path / "data" / "checkpoint.json"
    r = mine_log(log, store, checkpoint_path=cp, host_root=sample_host())
    assert r.lines_processed == 700 and r.lines_total == 700
    assert r.progress == 1.0 and r.patterns_total == store.count() > 0
    assert r.patterns_stored == store.count() and r.patterns_new == store.count()
    assert r.verified >= 0.7 * r.with_module > 0
    d = r.as_dict()
    for key in (
        "lines_processed",
        "patterns_stored",
        "patterns_total",
        "verified",
        "duration_s",
        "progress",
        "truncated_lines",
        "warnings",
    ):
        assert key in d
    data = json.loads(cp.read_text())
    for key in ("path", "offset", "fingerprint", "lines_processed", "updated_at"):
        assert key in data
    assert data["offset"] == log.stat().st_size and data["lines_processed"] == 700
    assert data["updated_at"][:4].isdigit() and "T" in data["updated_at"]
    assert not list(cp.parent.glob("*.tmp"))  # the atomic write left nothing behind
    # nothing new: a second run processes nothing and changes nothing
    before = dict(store.items)
    again = mine_log(log, store, checkpoint_path=cp)
    assert again.lines_processed == 0 and store.items == before


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.integers(min_value=1, max_value=160), min_size=1, max_size=6))
def test_chunked_runs_equal_one_pass(tmp_path_factory, make_store, chunks: list[int]) -> None:  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("chunks")
    log = tmp / "012.txt"
    log.write_text(PART, encoding="utf-8")
    one, many = make_store(), make_store()
    mine_log(log, one, checkpoint_path=tmp / "one.json", host_root=sample_host())
    reports = _mine_all(log, many, tmp / "many.json", chunks, host_root=sample_host())
    assert sum(r.lines_processed for r in reports) == 700
    assert many.items == one.items  # same ids, counts, first/last seen, outcomes, contexts


def test_growing_log_finishes_open_episodes(tmp_path: Path, make_store) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "012.txt"
    full = "".join(SAMPLE_LINES[:1500])
    one, grown = make_store(), make_store()
    log.write_text(full, encoding="utf-8")
    mine_log(log, one, checkpoint_path=tmp_path / "one.json")
    # the same file, written in three steps, one of them mid-line
    cut1, cut2 = len(full) // 3, 2 * len(full) // 3 + 17
    cp = tmp_path / "grown.json"
    for end in (cut1, cut2, len(full)):
        log.write_text(full[:end], encoding="utf-8")
        r = mine_log(log, grown, checkpoint_path=cp)
        assert not r.warnings
    assert grown.items == one.items


def test_write_failure_leaves_checkpoint_and_loses_nothing(tmp_path: Path, make_store) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "012.txt"
    log.write_text(PART, encoding="utf-8")
    one, failing = make_store(), make_store()
    mine_log(log, one, checkpoint_path=tmp_path / "one.json")
    cp = tmp_path / "cp.json"
    mine_log(log, failing, checkpoint_path=cp, max_lines=300)
    saved = cp.read_bytes()
    failing.fail_next = True
    with pytest.raises(OSError, match="disk full"):
        mine_log(log, failing, checkpoint_path=cp, max_lines=200)
    assert cp.read_bytes() == saved  # not advanced
    _mine_all(log, failing, cp, [250])
    assert failing.items == one.items


def test_rotation_truncation_and_replacement_are_reported(tmp_path: Path, store) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "012.txt"
    cp = tmp_path / "cp.json"
    log.write_text(PART, encoding="utf-8")
    mine_log(log, store, checkpoint_path=cp)
    # truncated (copytruncate rotation)
    log.write_text("".join(SAMPLE_LINES[700:760]), encoding="utf-8")
    r = mine_log(log, store, checkpoint_path=cp)
    assert any("truncated" in w for w in r.warnings) and r.lines_processed == 60
    # replaced by another file of at least the same size (rename + new file)
    other = tmp_path / "new.txt"
    other.write_text("".join(SAMPLE_LINES[800:900]), encoding="utf-8")
    os.replace(other, log)
    r = mine_log(log, store, checkpoint_path=cp)
    assert any("rotated" in w or "replaced" in w for w in r.warnings)
    assert r.lines_processed == 100
    assert json.loads(cp.read_text())["lines_processed"] == 860  # cumulative


def test_zero_budget_runs_change_nothing(tmp_path: Path, make_store) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "012.txt"
    log.write_text(PART, encoding="utf-8")
    one, many = make_store(), make_store()
    mine_log(log, one, checkpoint_path=tmp_path / "one.json")
    cp = tmp_path / "cp.json"
    for max_lines in (0, 333, 0, 0, 1000):
        mine_log(log, many, checkpoint_path=cp, max_lines=max_lines)
    assert many.items == one.items


def test_corrupt_checkpoint_restarts_with_a_warning(tmp_path: Path, store) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "012.txt"
    log.write_text(PART, encoding="utf-8")
    cp = tmp_path / "cp.json"
    cp.write_text("{not json")
    r = mine_log(log, store, checkpoint_path=cp)
    assert r.lines_processed == 700 and any("corrupt" in w for w in r.warnings)


def test_partial_last_line_waits_and_long_lines_are_counted(tmp_path: Path, store) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "012.txt"
    long_line = "2025-10-20 15:00:00,000 - root - INFO - " + "x" * 40000 + "\n"
    log.write_text("".join(SAMPLE_LINES[:10]) + long_line + "2025-10-20 15:00:01,000 - root - IN")
    cp = tmp_path / "cp.json"
    r = mine_log(log, store, checkpoint_path=cp)
    assert r.lines_processed == 11 and r.truncated_lines == 1 and r.progress < 1.0
    with log.open("a") as fh:
        fh.write("FO - done\n")
    r = mine_log(log, store, checkpoint_path=cp)
    assert r.lines_processed == 1 and r.progress == 1.0


def test_max_seconds_zero_still_finishes_cleanly(tmp_path: Path, store) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "012.txt"
    log.write_text(PART, encoding="utf-8")
    cp = tmp_path / "cp.json"
    r = mine_log(log, store, checkpoint_path=cp, max_seconds=0.0, progress=lambda d, t: None)
    assert 0 < r.lines_processed <= 700
    assert json.loads(cp.read_text())["lines_processed"] == r.lines_processed


def test_unreadable_inputs(tmp_path: Path, store) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FileNotFoundError):
        mine_log(tmp_path / "missing.txt", store, checkpoint_path=tmp_path / "cp.json")
    with pytest.raises(IsADirectoryError):
        mine_log(tmp_path, store, checkpoint_path=tmp_path / "cp.json")
    log = tmp_path / "012.txt"
    log.write_text(PART, encoding="utf-8")
    r = mine_log(log, store, checkpoint_path=tmp_path / "cp.json", host_root=tmp_path / "nope")
    assert r.verified == 0 and any("host root" in w for w in r.warnings)


_PIECES = [
    "2025-10-20 15:00:0{n},000 - modules.infrastructure.database.src.db_manager - ERROR - "
    "Database transaction failed: row {n}\n",
    "2025-10-20 15:00:0{n},500 - modules.infrastructure.database.src.db_manager - INFO - "
    "Retrying transaction with INSERT OR REPLACE\n",
    "2025-10-20 15:00:0{n},900 - modules.infrastructure.database.src.db_manager - INFO - "
    "[OK] Transaction committed\n",
    "Traceback (most recent call last):\n",
    '  File "a.py", line {n}, in f\n',
    "KeyError: 'k{n}'\n",
    "\n",
    "[15:00:0{n}] [BOT][AI] [QWEN-DECISION] EXECUTE WSP 49 check (confidence: 0.9)\n",
    "[15:00:0{n}] [OK] WSP compliance check passed: {n} warnings\n",
    "2025-10-20 15:00:0{n},000 - modules.communication.livechat.src.qwen_youtube_integration"
    " - INFO - [BOT][AI] [QWEN-SCORE] [U+2744] Move2Japan [JAPAN]: {n}.00\n",
    "2025-10-20 15:00:0{n},000 - modules.platform_integration.stream_resolver.src."
    "stream_resolver - INFO - [ERROR] No stream found on Move2Japan [JAPAN]\n",
    "2025-10-21 09:00:0{n},000 [ERROR] [DAEMON][DAE-ERROR] \\u274c FATAL ERROR: boom {n}\n",
    "2025-10-21 09:00:0{n},000 [INFO] [DAEMON][OK] DAE restarted successfully\n",
    "free text line {n} caf\u00e9 \U0001f511\n",
]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.tuples(st.integers(0, len(_PIECES) - 1), st.integers(0, 9)), max_size=120),
    st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=5),
)
def test_chunked_runs_equal_one_pass_on_mixed_records(
    tmp_path_factory, make_store, picks: list[tuple[int, int]], chunks: list[int]
) -> None:  # type: ignore[no-untyped-def]
    """Tracebacks, blank lines and open episodes at every possible chunk boundary."""
    tmp = tmp_path_factory.mktemp("mixed")
    log = tmp / "012.txt"
    log.write_text("".join(_PIECES[i].format(n=n) for i, n in picks), encoding="utf-8")
    one, many = make_store(), make_store()
    first = mine_log(log, one, checkpoint_path=tmp / "one.json")
    assert first.lines_processed == log.read_bytes().count(b"\n")
    reports = _mine_all(log, many, tmp / "many.json", chunks)
    assert sum(r.lines_processed for r in reports) == first.lines_processed
    assert many.items == one.items
