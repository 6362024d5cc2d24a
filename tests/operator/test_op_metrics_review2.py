"""The metrics store and observers, second review: receivers that raised into a host's
signal, a NaN or infinite confidence or latency, rows dropped without a word, a summary read
while another thread writes, and the latest latencies of a tier with many answers."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundups_training import signals
from foundups_training.metrics import (
    MetricsError,
    MetricsStore,
    TrainingRun,
    attach_observers,
    percentile,
)
from foundups_training.records import Answer, Query


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MetricsStore]:
    s = MetricsStore(tmp_path / "metrics.sqlite3")
    yield s
    s.close()


# -- a receiver never raises into the sender (bug 1) ---------------------------------------


@pytest.mark.parametrize(
    ("signal_name", "kwargs"),
    [
        ("telemetry", {"command": "training.idle", "event": "completed", "payload": "oops"}),
        ("training_progress", {"done": None, "total": 5, "patterns": 3}),
        ("training_progress", {"done": 1, "total": "5", "patterns": 3}),
        ("pattern_stored", {"patterns": [object()], "new": "x"}),
        ("pattern_stored", {"patterns": 5, "new": 1}),
    ],
)
def test_a_receiver_never_raises_into_the_hosts_signal(
    store: MetricsStore, signal_name: str, kwargs: dict[str, object]
) -> None:
    """The signals are public: a host sends them with its own values. Before, a payload
    that was not a mapping, a ``done`` of None or a count that was not one raised
    ``TypeError`` / ``ValueError`` out of ``send`` on the host's thread (and the receivers
    after the observer did not get the event)."""
    observer = attach_observers(store)
    getattr(signals, signal_name).send("host", **kwargs)  # must not raise
    assert observer.flush()


def test_a_duration_that_is_not_a_number_keeps_the_run(store: MetricsStore) -> None:
    """A host's ``training.idle`` with ``duration_ms: "n/a"`` (or a NaN duration) is still a
    run: before, ``send`` raised ``ValueError`` (or the row hit ``NOT NULL`` and was lost)."""
    observer = attach_observers(store)
    for payload in (
        {"duration_ms": "n/a", "lines_processed": 7},
        {"duration_s": "fast", "lines_processed": 8},
        {"duration_s": float("nan"), "lines_processed": 9},
        {"duration_s": float("inf"), "lines_processed": 10},
    ):
        signals.telemetry.send("host", command="training.idle", event="completed", payload=payload)
    assert observer.flush()
    runs = store.training_runs()
    assert sorted(r.lines_processed for r in runs) == [7, 8, 9, 10]
    assert all(r.duration_s == 0.0 for r in runs)
    assert observer.failed == 0


# -- NaN and infinite confidences and latencies (bug 2) -------------------------------------


def test_a_nan_confidence_or_latency_keeps_the_answer(store: MetricsStore) -> None:
    """An answer from a host's own tier with a NaN confidence or latency was given: before,
    SQLite stored the NaN as NULL, the ``NOT NULL`` column refused it and the row was lost
    (answers and escalations undercounted)."""
    store.record_answer("q", Answer("a", "host", confidence=math.nan, latency_ms=5.0))
    store.record_answer(
        "q", Answer("a", "host", confidence=0.5, latency_ms=math.nan, escalated=True)
    )
    stats = store.answer_stats()
    assert stats["answers"] == 2 and stats["escalated"] == 1
    # the router's rule: a confidence that is no number is shown as 0
    assert stats["by_tier"]["host"]["mean_confidence"] == 0.25
    # an unknown latency is left out of the percentiles, not counted as 0 ms
    assert stats["by_tier"]["host"]["p50_ms"] == 5.0


def test_an_infinite_confidence_or_latency_does_not_poison_the_figures(
    store: MetricsStore,
) -> None:
    """Before, one ``inf`` confidence made the tier's mean ``inf`` for ever, an ``inf``
    latency made p50/p95 ``inf`` or ``nan``, and ``status --json`` printed ``Infinity`` and
    ``NaN``, which is not JSON."""
    store.record_answer("q", Answer("a", "gemma", confidence=math.inf, latency_ms=10.0))
    store.record_answer("q", Answer("a", "gemma", confidence=-math.inf, latency_ms=math.inf))
    store.record_answer("q", Answer("a", "gemma", confidence=0.5, latency_ms=20.0))
    store.record_answer("q", Answer("a", "gemma", confidence=1.7, latency_ms=-3.0))
    # rows an older version wrote as they came
    store._execute(
        "INSERT INTO answers(ts, tier, confidence, latency_ms) VALUES (?, 'old', ?, ?)",
        (time.time(), math.inf, math.inf),
    )
    summary = store.summary()
    json.dumps(summary, allow_nan=False)  # strict JSON: no Infinity, no NaN
    gemma = summary["answers"]["by_tier"]["gemma"]
    assert gemma["answers"] == 4
    # as the router shows them: an infinity as 0, 1.7 as 1
    assert gemma["mean_confidence"] == pytest.approx((0.0 + 0.0 + 0.5 + 1.0) / 4)
    assert (gemma["p50_ms"], gemma["p95_ms"]) == (15.0, 19.5)
    old = summary["answers"]["by_tier"]["old"]
    assert (old["mean_confidence"], old["p50_ms"], old["p95_ms"]) == (0.0, None, None)


def test_percentile_leaves_out_what_is_not_a_number() -> None:
    """``sorted`` does not order a list holding NaN: the percentile was then whatever the
    NaN's place made it."""
    assert percentile([3.0, math.nan, 1.0, 2.0], 50) == 2.0
    assert percentile([math.nan], 50) is None


# -- rows dropped because the queue was full are said (bug 3) -------------------------------


def test_rows_dropped_from_a_full_queue_are_said(
    store: MetricsStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, the count went up and nothing said so: the history missed answers and no
    line told the operator why."""
    import foundups_training.metrics.observers as obs

    monkeypatch.setattr(obs, "_QUEUE_SIZE", 5)
    observer = attach_observers(store)
    with caplog.at_level(logging.WARNING, logger="foundups_training.metrics.observers"):
        with store._lock:  # the writer is held: the queue fills
            for _ in range(50):
                signals.answer_given.send("t", query=Query("q"), answer=Answer("a", "memory"))
        assert observer.flush()
    assert observer.dropped > 0
    said = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert said, "no line says rows were dropped"
    assert str(observer.dropped) in said[-1]


# -- the summary is one moment of the history (bug 4) ---------------------------------------


def test_the_summary_is_one_moment_while_another_thread_writes(store: MetricsStore) -> None:
    """Each run processes one line: the runs counted and the lines summed must agree.
    Before, each figure was its own query and a row written between two of them made the
    summary disagree with itself ("5 runs, 6 lines")."""
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            store.record_training(TrainingRun(ts=time.time(), kind="live", lines_processed=1))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        mismatches = 0
        for _ in range(200):
            summary = store.summary()
            runs = sum(summary["training_runs"].values())
            if runs != summary["lines_processed"]:
                mismatches += 1
    finally:
        stop.set()
        writer.join()
    assert mismatches == 0


def test_the_summary_is_one_moment_while_another_process_writes(tmp_path: Path) -> None:
    """The same with another connection (another process) writing: one read transaction."""
    path = tmp_path / "metrics.sqlite3"
    with MetricsStore(path) as reader:
        other = sqlite3.connect(path, isolation_level=None, timeout=10)
        calls = 0
        real_rows = reader._rows

        def rows_then_write(sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
            nonlocal calls
            out = real_rows(sql, params)
            calls += 1
            other.execute(
                "INSERT INTO training_runs(ts, kind, lines_processed) VALUES (?, 'live', 1)",
                (time.time(),),
            )
            return out

        reader._rows = rows_then_write  # type: ignore[method-assign]
        summary = reader.summary()
        other.close()
    assert calls > 1
    assert sum(summary["training_runs"].values()) == summary["lines_processed"]


# -- the latest latencies of a tier with many answers (bug 5) -------------------------------


def test_the_latest_latencies_do_not_sort_the_whole_tier(store: MetricsStore) -> None:
    """ "Latest" is by id since the clock review, but the only index was (tier, ts): each
    tier's last 2000 latencies sorted every row of the tier (2.6 s of the menu's metrics
    view for 900,000 answers). Counted as SQLite's steps, not as time."""
    conn = store._conn
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO answers(ts, tier, latency_ms) VALUES (?, 'memory', ?)",
        ((float(i), float(i % 97)) for i in range(60_000)),
    )
    conn.execute("COMMIT")
    store.close()
    with MetricsStore(store.path) as reopened:  # an older file gets the index when opened
        steps = 0

        def count() -> int:
            nonlocal steps
            steps += 1
            return 0

        reopened._conn.set_progress_handler(count, 1000)
        latest = reopened.latencies_by_tier(limit_per_tier=100)["memory"]
        reopened._conn.set_progress_handler(None, 0)
    assert latest[0] == float(59_999 % 97) and len(latest) == 100
    assert steps < 100  # a sort of 60,000 rows takes thousands of these


# -- a file of a newer version is refused as it is (bug 6) ----------------------------------


def _open_on(path: Path) -> list[str]:
    """The files of this process's open descriptors that are ``path`` or its WAL / index."""
    names = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            names.append(os.readlink(f"/proc/self/fd/{fd}"))
    return [n for n in names if n.startswith(str(path))]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_newer_file_is_refused_untouched_and_let_go(tmp_path: Path) -> None:
    """Before, the refusal came after the switch to WAL (the newer version's file changed,
    a ``-wal`` and ``-shm`` made beside it) and the connection was left open."""
    path = tmp_path / "metrics.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE answers_v2(x)")
    conn.execute("PRAGMA user_version=2")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(MetricsError, match="schema 2"):
        MetricsStore(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.sqlite3"]
    assert _open_on(path) == []
