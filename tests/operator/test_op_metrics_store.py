"""The metrics store: schema, recording, queries, observers off the hot path, status."""

from __future__ import annotations

import sqlite3
import threading
import time
from types import SimpleNamespace

import pytest

from foundups_training import signals, telemetry
from foundups_training.metrics import (
    SCHEMA_VERSION,
    CalibrationBin,
    EvalTier,
    MetricsError,
    MetricsStore,
    TrainingRun,
    attach_observers,
    percentile,
)
from foundups_training.records import Answer, Pattern, Query


@pytest.fixture
def store(tmp_path):
    s = MetricsStore(tmp_path / "metrics.sqlite3")
    yield s
    s.close()


def test_schema_is_versioned_and_wal(store) -> None:
    assert store.schema_version == SCHEMA_VERSION
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert {"pattern_snapshots", "training_runs", "answers", "eval_runs", "eval_tiers"} <= tables


def test_reopening_keeps_the_history(tmp_path) -> None:
    with MetricsStore(tmp_path / "m.sqlite3") as s:
        s.record_snapshot(5, {"stream": 5})
    with MetricsStore(tmp_path / "m.sqlite3") as s:
        assert [x.total for x in s.snapshots()] == [5]


def test_a_newer_schema_is_refused_with_a_clear_message(tmp_path) -> None:
    path = tmp_path / "m.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(MetricsError, match="upgrade foundups-training"):
        MetricsStore(path)


def test_not_a_database_is_refused(tmp_path) -> None:
    path = tmp_path / "m.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(MetricsError):
        MetricsStore(path)


def test_snapshots_in_the_order_recorded(store) -> None:
    """Not by ``ts``: a clock that was ahead must not make an older snapshot the last."""
    store.record_snapshot(10, {"a": 10}, "batch", ts=200.0)
    store.record_snapshot(4, {"a": 4}, "index", ts=100.0)
    snaps = store.snapshots()
    assert [s.total for s in snaps] == [10, 4]
    assert snaps[0].by_kind == {"a": 10}
    assert [s.total for s in store.snapshots(limit=1)] == [4]


def test_training_runs_and_last_training(store) -> None:
    assert store.last_training() is None
    store.record_training(TrainingRun(ts=1.0, kind="index", source="/h", patterns_stored=3))
    store.record_training(TrainingRun(ts=2.0, kind="batch", lines_processed=500, duration_s=1.5))
    store.record_training(TrainingRun(ts=3.0, kind="idle", lines_processed=20, success=False))
    last = store.last_training()
    assert last is not None and last.kind == "idle" and not last.success
    assert store.lines_processed_total() == 520
    assert [r.kind for r in store.training_runs(kind="batch")] == ["batch"]


def test_answers_stats_per_tier(store) -> None:
    for ms in (10, 20, 30, 40):
        store.record_answer(Query("q"), Answer("a", "gemma", confidence=0.8, latency_ms=ms))
    store.record_answer(
        "why?", Answer("b", "qwen", confidence=0.6, latency_ms=3000, escalated=True)
    )
    stats = store.answer_stats()
    assert stats["answers"] == 5 and stats["escalated"] == 1
    assert stats["escalation_rate"] == pytest.approx(0.2)
    assert stats["by_tier"]["gemma"]["p50_ms"] == pytest.approx(25.0)
    assert stats["by_tier"]["gemma"]["p95_ms"] == pytest.approx(38.5)
    assert stats["by_tier"]["qwen"]["escalated"] == 1
    assert store.answers(limit=1)[0].tier == "qwen"
    assert sorted(store.latencies_by_tier()["gemma"]) == [10, 20, 30, 40]


def test_long_queries_are_cut(store) -> None:
    store.record_answer("x" * 5000, Answer("a", "memory"))
    assert len(store.answers()[0].query) == 300


def test_record_eval_accepts_records_mappings_and_objects(store) -> None:
    class Result:  # what another harness might hand over
        def as_dict(self):
            return {"tier": "qwen", "n": 10, "accuracy": 0.9, "ece": 0.05}

    run_id = store.record_eval(
        "module_qa.jsonl",
        [
            EvalTier(
                "routed",
                10,
                0.8,
                escalation_rate=0.3,
                ece=0.07,
                brier=0.12,
                p50_ms=400,
                p95_ms=2900,
                calibration=(CalibrationBin(0.6, 0.8, 4, 0.7, 0.75),),
            ),
            {
                "tier": "gemma",
                "n": 10,
                "accuracy": 0.6,
                "calibration_bins": [
                    {"lower": 0, "upper": 0.5, "n": 2, "accuracy": 0.5, "mean_confidence": 0.4}
                ],
            },
            Result(),
        ],
        meta={"threshold": 0.7},
    )
    (run,) = store.eval_runs()
    assert run.id == run_id and run.dataset == "module_qa.jsonl" and run.n_items == 10
    assert run.meta == {"threshold": 0.7}
    routed = run.tier("routed")
    assert routed is not None and routed.calibration[0] == CalibrationBin(0.6, 0.8, 4, 0.7, 0.75)
    gemma = run.tier("gemma")
    assert gemma is not None and gemma.calibration[0].confidence == pytest.approx(0.4)
    assert run.tier("qwen").ece == pytest.approx(0.05)
    assert store.summary()["last_eval"]["id"] == run_id


def test_record_eval_is_all_or_nothing(store) -> None:
    with pytest.raises(KeyError):
        store.record_eval("x", [{"tier": "routed", "n": 1, "accuracy": 1.0}, {"tier": "bad"}])
    assert store.eval_runs() == []
    with pytest.raises(ValueError):
        store.record_eval("x", [])


def test_percentile() -> None:
    assert percentile([], 50) is None
    assert percentile([7], 95) == 7
    assert percentile([1, 2, 3, 4], 50) == pytest.approx(2.5)


def test_two_stores_on_one_file_write_concurrently(tmp_path) -> None:
    path = tmp_path / "m.sqlite3"
    a, b = MetricsStore(path), MetricsStore(path)

    def write(s: MetricsStore) -> None:
        for _ in range(50):
            s.record_answer("q", Answer("a", "memory"))

    threads = [threading.Thread(target=write, args=(s,)) for s in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert a.answer_stats()["answers"] == 100
    a.close()
    b.close()


def test_observers_record_every_signal(store) -> None:
    observer = attach_observers(store)
    assert attach_observers(store) is observer  # idempotent
    signals.pattern_stored.send("t", patterns=(Pattern.make("stream", "c", "d"),), new=1)
    signals.answer_given.send("t", query=Query("q"), answer=Answer("a", "gemma", latency_ms=5))
    signals.training_progress.send("t", done=10, total=10, patterns=42)
    telemetry.emit(
        "training.batch",
        "completed",
        {
            "source": "012.txt",
            "lines_processed": 300,
            "patterns_stored": 12,
            "patterns_total": 44,
            "by_kind": {"stream": 44},
            "duration_ms": 2500,
        },
    )
    telemetry.emit("training.recall", "completed", {"hits": 3})  # not a training run
    assert observer.flush()
    assert store.answers()[0].tier == "gemma"
    assert [s.total for s in store.snapshots()] == [42, 44]
    (run,) = store.training_runs()
    assert (run.kind, run.lines_processed, run.patterns_total) == ("batch", 300, 44)
    assert run.duration_s == pytest.approx(2.5) and run.source == "012.txt"


def test_observers_never_wait_for_sqlite(store) -> None:
    """A receiver only queues: with the store locked by another thread, sending still returns."""
    observer = attach_observers(store)
    locked, release = threading.Event(), threading.Event()

    def hold_the_store() -> None:
        with store._lock:
            locked.set()
            release.wait()

    holder = threading.Thread(target=hold_the_store)
    holder.start()
    locked.wait()
    sender = threading.Thread(
        target=lambda: [
            signals.answer_given.send("t", query=Query("q"), answer=Answer("a", "memory"))
            for _ in range(200)
        ]
    )
    sender.start()
    sender.join(timeout=30)
    finished_while_locked = not sender.is_alive()
    release.set()
    holder.join()
    sender.join()
    assert finished_while_locked  # a synchronous write would have blocked on the lock
    assert observer.flush()
    assert store.answer_stats()["answers"] == 200


def test_a_full_queue_drops_and_counts(store, monkeypatch) -> None:
    import foundups_training.metrics.observers as obs

    monkeypatch.setattr(obs, "_QUEUE_SIZE", 5)
    observer = attach_observers(store)
    with store._lock:
        for _ in range(50):
            signals.answer_given.send("t", query=Query("q"), answer=Answer("a", "memory"))
        time.sleep(0.05)
    observer.flush()
    assert observer.dropped > 0
    assert store.answer_stats()["answers"] + observer.dropped == 50


def test_closing_the_store_detaches_its_observers(tmp_path) -> None:
    s = MetricsStore(tmp_path / "m.sqlite3")
    before = len(signals.answer_given.receivers)
    attach_observers(s)
    assert len(signals.answer_given.receivers) == before + 1
    s.close()
    assert len(signals.answer_given.receivers) == before
    signals.answer_given.send("t", query=Query("q"), answer=Answer("a", "memory"))  # no error


def test_status_takes_last_training_from_the_store(settings) -> None:
    from foundups_training.status import collect_status

    class Memory:
        def stats(self):
            return {"total": 3, "by_kind": {"stream": 3}, "by_source": {}, "verified": 1}

    settings.ensure_data_dir()
    log = settings.data_dir / "012.txt"
    log.write_text("a\nb\nc", encoding="utf-8")
    with MetricsStore(settings.metrics_path) as s:
        s.record_training(TrainingRun(ts=time.time(), kind="batch", lines_processed=2))
        trainer = SimpleNamespace(
            settings=settings.__class__(**{**vars_of(settings), "log_path": log}),
            memory=Memory(),
            metrics=s,
        )
        status = collect_status(trainer)  # type: ignore[arg-type]
    for key in ("patterns_total", "by_kind", "lines_processed", "last_training"):
        assert key in status
    assert status["patterns_total"] == 3
    assert status["lines_total"] == 3
    assert status["last_training"] and status["last_training"].startswith("20")
    assert status["last_training_run"]["kind"] == "batch"


def vars_of(settings) -> dict:
    import dataclasses

    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}


def test_calibration_bins() -> None:
    from foundups_training.metrics import calibration_bins

    bins = calibration_bins([(0.05, True), (0.15, False), (0.12, True), (1.0, True)], n_bins=10)
    assert [(b.lower, b.count) for b in bins] == [(0.0, 1), (0.1, 2), (0.9, 1)]
    assert bins[1].accuracy == pytest.approx(0.5)
    assert bins[1].confidence == pytest.approx(0.135)
    assert calibration_bins([]) == ()


def test_record_eval_report_takes_the_harness_report_in_one_call(store) -> None:
    harness = pytest.importorskip("foundups_training.evaluation.harness")
    import dataclasses

    names = [f.name for f in dataclasses.fields(harness.ItemResult)]
    results = []
    for i in range(8):
        row = dict.fromkeys(names, "")
        row.update(
            tier="routed",
            right=i < 6,
            confidence=0.9 if i < 6 else 0.3,
            latency_ms=10.0,
            escalated=False,
            expected=(),
            patterns=(),
            raw=0.0,
        )
        results.append(harness.ItemResult(**row))
    report = harness.EvalReport(
        items=8,
        tiers={"routed": harness.TierReport("routed", n=8, accuracy=0.75, ece=0.1)},
        results=results,
    )
    run_id = store.record_eval_report(report, "sample_qa_dev.jsonl", meta={"threshold": 0.7})
    (run,) = store.eval_runs()
    assert run.id == run_id and run.n_items == 8
    routed = run.tier("routed")
    assert routed is not None and routed.accuracy == 0.75
    assert [(b.count, b.accuracy) for b in routed.calibration] == [(2, 0.0), (6, 1.0)]
