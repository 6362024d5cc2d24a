"""The metrics store as the review found it: what "patterns over time" draws, a clear, a
WAL read-only, a clock that was ahead, several processes opening a new file, and a file
another process holds."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlite_faults import refuse_read_only_in_place

from foundups_training import telemetry
from foundups_training.cli import main
from foundups_training.config import Settings, load_settings
from foundups_training.engine import Trainer
from foundups_training.memory import open_memory
from foundups_training.metrics import MetricsStore, TrainingRun, attach_observers
from foundups_training.metrics.observers import MEMORY_BY_KIND, run_from_payload
from foundups_training.records import Answer, IdleBudget, Pattern

REPO = Path(__file__).resolve().parents[2]
LOG = Path(__file__).with_name("data") / "012_sample.txt"
HOST = REPO / "foundups_training" / "samples" / "host"


def _seed(settings: Settings, n: int = 3) -> None:
    """Patterns of a kind the sample log never yields: the memory holds more than a run."""
    with open_memory(settings) as memory:
        memory.upsert([Pattern.make("module_doc", f"doc {i}", f"modules/m{i}/") for i in range(n)])


def _memory_kinds(settings: Settings) -> dict[str, int]:
    with open_memory(settings, read_only=True) as memory:
        return dict(memory.stats()["by_kind"])


# -- "patterns over time" and the run's source (bug 2) -------------------------------------


def test_a_mine_report_names_its_log_as_the_runs_source() -> None:
    """A mining report calls the log ``log_path``: before, ``source`` fell back to
    ``host_root`` (the tree the references were verified against) or ''."""
    payload = {"log_path": "/logs/012.txt", "host_root": "/host", "lines_processed": 9}
    assert run_from_payload("training.batch", "completed", payload).source == "/logs/012.txt"
    assert run_from_payload("training.index", "completed", {"host_root": "/h"}).source == "/h"
    failed = {"source": "/logs/012.txt", "error": "StoreLocked: held"}
    assert run_from_payload("training.batch", "failed", failed).source == "/logs/012.txt"


def test_a_snapshot_takes_its_kinds_from_the_memory_never_from_one_run(tmp_path: Path) -> None:
    with MetricsStore(tmp_path / "m.sqlite3") as store:
        observer = attach_observers(store)
        run = {"patterns_total": 30, "by_kind": {"module_location": 21}}  # this run's only
        telemetry.emit("training.batch", "completed", run)
        memory = {**run, MEMORY_BY_KIND: {"module_location": 28, "module_doc": 2}}
        telemetry.emit("training.batch", "completed", memory)
        # the menu's batch puts the memory's totals under by_kind: they add up to the total
        telemetry.emit(
            "training.batch", "completed", {"patterns_total": 3, "by_kind": {"stream": 3}}
        )
        assert observer.flush()
        assert [(s.total, s.by_kind) for s in store.snapshots()] == [
            (30, {}),
            (30, {"module_location": 28, "module_doc": 2}),
            (3, {"stream": 3}),
        ]


def test_cli_mine_records_the_memorys_kinds_and_the_log(settings: Settings) -> None:
    _seed(settings)
    argv = ["-q", "--data-dir", str(settings.data_dir), "mine", "--host-root", str(HOST)]
    assert main([*argv, str(LOG)]) == 0
    with MetricsStore(settings.metrics_path, read_only=True) as store:
        snap = store.snapshots()[-1]
        run = store.last_training()
    kinds = _memory_kinds(settings)
    assert kinds["module_doc"] == 3 and snap.by_kind == kinds and snap.total == sum(kinds.values())
    assert run is not None and run.kind == "batch" and run.source == str(LOG)


def test_an_idle_cycle_records_the_memorys_kinds_and_the_log(settings: Settings) -> None:
    _seed(settings)
    idle = load_settings({"data_dir": settings.data_dir, "log_path": LOG}, env={})
    with Trainer(idle) as trainer:
        observer = attach_observers(trainer)
        assert trainer.idle(IdleBudget(max_lines=100, max_seconds=60)).success
        assert observer.flush()
        snap = trainer.metrics.snapshots()[-1]
        run = trainer.metrics.last_training()
        kinds = dict(trainer.memory.stats()["by_kind"])
    assert kinds["module_doc"] == 3 and snap.by_kind == kinds
    assert run is not None and run.kind == "idle" and run.source == str(LOG)


# -- clear (bug 3) --------------------------------------------------------------------------


def test_clear_ends_the_history_with_zero_patterns(settings: Settings) -> None:
    _seed(settings)
    with MetricsStore(settings.metrics_path) as store:
        store.record_snapshot(258, {"module_location": 92}, "batch")
    with Trainer(settings) as trainer:
        trainer.clear()
    with MetricsStore(settings.metrics_path, read_only=True) as store:
        assert [(s.total, s.by_kind) for s in store.snapshots()] == [
            (258, {"module_location": 92}),
            (0, {}),
        ]
        assert store.summary()["patterns"]["total"] == 0
        # the plot's kind line ends at 0 too, not at the last count before the clear
        from foundups_training.report import patterns_plot

        assert "<title>module_location: 0</title>" in patterns_plot(store)


# -- a WAL without its index, read-only (bug 5) ---------------------------------------------


def _killed_writer(folder: Path) -> Path:
    """A metrics file whose rows are all in its WAL: 50 answers and a run, then SIGKILL."""
    path = folder / "metrics.sqlite3"
    code = (
        "import os, sys\n"
        "from foundups_training.metrics import MetricsStore, TrainingRun\n"
        "from foundups_training.records import Answer\n"
        "s = MetricsStore(sys.argv[1])\n"
        "for _ in range(50): s.record_answer('q', Answer('a', 'memory'))\n"
        "s.record_training(TrainingRun(ts=1.0, kind='batch', lines_processed=9))\n"
        "os.kill(os.getpid(), 9)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], cwd=REPO, check=False)
    assert done.returncode == -9
    assert path.with_name(path.name + "-wal").stat().st_size > 0
    return path


def _without_index(source: Path, folder: Path) -> Path:
    """The file and its WAL copied without the ``-shm``, as a backup tool might."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in (source.name, source.name + "-wal"):
        shutil.copyfile(source.with_name(name), folder / name)
    return folder / source.name


def test_a_wal_that_cannot_be_read_in_place_is_read_from_a_copy(
    tmp_path: Path, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _without_index(_killed_writer(tmp_path / "w"), tmp_path / "ro")
    before = {p.name: p.read_bytes() for p in path.parent.iterdir()}
    refuse_read_only_in_place(monkeypatch, path)
    with MetricsStore(path, read_only=True) as store:
        assert store.answer_stats()["answers"] == 50  # before: 0, the WAL ignored
        run = store.last_training()
        assert run is not None and run.lines_processed == 9 and not store.may_be_stale
    assert list(scratch.iterdir()) == [], "the copy was left behind"
    assert {p.name: p.read_bytes() for p in path.parent.iterdir()} == before


def test_a_wal_that_cannot_be_copied_either_says_the_figures_may_be_stale(
    tmp_path: Path, scratch: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from foundups_training.memory import readcopy

    def full(source: Path, target: Path) -> None:
        raise OSError(28, "No space left on device")

    path = _without_index(_killed_writer(tmp_path / "w"), tmp_path / "ro")
    refuse_read_only_in_place(monkeypatch, path)
    monkeypatch.setattr(readcopy, "copy_sqlite", full)
    caplog.set_level(logging.WARNING, logger="foundups_training.metrics.store")
    with MetricsStore(path, read_only=True) as store:
        assert store.may_be_stale and store.answer_stats()["answers"] == 0
    (record,) = caplog.records
    assert "may be stale" in record.getMessage() and "No space left" in record.getMessage()
    assert record.exc_info is None
    assert list(scratch.iterdir()) == []


@pytest.fixture
def world_readable() -> Iterator[Path]:
    """A folder a child process can mount (pytest's own folders are root's alone)."""
    root = Path(tempfile.mkdtemp(prefix="foundups-training-metrics-ro-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("unshare"),
    reason="a read-only bind mount needs root and unshare",
)
def test_status_on_a_read_only_mount_counts_what_the_wal_holds(world_readable: Path) -> None:
    root = world_readable
    data = _without_index(_killed_writer(root / "w"), root / "data").parent
    mount, scratch = root / "mount", root / "scratch"
    mount.mkdir()
    scratch.mkdir()
    script = (
        'mount --bind "$1" "$2" && mount -o remount,ro,bind "$2" || exit 99\nshift 2\nexec "$@"'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOUNDUPS_TRAINING_")}
    env.update(TMPDIR=str(scratch), HOME=str(root), PYTHONDONTWRITEBYTECODE="1")
    status = [sys.executable, "-m", "foundups_training", "--json", "--data-dir", str(mount)]
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", str(data), str(mount), *status, "status"],
        capture_output=True, text=True, timeout=300, env=env, cwd=REPO, check=False,
    )  # fmt: skip
    if done.returncode == 99:
        pytest.skip(f"no read-only bind mount here: {done.stderr.strip()[-300:]}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["answers"] == 50  # before: 0, and no warning
    assert list(scratch.iterdir()) == [], "the copy was left behind"
    assert sorted(p.name for p in data.iterdir()) == ["metrics.sqlite3", "metrics.sqlite3-wal"]


# -- "latest" is the last recorded, whatever the clock said (bug 6) --------------------------


def test_the_latest_rows_are_the_last_recorded_even_after_a_clock_that_was_ahead(
    tmp_path: Path,
) -> None:
    now = time.time()
    ahead = now + 3600  # the clock was an hour ahead, then corrected
    with MetricsStore(tmp_path / "m.sqlite3") as store:
        store.record_training(TrainingRun(ts=ahead, kind="batch", success=False, error="Boom"))
        store.record_snapshot(10, {"stream": 10}, "batch", ts=ahead)
        store.record_answer("q", Answer("a", "gemma", latency_ms=900.0), ts=ahead)
        store.record_training(TrainingRun(ts=now, kind="idle", lines_processed=20))
        store.record_snapshot(12, {"stream": 12}, "idle", ts=now)
        store.record_answer("q", Answer("a", "gemma", latency_ms=10.0), ts=now)
        assert store.last_failed_training() is None  # before: "last attempt … FAILED"
        last = store.last_training()
        assert last is not None and last.kind == "idle" and last.success
        ok = store.last_successful_training()
        assert ok is not None and ok.kind == "idle"
        assert [r.kind for r in store.training_runs()] == ["idle", "batch"]
        assert [s.total for s in store.snapshots()] == [10, 12]
        assert store.summary()["patterns"]["total"] == 12
        assert store.latencies_by_tier(limit_per_tier=1) == {"gemma": [10.0]}
        assert store.answers(limit=1)[0].latency_ms == 10.0


# -- several processes opening a new file (bug 10) -------------------------------------------


def test_a_new_file_held_by_another_connection_still_opens(tmp_path: Path) -> None:
    """SQLite refuses the switch to WAL at once, without its busy handler, while another
    connection holds the file: the open retries it."""
    path = tmp_path / "metrics.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        with MetricsStore(path) as store:  # before: MetricsError (database is locked)
            store.record_snapshot(1)
            assert [s.total for s in store.snapshots()] == [1]
    finally:
        release.join()
        holder.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# -- a file another process holds (bug 11) ---------------------------------------------------


def test_a_held_file_costs_one_short_wait_and_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import foundups_training.metrics.observers as obs

    path = tmp_path / "metrics.sqlite3"
    MetricsStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a SQLite GUI with pending edits
    caplog.set_level(logging.WARNING, logger="foundups_training.metrics.observers")
    store = MetricsStore(path)
    observer = attach_observers(store)
    start = time.monotonic()
    for _ in range(5):
        telemetry.emit("training.batch", "completed", {"patterns_total": 9})
    store.close()  # what a command's exit does: flush the queue, stop the writer
    elapsed = time.monotonic() - start
    assert elapsed < 5.0, f"{elapsed:.1f} s (before: the 10 s busy timeout for each row)"
    assert observer.failed == 10  # a run and a snapshot each
    (record,) = caplog.records
    assert "metrics write failed" in record.getMessage()
    assert "database is locked" in record.getMessage() and record.exc_info is None
    # once the file is free again (and the pause is over), rows are recorded again
    holder.execute("ROLLBACK")
    monkeypatch.setattr(obs, "_LOCKED_PAUSE_S", 0.0)
    with MetricsStore(path) as again:
        observer = attach_observers(again)
        telemetry.emit("training.batch", "completed", {"patterns_total": 9})
        assert observer.flush() and observer.failed == 0
        assert [s.total for s in again.snapshots()] == [9]
    holder.close()
